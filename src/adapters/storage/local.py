"""Local file storage for the embedded default."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from whatsapp_core.errors import UpstreamUnavailable


class LocalStorageProbe:
    name = "storage"

    def __init__(self, root: Path) -> None:
        self._root = root

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        probe = self._root / f".ready-{uuid.uuid4().hex}"
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise UpstreamUnavailable(
                f"file storage {self._root} is not writable ({exc.strerror})"
            ) from exc
