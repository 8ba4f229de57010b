"""Exports: what the files hold, how each row is written, and how a build reports progress.

An export is an ``export.build`` job; its id is the export's id. The payload says what
to build, the job's ``outcome`` says how far it got ("exporting: 500 of 5000 rows"),
and the file lands in the blob store under the tenant's prefix. Rows are encoded a page
at a time, so a file of any size is streamed into the store, never held whole.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and
names and texts come from customers: such cells are written with a leading ``'``
(OWASP's advice for CSV injection). JSON is written as is.
"""

from __future__ import annotations

import csv
import enum
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from whatsapp_core.domain.model import Contact, Conversation, Direction, Message
from whatsapp_core.media import tenant_prefix

PAGE_SIZE = 500


class ExportKind(enum.StrEnum):
    CONTACTS = "contacts"  # the tenant's address book
    TRANSCRIPT = "transcript"  # one conversation, oldest message first


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"

    @property
    def content_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/json"


class ExportPayload(msgspec.Struct, frozen=True, kw_only=True):
    """``export.build``: what to build, and for whom (audited when it is ready)."""

    kind: ExportKind
    format: ExportFormat
    requested_by: str  # the requesting principal's actor, e.g. "user:<id>"
    conversation_id: uuid.UUID | None = None


def export_key(tenant_id: uuid.UUID, export_id: uuid.UUID, fmt: ExportFormat) -> str:
    return f"{tenant_prefix(tenant_id)}exports/{export_id}.{fmt.value}"


def export_filename(payload: ExportPayload, created_at: datetime) -> str:
    day = created_at.strftime("%Y-%m-%d")
    if payload.kind is ExportKind.TRANSCRIPT and payload.conversation_id is not None:
        return f"transcript-{payload.conversation_id.hex[:8]}-{day}.{payload.format.value}"
    return f"contacts-{day}.{payload.format.value}"


# -- progress, in the job's outcome ---------------------------------------------------

_PROGRESS = re.compile(r"^export(?:ing|ed):? (\d+) of (\d+) rows")


def progress_text(done: int, total: int, *, size: int | None = None) -> str:
    """``exporting: 500 of 5000 rows`` while building; ``exported 5000 of 5000 rows
    (812345 bytes)`` once stored (``size`` given)."""
    total = max(total, done)  # rows added while the export ran
    if size is None:
        return f"exporting: {done} of {total} rows"
    return f"exported {done} of {total} rows ({size} bytes)"


def parse_progress(outcome: str | None) -> tuple[int, int] | None:
    """``(done, total)`` from ``progress_text``, else ``None``."""
    found = _PROGRESS.match(outcome or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def is_finished(outcome: str | None) -> bool:
    return (outcome or "").startswith("exported ")


# -- rows -----------------------------------------------------------------------------

CONTACT_COLUMNS = ("name", "phone", "bsuid", "username", "tags", "opted_in")
TRANSCRIPT_COLUMNS = (
    "at", "direction", "author", "type", "text", "status", "error", "wamid", "message_id",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def csv_lines(rows: Iterable[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue().encode()


def contact_row(c: Contact) -> list[str]:
    """The columns of the synchronous export and of the import, in that order."""
    return [
        c.name or "", c.wa_id or "", c.bsuid or "", c.username or "", ";".join(c.tags),
        "yes" if c.opted_in else "no",
    ]  # fmt: skip


def contact_object(c: Contact) -> dict[str, Any]:
    return {
        "id": str(c.id), "name": c.name, "phone": c.wa_id, "bsuid": c.bsuid,
        "username": c.username, "tags": list(c.tags), "attributes": c.attributes,
        "opted_in": c.opted_in, "created_at": c.created_at.isoformat(),
    }  # fmt: skip


def author(m: Message, contact: Contact) -> str:
    if m.direction is Direction.INBOUND:
        return contact.display_name
    return f"user:{m.author_id}" if m.author_id else "system"


def message_row(m: Message, contact: Contact) -> list[str]:
    error = f"{m.error_code}: {m.error_text}" if m.error_code is not None else (m.error_text or "")
    return [
        m.created_at.isoformat(), m.direction.value, author(m, contact), m.type,
        m.text or "", m.status.value if m.status else "", error, m.wamid or "", str(m.id),
    ]  # fmt: skip


def message_object(m: Message, contact: Contact) -> dict[str, Any]:
    return dict(zip(TRANSCRIPT_COLUMNS, message_row(m, contact), strict=True)) | {
        "template": m.template_name,
        "intent": m.intent,
    }


def transcript_head(conversation: Conversation, contact: Contact, at: datetime) -> bytes:
    """The JSON document up to its message list (which the pages then fill)."""
    head = msgspec.json.encode(
        {
            "exported_at": at.isoformat(),
            "conversation": {
                "id": str(conversation.id), "status": conversation.status.value,
                "labels": list(conversation.labels),
                "created_at": conversation.created_at.isoformat(),
            },
            "contact": contact_object(contact),
        }
    )  # fmt: skip
    return head[:-1] + b',"messages":['


def contacts_head(at: datetime) -> bytes:
    return msgspec.json.encode({"exported_at": at.isoformat()})[:-1] + b',"contacts":['


def json_items(objects: Sequence[dict[str, Any]], *, first: bool) -> bytes:
    """A page of a JSON list: items joined by commas (and one before, after a page)."""
    body = b",".join(msgspec.json.encode(o) for o in objects)
    return body if first or not body else b"," + body


JSON_TAIL = b"]}"
