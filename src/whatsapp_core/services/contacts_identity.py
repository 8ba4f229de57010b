"""Find or create the contacts a webhook batch speaks about, BSUID first, never a
duplicate, with one lookup and one insert for the whole batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from msgspec.structs import replace

from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Contact
from whatsapp_core.errors import Conflict
from whatsapp_core.ports import IdGenerator, UnitOfWork

# A contact lost to a concurrent transaction is resolved again; what that creates can
# lose again only to yet another one. Three rounds is plenty; then the caller retries.
_FLUSH_ROUNDS = 3


class ContactResolver:
    """Resolves identities against the tenant's contacts, keeping what it read and
    wrote in a cache so a batch of messages from the same people costs one query.

    - A BSUID match wins; a phone revealed later is attached to it.
    - A phone-only contact (e.g. imported) that now writes with a BSUID gets the BSUID.
    - A phone held by a contact with a *different* BSUID means Meta issued a new BSUID
      for a new holder of that number: the phone moves to the new person's contact.

    New contacts are kept until :meth:`flush`, which inserts them all at once; call it
    before anything refers to them. Holding them back is safe for the unique BSUID and
    phone: a new contact only takes values no contact in the cache holds, and changes to
    stored contacts, which may free such values, are written at once, so before it.

    A concurrent transaction (Meta redelivering, or two deliveries of one person) may
    store the same person between our lookup and our insert. The insert then skips that
    contact (``ContactStore.add_many``) and :meth:`flush` resolves it again against
    what is stored now: the caller gets the stored contact, never an error or a twin.
    """

    def __init__(
        self, uow: UnitOfWork, ids: IdGenerator, tenant_id: uuid.UUID, now: datetime
    ) -> None:
        self._uow, self._ids, self._tenant_id, self._now = uow, ids, tenant_id, now
        self._by_bsuid: dict[str, Contact] = {}
        self._by_wa_id: dict[str, Contact] = {}
        # Identities already asked for, found or not: a miss is not asked again.
        self._asked_bsuids: set[str] = set()
        self._asked_wa_ids: set[str] = set()
        self._created: dict[uuid.UUID, Contact] = {}  # not inserted yet
        self.inserted: set[uuid.UUID] = set()  # ids this resolver's flushes inserted

    async def prefetch(self, people: Iterable[CustomerIdentity]) -> None:
        people = list(people)
        bsuids = sorted(
            {p.bsuid for p in people if p.bsuid} - self._asked_bsuids - self._by_bsuid.keys()
        )
        wa_ids = sorted(
            {p.wa_id for p in people if p.wa_id} - self._asked_wa_ids - self._by_wa_id.keys()
        )
        if bsuids or wa_ids:
            found = await self._uow.contacts.find_many(
                self._tenant_id, bsuids=bsuids, wa_ids=wa_ids
            )
            self._asked_bsuids.update(bsuids)
            self._asked_wa_ids.update(wa_ids)
            for contact in found:
                self._remember(contact)

    async def flush(self) -> dict[uuid.UUID, Contact]:
        """Insert the contacts created since the last flush. Returns, for each one a
        concurrent transaction had stored first, the contact to use instead (by the
        id ``resolve`` gave out); ``inserted`` holds the ids really inserted."""
        replaced: dict[uuid.UUID, Contact] = {}
        rounds = 0
        while self._created:
            if rounds == _FLUSH_ROUNDS:  # each round lost to yet another transaction
                raise Conflict(
                    "contacts kept changing under concurrent deliveries; retry",
                    code="contact_race",
                )
            rounds += 1
            created, self._created = list(self._created.values()), {}
            inserted = await self._uow.contacts.add_many(created)
            self.inserted |= inserted
            lost = [c for c in created if c.id not in inserted]
            for contact in lost:
                self._forget(contact)
            await self.prefetch(_identity(c) for c in lost)
            for contact in lost:
                replaced[contact.id], _ = await self.resolve(_identity(contact))
        return {lost: self._final(lost, replaced) for lost in replaced}

    def _final(self, contact_id: uuid.UUID, replaced: dict[uuid.UUID, Contact]) -> Contact:
        """Follow a lost contact's replacements (a re-resolved one may have lost too)."""
        contact = replaced[contact_id]
        while contact.id in replaced:  # never itself: a lost contact is forgotten
            contact = replaced[contact.id]
        return contact

    def _forget(self, contact: Contact) -> None:
        """Drop what the cache assumed about ``contact`` (not stored: another
        transaction stored its identities), so they are looked up again."""
        for index, asked in (
            (self._by_bsuid, self._asked_bsuids),
            (self._by_wa_id, self._asked_wa_ids),
        ):
            for key in [k for k, c in index.items() if c.id == contact.id]:
                del index[key]
                asked.discard(key)
        if contact.bsuid:
            self._asked_bsuids.discard(contact.bsuid)
        if contact.wa_id:
            self._asked_wa_ids.discard(contact.wa_id)

    def _remember(self, contact: Contact, old: Contact | None = None) -> None:
        if old is not None:
            if old.bsuid and self._by_bsuid.get(old.bsuid) is old:
                del self._by_bsuid[old.bsuid]
            if old.wa_id and self._by_wa_id.get(old.wa_id) is old:
                del self._by_wa_id[old.wa_id]
        if contact.bsuid:
            self._by_bsuid[contact.bsuid] = contact
        if contact.wa_id:
            self._by_wa_id[contact.wa_id] = contact

    async def _save(self, contact: Contact, old: Contact) -> Contact:
        if contact.id in self._created:
            self._created[contact.id] = contact  # its insert carries the change
        else:
            await self._uow.contacts.update(contact)
        self._remember(contact, old)
        return contact

    async def resolve(self, who: CustomerIdentity) -> tuple[Contact, bool]:
        """``(contact, created)`` for ``who``; call ``prefetch`` first for a batch and
        ``flush`` after it."""
        await self.prefetch([who])
        by_bsuid = self._by_bsuid.get(who.bsuid) if who.bsuid else None
        by_phone = self._by_wa_id.get(who.wa_id) if who.wa_id else None

        if by_bsuid is None and by_phone is not None and by_phone.bsuid and who.bsuid:
            await self._save(replace(by_phone, wa_id=None, updated_at=self._now), by_phone)
            by_phone = None

        contact = by_bsuid or by_phone
        if contact is None:
            created = Contact(
                id=self._ids.new_id(),
                tenant_id=self._tenant_id,
                bsuid=who.bsuid,
                wa_id=who.wa_id,
                parent_bsuid=who.parent_bsuid,
                username=who.username,
                name=who.name,
                created_at=self._now,
                updated_at=self._now,
            )
            self._created[created.id] = created
            self._remember(created)
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
        if updated == contact:
            return contact, False
        return await self._save(replace(updated, updated_at=self._now), contact), False


async def resolve_contact(
    uow: UnitOfWork,
    ids: IdGenerator,
    tenant_id: uuid.UUID,
    who: CustomerIdentity,
    now: datetime,
) -> tuple[Contact, bool]:
    """One identity, outside a batch (e.g. a template sent by phone number):
    ``(contact, created)``."""
    resolver = ContactResolver(uow, ids, tenant_id, now)
    found, _ = await resolver.resolve(who)
    contact = (await resolver.flush()).get(found.id, found)
    return contact, contact.id in resolver.inserted


def _identity(contact: Contact) -> CustomerIdentity:
    """Who a contact we meant to create is, to resolve it again."""
    return CustomerIdentity(
        bsuid=contact.bsuid,
        wa_id=contact.wa_id,
        username=contact.username,
        name=contact.name,
        parent_bsuid=contact.parent_bsuid,
    )
