"""Idempotent inserts of contacts and conversations (``INSERT ... ON CONFLICT DO
NOTHING``): two transactions storing the same new person both succeed, with one row,
and an ingest that lost such a race uses the stored rows without a retry."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness
from whatsapp_core.domain.model import Contact, Conversation
from whatsapp_core.ports import UnitOfWorkFactory
from whatsapp_core.services import inbound
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.contract

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WAIT = 0.3  # long enough for the second transaction to reach the clashing insert


@pytest.fixture
async def h(uow_factory: UnitOfWorkFactory) -> Harness:
    harness = Harness(uow=uow_factory)  # type: ignore[arg-type]
    await harness.add_tenant()
    return harness


@pytest.fixture
def no_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest gets one attempt: a race it cannot absorb fails the test."""
    monkeypatch.setattr(inbound, "_ATTEMPTS", 1)


def _ana(h: Harness, **kw: object) -> Contact:
    fields: dict[str, object] = {"bsuid": ANA_BSUID, "wa_id": ANA_PHONE, "name": "Ana"} | kw
    return Contact(
        id=uuid.uuid4(), tenant_id=h.t.id, created_at=T0, updated_at=T0,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _thread(h: Harness, contact: Contact) -> Conversation:
    return Conversation(
        id=uuid.uuid4(), tenant_id=h.t.id, contact_id=contact.id,
        last_message_at=T0, created_at=T0,
    )  # fmt: skip


async def _contacts(h: Harness) -> list[Contact]:
    async with h.uow() as uow:
        return await uow.contacts.search(h.t.id)


async def test_two_transactions_insert_the_same_new_contact_both_succeed(h: Harness) -> None:
    first, second = _ana(h), _ana(h, name="Ana S.")

    async def other_transaction() -> set[uuid.UUID]:
        async with h.uow() as uow:
            inserted = await uow.contacts.add_many([second])
            await uow.commit()
        return inserted

    async with h.uow() as uow:
        assert await uow.contacts.add_many([first]) == {first.id}
        racing = asyncio.create_task(other_transaction())
        await asyncio.sleep(WAIT)
        assert not racing.done()  # it waits for ours (the row, or the memory lock)
        await uow.commit()
    assert await racing == set()  # skipped, not an error
    assert await _contacts(h) == [first]


async def test_two_transactions_open_the_same_conversation_both_succeed(h: Harness) -> None:
    ana = _ana(h)
    async with h.uow() as uow:
        await uow.contacts.add_many([ana])
        await uow.commit()
    first, second = _thread(h, ana), _thread(h, ana)

    async def other_transaction() -> tuple[set[uuid.UUID], Conversation | None]:
        async with h.uow() as uow:
            inserted = await uow.conversations.add_many([second])
            stored = await uow.conversations.for_contact(h.t.id, ana.id)
            await uow.commit()
        return inserted, stored

    async with h.uow() as uow:
        assert await uow.conversations.add_many([first]) == {first.id}
        racing = asyncio.create_task(other_transaction())
        await asyncio.sleep(WAIT)
        await uow.commit()
    assert await racing == (set(), first)  # and the loser reads the winner's row
    async with h.uow() as uow:
        assert await uow.conversations.list(h.t.id) == [first]


@pytest.mark.usefixtures("no_retry")
async def test_an_ingest_that_loses_the_contact_race_uses_the_stored_contact(
    h: Harness,
) -> None:
    """Another transaction stores Ana (and her conversation) while our ingest, which
    looked her up before, inserts her: its insert waits, skips, and it carries on with
    the stored rows - no error, no retry, no twin."""
    ana = _ana(h, wa_id=None)  # the other delivery had no phone; ours reveals it
    thread = _thread(h, ana)
    message = h.text("where is my order?")
    async with h.uow() as uow:
        await uow.contacts.add_many([ana])
        await uow.conversations.add_many([thread])
        ingest = asyncio.create_task(ingest_webhook(h.svc, h.batch(message)))
        await asyncio.sleep(WAIT)
        assert not ingest.done()
        await uow.commit()
    report = await ingest
    assert (report.messages_stored, report.contacts_created) == (1, 0)
    (stored,) = await _contacts(h)
    assert (stored.id, stored.bsuid, stored.wa_id) == (ana.id, ANA_BSUID, ANA_PHONE)
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
        (kept,) = await uow.messages.thread(h.t.id, thread.id)
    assert conversation.id == thread.id
    assert (kept.wamid, kept.contact_id) == (message.wamid, ana.id)
    assert "contact.created" not in h.events.kinds()


@pytest.mark.usefixtures("no_retry")
async def test_an_ingest_that_loses_the_conversation_race_uses_the_stored_one(
    h: Harness,
) -> None:
    ana = _ana(h)
    async with h.uow() as uow:
        await uow.contacts.add_many([ana])
        await uow.commit()
    thread = _thread(h, ana)
    async with h.uow() as uow:
        await uow.conversations.add_many([thread])
        ingest = asyncio.create_task(ingest_webhook(h.svc, h.batch(h.text("hello"))))
        await asyncio.sleep(WAIT)
        await uow.commit()
    report = await ingest
    assert report.messages_stored == 1
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
        assert conversation.id == thread.id
        assert conversation.unread_count == 1
        assert len(await uow.messages.thread(h.t.id, thread.id)) == 1


@pytest.mark.usefixtures("no_retry")
async def test_a_phone_taken_in_the_race_moves_to_the_new_bsuid(h: Harness) -> None:
    """The other transaction stores a different person with the phone our customer
    writes from (a recycled number): ours still gets a contact of its own, with the
    phone, and the other keeps its BSUID (the rule for a recycled number)."""
    previous_owner = _ana(h, bsuid="US.1000", name="Previous owner")
    async with h.uow() as uow:
        await uow.contacts.add_many([previous_owner])
        ingest = asyncio.create_task(ingest_webhook(h.svc, h.batch(h.text("new here"))))
        await asyncio.sleep(WAIT)
        await uow.commit()
    report = await ingest
    assert (report.messages_stored, report.contacts_created) == (1, 1)
    phones = {c.bsuid: c.wa_id for c in await _contacts(h)}
    assert phones == {"US.1000": None, ANA_BSUID: ANA_PHONE}


@pytest.mark.usefixtures("no_retry")
async def test_concurrent_deliveries_of_one_new_person_make_one_contact(h: Harness) -> None:
    """Different messages (so none is a duplicate) from one new person, delivered in
    parallel: every message stored, one contact, one conversation, no retry."""
    batches = [h.batch(h.text(f"message {i}")) for i in range(8)]
    reports = await asyncio.gather(*(ingest_webhook(h.svc, b) for b in batches))
    assert sum(r.messages_stored for r in reports) == 8
    assert sum(r.contacts_created for r in reports) == 1
    assert sum(r.conversations_opened for r in reports) == 1
    (contact,) = await _contacts(h)
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
        thread = await uow.messages.thread(h.t.id, conversation.id)
    assert conversation.contact_id == contact.id
    assert len(thread) == 8
