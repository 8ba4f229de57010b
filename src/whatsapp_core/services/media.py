"""Media of messages: copy a customer's media from Meta into our blob store (the
``media.fetch`` job), take an agent's file for sending, and hand a stored copy out.

Meta keeps inbound media for a while only (the id ~7 days, each download url 5
minutes), so the job copies it at once. Every outcome is written on the message
(``content["media"]``): the stored copy, or ``unavailable`` with the reason, so a
thread never has a silent gap.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import Any

import msgspec
from msgspec.structs import replace

from whatsapp_core.domain.model import Message, Principal
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError, NotFound, UpstreamUnavailable
from whatsapp_core.media import (
    MEDIA_RULES,
    PRESIGNED_URL_SECONDS,
    BlobStore,
    MediaFetcher,
    MediaInfo,
    MediaKind,
    MediaRef,
    MediaRejected,
    MediaRule,
    MediaState,
    StoredBlob,
    check_mime,
    check_size,
    check_upload,
    content_matches,
    media_key,
    normalise_mime,
    rule_for,
    sha256_bytes,
    tenant_prefix,
    upload_key,
)
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.meta_errors import Remedy, remedy_for
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

_SNIFF_BYTES = 16
# A download url that stopped working answers like this (Meta and the simulator: 404).
_EXPIRED_URL_STATUSES = frozenset({403, 404, 410})
_GAVE_UP = "gave_up"


class MediaGone(Exception):
    """Meta no longer has (or never had) this media id."""


class _UrlExpired(Exception):
    pass


# -- inbound: the media.fetch job ---------------------------------------------------------


async def fetch_inbound_media(
    svc: Services,
    fetcher: MediaFetcher,
    blobs: BlobStore,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    media_id: str | None = None,
    final_attempt: bool = False,
) -> str:
    """Copy an inbound message's media into ``blobs`` and record it on the message.

    Idempotent (a stored copy or a recorded refusal ends it at once). A refusal that
    cannot change (too big, a type we do not accept, a wrong digest, Meta has no such
    media) is recorded as ``unavailable``; a failure that may pass (Meta or storage
    down, the url expired twice) raises ``UpstreamUnavailable`` for a retry, unless
    ``final_attempt``, when it is recorded as ``unavailable`` too. Returns the outcome.
    """
    async with svc.uow() as uow:
        tenant = await uow.tenants.get(tenant_id)
        message = await uow.messages.get(tenant_id, message_id)
    if message.type not in MEDIA_RULES:
        return f"nothing to fetch: a {message.type} message has no media"
    existing = MediaRef.of(message.content)
    if existing is not None:
        # A run that gave up on an outage may be tried again (a requeued job); a
        # refusal of the media itself is final.
        if existing.state is MediaState.UNAVAILABLE and existing.reason_code != _GAVE_UP:
            return f"already unavailable: {existing.reason}"
        if existing.key and await blobs.exists(existing.key):
            return "already stored"
    payload = _payload(message)
    media_id = media_id or _str(payload.get("id"))
    said_mime = normalise_mime(_str(payload.get("mime_type"))) or None
    if not media_id:
        ref = MediaRef.unavailable(
            "the message names no media id", code="no_media_id", mime_type=said_mime
        )
    else:
        try:
            ref = await _copy_from_meta(fetcher, blobs, tenant, message, payload, media_id)
        except MediaRejected as exc:
            ref = MediaRef.unavailable(exc.message, code=exc.reason, mime_type=said_mime)
        except MediaGone as exc:
            ref = MediaRef.unavailable(str(exc), code="gone", mime_type=said_mime)
        except UpstreamUnavailable as exc:
            if not final_attempt:
                raise
            ref = MediaRef.unavailable(
                f"gave up after repeated failures: {exc}", code=_GAVE_UP, mime_type=said_mime
            )
    await _record(svc, message, ref)
    if ref.state is MediaState.AVAILABLE:
        return f"stored {ref.size} bytes ({ref.mime_type})"
    return f"unavailable ({ref.reason_code}): {ref.reason}"


async def _copy_from_meta(
    fetcher: MediaFetcher,
    blobs: BlobStore,
    tenant: Tenant,
    message: Message,
    payload: dict[str, Any],
    media_id: str,
) -> MediaRef:
    rule = rule_for(message.type)
    said_digest = sha256_bytes(_str(payload.get("sha256")))
    key = media_key(tenant.id, message.id)
    info = await _media_info(fetcher, tenant, media_id)
    for attempt in (1, 2):
        said_mime = info.mime_type or _str(payload.get("mime_type")) or ""
        mime = check_mime(rule, said_mime, inbound=True)
        if info.file_size is not None:
            check_size(rule, info.file_size)
        digests = {d for d in (sha256_bytes(info.sha256), said_digest) if d is not None}
        try:
            blob = await _download(fetcher, blobs, tenant, info.url, key, rule, mime, digests)
        except _UrlExpired as exc:
            if attempt == 2:
                raise UpstreamUnavailable(
                    "Meta's media download url stopped working twice in a row"
                ) from exc
            info = await _media_info(fetcher, tenant, media_id)  # refresh once by id
            continue
        return MediaRef.available(blob, filename=_str(payload.get("filename")))
    raise AssertionError("unreachable")


async def _media_info(fetcher: MediaFetcher, tenant: Tenant, media_id: str) -> MediaInfo:
    try:
        raw = await fetcher.get_media_url(tenant, media_id)
    except DeliveryError as exc:
        status = exc.http_status
        if (
            status is not None
            and 400 <= status < 500
            and status not in (401, 408, 429)
            and remedy_for(exc.meta_code, status) is Remedy.FAIL
        ):
            raise MediaGone(f"Meta has no media {media_id} any more ({exc})") from exc
        raise UpstreamUnavailable(f"Meta's media endpoint failed: {exc}") from exc
    try:
        return msgspec.convert(dict(raw), MediaInfo)
    except msgspec.ValidationError as exc:
        raise UpstreamUnavailable(f"Meta's media endpoint answered oddly: {exc}") from exc


async def _download(
    fetcher: MediaFetcher,
    blobs: BlobStore,
    tenant: Tenant,
    url: str,
    key: str,
    rule: MediaRule,
    mime: str,
    digests: set[bytes],
) -> StoredBlob:
    checked = verified(fetcher.stream_media(tenant, url), rule=rule, mime=mime, digests=digests)
    try:
        return await blobs.put(key, checked, content_type=mime)
    except DeliveryError as exc:
        if exc.meta_code is None and exc.http_status in _EXPIRED_URL_STATUSES:
            raise _UrlExpired(str(exc)) from exc
        raise UpstreamUnavailable(f"downloading from Meta failed: {exc}") from exc
    finally:
        await checked.aclose()


async def verified(
    source: AsyncIterator[bytes],
    *,
    rule: MediaRule,
    mime: str,
    digests: Iterable[bytes] = (),
) -> AsyncGenerator[bytes, None]:
    """``source`` passed through unchanged, checked on the way: the size limit (raised as
    soon as it is passed, so nothing bigger is ever read), the first bytes against the
    type, and at the end the SHA-256 against every expected digest. A check that fails
    raises ``MediaRejected`` into the blob store, which then keeps nothing."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    sniffed = False
    try:
        async for chunk in source:
            if not chunk:
                continue
            size += len(chunk)
            check_size(rule, size)
            if not sniffed:
                head += chunk[: _SNIFF_BYTES - len(head)]
                if len(head) >= _SNIFF_BYTES:
                    _sniff(mime, head)
                    sniffed = True
            digest.update(chunk)
            yield chunk
    finally:
        closer = getattr(source, "aclose", None)
        if closer is not None:
            await closer()
    if size == 0:
        raise MediaRejected("the file is empty", reason="empty")
    if not sniffed:
        _sniff(mime, head)
    actual = digest.digest()
    for expected in digests:
        if actual != expected:
            raise MediaRejected(
                f"the bytes do not match the SHA-256 Meta gave (got {actual.hex()})",
                reason="sha256_mismatch",
            )


def _sniff(mime: str, head: bytes) -> None:
    if not content_matches(mime, head):
        raise MediaRejected(f"the content does not look like {mime}", reason="content_mismatch")


async def _record(svc: Services, message: Message, ref: MediaRef) -> None:
    async with svc.uow() as uow:
        current = await uow.messages.get(message.tenant_id, message.id)
        content = {**current.content, "media": ref.to_content()}
        await uow.messages.update(replace(current, content=content))
        await uow.commit()
    event = svc.event(
        "message.media",
        message.tenant_id,
        message_id=str(message.id),
        conversation_id=str(message.conversation_id),
        state=ref.state.value,
        mime_type=ref.mime_type,
        size=ref.size,
        reason=ref.reason,
    )
    await svc.publish_all([event])


def _payload(message: Message) -> dict[str, Any]:
    payload = message.content.get(message.type)
    return payload if isinstance(payload, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# -- outbound: an agent's file ----------------------------------------------------------


class UploadedMedia(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: MediaKind
    ref: MediaRef


async def upload_outbound_media(
    svc: Services,
    blobs: BlobStore,
    principal: Principal,
    *,
    kind: str,
    mime_type: str,
    data: bytes | AsyncIterable[bytes],
    size: int | None = None,
    filename: str | None = None,
    correlation_id: str | None = None,
) -> UploadedMedia:
    """Store a file an agent will send. The type and (declared) size are checked before
    a byte is stored; a stream that grows past the limit or whose first bytes are not
    its type is refused and nothing is kept. Audited."""
    authorize(principal, Action.CONVERSATION_REPLY)
    if isinstance(data, bytes):
        size = len(data)
    mime = normalise_mime(mime_type)
    rule = check_upload(kind, mime, size) if size is not None else rule_for(kind)
    check_mime(rule, mime, inbound=False)
    upload_id = svc.ids.new_id()
    key = upload_key(principal.tenant_id, upload_id)
    checked = verified(_chunks(data), rule=rule, mime=mime)
    try:
        blob = await blobs.put(key, checked, content_type=mime)
    finally:
        await checked.aclose()
    ref = MediaRef.available(blob, filename=filename)
    try:
        async with svc.uow() as uow:
            await svc.audit(
                uow, principal, "media.upload", "media", upload_id,
                after={"kind": rule.kind.value, "mime_type": mime, "size": blob.size,
                       "sha256": blob.sha256, "filename": filename},
                correlation_id=correlation_id,
            )  # fmt: skip
            await uow.commit()
    except BaseException:
        await blobs.delete(key)
        raise
    return UploadedMedia(id=upload_id, kind=rule.kind, ref=ref)


async def _chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes):
        yield data
        return
    async for chunk in data:
        yield chunk


# -- reading a stored copy ----------------------------------------------------------------


class MediaDownload(msgspec.Struct, frozen=True, kw_only=True):
    """How to hand a message's media out: redirect to ``url`` when the store gave one,
    else stream ``ref.key`` from the store."""

    message_id: uuid.UUID
    ref: MediaRef
    key: str
    filename: str
    url: str | None = None


_EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr",
    "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf", "text/plain": ".txt",
}  # fmt: skip


async def message_media(
    svc: Services,
    blobs: BlobStore,
    principal: Principal,
    message_id: uuid.UUID,
    *,
    expires_in: int = PRESIGNED_URL_SECONDS,
) -> MediaDownload:
    """The stored media of a message in the principal's tenant. ``NotFound`` when the
    message is not theirs, has no media, is still being fetched (``media_pending``) or
    could not be had (``media_unavailable``, with the reason)."""
    authorize(principal, Action.CONVERSATION_READ)
    async with svc.uow() as uow:
        message = await uow.messages.get(principal.tenant_id, message_id)
    ref = MediaRef.of(message.content)
    if ref is None:
        if message.type in MEDIA_RULES:
            raise NotFound("the media is still being fetched; try again shortly",
                           code="media_pending")  # fmt: skip
        raise NotFound("this message has no media", code="no_media")
    if ref.state is not MediaState.AVAILABLE or ref.key is None:
        raise NotFound(
            f"the media is not available: {ref.reason}",
            code="media_unavailable",
            reason=ref.reason_code,
        )
    if not ref.key.startswith(tenant_prefix(principal.tenant_id)):
        raise NotFound("this message has no media", code="no_media")
    filename = ref.filename or f"{message.type}-{message.id}" + _EXTENSIONS.get(
        ref.mime_type or "", ""
    )
    url = await blobs.presigned_url(ref.key, expires_in=expires_in, filename=filename)
    return MediaDownload(message_id=message.id, ref=ref, key=ref.key, filename=filename, url=url)
