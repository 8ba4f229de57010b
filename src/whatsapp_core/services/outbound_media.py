"""An agent's file sent in a conversation: checked, stored, then queued like a reply.

Everything that can refuse the file (role, the 24 h window, its type, its declared
size, the caption) is checked before a byte is stored; the bytes are then streamed
into the blob store and checked again on the way (size limit, first bytes, emptiness),
so a 100 MB document is never held whole. The media object, the message, its
``msg.send`` job and the audit rows are written in one transaction; the worker later
uploads the file to Meta and sends it by the media id Meta gives
(``services.media_delivery``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from msgspec.structs import replace

from whatsapp_core.domain.model import Direction, Message, Principal
from whatsapp_core.media import (
    BlobStore,
    MediaObject,
    MediaRef,
    StoredBlob,
    check_caption,
    check_upload,
    clean_filename,
    normalise_mime,
    outbound_rule,
    upload_key,
)
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.window import require_free_form_allowed
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services
from whatsapp_core.services.media import verified
from whatsapp_core.services.outbound import _outbound, _queue


async def send_media(
    svc: Services,
    blobs: BlobStore,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    mime: str,
    data: bytes | AsyncIterable[bytes],
    filename: str | None = None,
    caption: str | None = None,
    size: int | None = None,
    correlation_id: str | None = None,
) -> Message:
    """Queue a file (an image, video, audio or document, by its type) to the customer;
    refused outside the 24 h window like a reply. ``size`` is the declared length of a
    stream (a request's Content-Length), checked before reading it; the stream is held
    to the limit as it arrives either way."""
    authorize(principal, Action.CONVERSATION_REPLY)
    rule = outbound_rule(mime)
    mime = normalise_mime(mime)
    if isinstance(data, bytes):
        size = len(data)
    if size is not None:
        check_upload(rule.kind, mime, size)
    caption = check_caption(rule, caption)
    filename = clean_filename(filename)
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
    require_free_form_allowed(conversation.last_inbound_at, svc.clock.now())

    media_id = svc.ids.new_id()
    key = upload_key(principal.tenant_id, media_id)
    checked = verified(_chunks(data), rule=rule, mime=mime)
    try:
        blob = await blobs.put(key, checked, content_type=mime)
    finally:
        await checked.aclose()
    try:
        async with svc.uow() as uow:
            conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
            # A long upload may outlast the window: the rule holds when the message is made.
            require_free_form_allowed(conversation.last_inbound_at, svc.clock.now())
            media = _media_object(svc, principal, media_id, blob, filename)
            await uow.media_objects.add(media)
            message = _outbound(svc, principal, conversation, type=rule.kind.value, text="")
            content = _content(rule.kind.value, media, blob, caption)
            message = replace(message, text=caption, content=content)
            await svc.audit(
                uow, principal, "media.upload", "media", media.id,
                after={"kind": rule.kind.value, "mime_type": mime, "size": blob.size,
                       "sha256": blob.sha256, "filename": filename,
                       "message_id": str(message.id)},
                correlation_id=correlation_id,
            )  # fmt: skip
            events = await _queue(svc, uow, principal, conversation, message, correlation_id)
            await uow.commit()
    except BaseException:
        await blobs.delete(key)
        raise
    await svc.publish_all(events)
    return message


def _media_object(
    svc: Services,
    principal: Principal,
    media_id: uuid.UUID,
    blob: StoredBlob,
    filename: str | None,
) -> MediaObject:
    return MediaObject(
        id=media_id,
        tenant_id=principal.tenant_id,
        direction=Direction.OUTBOUND,
        mime_type=blob.content_type,
        size=blob.size,
        sha256=blob.sha256,
        blob_key=blob.key,
        filename=filename,
        created_at=svc.clock.now(),
    )


def _content(
    kind: str, media: MediaObject, blob: StoredBlob, caption: str | None
) -> dict[str, Any]:
    """Shaped like an inbound media message's content (the inbox shows both alike), plus
    the media object the send job uploads."""
    payload = {"mime_type": media.mime_type, "filename": media.filename, "caption": caption}
    return {
        "media": MediaRef.available(blob, filename=media.filename).to_content(),
        "media_object_id": str(media.id),
        kind: {k: v for k, v in payload.items() if v is not None},
    }


async def _chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes):
        yield data
        return
    async for chunk in data:
        yield chunk
