"""Exports built in the background: ask (202 with the export's id, which is its job's),
follow its progress, download it.

The download is always ``/api/exports/{id}/download``: it checks the role and audits,
then redirects to a presigned link minted there, valid a few minutes, when the store
signs (S3); otherwise it streams the bytes from the store (local folder, memory). A link
minted in the status answer instead would go stale between two polls, unaudited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Stream

from entrypoints.bootstrap import Runtime
from entrypoints.http.routes_media import disposition
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import NotFound, StorageError
from whatsapp_core.exports import ExportFormat, ExportKind
from whatsapp_core.media import BlobStore
from whatsapp_core.services import exports


class ExportIn(msgspec.Struct, kw_only=True):
    kind: ExportKind
    format: ExportFormat = ExportFormat.CSV
    conversation_id: uuid.UUID | None = None


class ExportAccepted(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status_url: str


class ExportOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    format: str
    conversation_id: uuid.UUID | None
    status: str  # queued | running | retrying | ready | failed
    rows_done: int | None
    rows_total: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    filename: str
    download_url: str | None  # once ready

    @classmethod
    def of(cls, s: exports.ExportStatus) -> ExportOut:
        return cls(
            id=s.id, kind=s.kind.value, format=s.format.value, conversation_id=s.conversation_id,
            status=s.status, rows_done=s.rows_done, rows_total=s.rows_total, error=s.error,
            created_at=s.created_at, finished_at=s.finished_at, filename=s.filename,
            download_url=f"/api/exports/{s.id}/download" if s.status == "ready" else None,
        )  # fmt: skip


def _blobs(runtime: Runtime) -> BlobStore:
    if runtime.blobs is None:
        raise StorageError("file storage is not ready")
    return runtime.blobs


class ExportController(Controller):
    path = "/api/exports"
    tags = ("exports",)

    @post(status_code=202, summary="Export contacts (manager) or a transcript (agent)")
    async def request(
        self,
        data: JSONBody[ExportIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ExportAccepted:
        export_id = await exports.request_export(
            runtime.services, principal, data.kind, data.format,
            conversation_id=data.conversation_id,
        )  # fmt: skip
        return ExportAccepted(id=export_id, status_url=f"/api/exports/{export_id}")

    @get("/{export_id:uuid}", summary="An export's status, progress and download link")
    async def status(
        self,
        export_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ExportOut:
        return ExportOut.of(await exports.export_status(runtime.services, principal, export_id))

    @get("/{export_id:uuid}/download", summary="The file: a redirect to a short link, or bytes")
    async def download(
        self,
        export_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        blobs = _blobs(runtime)
        found = await exports.download_export(runtime.services, blobs, principal, export_id)
        private = {"Cache-Control": "private, no-store"}
        if found.url is not None:
            return Redirect(found.url, status_code=302, headers=private)
        info = await blobs.stat(found.key)
        if info is None:
            raise NotFound("the export's file is missing", code="export_missing")
        headers = {
            **private,
            "Content-Length": str(info.size),
            "Content-Disposition": disposition(found.filename, inline=False),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        return Stream(blobs.open(found.key), media_type=found.content_type, headers=headers)
