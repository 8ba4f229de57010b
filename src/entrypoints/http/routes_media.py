"""Media in the inbox. Reading: a message's stored media, a redirect to a short-lived
presigned URL when the store gives one (S3), else the bytes streamed from the store
(local folder, memory), never loaded whole. Sending: an agent's file, the request body
streamed into the store (never loaded whole either) and queued like a reply."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, unquote

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream

from entrypoints.bootstrap import Runtime
from entrypoints.http.schemas import MessageOut
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import NotFound, StorageError
from whatsapp_core.media import MEDIA_RULES, BlobStore
from whatsapp_core.services.media import message_media
from whatsapp_core.services.outbound_media import send_media

# Shown in the page (<img>, <audio>, <video>); everything else is a download.
_INLINE_PREFIXES = ("image/jpeg", "image/png", "image/webp", "audio/", "video/")
# The biggest file Meta takes (a document); each kind's own limit is the core's to check.
MAX_UPLOAD_BYTES = max(rule.max_bytes for rule in MEDIA_RULES.values())


def disposition(filename: str, *, inline: bool) -> str:
    fallback = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:150]
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(filename)}"


class MediaController(Controller):
    path = "/api/messages"
    tags = ("media",)

    @get(
        "/{message_id:uuid}/media",
        summary="A message's media: a redirect to a short-lived link, or the bytes",
    )
    async def download(
        self,
        message_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        blobs = _blobs(runtime)
        found = await message_media(runtime.services, blobs, principal, message_id)
        private = {"Cache-Control": "private, no-store"}
        if found.url is not None:
            return Redirect(found.url, status_code=302, headers=private)
        info = await blobs.stat(found.key)
        if info is None:
            raise NotFound("the stored media is missing", code="media_missing")
        mime = found.ref.mime_type or info.content_type
        headers = {
            **private,
            "Content-Length": str(info.size),
            "Content-Disposition": disposition(
                found.filename, inline=mime.startswith(_INLINE_PREFIXES)
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        return Stream(blobs.open(found.key), media_type=mime, headers=headers)


class ConversationMediaController(Controller):
    path = "/api/conversations"
    tags = ("media",)

    @post(
        "/{conversation_id:uuid}/media",
        status_code=202,
        request_max_body_size=MAX_UPLOAD_BYTES,
        summary="Send a file (the raw body, typed by Content-Type; 24 h window)",
        description=(
            "The body is the file itself, its Content-Type the file's type (an image, "
            "video, audio or document type WhatsApp accepts). Name it with ?filename= or "
            "an X-Filename header (percent-encoded); ?caption= for images, videos and "
            "documents. A Content-Length over the type's limit is refused before the body "
            "is read (422); a body sent without one is cut off as soon as it passes the "
            "limit (422, or 413 past 100 MB)."
        ),
    )
    async def send(
        self,
        conversation_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        filename: FromQuery[str | None] = None,
        caption: FromQuery[str | None] = None,
    ) -> MessageOut:
        message = await send_media(
            runtime.services, _blobs(runtime), principal, conversation_id,
            mime=request.headers.get("content-type", ""), data=request.stream(),
            size=request.content_length,
            filename=filename or unquote(request.headers.get("x-filename", "")) or None,
            caption=caption,
        )  # fmt: skip
        return MessageOut.of(message)


def _blobs(runtime: Runtime) -> BlobStore:
    if runtime.blobs is None:
        raise StorageError("file storage is not ready")
    return runtime.blobs
