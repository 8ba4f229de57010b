"""A message's stored media, for the signed-in inbox: a redirect to a short-lived
presigned URL when the store gives one (S3), else the bytes streamed from the store
(local folder, memory), never loaded whole."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import NotFound, StorageError
from whatsapp_core.services.media import message_media

# Shown in the page (<img>, <audio>, <video>); everything else is a download.
_INLINE_PREFIXES = ("image/jpeg", "image/png", "image/webp", "audio/", "video/")


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
        blobs = runtime.blobs
        if blobs is None:
            raise StorageError("file storage is not ready")
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
