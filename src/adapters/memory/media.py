"""In-memory twins of the media ports: a blob store, Meta's media endpoints and the
media objects' table.

``MemoryBlobStore`` is held to the same contract suite as the S3 and local stores
(``tests/contract/test_blob_store.py``); its one known difference is that it hands
out no presigned URLs (like the local store: bytes go through the API instead).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace

from adapters.memory.stores import MemoryState
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Conflict, DeliveryError, NotFound
from whatsapp_core.media import (
    CHUNK_SIZE,
    PRESIGNED_URL_SECONDS,
    BlobInfo,
    MediaObject,
    StoredBlob,
    check_key,
)


@dataclass(frozen=True)
class _Blob:
    data: bytes
    content_type: str
    sha256: str


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, _Blob] = {}

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob:
        check_key(key)
        if isinstance(data, bytes):
            body = data
        else:
            buffer = bytearray()
            async for chunk in data:
                buffer += chunk
            body = bytes(buffer)
        blob = _Blob(body, content_type, hashlib.sha256(body).hexdigest())
        self.blobs[key] = blob
        return StoredBlob(key=key, size=len(body), content_type=content_type, sha256=blob.sha256)

    async def stat(self, key: str) -> BlobInfo | None:
        blob = self.blobs.get(check_key(key))
        if blob is None:
            return None
        return BlobInfo(key=key, size=len(blob.data), content_type=blob.content_type)

    async def exists(self, key: str) -> bool:
        return check_key(key) in self.blobs

    async def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        blob = self.blobs.get(check_key(key))
        if blob is None:
            raise NotFound(f"no blob {key}", code="blob_not_found")
        view = memoryview(blob.data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])

    async def delete(self, key: str) -> None:
        self.blobs.pop(check_key(key), None)

    async def presigned_url(
        self,
        key: str,
        *,
        expires_in: int = PRESIGNED_URL_SECONDS,
        filename: str | None = None,
    ) -> str | None:
        check_key(key)
        return None


@dataclass
class _Media:
    data: bytes
    mime_type: str
    sha256: str


class MemoryMediaFetcher:
    """Meta's ``GET /{media_id}`` and its expiring download urls, in memory.

    ``expire_next`` makes the next N download urls dead on arrival (as if the job ran
    after their 5 minutes); ``fail_next`` makes the next calls refuse like Meta."""

    def __init__(self) -> None:
        self.media: dict[str, _Media] = {}
        self._urls: dict[str, str] = {}
        self._ids = itertools.count(2_000_000_000_000_001)
        self.expire_next = 0
        self.failures: list[DeliveryError] = []
        self.info_calls = 0
        self.downloads = 0

    def add(self, data: bytes, mime_type: str, *, sha256: str | None = None) -> str:
        media_id = str(next(self._ids))
        digest = sha256 if sha256 is not None else hashlib.sha256(data).hexdigest()
        self.media[media_id] = _Media(data, mime_type, digest)
        return media_id

    async def get_media_url(self, tenant: Tenant, media_id: str) -> Mapping[str, Any]:
        self.info_calls += 1
        if self.failures:
            raise self.failures.pop(0)
        item = self.media.get(media_id)
        if item is None:
            raise DeliveryError(
                f"(100) Unsupported get request. Object with ID '{media_id}' does not exist",
                meta_code=100,
                http_status=400,
            )
        token = secrets.token_urlsafe(8)
        if self.expire_next > 0:
            self.expire_next -= 1
        else:
            self._urls[token] = media_id
        return {
            "url": f"memory://lookaside/{media_id}?hash={token}",
            "mime_type": item.mime_type,
            "sha256": item.sha256,
            "file_size": len(item.data),
            "id": media_id,
        }

    async def stream_media(
        self, tenant: Tenant, url: str, *, chunk_size: int = CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        self.downloads += 1
        token = url.rpartition("hash=")[2]
        media_id = self._urls.get(token)
        item = self.media.get(media_id) if media_id is not None else None
        if item is None:
            raise DeliveryError(
                "Meta answered HTTP 404 without a Graph API error body",
                meta_code=None,
                http_status=404,
            )
        view = memoryview(item.data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])


class MemoryMediaObjectStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, media: MediaObject) -> None:
        if any(key[1] == media.id for key in self._s.media_objects):
            raise Conflict("this media object exists")
        self._s.media_objects[(media.tenant_id, media.id)] = media

    async def get(self, tenant_id: uuid.UUID, media_id: uuid.UUID) -> MediaObject:
        found = self._s.media_objects.get((tenant_id, media_id))
        if found is None:
            raise NotFound("media object not found")
        return found

    async def set_meta_media_id(
        self, tenant_id: uuid.UUID, media_id: uuid.UUID, meta_media_id: str
    ) -> None:
        current = await self.get(tenant_id, media_id)
        self._s.media_objects[(tenant_id, media_id)] = replace(current, meta_media_id=meta_media_id)
