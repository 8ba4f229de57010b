"""Contacts: list/search, create, edit, and CSV-style bulk import with a per-row report."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence

import msgspec
from msgspec.structs import replace

from whatsapp_core.domain.identity import normalize_phone, validate_bsuid
from whatsapp_core.domain.model import Contact, Principal
from whatsapp_core.errors import Conflict, InvalidInput
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.merge import merge_contact, merge_conversation
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

MAX_IMPORT_ROWS = 50_000
_KNOWN_COLUMNS = frozenset({"name", "phone", "bsuid", "tags", "opted_in"})


class ContactFields(msgspec.Struct, kw_only=True):
    name: str | None = None
    phone: str | None = None
    bsuid: str | None = None
    tags: tuple[str, ...] = ()
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    opted_in: bool = True


class RowProblem(msgspec.Struct, frozen=True):
    row: int  # 1-based, counting data rows (the header is row 0)
    reason: str


class ImportReport(msgspec.Struct, kw_only=True):
    created: int = 0
    updated: int = 0
    rejected: list[RowProblem] = msgspec.field(default_factory=list)


def _clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    cleaned = sorted({t.strip().lower() for t in tags if t.strip()})
    for tag in cleaned:
        if len(tag) > 64:
            raise InvalidInput(f"tag {tag[:20]!r}… is longer than 64 characters", field="tags")
    return tuple(cleaned)


def _identity(fields: ContactFields) -> tuple[str | None, str | None]:
    wa_id = normalize_phone(fields.phone) if fields.phone else None
    bsuid = validate_bsuid(fields.bsuid.strip()) if fields.bsuid else None
    if wa_id is None and bsuid is None:
        raise InvalidInput("a contact needs a phone number or a BSUID", field="phone")
    return wa_id, bsuid


async def list_contacts(
    svc: Services, principal: Principal, query: str = "", *, limit: int = 50, offset: int = 0
) -> list[Contact]:
    authorize(principal, Action.CONTACT_READ)
    async with svc.uow() as uow:
        return await uow.contacts.search(
            principal.tenant_id, query, limit=max(1, min(limit, 500)), offset=max(0, offset)
        )


async def export_pages(
    svc: Services, principal: Principal, *, page_size: int = 500
) -> AsyncIterator[list[Contact]]:
    """The whole address book, a page at a time, for a download (manager+: it leaves
    the product); audited once, before the first page."""
    authorize(principal, Action.CONTACT_EXPORT)
    async with svc.uow() as uow:
        await svc.audit(uow, principal, "contact.export", "contact", "all", after={"sync": True})
        await uow.commit()
    offset = 0
    while True:
        async with svc.uow() as uow:
            page = await uow.contacts.search(
                principal.tenant_id, "", limit=page_size, offset=offset
            )
        if not page:
            return
        yield page
        offset += len(page)


async def create_contact(svc: Services, principal: Principal, fields: ContactFields) -> Contact:
    authorize(principal, Action.CONTACT_WRITE)
    wa_id, bsuid = _identity(fields)
    now = svc.clock.now()
    contact = Contact(
        id=svc.ids.new_id(), tenant_id=principal.tenant_id, bsuid=bsuid, wa_id=wa_id,
        name=(fields.name or "").strip() or None, tags=_clean_tags(fields.tags),
        attributes=dict(fields.attributes), opted_in=fields.opted_in,
        created_at=now, updated_at=now,
    )  # fmt: skip
    async with svc.uow() as uow:
        await _ensure_free(uow, contact)
        await uow.contacts.add(contact)
        await svc.audit(
            uow, principal, "contact.create", "contact", contact.id, after=_snap(contact)
        )
        await svc.enqueue(
            uow, principal.tenant_id, "n8n.trigger",
            {"event": "contact.created", "contact_id": str(contact.id)},
        )  # fmt: skip
        await uow.commit()
    return contact


async def update_contact(
    svc: Services, principal: Principal, contact_id: uuid.UUID, fields: ContactFields
) -> Contact:
    authorize(principal, Action.CONTACT_WRITE)
    async with svc.uow() as uow:
        before = await uow.contacts.get(principal.tenant_id, contact_id)
        wa_id = normalize_phone(fields.phone) if fields.phone else before.wa_id
        after = replace(
            before,
            name=(fields.name or "").strip() or before.name,
            wa_id=wa_id,
            tags=_clean_tags(fields.tags) if fields.tags else before.tags,
            attributes={**before.attributes, **fields.attributes},
            opted_in=fields.opted_in,
            updated_at=svc.clock.now(),
        )
        await _ensure_free(uow, after)
        await uow.contacts.update(after)
        await svc.audit(
            uow, principal, "contact.update", "contact", contact_id,
            before=_snap(before), after=_snap(after),
        )  # fmt: skip
        await uow.commit()
    return after


async def delete_contact(svc: Services, principal: Principal, contact_id: uuid.UUID) -> None:
    """Erase a contact with its conversation, messages and notes (e.g. a data-deletion
    request). The audit log keeps who did it and the identifiers that were removed."""
    authorize(principal, Action.CONTACT_DELETE)
    async with svc.uow() as uow:
        contact = await uow.contacts.get(principal.tenant_id, contact_id)
        await uow.contacts.delete(principal.tenant_id, contact_id)
        await svc.audit(
            uow, principal, "contact.delete", "contact", contact_id, before=_snap(contact)
        )
        await svc.enqueue(
            uow, principal.tenant_id, "n8n.trigger",
            {"event": "contact.deleted", "contact_id": str(contact_id)},
        )  # fmt: skip
        await uow.commit()


async def merge_contacts(
    svc: Services, principal: Principal, keep_id: uuid.UUID, absorb_id: uuid.UUID
) -> Contact:
    """Fold contact ``absorb_id`` into ``keep_id``: identifiers, tags and attributes
    join, both histories become one conversation, and the absorbed contact is gone.
    Refused (Conflict, nothing changed) when the two carry different BSUIDs or phones."""
    authorize(principal, Action.CONTACT_MERGE)
    if keep_id == absorb_id:
        raise InvalidInput("choose two different contacts to merge", field="other_id")
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        kept = await uow.contacts.get(tenant_id, keep_id)
        absorbed = await uow.contacts.get(tenant_id, absorb_id)
        merged = merge_contact(kept, absorbed, svc.clock.now())
        target = await uow.conversations.for_contact(tenant_id, keep_id)
        source = await uow.conversations.for_contact(tenant_id, absorb_id)
        moved = 0
        if source is not None:
            if target is None:  # the absorbed thread simply changes hands
                target = replace(source, contact_id=keep_id)
                await uow.conversations.update(target)
            else:
                await uow.notes.move(tenant_id, source.id, target.id)
                await uow.conversations.update(merge_conversation(target, source))
            moved = await uow.messages.move(tenant_id, source.id, target.id, keep_id)
        # Deleting first frees the identifiers the survivor takes over (unique keys).
        await uow.contacts.delete(tenant_id, absorb_id)
        await uow.contacts.update(merged)
        await svc.audit(
            uow, principal, "contact.merge", "contact", keep_id,
            before={"kept": _snap(kept), "absorbed": {**_snap(absorbed), "id": str(absorb_id)}},
            after={**_snap(merged), "messages_moved": moved},
        )  # fmt: skip
        await svc.enqueue(
            uow, tenant_id, "n8n.trigger",
            {"event": "contact.merged", "contact_id": str(keep_id),
             "absorbed_contact_id": str(absorb_id)},
        )  # fmt: skip
        await uow.commit()
    if target is not None:
        await svc.publish_all(
            [svc.event("conversation.updated", tenant_id, conversation_id=str(target.id))]
        )
    return merged


async def _ensure_free(uow: UnitOfWork, contact: Contact) -> None:
    """A clear Conflict before the database's unique key would say it less kindly."""
    for finder, value, what in (
        (uow.contacts.by_wa_id, contact.wa_id, "phone number"),
        (uow.contacts.by_bsuid, contact.bsuid, "BSUID"),
    ):
        if value is None:
            continue
        other = await finder(contact.tenant_id, value)
        if other is not None and other.id != contact.id:
            raise Conflict(
                f"{other.display_name} already has this {what}", code="duplicate_contact",
                contact_id=str(other.id),
            )  # fmt: skip


def _snap(c: Contact) -> dict[str, object]:
    return {"name": c.name, "wa_id": c.wa_id, "bsuid": c.bsuid, "tags": list(c.tags)}


def parse_import_row(row: Mapping[str, str]) -> ContactFields:
    """One CSV row (header names lower-cased) -> fields; unknown columns become attributes."""
    opted = (row.get("opted_in") or "yes").strip().lower()
    if opted not in ("yes", "no", "true", "false", "1", "0", ""):
        raise InvalidInput("opted_in must be yes or no", field="opted_in")
    return ContactFields(
        name=row.get("name") or None,
        phone=row.get("phone") or None,
        bsuid=row.get("bsuid") or None,
        tags=tuple((row.get("tags") or "").replace(",", ";").split(";")),
        attributes={
            k: v
            for k, v in row.items()
            if k not in _KNOWN_COLUMNS and k and v is not None and v != ""
        },
        opted_in=opted not in ("no", "false", "0"),
    )


async def import_contacts(
    svc: Services, principal: Principal, rows: Sequence[Mapping[str, str]]
) -> ImportReport:
    """Every valid row is stored in one transaction; every invalid row is reported with
    its reason and skipped. A row matching an existing contact by phone or BSUID
    updates it (name, tags, attributes) instead of creating a duplicate."""
    authorize(principal, Action.CONTACT_IMPORT)
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(f"at most {MAX_IMPORT_ROWS} rows per import", field="file")
    report = ImportReport()
    now = svc.clock.now()
    seen: set[str] = set()
    async with svc.uow() as uow:
        for number, row in enumerate(rows, start=1):
            try:
                fields = parse_import_row(row)
                wa_id, bsuid = _identity(fields)
                tags = _clean_tags(fields.tags)
            except InvalidInput as exc:
                report.rejected.append(RowProblem(number, exc.message))
                continue
            keys = {k for k in (wa_id and f"p:{wa_id}", bsuid and f"b:{bsuid}") if k}
            if keys & seen:
                report.rejected.append(
                    RowProblem(number, "the same person appears earlier in the file")
                )
                continue
            seen |= keys
            existing = (
                await uow.contacts.by_wa_id(principal.tenant_id, wa_id) if wa_id else None
            ) or (await uow.contacts.by_bsuid(principal.tenant_id, bsuid) if bsuid else None)
            if existing is None:
                await uow.contacts.add(
                    Contact(
                        id=svc.ids.new_id(),
                        tenant_id=principal.tenant_id,
                        wa_id=wa_id,
                        bsuid=bsuid,
                        name=(fields.name or "").strip() or None,
                        tags=tags,
                        attributes=fields.attributes,
                        opted_in=fields.opted_in,
                        created_at=now,
                        updated_at=now,
                    )
                )
                report.created += 1
            else:
                await uow.contacts.update(
                    replace(
                        existing,
                        name=(fields.name or "").strip() or existing.name,
                        tags=tuple(sorted(set(existing.tags) | set(tags))),
                        attributes={**existing.attributes, **fields.attributes},
                        opted_in=fields.opted_in,
                        updated_at=now,
                    )
                )
                report.updated += 1
        await svc.audit(
            uow, principal, "contact.import", "contact", "bulk",
            after={"created": report.created, "updated": report.updated,
                   "rejected": len(report.rejected)},
        )  # fmt: skip
        await uow.commit()
    return report
