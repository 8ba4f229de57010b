"""The job monitor's side of ``OutboxStore`` (one tenant's jobs, in a unit of work), and
the store reads exports page through: the memory twin and PostgreSQL (embedded 18 and
machine 15). Jobs move through their states the way the worker moves them: the relay of
the same backend claims, retries and buries them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.jobs import MemoryOutboxRelay
from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.postgres.outbox import SqlaOutboxRelay
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from whatsapp_core.domain.model import (
    Contact,
    Conversation,
    Direction,
    Message,
    OutboxJob,
)
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import (
    AI_CLASSIFY,
    MSG_SEND,
    JobRecord,
    JobState,
    OutboxRelay,
    QueueDepth,
    QueueStatus,
)
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
ALL = frozenset(QueueStatus)


def relay_for(uow_factory: UnitOfWorkFactory) -> OutboxRelay:
    if isinstance(uow_factory, MemoryUnitOfWorkFactory):
        return MemoryOutboxRelay(uow_factory.db)
    assert isinstance(uow_factory, SqlaUnitOfWorkFactory)
    engine: AsyncEngine = uow_factory._engine
    return SqlaOutboxRelay(engine)


async def tenant(uow_factory: UnitOfWorkFactory, slug: str = "acme") -> Tenant:
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug)
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    return t


async def enqueue(
    uow_factory: UnitOfWorkFactory, t: Tenant, kinds: list[str], at: datetime = T0
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in kinds]
    async with uow_factory() as uow:
        for i, (job_id, kind) in enumerate(zip(ids, kinds, strict=True)):
            await uow.outbox.add(
                OutboxJob(
                    id=job_id,
                    tenant_id=t.id,
                    kind=kind,
                    payload={"n": i},
                    created_at=at + timedelta(seconds=i),
                    correlation_id=f"req-{i}",
                )
            )
        await uow.commit()
    return ids


async def claim_all(
    relay: OutboxRelay, now: datetime = T0 + timedelta(hours=1)
) -> dict[uuid.UUID, JobRecord]:
    return {j.id: j for j in await relay.claim(100, now=now, lease=LEASE)}


async def test_depths_and_lists_follow_the_jobs_through_their_states(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, globex = await tenant(uow_factory), await tenant(uow_factory, "globex")
    ids = await enqueue(uow_factory, acme, [MSG_SEND] * 5)
    (other,) = await enqueue(uow_factory, globex, [MSG_SEND])
    relay = relay_for(uow_factory)
    claimed = await claim_all(relay)
    now = T0 + timedelta(hours=1)
    retry, dead, done, _running = (claimed[i] for i in ids[:4])
    assert await relay.schedule_retry(retry, at=now + LEASE, error="UpstreamUnavailable: down")
    assert await relay.mark_dead(dead, now=now, error="gave up after 8 attempts: boom")
    assert await relay.mark_done(done, now=now, outcome="sent")
    await enqueue(uow_factory, acme, [AI_CLASSIFY, AI_CLASSIFY], at=T0 + timedelta(hours=2))
    await relay.mark_done(claimed[other], now=now, outcome="sent")

    async with uow_factory() as uow:
        depths = await uow.outbox.depths(acme.id)
        trouble = await uow.outbox.list_jobs(
            acme.id, statuses={QueueStatus.RETRYING, QueueStatus.DEAD}
        )
        running = await uow.outbox.list_jobs(acme.id, statuses={QueueStatus.RUNNING})
        queued_ai = await uow.outbox.list_jobs(
            acme.id, statuses={QueueStatus.QUEUED}, kind=AI_CLASSIFY, limit=1
        )
        everything = await uow.outbox.list_jobs(acme.id, statuses=ALL)
        done_only = await uow.outbox.list_jobs(acme.id, statuses={QueueStatus.DONE})
        nothing = await uow.outbox.list_jobs(acme.id, statuses=set())
        theirs = await uow.outbox.depths(globex.id)

    assert depths == [
        QueueDepth(kind=AI_CLASSIFY, queued=2),
        QueueDepth(kind=MSG_SEND, running=2, retrying=1, dead=1),
    ]
    assert [j.id for j in trouble] == [dead.id, retry.id]  # newest first
    buried = trouble[0]
    assert (buried.state, buried.attempts, buried.last_error, buried.correlation_id) == (
        JobState.DEAD, 1, "gave up after 8 attempts: boom", "req-1",
    )  # fmt: skip
    assert (trouble[1].available_at, trouble[1].last_error) == (
        now + LEASE, "UpstreamUnavailable: down",
    )  # fmt: skip
    assert {j.id for j in running} == {ids[3], ids[4]}
    assert [j.kind for j in queued_ai] == [AI_CLASSIFY]
    assert queued_ai[0].created_at == T0 + timedelta(hours=2, seconds=1)
    assert len(everything) == 7
    assert [j.id for j in done_only] == [done.id]
    assert done_only[0].outcome == "sent"
    assert nothing == []
    assert theirs == []  # globex's only job is done


async def test_requeue_and_discard_take_only_a_dead_job_of_the_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, globex = await tenant(uow_factory), await tenant(uow_factory, "globex")
    dead_id, live_id, gone_id = await enqueue(uow_factory, acme, [MSG_SEND] * 3)
    relay = relay_for(uow_factory)
    claimed = await claim_all(relay)
    now = T0 + timedelta(hours=1)
    for job_id in (dead_id, gone_id):
        assert await relay.mark_dead(claimed[job_id], now=now, error="boom")

    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.outbox.requeue(globex.id, dead_id, now=now)
        with pytest.raises(NotFound):
            await uow.outbox.discard(globex.id, dead_id)
        with pytest.raises(NotFound):
            await uow.outbox.get_job(globex.id, dead_id)
        with pytest.raises(NotFound):
            await uow.outbox.requeue(acme.id, uuid.uuid4(), now=now)
        with pytest.raises(Conflict):
            await uow.outbox.requeue(acme.id, live_id, now=now)
        with pytest.raises(Conflict):
            await uow.outbox.discard(acme.id, live_id)

    later = now + timedelta(seconds=10)  # the live job's lease holds
    async with uow_factory() as uow:
        requeued = await uow.outbox.requeue(acme.id, dead_id, now=later)
        discarded = await uow.outbox.discard(acme.id, gone_id)
        await uow.commit()

    assert (requeued.state, requeued.attempts, requeued.available_at) == (
        JobState.PENDING, 0, later,
    )  # fmt: skip
    assert (requeued.finished_at, requeued.last_error) == (None, "boom")
    assert (discarded.id, discarded.state, discarded.last_error) == (gone_id, JobState.DEAD, "boom")
    async with uow_factory() as uow:
        assert QueueStatus.of(await uow.outbox.get_job(acme.id, dead_id)) is QueueStatus.QUEUED
        with pytest.raises(NotFound):
            await uow.outbox.get_job(acme.id, gone_id)
        with pytest.raises(Conflict):  # queued again: no longer dead
            await uow.outbox.requeue(acme.id, dead_id, now=later)
    (again,) = await relay.claim(10, now=later, lease=LEASE)
    assert (again.id, again.attempts) == (dead_id, 1)


async def test_a_change_rolls_back_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    acme = await tenant(uow_factory)
    (job_id,) = await enqueue(uow_factory, acme, [MSG_SEND])
    relay = relay_for(uow_factory)
    (job,) = (await claim_all(relay)).values()
    assert await relay.mark_dead(job, now=T0, error="boom")
    async with uow_factory() as uow:
        await uow.outbox.discard(acme.id, job_id)
    async with uow_factory() as uow:
        assert (await uow.outbox.get_job(acme.id, job_id)).state is JobState.DEAD


async def test_progress_is_fenced_by_the_claim(uow_factory: UnitOfWorkFactory) -> None:
    acme = await tenant(uow_factory)
    await enqueue(uow_factory, acme, [MSG_SEND])
    relay = relay_for(uow_factory)
    (stale,) = await relay.claim(1, now=T0, lease=LEASE)

    async with uow_factory() as uow:
        assert await uow.outbox.set_progress(stale, "exporting: 500 of 5000 rows")
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.outbox.get_job(acme.id, stale.id)).outcome == (
            "exporting: 500 of 5000 rows"
        )

    (again,) = await relay.claim(1, now=T0 + LEASE + timedelta(seconds=1), lease=LEASE)
    async with uow_factory() as uow:
        assert not await uow.outbox.set_progress(stale, "exporting: 1000 of 5000 rows")
        assert await uow.outbox.set_progress(again, "exporting: 1 of 5000 rows")
        await uow.commit()
    assert await relay.mark_done(again, now=T0, outcome="exported 5000 of 5000 rows")
    async with uow_factory() as uow:
        assert not await uow.outbox.set_progress(again, "exporting: 2 of 5000 rows")
        assert (await uow.outbox.get_job(acme.id, again.id)).outcome == (
            "exported 5000 of 5000 rows"
        )


async def test_a_job_added_in_the_transaction_is_seen_by_it(uow_factory: UnitOfWorkFactory) -> None:
    acme = await tenant(uow_factory)
    job_id = uuid.uuid4()
    async with uow_factory() as uow:
        await uow.outbox.add(OutboxJob(id=job_id, tenant_id=acme.id, kind=MSG_SEND, payload={},
                                       created_at=T0))  # fmt: skip
        found = await uow.outbox.get_job(acme.id, job_id)
        assert QueueStatus.of(found) is QueueStatus.QUEUED
        assert await uow.outbox.depths(acme.id) == [QueueDepth(kind=MSG_SEND, queued=1)]
        await uow.commit()


# -- what exports page through ------------------------------------------------------------


async def test_contacts_are_counted_per_tenant(uow_factory: UnitOfWorkFactory) -> None:
    acme, globex = await tenant(uow_factory), await tenant(uow_factory, "globex")
    async with uow_factory() as uow:
        await uow.contacts.add_many(
            [Contact(id=uuid.uuid4(), tenant_id=acme.id, wa_id=f"55119999900{i:02d}",
                     created_at=T0, updated_at=T0) for i in range(12)]
        )  # fmt: skip
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.contacts.count(acme.id), await uow.contacts.count(globex.id)) == (12, 0)


async def test_history_pages_oldest_first_through_shared_timestamps(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme = await tenant(uow_factory)
    contact = Contact(id=uuid.uuid4(), tenant_id=acme.id, wa_id="5511999999999",
                      created_at=T0, updated_at=T0)  # fmt: skip
    conversation = Conversation(id=uuid.uuid4(), tenant_id=acme.id, contact_id=contact.id,
                                last_message_at=T0, created_at=T0)  # fmt: skip
    at: Callable[[int], datetime] = lambda i: T0 + timedelta(seconds=i // 3)  # noqa: E731
    messages = [
        Message(id=uuid.uuid4(), tenant_id=acme.id, conversation_id=conversation.id,
                contact_id=contact.id, direction=Direction.INBOUND, type="text",
                text=f"m{i}", created_at=at(i))
        for i in range(10)
    ]  # fmt: skip
    async with uow_factory() as uow:
        await uow.contacts.add(contact)
        await uow.conversations.add(conversation)
        await uow.messages.add_many(messages)
        await uow.commit()

    pages: list[list[Message]] = []
    async with uow_factory() as uow:
        total = await uow.messages.count_in(acme.id, conversation.id)
        last = None
        while page := await uow.messages.history(acme.id, conversation.id, after=last, limit=4):
            pages.append(page)
            last = page[-1]
        newest_first = await uow.messages.thread(acme.id, conversation.id, limit=50)

    assert total == 10
    assert [len(p) for p in pages] == [4, 4, 2]
    walked = [m.id for p in pages for m in p]
    assert walked == [m.id for m in reversed(newest_first)]  # ``thread``'s order, reversed
    assert sorted(walked) == sorted(m.id for m in messages)
    assert [m.created_at for p in pages for m in p] == sorted(m.created_at for m in messages)
