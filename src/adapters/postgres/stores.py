"""SQLAlchemy Core stores for every aggregate. Rows map to the core's frozen Structs
with msgspec (``convert`` one way, ``asdict`` the other); ``store_base.SqlaStore`` scopes
each statement to its tenant for row-level security."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres import tables
from adapters.postgres.job_board import SqlaJobBoard
from adapters.postgres.scope import TenantScope
from adapters.postgres.store_base import (
    SqlaStore,
    as_arrays,
    from_row,
    from_rows,
    insert_from_arrays,
    insert_row,
    rows_as_arrays,
    to_row,
)
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

_c, _v, _m = tables.contacts, tables.conversations, tables.messages
_FIND_CONTACTS = sa.select(_c).where(
    _c.c.tenant_id == sa.bindparam("t"),
    sa.or_(
        _c.c.bsuid == sa.func.any(sa.bindparam("b", type_=ARRAY(sa.Text))),
        _c.c.wa_id == sa.func.any(sa.bindparam("w", type_=ARRAY(sa.Text))),
    ),
)
_CONVERSATIONS_OF = sa.select(_v).where(
    _v.c.tenant_id == sa.bindparam("t"),
    _v.c.contact_id == sa.func.any(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))),
)
# ``update_activity``: one UPDATE ... FROM unnest(...) for all the rows, the tenant given
# as a plain parameter (a tenant column in the arrays misleads the planner's estimates).
_ACTIVITY = ("id", "status", "last_inbound_at", "last_message_at", "unread_count")
_activity = rows_as_arrays(_v, _ACTIVITY)
_UPDATE_ACTIVITY = (
    sa.update(_v)
    .where(_v.c.tenant_id == sa.bindparam("t"), _v.c.id == _activity.c.id)
    .values({name: _activity.c[name] for name in _ACTIVITY[1:]})
)
# One probe of the (tenant_id, wamid) index per wamid, LATERAL ... LIMIT 1 so it stays a
# nested loop: a plain ``wamid = ANY(:w)`` is planned on table statistics, which a new
# or fast-growing table lacks, and then scans every message of the tenant.
_wamids = (
    sa.func.unnest(sa.bindparam("w", type_=ARRAY(sa.Text)))
    .table_valued("wamid")
    .render_derived()  # AS anon(wamid)
)
_stored = (
    sa.select(_m.c.wamid)
    .where(
        _m.c.tenant_id == sa.bindparam("t"),
        _m.c.wamid == _wamids.c.wamid,
        _m.c.wamid.is_not(None),  # the unique index is partial
    )
    .limit(1)
    .lateral()
)
_KNOWN_WAMIDS = sa.select(_stored.c.wamid).select_from(_wamids.join(_stored, sa.true()))


class SqlaTenantStore(SqlaStore):
    table = tables.tenants
    entity = Tenant
    not_found = "tenant not found"

    _add = insert(tables.tenants).on_conflict_do_nothing().returning(tables.tenants.c.id)

    async def add(self, tenant: Tenant) -> None:
        result = await self._execute(None, self._add, to_row(tenant, self.table))
        if result.first() is None:
            raise Conflict(
                f"a tenant with slug {tenant.slug!r} or this phone number id exists", field="slug"
            )

    async def update(self, tenant: Tenant) -> None:
        t = self.table
        row = to_row(tenant, t)
        del row["id"]
        result = await self._execute(None, sa.update(t).where(t.c.id == tenant.id).values(**row))
        if result.rowcount == 0:
            raise NotFound(self.not_found)

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        found: Tenant | None = await self._one(None, id=tenant_id)
        if found is None:
            raise NotFound(self.not_found)
        return found

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None:
        found: Tenant | None = await self._one(None, phone_number_id=phone_number_id)
        return found

    async def by_verify_token_digest(self, digest: str) -> Tenant | None:
        found: Tenant | None = await self._one(None, verify_token_digest=digest)
        return found

    async def by_waba_id(self, waba_id: str) -> list[Tenant]:
        t = self.table
        return await self._all(None, sa.select(t).where(t.c.waba_id == waba_id).order_by(t.c.slug))

    async def list(self) -> list[Tenant]:
        return await self._all(None, sa.select(self.table).order_by(self.table.c.slug))


class _InsertsIfAbsent(SqlaStore):
    """``add_many`` as ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: a row that
    clashes on any unique key is skipped instead of aborting the transaction. Against
    a concurrent transaction's uncommitted row the insert waits for it to end, so a
    skipped row's winner is committed and the caller can read it."""

    _add_if_absent: sa.Insert

    async def _insert_if_absent(self, entities: Sequence[Any]) -> set[uuid.UUID]:
        inserted: set[uuid.UUID] = set()
        for tenant_id in dict.fromkeys(e.tenant_id for e in entities):
            rows = [to_row(e, self.table) for e in entities if e.tenant_id == tenant_id]
            # executemany with RETURNING: SQLAlchemy sends it as batched multi-row
            # INSERTs ("insertmanyvalues"), one round trip for a webhook's new rows.
            result = await self._execute_many(tenant_id, self._add_if_absent, rows)
            inserted.update(result.scalars())
        return inserted


class SqlaContactStore(_InsertsIfAbsent):
    table = tables.contacts
    entity = Contact
    not_found = "contact not found"
    _add_if_absent = insert(tables.contacts).on_conflict_do_nothing().returning(_c.c.id)

    async def add(self, contact: Contact) -> None:
        await self._insert(contact)

    async def add_many(self, contacts: Sequence[Contact]) -> set[uuid.UUID]:
        return await self._insert_if_absent(contacts)

    async def update(self, contact: Contact) -> None:
        await self._replace(contact)

    async def delete(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        await self._delete(tenant_id, contact_id)  # conversation, messages, notes cascade

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        found: Contact = await self._get(tenant_id, contact_id)
        return found

    async def by_bsuid(self, tenant_id: uuid.UUID, bsuid: str) -> Contact | None:
        found: Contact | None = await self._one(tenant_id, tenant_id=tenant_id, bsuid=bsuid)
        return found

    async def by_wa_id(self, tenant_id: uuid.UUID, wa_id: str) -> Contact | None:
        found: Contact | None = await self._one(tenant_id, tenant_id=tenant_id, wa_id=wa_id)
        return found

    async def find_many(
        self, tenant_id: uuid.UUID, *, bsuids: Sequence[str], wa_ids: Sequence[str]
    ) -> list[Contact]:
        if not bsuids and not wa_ids:
            return []
        params = {"t": tenant_id, "b": list(bsuids), "w": list(wa_ids)}
        return from_rows(await self._execute(tenant_id, _FIND_CONTACTS, params), Contact)

    async def search(
        self, tenant_id: uuid.UUID, query: str = "", *, limit: int = 50, offset: int = 0
    ) -> list[Contact]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id)
        needle = query.strip().lower().lstrip("+")
        if needle:
            like = f"%{_escape_like(needle)}%"
            q = q.where(
                sa.or_(
                    *(
                        sa.func.lower(col).like(like, escape="\\")
                        for col in (t.c.name, t.c.username, t.c.wa_id, t.c.bsuid)
                    )
                )
            )
        display = sa.func.lower(
            sa.func.coalesce(t.c.name, t.c.username, "+" + t.c.wa_id, t.c.bsuid)
        )
        return await self._all(
            tenant_id, q.order_by(display, sa.cast(t.c.id, sa.Text)).limit(limit).offset(offset)
        )

    async def count(self, tenant_id: uuid.UUID) -> int:
        t = self.table
        q = sa.select(sa.func.count()).select_from(t).where(t.c.tenant_id == tenant_id)
        return int((await self._execute(tenant_id, q)).scalar_one())


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlaConversationStore(_InsertsIfAbsent):
    table = tables.conversations
    entity = Conversation
    not_found = "conversation not found"
    _add_if_absent = insert(tables.conversations).on_conflict_do_nothing().returning(_v.c.id)

    async def add(self, conversation: Conversation) -> None:
        await self._insert(conversation)

    async def add_many(self, conversations: Sequence[Conversation]) -> set[uuid.UUID]:
        return await self._insert_if_absent(conversations)

    async def update(self, conversation: Conversation) -> None:
        await self._replace(conversation)

    async def get(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
        found: Conversation = await self._get(tenant_id, conversation_id)
        return found

    async def for_contact(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Conversation | None:
        found: Conversation | None = await self._one(
            tenant_id, tenant_id=tenant_id, contact_id=contact_id
        )
        return found

    async def for_contacts(
        self, tenant_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Conversation]:
        if not contact_ids:
            return {}
        rows = await self._execute(
            tenant_id, _CONVERSATIONS_OF, {"t": tenant_id, "ids": list(contact_ids)}
        )
        return {c.contact_id: c for c in from_rows(rows, Conversation)}

    async def update_activity(self, conversations: Sequence[Conversation]) -> None:
        for tenant_id in dict.fromkeys(c.tenant_id for c in conversations):
            rows = [msgspec.structs.asdict(c) for c in conversations if c.tenant_id == tenant_id]
            params = as_arrays(rows, _ACTIVITY) | {"t": tenant_id}
            await self._execute(tenant_id, _UPDATE_ACTIVITY, params)

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
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id)
        if status is not None:
            q = q.where(t.c.status == status)
        if assignee_id is not None:
            q = q.where(t.c.assignee_id == assignee_id)
        if unassigned:
            q = q.where(t.c.assignee_id.is_(None))
        if label is not None:
            q = q.where(t.c.labels.contains([label]))
        if unread:
            q = q.where(t.c.unread_count > 0)
        if inbound_since is not None:
            q = q.where(t.c.last_inbound_at > inbound_since)
        if before is not None:
            q = q.where(t.c.last_message_at < before)
        order = (t.c.last_message_at.desc(), sa.cast(t.c.id, sa.Text).desc())
        return await self._all(tenant_id, q.order_by(*order).limit(limit))


class SqlaMessageStore(SqlaStore):
    table = tables.messages
    entity = Message
    not_found = "message not found"
    _add = (
        insert(tables.messages)
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "wamid"], index_where=sa.text("wamid IS NOT NULL")
        )
        .returning(tables.messages.c.id)
    )
    _columns = tuple(Message.__struct_fields__)  # the keys of ``to_row(message)``
    _add_many = (
        insert_from_arrays(tables.messages, _columns)
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "wamid"], index_where=sa.text("wamid IS NOT NULL")
        )
        .returning(tables.messages.c.id)
    )

    async def add(self, message: Message) -> bool:
        result = await self._execute(message.tenant_id, self._add, to_row(message, self.table))
        return result.first() is not None

    async def add_many(self, messages: Sequence[Message]) -> set[uuid.UUID]:
        inserted: set[uuid.UUID] = set()
        for tenant_id in {m.tenant_id for m in messages}:
            rows = [to_row(m, self.table) for m in messages if m.tenant_id == tenant_id]
            # One array per column, not ``insert().values([...])``: SQLAlchemy cannot
            # cache a multi-row VALUES statement and compiles it on every call (~20 ms
            # for 50 rows, more than the insert itself).
            params = as_arrays(rows, self._columns)
            result = await self._execute(tenant_id, self._add_many, params)
            inserted.update(result.scalars())
        return inserted

    async def existing_wamids(self, tenant_id: uuid.UUID, wamids: Sequence[str]) -> set[str]:
        if not wamids:
            return set()
        rows = await self._execute(tenant_id, _KNOWN_WAMIDS, {"t": tenant_id, "w": list(wamids)})
        return set(rows.scalars())

    async def update(self, message: Message) -> None:
        await self._replace(message)

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message:
        found: Message = await self._get(tenant_id, message_id)
        return found

    async def by_wamid(self, tenant_id: uuid.UUID, wamid: str) -> Message | None:
        found: Message | None = await self._one(tenant_id, tenant_id=tenant_id, wamid=wamid)
        return found

    async def locked(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
        # FOR UPDATE waits for a transaction holding the row, then (read committed)
        # returns the row as that transaction left it.
        t = self.table
        query = (
            sa.select(t).where(t.c.tenant_id == tenant_id, t.c.id == message_id).with_for_update()
        )
        row = (await self._execute(tenant_id, query)).first()
        return None if row is None else from_row(row, Message)

    async def thread(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        *,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[Message]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.conversation_id == conversation_id)
        if before is not None:
            q = q.where(t.c.created_at < before)
        order = (t.c.created_at.desc(), sa.cast(t.c.id, sa.Text).desc())
        return await self._all(tenant_id, q.order_by(*order).limit(limit))

    async def history(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        *,
        after: Message | None = None,
        limit: int = 500,
    ) -> list[Message]:
        t = self.table
        key = (t.c.created_at, sa.cast(t.c.id, sa.Text))  # ``thread``'s order, reversed
        q = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.conversation_id == conversation_id)
        if after is not None:
            q = q.where(sa.tuple_(*key) > sa.tuple_(after.created_at, str(after.id)))
        return await self._all(tenant_id, q.order_by(*key).limit(limit))

    async def count_in(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> int:
        t = self.table
        q = sa.select(sa.func.count()).where(
            t.c.tenant_id == tenant_id, t.c.conversation_id == conversation_id
        )
        return int((await self._execute(tenant_id, q)).scalar_one())

    async def move(
        self,
        tenant_id: uuid.UUID,
        from_conversation: uuid.UUID,
        to_conversation: uuid.UUID,
        to_contact: uuid.UUID,
    ) -> int:
        return await self._move(
            tenant_id, from_conversation, conversation_id=to_conversation, contact_id=to_contact
        )

    async def add_pending_status(self, status: PendingStatus) -> None:
        values = msgspec.structs.asdict(status)
        await self._execute(status.tenant_id, insert_row(tables.pending_statuses), values)

    async def take_pending_statuses(self, tenant_id: uuid.UUID, wamid: str) -> list[PendingStatus]:
        p = tables.pending_statuses
        rows = await self._execute(
            tenant_id,
            sa.delete(p)
            .where(p.c.tenant_id == tenant_id, p.c.wamid == wamid)
            .returning(*(p.c[name] for name in PendingStatus.__struct_fields__), p.c.seq),
        )
        ordered = sorted(rows, key=lambda row: row.seq)
        return [from_row(row, PendingStatus) for row in ordered]

    async def pending_wamid_for(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> str | None:
        p = tables.pending_statuses
        rows = await self._execute(
            tenant_id,
            sa.select(p.c.wamid)
            .where(p.c.tenant_id == tenant_id, p.c.message_id == message_id)
            .order_by(p.c.seq)
            .limit(1),
        )
        found: str | None = rows.scalar_one_or_none()
        return found


class SqlaTemplateStore(SqlaStore):
    table = tables.templates
    entity = Template
    not_found = "template not found"

    async def add(self, template: Template) -> None:
        await self._insert(template)

    async def update(self, template: Template) -> None:
        await self._replace(template)

    async def get(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> Template:
        found: Template = await self._get(tenant_id, template_id)
        return found

    async def by_name(self, tenant_id: uuid.UUID, name: str, language: str) -> Template | None:
        found: Template | None = await self._one(
            tenant_id, tenant_id=tenant_id, name=name, language=language
        )
        return found

    async def list(self, tenant_id: uuid.UUID) -> list[Template]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.name, t.c.language)
        return await self._all(tenant_id, q)

    async def delete(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> None:
        await self._delete(tenant_id, template_id)


class SqlaOutboxStore(SqlaJobBoard):
    """Jobs are only ever appended inside a transaction and nothing reads them back in it,
    so they are kept here and written at commit, one multi-row INSERT per tenant
    (``flush``): two or three round trips less per inbound message. A failure then
    surfaces from ``commit`` and rolls everything back, as it would have before."""

    table = tables.outbox
    entity = OutboxJob

    def __init__(self, conn: AsyncConnection, scope: TenantScope) -> None:
        super().__init__(conn, scope)
        self._pending: dict[uuid.UUID, list[dict[str, Any]]] = {}

    async def add(self, job: OutboxJob) -> None:
        self._pending.setdefault(job.tenant_id, []).append(to_row(job, self.table))

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for tenant_id, rows in pending.items():
            columns = tuple(rows[0])  # every row is an OutboxJob: the same keys
            statement = insert_from_arrays(self.table, columns)
            await self._execute(tenant_id, statement, as_arrays(rows, columns))


class SqlaAuditStore(SqlaStore):
    table = tables.audit_log
    entity = AuditEntry

    async def add(self, entry: AuditEntry) -> None:
        await self._insert(entry)

    async def list(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[AuditEntry]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.at.desc()).limit(limit)
        return await self._all(tenant_id, q)
