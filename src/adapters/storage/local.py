"""Local file storage for the embedded default: a readiness probe and ``LocalBlobStore``.

Layout under the root: ``blobs/<key>`` holds the bytes, ``meta/<key>.json`` the content
type and digest, ``tmp/`` the files being written (renamed into place when whole, so
a reader never sees half a file). Keys pass ``check_key`` AND every path is resolved
and checked to stay under the root, so no key can reach outside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from whatsapp_core.errors import InvalidInput, NotFound, StorageError, UpstreamUnavailable
from whatsapp_core.media import (
    CHUNK_SIZE,
    PRESIGNED_URL_SECONDS,
    BlobInfo,
    StoredBlob,
    check_key,
)

# Writes are handed to a thread in batches of about this size (few thread hops,
# bounded memory).
_WRITE_BATCH = 1024 * 1024


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


def _storage_error(action: str, key: str, exc: OSError) -> StorageError:
    return StorageError(f"file storage could not {action} {key} ({exc.strerror or exc})")


class LocalBlobStore:
    """``BlobStore`` in a folder. No presigned URLs: the API streams the bytes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._blobs = self.root / "blobs"
        self._meta = self.root / "meta"
        self._tmp = self.root / "tmp"

    def _paths(self, key: str) -> tuple[Path, Path]:
        check_key(key)
        data = (self._blobs / key).resolve()
        meta = (self._meta / f"{key}.json").resolve()
        if not (data.is_relative_to(self._blobs) and meta.is_relative_to(self._meta)):
            raise InvalidInput("the blob key leaves the storage folder", code="unsafe_blob_key")
        return data, meta

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob:
        path, meta_path = self._paths(key)
        tmp = self._tmp / uuid.uuid4().hex
        try:
            await asyncio.to_thread(self._tmp.mkdir, parents=True, exist_ok=True)
            handle = await asyncio.to_thread(tmp.open, "wb")
        except OSError as exc:
            raise _storage_error("write", key, exc) from exc
        digest = hashlib.sha256()
        size = 0
        try:
            try:
                batch = bytearray()
                async for chunk in _chunks(data):
                    digest.update(chunk)
                    size += len(chunk)
                    batch += chunk
                    if len(batch) >= _WRITE_BATCH:
                        await asyncio.to_thread(handle.write, batch)
                        batch = bytearray()
                if batch:
                    await asyncio.to_thread(handle.write, batch)
            finally:
                await asyncio.to_thread(handle.close)
            sha256 = digest.hexdigest()
            meta = {"content_type": content_type, "sha256": sha256, "size": size}
            await asyncio.to_thread(self._commit, tmp, path, meta_path, meta)
        except OSError as exc:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
            raise _storage_error("write", key, exc) from exc
        except BaseException:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
            raise
        return StoredBlob(key=key, size=size, content_type=content_type, sha256=sha256)

    def _commit(self, tmp: Path, path: Path, meta_path: Path, meta: dict[str, object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_tmp = self._tmp / f"{uuid.uuid4().hex}.json"
        meta_tmp.write_text(json.dumps(meta))
        # Bytes first, then their description: ``stat`` trusts a meta file only when
        # its size matches the bytes it sits beside.
        os.replace(tmp, path)
        os.replace(meta_tmp, meta_path)

    async def stat(self, key: str) -> BlobInfo | None:
        path, meta_path = self._paths(key)
        try:
            return await asyncio.to_thread(self._stat, key, path, meta_path)
        except OSError as exc:
            raise _storage_error("read", key, exc) from exc

    @staticmethod
    def _stat(key: str, path: Path, meta_path: Path) -> BlobInfo | None:
        try:
            size = path.stat().st_size
            meta = json.loads(meta_path.read_text())
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except ValueError:
            return None
        if not path.is_file() or meta.get("size") != size:
            return None
        return BlobInfo(key=key, size=size, content_type=str(meta.get("content_type")))

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        path, _ = self._paths(key)
        try:
            handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"no blob {key}", code="blob_not_found") from exc
        except OSError as exc:
            raise _storage_error("read", key, exc) from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        except OSError as exc:
            raise _storage_error("read", key, exc) from exc
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        path, meta_path = self._paths(key)
        try:
            await asyncio.to_thread(self._delete, path, meta_path)
        except OSError as exc:
            raise _storage_error("delete", key, exc) from exc

    @staticmethod
    def _delete(path: Path, meta_path: Path) -> None:
        meta_path.unlink(missing_ok=True)
        with contextlib.suppress(IsADirectoryError):
            path.unlink(missing_ok=True)

    async def presigned_url(
        self,
        key: str,
        *,
        expires_in: int = PRESIGNED_URL_SECONDS,
        filename: str | None = None,
    ) -> str | None:
        self._paths(key)
        return None


async def _chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes):
        yield data
        return
    async for chunk in data:
        yield chunk
