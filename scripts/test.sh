#!/usr/bin/env bash
# Set up and run every check: ruff, mypy, import-linter, then the whole pytest suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
export PYTHONDONTWRITEBYTECODE=1
echo "== ruff";          .venv/bin/ruff check src tests bench examples
echo "== mypy";          .venv/bin/mypy && .venv/bin/mypy examples  # the examples as users copy them
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi
exit "$rc"
