"""The core's flows on every backend, including concurrent webhook redelivery."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from msgspec.structs import replace

from adapters.memory.gateway import MemoryWhatsAppGateway
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import PendingStatus
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.ports import UnitOfWorkFactory
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import deliver_message, send_reply

pytestmark = pytest.mark.contract


@pytest.fixture
async def h(uow_factory: UnitOfWorkFactory) -> Harness:
    harness = Harness(uow=uow_factory)  # type: ignore[arg-type]
    await harness.add_tenant()
    return harness


async def test_ten_concurrent_redeliveries_store_each_message_once(h: Harness) -> None:
    batch = h.batch(*(h.text(f"message {i}") for i in range(5)))
    reports = await asyncio.gather(*(ingest_webhook(h.svc, batch) for _ in range(10)))
    assert sum(r.messages_stored for r in reports) == 5
    assert sum(r.messages_duplicate for r in reports) == 45
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
        assert conversation.unread_count == 5
        thread = await uow.messages.thread(h.t.id, conversation.id)
        assert sorted(m.text or "" for m in thread) == [f"message {i}" for i in range(5)]
        assert len(await uow.contacts.search(h.t.id)) == 1


async def test_concurrent_redeliveries_to_a_known_contact_count_each_message_once(
    h: Harness,
) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("first")))
    batch = h.batch(*(h.text(f"message {i}") for i in range(5)))
    reports = await asyncio.gather(*(ingest_webhook(h.svc, batch) for _ in range(10)))
    assert sum(r.messages_stored for r in reports) == 5
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
        assert conversation.unread_count == 6
        assert len(await uow.messages.thread(h.t.id, conversation.id)) == 6


async def test_phones_moving_between_contacts_inside_one_batch(h: Harness) -> None:
    """A batch's new contacts are inserted together after it is resolved; the unique BSUID
    and phone still hold when a phone changes hands inside the batch."""
    start = h.clock.now() - timedelta(minutes=10)
    stored_phone, new_phone = "5511900000003", "5511900000001"
    await ingest_webhook(h.svc, h.batch(h.text("hi", bsuid="US.3", wa_id=stored_phone, at=start)))
    report = await ingest_webhook(
        h.svc,
        h.batch(
            h.text("no phone yet", bsuid="US.1", wa_id=None, at=start + timedelta(seconds=1)),
            h.text("my phone", bsuid="US.1", wa_id=new_phone, at=start + timedelta(seconds=2)),
            h.text("recycled", bsuid="US.2", wa_id=new_phone, at=start + timedelta(seconds=3)),
            h.text("recycled", bsuid="US.4", wa_id=stored_phone, at=start + timedelta(seconds=4)),
        ),
    )
    assert (report.messages_stored, report.contacts_created) == (4, 3)
    async with h.uow() as uow:
        phones = {c.bsuid: c.wa_id for c in await uow.contacts.search(h.t.id)}
        assert phones == {"US.1": None, "US.2": new_phone, "US.3": None, "US.4": stored_phone}
        assert len(await uow.conversations.list(h.t.id)) == 4


async def test_reply_delivery_and_statuses_round_trip(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    gateway = MemoryWhatsAppGateway()
    gateway.next_wamids.append("wamid.CONTRACT1")
    await ingest_webhook(h.svc, h.batch(statuses=(h.status("wamid.CONTRACT1", "sent"),)))
    queued = await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, "on its way")
    assert await deliver_message(h.svc, gateway, h.t.id, queued.id) == "sent"
    await ingest_webhook(
        h.svc,
        h.batch(
            statuses=(h.status("wamid.CONTRACT1", "read"), h.status("wamid.CONTRACT1", "delivered"))
        ),
    )
    async with h.uow() as uow:
        stored = await uow.messages.get(h.t.id, queued.id)
        audit = await uow.audit.list(h.t.id)
    assert (stored.wamid, stored.status) == ("wamid.CONTRACT1", MessageStatus.READ)
    assert [a.action for a in audit] == ["message.send"]


async def test_the_window_closes_on_every_backend(h: Harness) -> None:
    from whatsapp_core.errors import PolicyViolation

    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    h.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(PolicyViolation):
        await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, "late")


async def test_merge_and_delete_contacts_on_every_backend(h: Harness) -> None:
    from tests.unit.services.harness import ANA_BSUID, ANA_PHONE
    from whatsapp_core.services.accounts import add_note, list_notes
    from whatsapp_core.services.contacts import delete_contact, merge_contacts

    await ingest_webhook(h.svc, h.batch(h.text("legacy", bsuid=None, wa_id=ANA_PHONE)))
    await ingest_webhook(h.svc, h.batch(h.text("username", wa_id=None, username="@ana")))
    agent, manager = h.as_(Role.AGENT), h.as_(Role.MANAGER)
    async with h.uow() as uow:
        by_phone = await uow.contacts.by_wa_id(h.t.id, ANA_PHONE)
        by_bsuid = await uow.contacts.by_bsuid(h.t.id, ANA_BSUID)
        assert by_phone is not None
        assert by_bsuid is not None
        assert by_phone.id != by_bsuid.id
        absorbed_thread = await uow.conversations.for_contact(h.t.id, by_bsuid.id)
        assert absorbed_thread is not None
    await add_note(h.svc, agent, absorbed_thread.id, "same person as the legacy thread")

    merged = await merge_contacts(h.svc, manager, by_phone.id, by_bsuid.id)

    assert (merged.bsuid, merged.wa_id, merged.username) == (ANA_BSUID, ANA_PHONE, "@ana")
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
        thread = await uow.messages.thread(h.t.id, conversation.id)
        stored = await uow.contacts.get(h.t.id, by_phone.id)
        assert await uow.contacts.by_bsuid(h.t.id, ANA_BSUID) == stored
    assert conversation.contact_id == by_phone.id
    assert sorted(m.text or "" for m in thread) == ["legacy", "username"]
    assert {m.contact_id for m in thread} == {by_phone.id}
    assert [n.body for n in await list_notes(h.svc, agent, conversation.id)] == [
        "same person as the legacy thread"
    ]

    await delete_contact(h.svc, manager, by_phone.id)
    async with h.uow() as uow:
        assert await uow.contacts.search(h.t.id) == []
        assert await uow.conversations.list(h.t.id) == []
        assert await uow.messages.thread(h.t.id, conversation.id) == []


async def test_the_inbox_filters_unread_and_open_windows_on_every_backend(h: Harness) -> None:
    from whatsapp_core.services.conversations import list_conversations, mark_read

    await ingest_webhook(h.svc, h.batch(h.text("just now", bsuid="US.1", wa_id=None)))
    old = h.clock.now() - timedelta(hours=25)
    await ingest_webhook(h.svc, h.batch(h.text("yesterday", bsuid="US.2", wa_id=None, at=old)))
    agent = h.as_(Role.AGENT)

    def names(views: list) -> list[str | None]:  # type: ignore[type-arg]
        return [v.contact.bsuid for v in views]

    everyone = await list_conversations(h.svc, agent)
    assert sorted(names(everyone)) == ["US.1", "US.2"]
    fresh = next(v for v in everyone if v.contact.bsuid == "US.1")
    await mark_read(h.svc, agent, fresh.conversation.id)

    assert names(await list_conversations(h.svc, agent, window_open=True)) == ["US.1"]
    assert names(await list_conversations(h.svc, agent, unread=True)) == ["US.2"]
    assert await list_conversations(h.svc, agent, unread=True, window_open=True) == []


async def _queued_reply(h: Harness) -> uuid.UUID:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    return (await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, "on its way")).id


async def test_a_status_arriving_while_its_send_commits_is_applied_not_stranded(
    h: Harness,
) -> None:
    """The status's transaction looks the wamid up before the send's commits: it waits
    for the send (the message's lock) and applies the status itself. Without the wait
    the status went to the pending table after the send had taken it: left behind."""
    message_id = await _queued_reply(h)
    wamid = "wamid.RACE1"
    read = h.batch(statuses=(h.status(wamid, "read", callback_data=str(message_id)),))
    async with h.uow() as uow:  # the send recording its wamid (as ``deliver_message``)
        message = await uow.messages.get(h.t.id, message_id)
        await uow.messages.update(replace(message, wamid=wamid))
        assert await uow.messages.take_pending_statuses(h.t.id, wamid) == []
        arriving = asyncio.create_task(ingest_webhook(h.svc, read))
        await asyncio.sleep(0.3)
        assert not arriving.done()  # it waits for the send's transaction
        await uow.commit()
    report = await arriving
    assert (report.statuses_applied, report.statuses_pending) == (1, 0)
    async with h.uow() as uow:
        stored = await uow.messages.get(h.t.id, message_id)
        assert await uow.messages.take_pending_statuses(h.t.id, wamid) == []
    assert (stored.wamid, stored.status) == (wamid, MessageStatus.READ)


async def test_a_send_waits_for_a_status_holding_its_message_then_takes_it(h: Harness) -> None:
    """The other order: the status's transaction locked the message and keeps the
    status pending; the send's writes wait for it, then it finds the status."""
    message_id = await _queued_reply(h)
    gateway = MemoryWhatsAppGateway()
    gateway.next_wamids.append("wamid.RACE2")
    async with h.uow() as uow:
        assert await uow.messages.by_wamid(h.t.id, "wamid.RACE2") is None
        held = await uow.messages.locked(h.t.id, message_id)
        assert held is not None
        assert held.wamid is None
        await uow.messages.add_pending_status(
            PendingStatus(
                tenant_id=h.t.id,
                wamid="wamid.RACE2",
                status=MessageStatus.READ,
                at=h.clock.now(),
                message_id=message_id,
            )
        )
        sending = asyncio.create_task(deliver_message(h.svc, gateway, h.t.id, message_id))
        await asyncio.sleep(0.3)
        assert not sending.done()  # the send's first write waits for the lock
        await uow.commit()
    assert await sending == "sent"
    async with h.uow() as uow:
        stored = await uow.messages.get(h.t.id, message_id)
    assert (stored.wamid, stored.status) == ("wamid.RACE2", MessageStatus.READ)
