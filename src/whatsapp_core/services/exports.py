"""Exports: ask for one (a job), follow it, download it; and the job that builds it.

Who may: the contact list is for managers and above (``contact.export``); a transcript
for agents and above (``conversation.export``), of a conversation of their tenant
(every member of a tenant reads all of its conversations). Whoever may ask for an
export of a kind may follow and download any of that kind in the tenant: they could
make the same file themselves. Asking is audited with what was asked, the finished
build with its size, and every download with who took it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import InvalidInput, NotFound
from whatsapp_core.exports import (
    CONTACT_COLUMNS,
    JSON_TAIL,
    PAGE_SIZE,
    TRANSCRIPT_COLUMNS,
    ExportFormat,
    ExportKind,
    ExportPayload,
    contact_object,
    contact_row,
    contacts_head,
    csv_lines,
    export_filename,
    export_key,
    is_finished,
    json_items,
    message_object,
    message_row,
    parse_progress,
    progress_text,
    transcript_head,
)
from whatsapp_core.jobs import EXPORT_BUILD, JobRecord, QueueStatus
from whatsapp_core.media import PRESIGNED_URL_SECONDS, BlobStore
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

_ACTION = {
    ExportKind.CONTACTS: Action.CONTACT_EXPORT,
    ExportKind.TRANSCRIPT: Action.CONVERSATION_EXPORT,
}


class ExportStatus(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: ExportKind
    format: ExportFormat
    conversation_id: uuid.UUID | None
    status: str  # queued | running | retrying | ready | failed
    rows_done: int | None
    rows_total: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    filename: str


class ExportFile(msgspec.Struct, frozen=True, kw_only=True):
    """A ready export: where its bytes are, and a short-lived link when the store signs."""

    key: str
    filename: str
    content_type: str
    url: str | None


async def request_export(
    svc: Services,
    principal: Principal,
    kind: ExportKind,
    fmt: ExportFormat,
    *,
    conversation_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Queue an export; its id (the job's). ``NotFound`` for a conversation not in the
    principal's tenant."""
    authorize(principal, _ACTION[kind])
    if (kind is ExportKind.TRANSCRIPT) != (conversation_id is not None):
        raise InvalidInput(
            "a transcript needs a conversation_id; a contact export takes none",
            field="conversation_id",
        )
    payload = ExportPayload(
        kind=kind, format=fmt, requested_by=principal.actor, conversation_id=conversation_id
    )
    async with svc.uow() as uow:
        if conversation_id is not None:
            await uow.conversations.get(principal.tenant_id, conversation_id)
        export_id = await svc.enqueue(
            uow, principal.tenant_id, EXPORT_BUILD, msgspec.to_builtins(payload)
        )
        await svc.audit(
            uow, principal, "export.request", "export", export_id,
            after={"kind": kind.value, "format": fmt.value,
                   "conversation_id": str(conversation_id) if conversation_id else None},
        )  # fmt: skip
        await uow.commit()
    return export_id


async def _export_job(
    svc: Services, principal: Principal, export_id: uuid.UUID
) -> tuple[JobRecord, ExportPayload]:
    # Looked up first: who may see it depends on its kind (a miss says nothing more, as
    # ids are only ever looked up in the principal's own tenant).
    try:
        async with svc.uow() as uow:
            job = await uow.outbox.get_job(principal.tenant_id, export_id)
    except NotFound:
        job = None
    payload = None if job is None else _payload_or_none(job)
    if job is None or payload is None:
        raise NotFound("export not found")
    authorize(principal, _ACTION[payload.kind])
    return job, payload


def _payload_or_none(job: JobRecord) -> ExportPayload | None:
    if job.kind != EXPORT_BUILD:
        return None
    try:
        return msgspec.convert(job.payload, ExportPayload)
    except msgspec.ValidationError:
        return None


def _status(job: JobRecord) -> str:
    status = QueueStatus.of(job)
    if status is QueueStatus.DONE:
        return "ready" if is_finished(job.outcome) else "failed"
    return "failed" if status is QueueStatus.DEAD else status.value


async def export_status(svc: Services, principal: Principal, export_id: uuid.UUID) -> ExportStatus:
    job, payload = await _export_job(svc, principal, export_id)
    progress = parse_progress(job.outcome)
    status = _status(job)
    return ExportStatus(
        id=job.id,
        kind=payload.kind,
        format=payload.format,
        conversation_id=payload.conversation_id,
        status=status,
        rows_done=progress[0] if progress else None,
        rows_total=progress[1] if progress else None,
        error=(job.last_error or job.outcome) if status == "failed" else job.last_error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        filename=export_filename(payload, job.created_at),
    )


async def download_export(
    svc: Services,
    blobs: BlobStore,
    principal: Principal,
    export_id: uuid.UUID,
    *,
    expires_in: int = PRESIGNED_URL_SECONDS,
) -> ExportFile:
    """A ready export (``NotFound`` with code ``export_not_ready`` before), audited."""
    job, payload = await _export_job(svc, principal, export_id)
    if _status(job) != "ready":
        raise NotFound("the export is not ready", code="export_not_ready")
    key = export_key(principal.tenant_id, job.id, payload.format)
    filename = export_filename(payload, job.created_at)
    url = await blobs.presigned_url(key, expires_in=expires_in, filename=filename)
    async with svc.uow() as uow:
        await svc.audit(
            uow, principal, "export.download", "export", job.id,
            after={"kind": payload.kind.value, "link": url is not None},
        )  # fmt: skip
        await uow.commit()
    return ExportFile(key=key, filename=filename, content_type=payload.format.content_type, url=url)


# -- the job ----------------------------------------------------------------------------


async def build_export(svc: Services, blobs: BlobStore, job: JobRecord) -> str:
    """``export.build``: write the file page by page into ``blobs`` while the job's
    outcome says how many rows are done; returns the final outcome. A conversation that
    is gone is ``NotFound`` (a dead letter: waiting cannot bring it back)."""
    payload = _payload_or_none(job)
    if payload is None:
        raise InvalidInput(f"bad {job.kind} payload", field="payload")
    build = _Build(svc, job, payload)
    chunks = build.contacts() if payload.kind is ExportKind.CONTACTS else build.transcript()
    key = export_key(job.tenant_id, job.id, payload.format)
    stored = await blobs.put(key, chunks, content_type=payload.format.content_type)
    outcome = progress_text(build.done, build.total, size=stored.size)
    system = Principal(tenant_id=job.tenant_id, role=Role.ADMIN)
    async with svc.uow() as uow:
        await svc.audit(
            uow, system, "export.build", "export", job.id, correlation_id=job.correlation_id,
            after={"kind": payload.kind.value, "format": payload.format.value,
                   "requested_by": payload.requested_by, "rows": build.done,
                   "bytes": stored.size},
        )  # fmt: skip
        await uow.commit()
    return outcome


class _Build:
    def __init__(self, svc: Services, job: JobRecord, payload: ExportPayload) -> None:
        self.svc, self.job, self.payload = svc, job, payload
        self.tenant_id = job.tenant_id
        self.done = 0
        self.total = 0
        self.csv = payload.format is ExportFormat.CSV

    async def _progress(self, rows: int) -> None:
        self.done += rows
        async with self.svc.uow() as uow:
            await uow.outbox.set_progress(self.job, progress_text(self.done, self.total))
            await uow.commit()

    async def contacts(self) -> AsyncIterator[bytes]:
        async with self.svc.uow() as uow:
            self.total = await uow.contacts.count(self.tenant_id)
        now = self.svc.clock.now()
        yield csv_lines([CONTACT_COLUMNS]) if self.csv else contacts_head(now)
        offset = 0
        while True:
            async with self.svc.uow() as uow:
                page = await uow.contacts.search(self.tenant_id, limit=PAGE_SIZE, offset=offset)
            if not page:
                break
            if self.csv:
                yield csv_lines(contact_row(c) for c in page)
            else:
                yield json_items([contact_object(c) for c in page], first=offset == 0)
            offset += len(page)
            await self._progress(len(page))
            if len(page) < PAGE_SIZE:
                break
        if not self.csv:
            yield JSON_TAIL

    async def transcript(self) -> AsyncIterator[bytes]:
        assert self.payload.conversation_id is not None
        conversation_id = self.payload.conversation_id
        async with self.svc.uow() as uow:
            conversation = await uow.conversations.get(self.tenant_id, conversation_id)
            contact = await uow.contacts.get(self.tenant_id, conversation.contact_id)
            self.total = await uow.messages.count_in(self.tenant_id, conversation_id)
        yield (
            csv_lines([TRANSCRIPT_COLUMNS])
            if self.csv
            else transcript_head(conversation, contact, self.svc.clock.now())
        )
        last = None
        while True:
            async with self.svc.uow() as uow:
                page = await uow.messages.history(
                    self.tenant_id, conversation_id, after=last, limit=PAGE_SIZE
                )
            if not page:
                break
            if self.csv:
                yield csv_lines(message_row(m, contact) for m in page)
            else:
                yield json_items([message_object(m, contact) for m in page], first=last is None)
            last = page[-1]
            await self._progress(len(page))
            if len(page) < PAGE_SIZE:
                break
        if not self.csv:
            yield JSON_TAIL
