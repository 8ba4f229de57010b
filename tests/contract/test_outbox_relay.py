"""OutboxRelay contract: the memory twin and PostgreSQL (embedded 18 and machine 15).

Rows are written the way the product writes them (a unit of work's ``outbox.add``);
the PostgreSQL relays each get their own engine, like relays in separate processes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from adapters.memory.jobs import MemoryOutboxRelay
from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.postgres.engine import create_engine
from adapters.postgres.outbox import SqlaOutboxRelay
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from tests.support.databases import fresh_database
from whatsapp_core.domain.model import OutboxJob
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import MSG_SEND, JobRecord, JobState, OutboxRelay
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@dataclass
class Backend:
    uow: UnitOfWorkFactory
    new_relay: Callable[[], OutboxRelay]
    cleanups: list[Callable[[], object]] = field(default_factory=list)


@pytest.fixture(params=["memory", "embedded_pg", "machine_pg"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        factory = MemoryUnitOfWorkFactory()
        yield Backend(factory, lambda: MemoryOutboxRelay(factory.db))
        return
    admin_url = request.getfixturevalue(request.param)
    async with fresh_database(admin_url) as url:
        engines = [create_engine(url, pool_size=4)]

        def new_relay() -> OutboxRelay:
            engine = create_engine(url, pool_size=2)
            engines.append(engine)
            return SqlaOutboxRelay(engine)

        try:
            yield Backend(SqlaUnitOfWorkFactory(engines[0]), new_relay)
        finally:
            for engine in engines:
                await engine.dispose()


async def tenant(backend: Backend, slug: str = "acme") -> Tenant:
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug)
    async with backend.uow() as uow:
        await uow.tenants.add(t)
        await uow.commit()
    return t


async def enqueue(
    backend: Backend, t: Tenant, n: int = 1, *, kind: str = MSG_SEND, at: datetime = T0
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    async with backend.uow() as uow:
        for i, job_id in enumerate(ids):
            await uow.outbox.add(
                OutboxJob(
                    id=job_id,
                    tenant_id=t.id,
                    kind=kind,
                    payload={"n": i},
                    created_at=at + timedelta(milliseconds=i),
                    correlation_id=f"req-{i}",
                )
            )
        await uow.commit()
    return ids


async def claimed_one(backend: Backend) -> tuple[OutboxRelay, JobRecord]:
    """One job written, then claimed at ``T0`` by a new relay."""
    await enqueue(backend, await tenant(backend))
    relay = backend.new_relay()
    (job,) = await relay.claim(1, now=T0, lease=LEASE)
    return relay, job


async def test_a_new_row_is_claimed_once_as_it_was_written(backend: Backend) -> None:
    t = await tenant(backend)
    (job_id,) = await enqueue(backend, t)
    relay = backend.new_relay()
    assert await relay.claim(10, now=T0 - timedelta(seconds=1), lease=LEASE) == []

    (job,) = await relay.claim(10, now=T0, lease=LEASE)
    assert (job.id, job.tenant_id, job.kind, job.payload) == (job_id, t.id, MSG_SEND, {"n": 0})
    assert (job.correlation_id, job.created_at) == ("req-0", T0)
    assert (job.state, job.attempts, job.locked_until) == (JobState.RUNNING, 1, T0 + LEASE)
    assert job.dispatched_at == T0
    assert await relay.claim(10, now=T0 + LEASE - timedelta(seconds=1), lease=LEASE) == []


async def test_oldest_due_first_and_limit_respected(backend: Backend) -> None:
    t = await tenant(backend)
    ids = await enqueue(backend, t, 5)
    relay = backend.new_relay()
    first = await relay.claim(2, now=T0 + timedelta(seconds=1), lease=LEASE)
    rest = await relay.claim(10, now=T0 + timedelta(seconds=1), lease=LEASE)
    assert [j.id for j in first] == ids[:2]
    assert [j.id for j in rest] == ids[2:]
    assert await relay.claim(0, now=T0 + timedelta(seconds=1), lease=LEASE) == []


async def test_two_relays_claiming_at_once_get_every_job_exactly_once(backend: Backend) -> None:
    tenants = [await tenant(backend, "acme"), await tenant(backend, "globex")]
    expected: set[uuid.UUID] = set()
    for t in tenants:  # the relay serves every tenant (across row-level security)
        expected |= set(await enqueue(backend, t, 60))
    relays = [backend.new_relay(), backend.new_relay()]
    now = T0 + timedelta(seconds=1)

    async def keep_claiming(relay: OutboxRelay) -> list[JobRecord]:
        got: list[JobRecord] = []
        while batch := await relay.claim(7, now=now, lease=LEASE):
            got += batch
            await asyncio.sleep(0)
        return got

    a, b = await asyncio.gather(*(keep_claiming(r) for r in relays))
    ids = [j.id for j in a + b]
    assert len(ids) == len(set(ids)) == 120
    assert set(ids) == expected
    assert a  # both really took part
    assert b


async def test_an_expired_lease_gives_the_job_back_and_fences_the_old_claim(
    backend: Backend,
) -> None:
    relay, stale = await claimed_one(backend)
    later = T0 + LEASE + timedelta(seconds=1)
    (again,) = await backend.new_relay().claim(1, now=later, lease=LEASE)
    assert (again.id, again.attempts, again.dispatched_at) == (stale.id, 2, T0)

    assert not await relay.mark_done(stale, now=later, outcome="sent")  # lost its lease
    assert not await relay.schedule_retry(stale, at=later, error="x")
    assert not await relay.mark_dead(stale, now=later, error="x")
    assert await relay.mark_done(again, now=later, outcome="already_sent")
    (done,) = await relay.list_jobs()
    assert (done.state, done.outcome, done.finished_at) == (JobState.DONE, "already_sent", later)
    assert done.locked_until is None
    assert not await relay.mark_done(again, now=later, outcome="twice")


async def test_many_jobs_are_marked_done_at_once_each_fenced_by_its_claim(
    backend: Backend,
) -> None:
    t = await tenant(backend)
    await enqueue(backend, t, 4)
    relay = backend.new_relay()
    now = T0 + timedelta(seconds=1)  # all four due
    first, second, third, fourth = await relay.claim(4, now=now, lease=LEASE)
    later = now + LEASE + timedelta(seconds=1)
    (again,) = await backend.new_relay().claim(1, now=later, lease=LEASE)
    assert again.id == first.id  # its lease expired and another relay took it
    done = [(second, "sent"), (first, "stale"), (third, "already_sent")]
    assert await relay.mark_done_many(done, now=later) == [True, False, True]
    assert await relay.mark_done_many([], now=later) == []
    jobs = {j.id: j for j in await relay.list_jobs()}
    assert (jobs[second.id].state, jobs[second.id].outcome) == (JobState.DONE, "sent")
    assert (jobs[third.id].outcome, jobs[third.id].finished_at) == ("already_sent", later)
    assert jobs[third.id].locked_until is None
    assert jobs[fourth.id].state is JobState.RUNNING  # not in the batch
    assert (jobs[first.id].state, jobs[first.id].attempts) == (JobState.RUNNING, 2)
    assert await relay.mark_done_many([(second, "twice")], now=later) == [False]


async def test_a_lease_is_renewed_only_for_the_claim_that_still_holds_it(
    backend: Backend,
) -> None:
    """A job that waited in a broker's queue: its worker renews the lease on start; a
    copy from an older claim (its lease expired, another relay took the job) cannot."""
    t = await tenant(backend)
    await enqueue(backend, t, 3)
    relay = backend.new_relay()
    now = T0 + timedelta(seconds=1)
    first, second, third = await relay.claim(3, now=now, lease=LEASE)
    later = now + LEASE + timedelta(seconds=1)
    (again,) = await backend.new_relay().claim(1, now=later, lease=LEASE)
    assert again.id == first.id
    assert await relay.mark_done(third, now=now, outcome="sent")

    start = now + timedelta(seconds=20)
    renewed = await relay.renew_many([first, second, third, again], now=start, lease=LEASE)
    assert renewed == [False, True, False, True]  # stale claim, held, done, held
    assert await relay.renew_many([], now=start, lease=LEASE) == []
    jobs = {j.id: j for j in await relay.list_jobs()}
    assert jobs[second.id].locked_until == start + LEASE
    assert jobs[first.id].locked_until == start + LEASE  # the newer claim's
    # The renewed lease holds: not claimable where the first lease would have expired.
    assert await relay.claim(5, now=now + LEASE + timedelta(seconds=2), lease=LEASE) == []


async def test_a_released_claim_is_due_again_and_its_attempt_not_counted(
    backend: Backend,
) -> None:
    relay, job = await claimed_one(backend)
    assert job.attempts == 1
    assert await relay.release(job)
    assert not await relay.release(job)  # no longer running under that claim
    (pending,) = await relay.list_jobs(JobState.PENDING)
    assert (pending.attempts, pending.locked_until) == (0, None)
    (again,) = await relay.claim(1, now=T0, lease=LEASE)  # at once, not after the lease
    assert (again.id, again.attempts) == (job.id, 1)


async def test_a_retry_waits_for_its_available_time_and_keeps_the_attempt_count(
    backend: Backend,
) -> None:
    relay, job = await claimed_one(backend)
    retry_at = T0 + timedelta(seconds=8)
    assert await relay.schedule_retry(job, at=retry_at, error="DeliveryError (code 4): slow")

    (pending,) = await relay.list_jobs(JobState.PENDING)
    assert (pending.attempts, pending.available_at) == (1, retry_at)
    assert pending.last_error == "DeliveryError (code 4): slow"
    assert await relay.claim(5, now=retry_at - timedelta(milliseconds=1), lease=LEASE) == []
    (second,) = await relay.claim(5, now=retry_at, lease=LEASE)
    assert (second.attempts, second.last_error) == (2, "DeliveryError (code 4): slow")


async def test_dead_letters_are_listed_counted_and_requeued_by_hand(backend: Backend) -> None:
    acme, globex = await tenant(backend, "acme"), await tenant(backend, "globex")
    await enqueue(backend, acme, 2)
    (other,) = await enqueue(backend, globex, at=T0 + timedelta(seconds=1))
    relay = backend.new_relay()
    first, second, third = await relay.claim(3, now=T0 + timedelta(seconds=2), lease=LEASE)
    assert await relay.mark_dead(first, now=T0, error="gave up after 1 attempts: boom")
    assert await relay.mark_done(second, now=T0, outcome="sent")

    (dead,) = await relay.list_jobs(JobState.DEAD)
    assert (dead.id, dead.last_error, dead.finished_at) == (
        first.id,
        "gave up after 1 attempts: boom",
        T0,
    )
    assert await relay.list_jobs(JobState.DEAD, tenant_id=globex.id) == []
    assert [j.id for j in await relay.list_jobs(tenant_id=globex.id)] == [other]
    assert await relay.count_by_state() == {
        JobState.DEAD: 1,
        JobState.DONE: 1,
        JobState.RUNNING: 1,
    }
    assert await relay.count_by_state(tenant_id=acme.id) == {JobState.DEAD: 1, JobState.DONE: 1}
    assert third.tenant_id == globex.id
    assert await relay.mark_done(third, now=T0, outcome="sent")

    with pytest.raises(NotFound):
        await relay.requeue(uuid.uuid4(), now=T0)
    with pytest.raises(NotFound):  # another tenant's job looks absent
        await relay.requeue(first.id, now=T0, tenant_id=globex.id)
    with pytest.raises(Conflict):
        await relay.requeue(second.id, now=T0)

    later = T0 + timedelta(hours=1)
    requeued = await relay.requeue(first.id, now=later, tenant_id=acme.id)
    assert (requeued.state, requeued.attempts, requeued.available_at) == (
        JobState.PENDING,
        0,
        later,
    )
    assert requeued.finished_at is None
    assert await relay.claim(5, now=later - timedelta(seconds=1), lease=LEASE) == []
    (again,) = await relay.claim(5, now=later, lease=LEASE)
    assert (again.id, again.attempts) == (first.id, 1)


# Row-level security exists only in PostgreSQL: this case runs on the real backends only.
@pytest.mark.parametrize("backend", ["embedded_pg", "machine_pg"], indirect=True)
async def test_the_relay_runs_as_its_own_role_across_row_level_security(
    backend: Backend,
) -> None:
    relay = backend.new_relay()
    assert isinstance(relay, SqlaOutboxRelay)
    t = await tenant(backend)
    await enqueue(backend, t)
    assert len(await relay.claim(5, now=T0, lease=LEASE)) == 1
    # The login without the relay role (as wa_app would be) sees no row at all.
    engine = relay._engine
    async with engine.begin() as conn:
        await conn.execute(sa.text("SET LOCAL ROLE wa_app"))
        assert (await conn.execute(sa.text("SELECT count(*) FROM outbox"))).scalar() == 0
