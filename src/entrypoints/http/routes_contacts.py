"""Contacts: search, create, edit, CSV import (per-row report) and CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.model import Contact, Principal
from whatsapp_core.errors import InvalidInput
from whatsapp_core.services import contacts

MAX_CSV_BYTES = 10 * 1024 * 1024


class ContactIn(msgspec.Struct, kw_only=True):
    name: str | None = None
    phone: str | None = None
    bsuid: str | None = None
    tags: list[str] = []
    attributes: dict[str, str] = {}
    opted_in: bool = True

    def fields(self) -> contacts.ContactFields:
        return contacts.ContactFields(
            name=self.name, phone=self.phone, bsuid=self.bsuid, tags=tuple(self.tags),
            attributes=self.attributes, opted_in=self.opted_in,
        )  # fmt: skip


class MergeIn(msgspec.Struct, kw_only=True):
    other_id: uuid.UUID  # the contact that disappears into the one in the path


class ContactDetail(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    display_name: str
    name: str | None
    wa_id: str | None
    bsuid: str | None
    username: str | None
    tags: tuple[str, ...]
    attributes: dict[str, str]
    opted_in: bool

    @classmethod
    def of(cls, c: Contact) -> ContactDetail:
        return cls(
            id=c.id, display_name=c.display_name, name=c.name, wa_id=c.wa_id, bsuid=c.bsuid,
            username=c.username, tags=c.tags, attributes=c.attributes, opted_in=c.opted_in,
        )  # fmt: skip


class ContactController(Controller):
    path = "/api/contacts"
    tags = ("contacts",)

    @get(summary="Search contacts by name, phone, username or BSUID")
    async def list_(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        q: FromQuery[str] = "",
        limit: FromQuery[int] = 50,
        offset: FromQuery[int] = 0,
    ) -> list[ContactDetail]:
        found = await contacts.list_contacts(
            runtime.services, principal, q, limit=limit, offset=offset
        )
        return [ContactDetail.of(c) for c in found]

    @post(status_code=201)
    async def create(
        self,
        data: JSONBody[ContactIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ContactDetail:
        return ContactDetail.of(
            await contacts.create_contact(runtime.services, principal, data.fields())
        )

    @patch("/{contact_id:uuid}")
    async def update(
        self,
        contact_id: FromPath[uuid.UUID],
        data: JSONBody[ContactIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ContactDetail:
        updated = await contacts.update_contact(
            runtime.services, principal, contact_id, data.fields()
        )
        return ContactDetail.of(updated)

    @delete("/{contact_id:uuid}", status_code=204, summary="Erase a contact and its history")
    async def delete_(
        self,
        contact_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await contacts.delete_contact(runtime.services, principal, contact_id)

    @post(
        "/{contact_id:uuid}/merge",
        status_code=200,
        summary="Fold another contact (and its conversation) into this one",
    )
    async def merge(
        self,
        contact_id: FromPath[uuid.UUID],
        data: JSONBody[MergeIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ContactDetail:
        merged = await contacts.merge_contacts(
            runtime.services, principal, contact_id, data.other_id
        )
        return ContactDetail.of(merged)

    @post("/import", status_code=200, summary="Import a CSV (name, phone, bsuid, tags, …)")
    async def import_csv(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> contacts.ImportReport:
        body = await request.body()
        if len(body) > MAX_CSV_BYTES:
            raise InvalidInput("the CSV file is larger than 10 MB", field="file")
        return await contacts.import_contacts(runtime.services, principal, read_csv(body))

    @get(
        "/export",
        media_type="text/csv",
        summary="All contacts as CSV (manager+, audited; big books: POST /api/exports)",
    )
    async def export_csv(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> Response[bytes]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["name", "phone", "bsuid", "username", "tags", "opted_in"])
        async for page in contacts.export_pages(runtime.services, principal):
            for c in page:
                writer.writerow(
                    [c.name or "", c.wa_id or "", c.bsuid or "", c.username or "",
                     ";".join(c.tags), "yes" if c.opted_in else "no"]
                )  # fmt: skip
        return Response(
            out.getvalue().encode(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
        )


def read_csv(body: bytes) -> list[dict[str, str]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file must be UTF-8", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"phone", "bsuid"} & {
        (name or "").strip().lower() for name in reader.fieldnames
    }:
        raise InvalidInput("the CSV needs a header row with a phone or bsuid column", field="file")
    try:
        return [
            {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in reader
        ]
    except csv.Error as exc:
        raise InvalidInput(f"unreadable CSV: {exc}", field="file") from exc
