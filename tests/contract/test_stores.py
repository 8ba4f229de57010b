"""Store contracts: the same behaviour from the memory twin and from PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from whatsapp_core.domain.model import (
    AuditEntry,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    PendingStatus,
    Template,
)
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import (
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
    TemplateStatus,
)
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def tenant(uow_factory: UnitOfWorkFactory, slug: str = "acme") -> Tenant:
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug, waba_id="1234567")
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    return t


def contact(t: Tenant, **kw: object) -> Contact:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "tenant_id": t.id,
        "created_at": T0,
        "updated_at": T0,
    }
    return Contact(**{**fields, **kw})  # type: ignore[arg-type]


async def saved_contact_and_conversation(
    uow_factory: UnitOfWorkFactory, t: Tenant
) -> tuple[Contact, Conversation]:
    c = contact(
        t,
        bsuid="US.1",
        wa_id="5511999999999",
        name="Ana",
        tags=("vip",),
        attributes={"plan": "gold"},
    )
    conv = Conversation(
        id=uuid.uuid4(), tenant_id=t.id, contact_id=c.id, last_message_at=T0, created_at=T0
    )
    async with uow_factory() as uow:
        await uow.contacts.add(c)
        await uow.conversations.add(conv)
        await uow.commit()
    return c, conv


def msg(t: Tenant, conv: Conversation, **kw: object) -> Message:
    fields: dict[str, object] = {
        "id": uuid.uuid4(), "tenant_id": t.id, "conversation_id": conv.id,
        "contact_id": conv.contact_id, "direction": Direction.INBOUND, "type": "text",
        "text": "hi", "created_at": T0,
    }  # fmt: skip
    return Message(**{**fields, **kw})  # type: ignore[arg-type]


async def test_contacts_round_trip_and_lookups(uow_factory: UnitOfWorkFactory) -> None:
    t = await tenant(uow_factory)
    c, _ = await saved_contact_and_conversation(uow_factory, t)
    async with uow_factory() as uow:
        assert await uow.contacts.get(t.id, c.id) == c
        assert await uow.contacts.by_bsuid(t.id, "US.1") == c
        assert await uow.contacts.by_wa_id(t.id, "5511999999999") == c
        assert await uow.contacts.by_wa_id(t.id, "1") is None
        renamed = replace(c, name="Ana Maria", wa_id=None)
        await uow.contacts.update(renamed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.contacts.get(t.id, c.id) == renamed


async def test_contact_identifiers_are_unique_per_tenant_only(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t, other = await tenant(uow_factory), await tenant(uow_factory, "beta")
    await saved_contact_and_conversation(uow_factory, t)
    for clash in (contact(t, bsuid="US.1"), contact(t, wa_id="5511999999999")):
        async with uow_factory() as uow:
            with pytest.raises(Conflict):
                await uow.contacts.add(clash)
    async with uow_factory() as uow:
        await uow.contacts.add(contact(other, bsuid="US.1", wa_id="5511999999999"))
        await uow.contacts.add(contact(t, name="no ids yet"))
        await uow.contacts.add(contact(t, name="also none"))
        await uow.commit()


async def test_other_tenants_rows_are_not_found(uow_factory: UnitOfWorkFactory) -> None:
    t, other = await tenant(uow_factory), await tenant(uow_factory, "beta")
    c, conv = await saved_contact_and_conversation(uow_factory, t)
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.contacts.get(other.id, c.id)
        with pytest.raises(NotFound):
            await uow.conversations.get(other.id, conv.id)
        assert await uow.contacts.by_bsuid(other.id, "US.1") is None
        assert await uow.conversations.list(other.id) == []


async def test_contact_search_by_name_phone_and_username(uow_factory: UnitOfWorkFactory) -> None:
    t = await tenant(uow_factory)
    async with uow_factory() as uow:
        for kw in (
            {"name": "Ana Souza", "wa_id": "5511900000001"},
            {"name": "Bruno", "wa_id": "5511900000002"},
            {"username": "@carla_100%", "bsuid": "BR.3"},
        ):
            await uow.contacts.add(contact(t, **kw))
        await uow.commit()
    async with uow_factory() as uow:
        names = lambda found: [c.display_name for c in found]  # noqa: E731
        assert names(await uow.contacts.search(t.id, "souza")) == ["Ana Souza"]
        assert names(await uow.contacts.search(t.id, "+55119000000")) == ["Ana Souza", "Bruno"]
        assert names(await uow.contacts.search(t.id, "100%")) == ["@carla_100%"]
        # "@" sorts before letters: the page after the first row is Ana, Bruno.
        assert names(await uow.contacts.search(t.id, "", limit=2, offset=1)) == [
            "Ana Souza",
            "Bruno",
        ]


async def test_one_conversation_per_contact_listed_by_activity(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t = await tenant(uow_factory)
    _, conv = await saved_contact_and_conversation(uow_factory, t)
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.conversations.add(replace(conv, id=uuid.uuid4()))
    agent = uuid.uuid4()
    async with uow_factory() as uow:
        later = contact(t, bsuid="US.2")
        await uow.contacts.add(later)
        newer = Conversation(
            id=uuid.uuid4(), tenant_id=t.id, contact_id=later.id,
            last_message_at=T0 + timedelta(hours=1), created_at=T0, assignee_id=agent,
            labels=("billing",), last_inbound_at=T0,
        )  # fmt: skip
        await uow.conversations.add(newer)
        await uow.conversations.update(replace(conv, status=ConversationStatus.RESOLVED))
        await uow.commit()
    async with uow_factory() as uow:
        assert [x.id for x in await uow.conversations.list(t.id)] == [newer.id, conv.id]
        assert await uow.conversations.list(t.id, status=ConversationStatus.OPEN) == [newer]
        assert await uow.conversations.list(t.id, assignee_id=agent) == [newer]
        assert await uow.conversations.list(t.id, before=newer.last_message_at) == [
            replace(conv, status=ConversationStatus.RESOLVED)
        ]
        assert await uow.conversations.for_contact(t.id, later.id) == newer


async def test_messages_are_unique_per_wamid_and_threaded_newest_first(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t = await tenant(uow_factory)
    _, conv = await saved_contact_and_conversation(uow_factory, t)
    first = msg(t, conv, wamid="wamid.1", content={"image": {"id": "77", "caption": "x"}})
    second = msg(t, conv, wamid=None, created_at=T0 + timedelta(minutes=1),
                 direction=Direction.OUTBOUND, status=MessageStatus.ACCEPTED)  # fmt: skip
    async with uow_factory() as uow:
        assert await uow.messages.add(first) is True
        assert await uow.messages.add(replace(first, id=uuid.uuid4(), text="dup")) is False
        assert await uow.messages.add(second) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.messages.by_wamid(t.id, "wamid.1") == first
        assert await uow.messages.thread(t.id, conv.id) == [second, first]
        assert await uow.messages.thread(t.id, conv.id, before=second.created_at) == [first]
        sent = replace(second, wamid="wamid.2", status=MessageStatus.FAILED, error_code=131026)
        await uow.messages.update(sent)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.messages.get(t.id, second.id) == sent


async def test_pending_statuses_are_taken_once_in_arrival_order(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t = await tenant(uow_factory)
    arrivals = [MessageStatus.READ, MessageStatus.DELIVERED]
    async with uow_factory() as uow:
        for i, status in enumerate(arrivals):
            await uow.messages.add_pending_status(
                PendingStatus(
                    tenant_id=t.id, wamid="wamid.x", status=status, at=T0 + timedelta(seconds=i)
                )
            )
        await uow.commit()
    async with uow_factory() as uow:
        taken = await uow.messages.take_pending_statuses(t.id, "wamid.x")
        assert [p.status for p in taken] == arrivals
        assert await uow.messages.take_pending_statuses(t.id, "wamid.x") == []
        await uow.commit()


async def test_a_pending_status_names_its_message_by_callback_data(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t, other = await tenant(uow_factory), await tenant(uow_factory, "globex")
    mine = uuid.uuid4()
    async with uow_factory() as uow:
        for tenant_id, wamid, named in (
            (t.id, "wamid.first", mine),
            (t.id, "wamid.later", mine),
            (t.id, "wamid.unnamed", None),
            (other.id, "wamid.theirs", mine),
        ):
            await uow.messages.add_pending_status(
                PendingStatus(
                    tenant_id=tenant_id, wamid=wamid, status=MessageStatus.SENT, at=T0,
                    message_id=named,
                )
            )  # fmt: skip
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.messages.pending_wamid_for(t.id, mine) == "wamid.first"
        assert await uow.messages.pending_wamid_for(t.id, uuid.uuid4()) is None
        (taken,) = await uow.messages.take_pending_statuses(t.id, "wamid.first")
        assert taken.message_id == mine
        assert await uow.messages.pending_wamid_for(t.id, mine) == "wamid.later"
        await uow.commit()


async def test_templates_round_trip_with_components(uow_factory: UnitOfWorkFactory) -> None:
    t = await tenant(uow_factory)
    template = Template(
        id=uuid.uuid4(), tenant_id=t.id, name="order_update", language="en",
        category=TemplateCategory.UTILITY,
        components=TemplateComponents(
            body="Hi {{1}}", footer="Thanks",
            buttons=(TemplateButton(type="URL", text="Track", url="https://x.example/{{1}}"),),
        ),
        created_at=T0, updated_at=T0,
    )  # fmt: skip
    async with uow_factory() as uow:
        await uow.templates.add(template)
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.templates.add(replace(template, id=uuid.uuid4()))
    async with uow_factory() as uow:
        assert await uow.templates.get(t.id, template.id) == template
        approved = replace(template, status=TemplateStatus.APPROVED, sent=3, read=1)
        await uow.templates.update(approved)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.templates.by_name(t.id, "order_update", "en") == approved
        assert await uow.templates.list(t.id) == [approved]


async def test_audit_entries_list_newest_first(uow_factory: UnitOfWorkFactory) -> None:
    t = await tenant(uow_factory)
    entries = [
        AuditEntry(
            id=uuid.uuid4(),
            tenant_id=t.id,
            actor="user:1",
            action=f"a.{i}",
            entity_type="x",
            entity_id="1",
            at=T0 + timedelta(seconds=i),
            before={"n": i},
            after=None,
        )
        for i in range(3)
    ]
    async with uow_factory() as uow:
        for entry in entries:
            await uow.audit.add(entry)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.audit.list(t.id, limit=2) == entries[::-1][:2]


async def test_batch_lookups_and_inserts(uow_factory: UnitOfWorkFactory) -> None:
    t, other = await tenant(uow_factory), await tenant(uow_factory, "beta")
    c, conv = await saved_contact_and_conversation(uow_factory, t)
    first, second = msg(t, conv, wamid="wamid.a"), msg(t, conv, wamid="wamid.b")
    async with uow_factory() as uow:
        assert await uow.messages.add_many([first]) == {first.id}
        await uow.commit()
    async with uow_factory() as uow:
        duplicate = replace(first, id=uuid.uuid4())
        assert await uow.messages.add_many([duplicate, second]) == {second.id}
        assert await uow.messages.existing_wamids(t.id, ["wamid.a", "wamid.b", "x"]) == {
            "wamid.a",
            "wamid.b",
        }
        assert await uow.messages.existing_wamids(other.id, ["wamid.a"]) == set()
        found = await uow.contacts.find_many(t.id, bsuids=["US.1", "US.9"], wa_ids=["1"])
        assert found == [c]
        assert await uow.contacts.find_many(other.id, bsuids=["US.1"], wa_ids=[]) == []
        assert await uow.conversations.for_contacts(t.id, [c.id, uuid.uuid4()]) == {c.id: conv}
        later = T0 + timedelta(hours=1)
        moved = replace(
            conv,
            status=ConversationStatus.RESOLVED,
            last_inbound_at=later,
            last_message_at=later,
            unread_count=7,
            labels=("not-written",),
        )
        await uow.conversations.update_activity([moved])
        await uow.commit()
    async with uow_factory() as uow:
        # Only what messages move is written; the rest stays as stored.
        assert await uow.conversations.get(t.id, conv.id) == replace(moved, labels=())


async def test_batch_adds(uow_factory: UnitOfWorkFactory) -> None:
    t = await tenant(uow_factory)
    people = [contact(t, bsuid=f"US.{i}", wa_id=f"55119{i:08d}", tags=("new",)) for i in range(3)]
    threads = [
        Conversation(
            id=uuid.uuid4(), tenant_id=t.id, contact_id=c.id, last_message_at=T0, created_at=T0
        )
        for c in people
    ]
    async with uow_factory() as uow:
        await uow.contacts.add_many(people)
        await uow.conversations.add_many(threads)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.contacts.find_many(t.id, bsuids=["US.0", "US.1", "US.2"], wa_ids=[])
        assert sorted(found, key=lambda c: c.bsuid or "") == people
        assert await uow.conversations.for_contacts(t.id, [c.id for c in people]) == {
            c.contact_id: c for c in threads
        }
    # A clash is skipped, not an error (ON CONFLICT DO NOTHING): the rest go in.
    async with uow_factory() as uow:
        fresh, clash = contact(t, bsuid="US.9"), contact(t, bsuid="US.1")
        assert await uow.contacts.add_many([fresh, clash]) == {fresh.id}
        second = replace(threads[0], id=uuid.uuid4())
        assert await uow.conversations.add_many([second]) == set()
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.contacts.by_bsuid(t.id, "US.1") == people[1]
        assert await uow.contacts.by_bsuid(t.id, "US.9") == fresh
        assert await uow.conversations.for_contact(t.id, people[0].id) == threads[0]
