"""Find or create the contact a webhook speaks about, BSUID first, never a duplicate."""

from __future__ import annotations

import uuid
from datetime import datetime

from msgspec.structs import replace

from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Contact
from whatsapp_core.ports import IdGenerator, UnitOfWork


async def resolve_contact(
    uow: UnitOfWork,
    ids: IdGenerator,
    tenant_id: uuid.UUID,
    who: CustomerIdentity,
    now: datetime,
) -> tuple[Contact, bool]:
    """Return ``(contact, created)`` for ``who``, attaching newly revealed identifiers.

    - A BSUID match wins; a phone revealed later is attached to it.
    - A phone-only contact (e.g. imported) that now writes with a BSUID gets the BSUID.
    - A phone held by a contact with a *different* BSUID means Meta issued a new BSUID
      for a new holder of that number: the phone moves to the new person's contact.
    """
    by_bsuid = await uow.contacts.by_bsuid(tenant_id, who.bsuid) if who.bsuid else None
    by_phone = await uow.contacts.by_wa_id(tenant_id, who.wa_id) if who.wa_id else None

    if by_bsuid is None and by_phone is not None and by_phone.bsuid and who.bsuid:
        await uow.contacts.update(replace(by_phone, wa_id=None, updated_at=now))
        by_phone = None

    contact = by_bsuid or by_phone
    if contact is None:
        created = Contact(
            id=ids.new_id(),
            tenant_id=tenant_id,
            bsuid=who.bsuid,
            wa_id=who.wa_id,
            parent_bsuid=who.parent_bsuid,
            username=who.username,
            name=who.name,
            created_at=now,
            updated_at=now,
        )
        await uow.contacts.add(created)
        return created, True

    phone_is_free = by_phone is None or by_phone.id == contact.id
    updated = replace(
        contact,
        bsuid=contact.bsuid or who.bsuid,
        wa_id=contact.wa_id or (who.wa_id if phone_is_free else None),
        parent_bsuid=who.parent_bsuid or contact.parent_bsuid,
        username=who.username or contact.username,
        # An agent's edit of the name wins over the WhatsApp profile name.
        name=contact.name or who.name,
    )
    if updated != contact:
        updated = replace(updated, updated_at=now)
        await uow.contacts.update(updated)
    return updated, False
