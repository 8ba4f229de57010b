#!/usr/bin/env bash
# Create .venv and install the project with its dev tools; quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -m pip install --quiet -e ".[dev]" 2>&1 | grep -v -e "is ignored" -e "^$" || true
  .venv/bin/python -c "import whatsapp_core, adapters, entrypoints, pgserver" || {
    echo "setup: install failed" >&2; exit 1; }
  touch "$stamp"
fi
