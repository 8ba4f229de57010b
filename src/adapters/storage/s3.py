"""``BlobStore`` on S3 (AWS, MinIO, moto) with aioboto3.

One bucket per deployment; every key the core makes starts with its tenant
(``tenants/{tenant_id}/...``), and an optional ``prefix`` puts the whole deployment
under a folder of a shared bucket. Objects are written with server-side encryption
when ``server_side_encryption`` is set (``"AES256"``, SSE-S3). Streams larger than
one part go up as a multipart upload (memory: one part), which is aborted if the
source fails, so a failed put leaves nothing behind. Browsers get presigned GET
URLs that live minutes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import quote

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from whatsapp_core.errors import NotFound, StorageError, UpstreamUnavailable
from whatsapp_core.media import (
    CHUNK_SIZE,
    PRESIGNED_URL_SECONDS,
    BlobInfo,
    StoredBlob,
    check_key,
)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _failed(action: str, key: str, exc: Exception) -> StorageError:
    reason = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return StorageError(f"S3 could not {action} {key} ({reason})")


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name (RFC 6266 / 5987)."""
    fallback = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:150]
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(filename)}"


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        server_side_encryption: str | None = "AES256",
        part_size: int = DEFAULT_PART_SIZE,
        session: aioboto3.Session | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.sse = server_side_encryption
        self.part_size = part_size
        self._session = session or aioboto3.Session()
        self._endpoint_url = endpoint_url
        self._region = region
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the client (one connection pool for every call)."""
        if self._stack is not None:
            return
        stack = contextlib.AsyncExitStack()
        config = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"})
        self._client = await stack.enter_async_context(
            self._session.client(
                "s3", endpoint_url=self._endpoint_url, region_name=self._region, config=config
            )
        )
        self._stack = stack

    async def aclose(self) -> None:
        stack, self._stack = self._stack, None
        self._client = None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> S3BlobStore:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StorageError("the S3 store is not started")
        return self._client

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _write_args(self, content_type: str) -> dict[str, Any]:
        args: dict[str, Any] = {"Bucket": self.bucket, "ContentType": content_type}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        return args

    # -- BlobStore ----------------------------------------------------------------------

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob:
        name = self._object(key)
        digest = hashlib.sha256()
        if isinstance(data, bytes):
            digest.update(data)
            await self._put_object(key, name, data, content_type)
            return StoredBlob(
                key=key, size=len(data), content_type=content_type, sha256=digest.hexdigest()
            )
        parts = _parts(data, self.part_size)
        try:
            first = await anext(parts, b"")
            digest.update(first)
            second = await anext(parts, None)
            if second is None:  # fits in one part: a plain PUT
                await self._put_object(key, name, first, content_type)
                size = len(first)
            else:
                size = await self._multipart(key, name, content_type, first, second, parts, digest)
        finally:
            await parts.aclose()
        return StoredBlob(key=key, size=size, content_type=content_type, sha256=digest.hexdigest())

    async def _put_object(self, key: str, name: str, body: bytes, content_type: str) -> None:
        try:
            await self.client.put_object(Key=name, Body=body, **self._write_args(content_type))
        except (ClientError, BotoCoreError) as exc:
            raise _failed("store", key, exc) from exc

    async def _multipart(
        self,
        key: str,
        name: str,
        content_type: str,
        first: bytes,
        second: bytes,
        rest: AsyncIterator[bytes],
        digest: Any,
    ) -> int:
        try:
            created = await self.client.create_multipart_upload(
                Key=name, **self._write_args(content_type)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failed("start storing", key, exc) from exc
        upload_id = created["UploadId"]
        done: list[dict[str, Any]] = []
        size = 0
        try:
            part: bytes | None = first
            pending: bytes | None = second
            while part is not None:
                number = len(done) + 1
                answer = await self.client.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=part
                )
                done.append({"ETag": answer["ETag"], "PartNumber": number})
                size += len(part)
                # Only one part is held at a time (plus the re-chunking buffer).
                if pending is not None:
                    part, pending = pending, None
                else:
                    part = await anext(rest, None)
                if part is not None:
                    digest.update(part)
            await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException as exc:
            with contextlib.suppress(ClientError, BotoCoreError):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            if isinstance(exc, ClientError | BotoCoreError):
                raise _failed("store", key, exc) from exc
            raise
        return size

    async def stat(self, key: str) -> BlobInfo | None:
        name = self._object(key)
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise _failed("read", key, exc) from exc
        except BotoCoreError as exc:
            raise _failed("read", key, exc) from exc
        return BlobInfo(
            key=key,
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType") or "application/octet-stream"),
        )

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        name = self._object(key)
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"no blob {key}", code="blob_not_found") from exc
            raise _failed("read", key, exc) from exc
        except BotoCoreError as exc:
            raise _failed("read", key, exc) from exc
        body = answer["Body"]
        try:
            async with body:
                async for chunk in body.iter_chunks(chunk_size):
                    yield chunk
        except (ClientError, BotoCoreError) as exc:
            raise _failed("read", key, exc) from exc

    async def delete(self, key: str) -> None:
        name = self._object(key)
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=name)
        except (ClientError, BotoCoreError) as exc:
            raise _failed("delete", key, exc) from exc

    async def presigned_url(
        self,
        key: str,
        *,
        expires_in: int = PRESIGNED_URL_SECONDS,
        filename: str | None = None,
    ) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        try:
            url: str = await self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, min(expires_in, 3600))
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failed("sign a link to", key, exc) from exc
        return url

    # -- readiness ----------------------------------------------------------------------

    name = "storage"

    async def check(self) -> None:
        """The bucket answers (a ``Probe`` for readiness)."""
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            reason = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            raise UpstreamUnavailable(f"S3 bucket {self.bucket} not reachable ({reason})") from exc


async def _parts(data: AsyncIterable[bytes], size: int) -> AsyncGenerator[bytes, None]:
    """Re-chunk a stream into parts of exactly ``size`` bytes (the last may be shorter)."""
    buffer = bytearray()
    async for chunk in data:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
