"""ASGI entry for external servers: ``uvicorn entrypoints.http.asgi:app``.

Settings come from the environment; errors in them stop the import with one line.
"""

from __future__ import annotations

from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import SettingsError, load_settings

try:
    app = create_app(build_runtime(load_settings()))
except SettingsError as exc:
    raise SystemExit(f"wa: error: {exc}") from None
