"""The job monitor on memory adapters: depths by kind, failing and dead jobs, retry and
discard (audited), roles, and tenant isolation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from adapters.memory.jobs import MemoryOutboxRelay
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Conflict, Forbidden, NotFound
from whatsapp_core.jobs import (
    AI_CLASSIFY,
    MSG_SEND,
    WEBHOOK_OUT,
    JobRecord,
    JobState,
    QueueDepth,
    QueueStatus,
)
from whatsapp_core.policies.access import Role
from whatsapp_core.services.jobs import discard_job, get_job, job_overview, retry_job

pytestmark = pytest.mark.unit
LEASE = timedelta(seconds=30)


async def enqueue(h: Harness, kind: str, n: int = 1, *, tenant_id: uuid.UUID | None = None) -> None:
    async with h.uow() as uow:
        for i in range(n):
            await h.svc.enqueue(uow, tenant_id or h.t.id, kind, {"n": i}, f"req-{kind}-{i}")
        await uow.commit()
    h.clock.advance(timedelta(seconds=1))


async def claim(h: Harness, n: int = 1) -> list[JobRecord]:
    return await MemoryOutboxRelay(h.uow.db).claim(n, now=h.clock.now(), lease=LEASE)


async def dead_job(h: Harness, kind: str = WEBHOOK_OUT) -> JobRecord:
    """A job whose every attempt failed, as the worker buries it."""
    await enqueue(h, kind)
    (job,) = await claim(h)
    relay = MemoryOutboxRelay(h.uow.db)
    assert await relay.mark_dead(job, now=h.clock.now(), error="gave up after 8 attempts: boom")
    return job


async def audit_actions(h: Harness, tenant_id: uuid.UUID | None = None) -> list[str]:
    async with h.uow() as uow:
        return [e.action for e in await uow.audit.list(tenant_id or h.t.id)]


async def test_depths_split_pending_into_queued_and_retrying(h: Harness) -> None:
    await enqueue(h, MSG_SEND, 4)
    first, second, third = await claim(h, 3)  # oldest first: three msg.send run
    relay = MemoryOutboxRelay(h.uow.db)
    assert await relay.schedule_retry(first, at=h.clock.now() + LEASE, error="UpstreamUnavailable")
    assert await relay.mark_dead(second, now=h.clock.now(), error="not retryable: NotFound")
    await enqueue(h, AI_CLASSIFY, 2)

    overview = await job_overview(h.svc, h.as_(Role.MANAGER))

    assert overview.depths == [
        QueueDepth(kind=AI_CLASSIFY, queued=2),
        QueueDepth(kind=MSG_SEND, queued=1, running=1, retrying=1, dead=1),
    ]
    listed = {j.id: QueueStatus.of(j) for j in overview.jobs}
    assert listed == {
        first.id: QueueStatus.RETRYING,
        second.id: QueueStatus.DEAD,
        third.id: QueueStatus.RUNNING,
    }  # the merely queued are counted, not listed
    dead = await job_overview(h.svc, h.as_(Role.ADMIN), statuses={QueueStatus.DEAD})
    (buried,) = dead.jobs
    assert (buried.id, buried.last_error) == (second.id, "not retryable: NotFound")
    assert buried.correlation_id == second.correlation_id
    assert (buried.correlation_id or "").startswith("req-msg.send")
    queued = await job_overview(h.svc, h.as_(Role.MANAGER), statuses={QueueStatus.QUEUED})
    assert {j.kind for j in queued.jobs} == {MSG_SEND, AI_CLASSIFY}
    only_ai = await job_overview(
        h.svc, h.as_(Role.MANAGER), statuses={QueueStatus.QUEUED}, kind=AI_CLASSIFY
    )
    assert len(only_ai.jobs) == 2


async def test_retry_queues_a_dead_job_from_its_first_attempt_and_is_audited(h: Harness) -> None:
    job = await dead_job(h)
    manager = await h.member(Role.MANAGER)

    retried = await retry_job(h.svc, manager, job.id)

    assert (retried.state, retried.attempts, retried.available_at) == (
        JobState.PENDING,
        0,
        h.clock.now(),
    )
    assert QueueStatus.of(retried) is QueueStatus.QUEUED
    assert retried.last_error == "gave up after 8 attempts: boom"  # kept as history
    (again,) = await claim(h)  # the relay runs it again
    assert (again.id, again.attempts) == (job.id, 1)
    async with h.uow() as uow:
        (entry,) = await uow.audit.list(h.t.id)
    assert (entry.action, entry.actor, entry.entity_id) == ("job.retry", manager.actor, str(job.id))
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["status"], entry.after["status"]) == ("dead", "queued")
    assert entry.before["last_error"] == "gave up after 8 attempts: boom"
    assert "payload" not in entry.before


async def test_discard_removes_a_dead_job_and_is_audited(h: Harness) -> None:
    job = await dead_job(h)
    admin = h.as_(Role.ADMIN)

    gone = await discard_job(h.svc, admin, job.id)

    assert gone.id == job.id
    with pytest.raises(NotFound):
        await get_job(h.svc, admin, job.id)
    assert (await job_overview(h.svc, admin)).depths == []
    assert await audit_actions(h) == ["job.discard"]
    with pytest.raises(NotFound):
        await discard_job(h.svc, admin, job.id)


async def test_only_a_dead_job_can_be_retried_or_discarded(h: Harness) -> None:
    await enqueue(h, MSG_SEND)
    manager = h.as_(Role.MANAGER)
    (job,) = (await job_overview(h.svc, manager, statuses={QueueStatus.QUEUED})).jobs
    before = h.snapshot()
    for action in (retry_job, discard_job):
        with pytest.raises(Conflict) as info:
            await action(h.svc, manager, job.id)
        assert info.value.code == "job_not_dead"
    assert h.snapshot() == before
    assert QueueStatus.of(await get_job(h.svc, manager, job.id)) is QueueStatus.QUEUED


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AGENT])
async def test_below_manager_nothing_is_shown_or_changed(h: Harness, role: Role) -> None:
    job = await dead_job(h)
    who = h.as_(role)
    before = h.snapshot()
    for call in (
        lambda: job_overview(h.svc, who),
        lambda: get_job(h.svc, who, job.id),
        lambda: retry_job(h.svc, who, job.id),
        lambda: discard_job(h.svc, who, job.id),
    ):
        with pytest.raises(Forbidden):
            await call()
    assert h.snapshot() == before
    assert QueueStatus.of(await get_job(h.svc, h.as_(Role.MANAGER), job.id)) is QueueStatus.DEAD


async def test_an_api_key_is_refused(h: Harness) -> None:
    key = Principal(
        tenant_id=h.t.id, role=Role.AGENT, api_key_id=uuid.uuid4(), scopes=("job.read",)
    )
    with pytest.raises(Forbidden):
        await job_overview(h.svc, key)


async def test_another_tenants_manager_sees_none_of_it(h: Harness) -> None:
    job = await dead_job(h)
    other = await h.add_tenant("globex", phone_number_id="2222222222", waba_id="3333333333")
    theirs = h.as_(Role.MANAGER, other)
    before = h.snapshot()

    overview = await job_overview(h.svc, theirs)

    assert (overview.depths, overview.jobs) == ([], [])
    for call in (get_job, retry_job, discard_job):
        with pytest.raises(NotFound):
            await call(h.svc, theirs, job.id)
    assert h.snapshot() == before
    assert QueueStatus.of(await get_job(h.svc, h.as_(Role.MANAGER), job.id)) is QueueStatus.DEAD
