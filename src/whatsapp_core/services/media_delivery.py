"""Before an agent's file is sent: uploaded to Meta, once.

Meta sends a file by the media id it gives on upload (``POST /{phone_number_id}/media``).
That id is kept on the media object, so a retried ``msg.send`` (the send failed after
the upload, or the worker stopped in between) sends by it without uploading again.
"""

from __future__ import annotations

import uuid

from whatsapp_core.domain.model import Message
from whatsapp_core.domain.outgoing import OutgoingMessage
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import NotFound, UpstreamUnavailable
from whatsapp_core.media import BlobStore
from whatsapp_core.ports import WhatsAppGateway
from whatsapp_core.services.context import Services


def media_object_id(message: Message) -> uuid.UUID | None:
    """The media object an outbound media message carries, if any."""
    raw = message.content.get("media_object_id")
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


async def outgoing_media(
    svc: Services,
    gateway: WhatsAppGateway,
    blobs: BlobStore | None,
    tenant: Tenant,
    message: Message,
) -> OutgoingMessage:
    """The media message to send by Meta's media id, uploading the file first when it
    has none yet. ``NotFound`` when the file is gone (it can never be sent);
    ``DeliveryError`` when Meta refuses the upload (its code decides: retry or fail)."""
    media_id = media_object_id(message)
    if media_id is None:
        raise NotFound("this message names no stored file to send", code="media_missing")
    async with svc.uow() as uow:
        media = await uow.media_objects.get(tenant.id, media_id)
    meta_media_id = media.meta_media_id
    if meta_media_id is None:
        if blobs is None:
            raise UpstreamUnavailable("file storage is not available to the worker")
        if await blobs.stat(media.blob_key) is None:
            raise NotFound("the file to send is no longer stored", code="media_missing")
        stream = blobs.open(media.blob_key)
        try:
            meta_media_id = await gateway.upload_media(
                tenant, stream, mime_type=media.mime_type, size=media.size,
                filename=media.filename,
            )  # fmt: skip
        finally:
            closer = getattr(stream, "aclose", None)  # a generator left early keeps its file
            if closer is not None:
                await closer()
        async with svc.uow() as uow:
            await uow.media_objects.set_meta_media_id(tenant.id, media.id, meta_media_id)
            await uow.commit()
    return OutgoingMessage(
        type=message.type,
        media_id=meta_media_id,
        caption=message.text,
        filename=media.filename,
        reply_to_wamid=message.reply_to_wamid,
        callback_data=str(message.id),
    )
