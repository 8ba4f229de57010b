"""In-memory stores over plain dicts of frozen entities."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from msgspec.structs import replace

from adapters.memory.job_board import MemoryJobBoard
from whatsapp_core.domain.accounts import ApiKey, Invitation, Note, RefreshToken, User
from whatsapp_core.domain.model import (
    AuditEntry,
    Contact,
    Conversation,
    ConversationStatus,
    Message,
    OutboxJob,
    PendingStatus,
    Template,
)
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import JobRecord
from whatsapp_core.media import MediaObject

Key = tuple[uuid.UUID, uuid.UUID]


@dataclass
class MemoryState:
    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)
    contacts: dict[Key, Contact] = field(default_factory=dict)
    conversations: dict[Key, Conversation] = field(default_factory=dict)
    messages: dict[Key, Message] = field(default_factory=dict)
    wamids: dict[tuple[uuid.UUID, str], uuid.UUID] = field(default_factory=dict)
    pending: dict[tuple[uuid.UUID, str], tuple[PendingStatus, ...]] = field(default_factory=dict)
    templates: dict[Key, Template] = field(default_factory=dict)
    outbox: dict[uuid.UUID, OutboxJob] = field(default_factory=dict)
    # Delivery state of outbox rows, kept by the job relay (adapters.memory.jobs).
    job_runs: dict[uuid.UUID, JobRecord] = field(default_factory=dict)
    audit: dict[uuid.UUID, AuditEntry] = field(default_factory=dict)
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    api_keys: dict[uuid.UUID, ApiKey] = field(default_factory=dict)
    notes: dict[uuid.UUID, Note] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    invitations: dict[uuid.UUID, Invitation] = field(default_factory=dict)
    media_objects: dict[Key, MediaObject] = field(default_factory=dict)


class MemoryTenantStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, tenant: Tenant) -> None:
        for other in self._s.tenants.values():
            if other.slug == tenant.slug:
                raise Conflict(f"a tenant with slug {tenant.slug!r} exists", field="slug")
            if tenant.phone_number_id and other.phone_number_id == tenant.phone_number_id:
                raise Conflict(
                    "this phone number id belongs to another tenant", field="phone_number_id"
                )
        self._s.tenants[tenant.id] = tenant

    async def update(self, tenant: Tenant) -> None:
        if tenant.id not in self._s.tenants:
            raise NotFound("tenant not found")
        for other in self._s.tenants.values():
            if (
                other.id != tenant.id
                and tenant.phone_number_id
                and other.phone_number_id == tenant.phone_number_id
            ):
                raise Conflict(
                    "this phone number id belongs to another tenant", field="phone_number_id"
                )
            if (
                other.id != tenant.id
                and tenant.verify_token_digest
                and other.verify_token_digest == tenant.verify_token_digest
            ):
                raise Conflict("this verify token is taken", field="verify_token")
        self._s.tenants[tenant.id] = tenant

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        try:
            return self._s.tenants[tenant_id]
        except KeyError:
            raise NotFound("tenant not found") from None

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None:
        return next(
            (t for t in self._s.tenants.values() if t.phone_number_id == phone_number_id), None
        )

    async def by_verify_token_digest(self, digest: str) -> Tenant | None:
        return next((t for t in self._s.tenants.values() if t.verify_token_digest == digest), None)

    async def by_waba_id(self, waba_id: str) -> list[Tenant]:
        return sorted(
            (t for t in self._s.tenants.values() if t.waba_id == waba_id), key=lambda t: t.slug
        )

    async def list(self) -> list[Tenant]:
        return sorted(self._s.tenants.values(), key=lambda t: t.slug)


class MemoryContactStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def _clash(self, contact: Contact) -> None:
        for other in self._s.contacts.values():
            if other.tenant_id != contact.tenant_id or other.id == contact.id:
                continue
            if contact.bsuid and other.bsuid == contact.bsuid:
                raise Conflict("another contact has this business-scoped user id", field="bsuid")
            if contact.wa_id and other.wa_id == contact.wa_id:
                raise Conflict("another contact has this phone number", field="wa_id")

    async def add(self, contact: Contact) -> None:
        key = (contact.tenant_id, contact.id)
        if key in self._s.contacts:
            raise Conflict("contact exists")
        self._clash(contact)
        self._s.contacts[key] = contact

    async def add_many(self, contacts: Sequence[Contact]) -> set[uuid.UUID]:
        # As PostgreSQL's ``INSERT ... ON CONFLICT DO NOTHING``: a contact whose id,
        # BSUID or phone is taken (by a stored contact or an earlier one of the list)
        # is skipped; the caller reads the one stored instead.
        inserted: set[uuid.UUID] = set()
        for contact in contacts:
            try:
                await self.add(contact)
            except Conflict:
                continue
            inserted.add(contact.id)
        return inserted

    async def update(self, contact: Contact) -> None:
        key = (contact.tenant_id, contact.id)
        if key not in self._s.contacts:
            raise NotFound("contact not found")
        self._clash(contact)
        self._s.contacts[key] = contact

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        try:
            return self._s.contacts[(tenant_id, contact_id)]
        except KeyError:
            raise NotFound("contact not found") from None

    async def by_bsuid(self, tenant_id: uuid.UUID, bsuid: str) -> Contact | None:
        return next(
            (c for c in self._s.contacts.values() if c.tenant_id == tenant_id and c.bsuid == bsuid),
            None,
        )

    async def by_wa_id(self, tenant_id: uuid.UUID, wa_id: str) -> Contact | None:
        return next(
            (c for c in self._s.contacts.values() if c.tenant_id == tenant_id and c.wa_id == wa_id),
            None,
        )

    async def find_many(
        self, tenant_id: uuid.UUID, *, bsuids: Sequence[str], wa_ids: Sequence[str]
    ) -> list[Contact]:
        b, w = set(bsuids), set(wa_ids)
        return [
            c
            for c in self._s.contacts.values()
            if c.tenant_id == tenant_id and ((c.bsuid in b) or (c.wa_id in w))
        ]

    async def search(
        self, tenant_id: uuid.UUID, query: str = "", *, limit: int = 50, offset: int = 0
    ) -> list[Contact]:
        needle = query.strip().lower().lstrip("+")
        found = [
            c
            for c in self._s.contacts.values()
            if c.tenant_id == tenant_id
            and (
                not needle
                or any(
                    needle in (value or "").lower()
                    for value in (c.name, c.username, c.wa_id, c.bsuid)
                )
            )
        ]
        found.sort(key=lambda c: (c.display_name.lower(), str(c.id)))
        return found[offset : offset + limit]

    async def count(self, tenant_id: uuid.UUID) -> int:
        return sum(1 for c in self._s.contacts.values() if c.tenant_id == tenant_id)

    async def delete(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        if self._s.contacts.pop((tenant_id, contact_id), None) is None:
            raise NotFound("contact not found")
        gone = {
            key[1]
            for key, c in self._s.conversations.items()
            if c.tenant_id == tenant_id and c.contact_id == contact_id
        }
        for conversation_id in gone:
            del self._s.conversations[(tenant_id, conversation_id)]
        for key, m in list(self._s.messages.items()):
            if m.tenant_id == tenant_id and m.conversation_id in gone:
                del self._s.messages[key]
                if m.wamid is not None:
                    self._s.wamids.pop((tenant_id, m.wamid), None)
        for note_id, n in list(self._s.notes.items()):
            if n.tenant_id == tenant_id and n.conversation_id in gone:
                del self._s.notes[note_id]


class MemoryConversationStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, conversation: Conversation) -> None:
        if any(
            c.tenant_id == conversation.tenant_id and c.contact_id == conversation.contact_id
            for c in self._s.conversations.values()
        ):
            raise Conflict("this contact already has a conversation")
        self._s.conversations[(conversation.tenant_id, conversation.id)] = conversation

    async def add_many(self, conversations: Sequence[Conversation]) -> set[uuid.UUID]:
        # As ``ON CONFLICT DO NOTHING``: a contact's second conversation is skipped.
        inserted: set[uuid.UUID] = set()
        for conversation in conversations:
            if (conversation.tenant_id, conversation.id) in self._s.conversations:
                continue
            try:
                await self.add(conversation)
            except Conflict:
                continue
            inserted.add(conversation.id)
        return inserted

    async def update(self, conversation: Conversation) -> None:
        key = (conversation.tenant_id, conversation.id)
        if key not in self._s.conversations:
            raise NotFound("conversation not found")
        self._s.conversations[key] = conversation

    async def get(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
        try:
            return self._s.conversations[(tenant_id, conversation_id)]
        except KeyError:
            raise NotFound("conversation not found") from None

    async def for_contact(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Conversation | None:
        return next(
            (
                c
                for c in self._s.conversations.values()
                if c.tenant_id == tenant_id and c.contact_id == contact_id
            ),
            None,
        )

    async def for_contacts(
        self, tenant_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Conversation]:
        wanted = set(contact_ids)
        return {
            c.contact_id: c
            for c in self._s.conversations.values()
            if c.tenant_id == tenant_id and c.contact_id in wanted
        }

    async def update_activity(self, conversations: Sequence[Conversation]) -> None:
        for c in conversations:
            stored = self._s.conversations.get((c.tenant_id, c.id))
            if stored is not None:
                self._s.conversations[(c.tenant_id, c.id)] = replace(
                    stored,
                    status=c.status,
                    last_inbound_at=c.last_inbound_at,
                    last_message_at=c.last_message_at,
                    unread_count=c.unread_count,
                )

    async def list(
        self,
        tenant_id: uuid.UUID,
        *,
        status: ConversationStatus | None = None,
        assignee_id: uuid.UUID | None = None,
        unassigned: bool = False,
        label: str | None = None,
        unread: bool = False,
        inbound_since: datetime | None = None,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[Conversation]:
        found = [
            c
            for c in self._s.conversations.values()
            if c.tenant_id == tenant_id
            and (status is None or c.status == status)
            and (assignee_id is None or c.assignee_id == assignee_id)
            and (not unassigned or c.assignee_id is None)
            and (label is None or label in c.labels)
            and (not unread or c.unread_count > 0)
            and (
                inbound_since is None
                or (c.last_inbound_at is not None and c.last_inbound_at > inbound_since)
            )
            and (before is None or c.last_message_at < before)
        ]
        found.sort(key=lambda c: (c.last_message_at, str(c.id)), reverse=True)
        return found[:limit]


class MemoryMessageStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, message: Message) -> bool:
        if message.wamid is not None:
            wkey = (message.tenant_id, message.wamid)
            if wkey in self._s.wamids:
                return False
            self._s.wamids[wkey] = message.id
        self._s.messages[(message.tenant_id, message.id)] = message
        return True

    async def add_many(self, messages: Sequence[Message]) -> set[uuid.UUID]:
        return {m.id for m in messages if await self.add(m)}

    async def existing_wamids(self, tenant_id: uuid.UUID, wamids: Sequence[str]) -> set[str]:
        return {w for w in wamids if (tenant_id, w) in self._s.wamids}

    async def move(
        self,
        tenant_id: uuid.UUID,
        from_conversation: uuid.UUID,
        to_conversation: uuid.UUID,
        to_contact: uuid.UUID,
    ) -> int:
        moved = 0
        for key, m in list(self._s.messages.items()):
            if m.tenant_id == tenant_id and m.conversation_id == from_conversation:
                self._s.messages[key] = replace(
                    m, conversation_id=to_conversation, contact_id=to_contact
                )
                moved += 1
        return moved

    async def update(self, message: Message) -> None:
        key = (message.tenant_id, message.id)
        old = self._s.messages.get(key)
        if old is None:
            raise NotFound("message not found")
        if message.wamid != old.wamid and message.wamid is not None:
            wkey = (message.tenant_id, message.wamid)
            if wkey in self._s.wamids:
                raise Conflict("another message has this wamid", field="wamid")
            self._s.wamids[wkey] = message.id
        self._s.messages[key] = message

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message:
        try:
            return self._s.messages[(tenant_id, message_id)]
        except KeyError:
            raise NotFound("message not found") from None

    async def by_wamid(self, tenant_id: uuid.UUID, wamid: str) -> Message | None:
        message_id = self._s.wamids.get((tenant_id, wamid))
        return None if message_id is None else self._s.messages[(tenant_id, message_id)]

    async def locked(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
        # Units of work here run one at a time: nothing to wait for.
        return self._s.messages.get((tenant_id, message_id))

    async def thread(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        *,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[Message]:
        found = [
            m
            for m in self._s.messages.values()
            if m.tenant_id == tenant_id
            and m.conversation_id == conversation_id
            and (before is None or m.created_at < before)
        ]
        found.sort(key=lambda m: (m.created_at, str(m.id)), reverse=True)
        return found[:limit]

    async def history(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        *,
        after: Message | None = None,
        limit: int = 500,
    ) -> list[Message]:
        cursor = None if after is None else (after.created_at, str(after.id))
        found = [
            m
            for m in self._s.messages.values()
            if m.tenant_id == tenant_id
            and m.conversation_id == conversation_id
            and (cursor is None or (m.created_at, str(m.id)) > cursor)
        ]
        found.sort(key=lambda m: (m.created_at, str(m.id)))
        return found[:limit]

    async def count_in(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> int:
        return sum(
            1
            for m in self._s.messages.values()
            if m.tenant_id == tenant_id and m.conversation_id == conversation_id
        )

    async def add_pending_status(self, status: PendingStatus) -> None:
        key = (status.tenant_id, status.wamid)
        self._s.pending[key] = (*self._s.pending.get(key, ()), status)

    async def take_pending_statuses(self, tenant_id: uuid.UUID, wamid: str) -> list[PendingStatus]:
        return list(self._s.pending.pop((tenant_id, wamid), ()))

    async def pending_wamid_for(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> str | None:
        return next(
            (
                s.wamid
                for (t, _), waiting in self._s.pending.items()
                if t == tenant_id
                for s in waiting
                if s.message_id == message_id
            ),
            None,
        )


class MemoryTemplateStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, template: Template) -> None:
        if await self.by_name(template.tenant_id, template.name, template.language):
            raise Conflict(f"template {template.name!r} ({template.language}) exists", field="name")
        self._s.templates[(template.tenant_id, template.id)] = template

    async def update(self, template: Template) -> None:
        key = (template.tenant_id, template.id)
        if key not in self._s.templates:
            raise NotFound("template not found")
        self._s.templates[key] = template

    async def get(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> Template:
        try:
            return self._s.templates[(tenant_id, template_id)]
        except KeyError:
            raise NotFound("template not found") from None

    async def by_name(self, tenant_id: uuid.UUID, name: str, language: str) -> Template | None:
        return next(
            (
                t
                for t in self._s.templates.values()
                if t.tenant_id == tenant_id and t.name == name and t.language == language
            ),
            None,
        )

    async def list(self, tenant_id: uuid.UUID) -> list[Template]:
        found = [t for t in self._s.templates.values() if t.tenant_id == tenant_id]
        return sorted(found, key=lambda t: (t.name, t.language))

    async def delete(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> None:
        if self._s.templates.pop((tenant_id, template_id), None) is None:
            raise NotFound("template not found")


class MemoryOutboxStore(MemoryJobBoard):
    async def add(self, job: OutboxJob) -> None:
        self._s.outbox[job.id] = job

    def all(self) -> list[OutboxJob]:
        return sorted(self._s.outbox.values(), key=lambda j: j.created_at)


class MemoryAuditStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, entry: AuditEntry) -> None:
        self._s.audit[entry.id] = entry

    async def list(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[AuditEntry]:
        found = [e for e in self._s.audit.values() if e.tenant_id == tenant_id]
        found.sort(key=lambda e: e.at, reverse=True)
        return found[:limit]
