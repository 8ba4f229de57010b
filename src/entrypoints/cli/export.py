"""``wa export``: a tenant's contacts, or one conversation's transcript, as files.

The transcript is built by the core's export job (``services.exports.build_export``),
the one behind the API's exports: the same columns, the same CSV-injection guard, the
same audit row. Here it runs at once, into memory, instead of queued for a worker.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from entrypoints.bootstrap import Runtime
from entrypoints.cli.common import (
    ProfileOpt,
    administrator,
    cli_correlation,
    fail,
    run_with_runtime,
    stored_settings,
    tenant_by_slug,
)
from whatsapp_core.domain.identity import normalize_phone
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import InvalidInput, NotFound
from whatsapp_core.exports import (
    ExportFormat,
    ExportKind,
    ExportPayload,
    export_key,
    parse_progress,
)
from whatsapp_core.jobs import EXPORT_BUILD, JobRecord
from whatsapp_core.policies.access import Action
from whatsapp_core.services import contacts
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.exports import build_export

export_app = typer.Typer(help="Export a tenant's data.", no_args_is_help=True)

PAGE = 500
CSV_COLUMNS = ("name", "phone", "bsuid", "username", "tags", "opted_in")
OutOpt = Annotated[Path | None, typer.Option(help="the file to write (default: standard output)")]


@export_app.command("contacts")
def export_contacts(
    tenant: Annotated[str, typer.Option("--tenant", help="the tenant's slug (wa tenant list)")],
    out: OutOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Every contact of a tenant as CSV (name, phone, bsuid, username, tags, opted_in)."""
    settings = stored_settings(profile, "it has no contacts to export")
    _check_out(out)

    async def work(runtime: Runtime) -> tuple[bytes, int]:
        with cli_correlation("export-contacts"):
            admin = administrator(await tenant_by_slug(runtime, tenant))
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_COLUMNS)
            count = 0
            async for page in contacts.export_pages(runtime.services, admin, page_size=PAGE):
                for c in page:
                    writer.writerow(
                        [c.name or "", c.wa_id or "", c.bsuid or "", c.username or "",
                         ";".join(c.tags), "yes" if c.opted_in else "no"]
                    )  # fmt: skip
                count += len(page)
            return buffer.getvalue().encode(), count

    data, count = run_with_runtime(settings, work)
    _write(data, out, f"{count} contact(s) of {tenant}")


@export_app.command("transcript")
def export_transcript(
    conversation: Annotated[
        str | None,
        typer.Option(help="the conversation's id (as in the inbox's address or the API)"),
    ] = None,
    contact: Annotated[
        str | None, typer.Option(help="or the customer's phone number (needs --tenant)")
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="the tenant's slug (optional with --conversation)"),
    ] = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="json (with the contact) or csv")
    ] = ExportFormat.JSON,
    out: OutOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """One conversation, oldest message first, as the API's transcript export writes it."""
    settings = stored_settings(profile, "it has no conversations to export")
    if (conversation is None) == (contact is None):
        fail("give --conversation ID or --contact PHONE (one of them)", 2)
    if contact is not None and tenant is None:
        fail("--contact needs --tenant (a phone number is a contact in each tenant)", 2)
    wanted: uuid.UUID | str
    try:
        wanted = uuid.UUID(conversation) if conversation else normalize_phone(contact or "")
    except ValueError:
        fail(f"--conversation: {conversation!r} is not a conversation id (a UUID)", 2)
    except InvalidInput as exc:
        fail(f"--contact: {exc.message}", 2)
    _check_out(out)

    async def work(runtime: Runtime) -> tuple[bytes, int, str]:
        with cli_correlation("export-transcript") as correlation:
            owner, conversation_id = await _locate(runtime, tenant, wanted)
            admin = administrator(owner)
            authorize(admin, Action.CONVERSATION_EXPORT)  # as the API's request is
            payload = ExportPayload(
                kind=ExportKind.TRANSCRIPT, format=fmt, requested_by=admin.actor,
                conversation_id=conversation_id,
            )  # fmt: skip
            job = JobRecord(
                id=runtime.ids.new_id(), tenant_id=owner.id, kind=EXPORT_BUILD,
                payload=msgspec.to_builtins(payload), created_at=runtime.clock.now(),
                correlation_id=correlation,
            )  # fmt: skip
            from adapters.memory.media import MemoryBlobStore

            store = MemoryBlobStore()
            outcome = await build_export(runtime.services, store, job)
            key = export_key(owner.id, job.id, fmt)
            data = b"".join([chunk async for chunk in store.open(key)])
            rows = (parse_progress(outcome) or (0, 0))[0]
            return data, rows, owner.slug

    data, rows, slug = run_with_runtime(settings, work)
    _write(data, out, f"transcript ({rows} message(s)) of {slug}")


async def _locate(
    runtime: Runtime, slug: str | None, wanted: uuid.UUID | str
) -> tuple[Tenant, uuid.UUID]:
    """The tenant and conversation asked for: by id (in any tenant when none is named)
    or by the customer's phone within the tenant."""
    tenants = [await tenant_by_slug(runtime, slug)] if slug else None
    async with runtime.uow() as uow:
        if isinstance(wanted, str):
            assert tenants is not None
            found = await uow.contacts.by_wa_id(tenants[0].id, wanted)
            thread = await uow.conversations.for_contact(tenants[0].id, found.id) if found else None
            if thread is None:
                raise NotFound(f"no conversation with +{wanted} in {slug}", field="contact")
            return tenants[0], thread.id
        for owner in tenants or await uow.tenants.list():
            try:
                await uow.conversations.get(owner.id, wanted)
            except NotFound:
                continue
            return owner, wanted
    where = f" in {slug}" if slug else ""
    raise NotFound(f"no conversation {wanted}{where}", field="conversation")


def _check_out(out: Path | None) -> None:
    if out is not None and not out.parent.is_dir():
        fail(f"--out: folder {out.parent} does not exist", 2)


def _write(data: bytes, out: Path | None, what: str) -> None:
    if out is None:
        typer.echo(data if data.endswith(b"\n") else data + b"\n", nl=False)
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        fail(f"--out: cannot write {out} ({exc.strerror})", 2)
    typer.echo(f"{what} written to {out}", err=True)
