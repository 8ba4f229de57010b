"""The worker on memory adapters: delivery, idempotency, retries, dead letters, stop."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import structlog

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.memory.jobs import MemoryOutboxRelay, MemoryRateLimiter
from entrypoints.bootstrap import build_runtime
from entrypoints.settings import load_settings
from entrypoints.worker import Worker, build_worker
from entrypoints.worker.runner import FinishedJobs
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import OutboxJob
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import (
    AI_CLASSIFY,
    MSG_SEND,
    N8N_TRIGGER,
    JobRecord,
    JobState,
    RetryPolicy,
)
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_reply

pytestmark = pytest.mark.unit
LEASE = timedelta(seconds=60)


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.add_tenant()
    await ingest_webhook(harness.svc, harness.batch(harness.text("hello")))
    return harness


def worker(h: Harness, **options: object) -> Worker:
    options.setdefault("policy", RetryPolicy(rng=lambda: 0.5))
    return Worker(
        relay=MemoryOutboxRelay(h.uow.db),
        limiter=MemoryRateLimiter(),
        gateway=h.gateway,
        services=lambda: h.svc,
        clock=h.clock,
        lease=LEASE,
        **options,  # type: ignore[arg-type]
    )


async def reply(h: Harness, text: str = "It ships today", **kw: object) -> uuid.UUID:
    (conversation,) = h.uow.db.state.conversations.values()
    message = await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, text, **kw)  # type: ignore[arg-type]
    return message.id


def inbound_jobs(h: Harness) -> int:
    """The ingest of the fixture's message queued ai.classify and n8n.trigger jobs."""
    return sum(1 for j in h.uow.db.state.outbox.values() if j.kind != MSG_SEND)


async def jobs(h: Harness, kind: str = MSG_SEND) -> list[JobRecord]:
    return [j for j in await MemoryOutboxRelay(h.uow.db).list_jobs() if j.kind == kind]


async def test_a_send_job_is_delivered_once_and_kinds_without_handler_are_not_run(
    h: Harness,
) -> None:
    message_id = await reply(h)
    w = worker(h)
    assert await w.drain() == 1 + inbound_jobs(h)

    (sent,) = h.gateway.sent
    assert sent.message.text == "It ships today"
    assert h.uow.db.state.messages[(h.t.id, message_id)].wamid == sent.wamid
    (send,) = await jobs(h)
    assert (send.state, send.outcome, send.attempts) == (JobState.DONE, "sent", 1)
    others, triggers = await jobs(h, AI_CLASSIFY), await jobs(h, N8N_TRIGGER)
    assert len(others) + len(triggers) == inbound_jobs(h) >= 2
    # ai.classify has a handler (issue 9): the offline provider classified the message.
    assert {(j.state, j.outcome) for j in others} == {
        (JobState.DONE, "classified: greeting (0.85) by offline")
    }
    # n8n.trigger has a handler (Flow 4): with no webhook subscription it queues nothing.
    assert {(j.state, j.outcome) for j in triggers} == {(JobState.DONE, "no subscribers")}
    assert await w.drain() == 0


async def test_a_job_claimed_again_after_its_worker_died_never_sends_twice(h: Harness) -> None:
    await reply(h)
    relay = MemoryOutboxRelay(h.uow.db)
    (first,) = [
        j for j in await relay.claim(10, now=h.clock.now(), lease=LEASE) if j.kind == MSG_SEND
    ]
    w = worker(h)
    # The first worker sends, then dies before recording the result.
    assert await w.handlers[MSG_SEND](first) == "sent"
    assert await w.drain() == 0  # its lease still holds: nobody else takes the job

    h.clock.advance(LEASE + timedelta(seconds=1))
    assert await w.drain() == 1 + inbound_jobs(h)
    assert len(h.gateway.sent) == 1
    (send,) = await jobs(h)
    assert (send.state, send.outcome, send.attempts) == (JobState.DONE, "already_sent", 2)
    # The dead worker's late report is fenced off by the attempt count.
    assert not await relay.mark_done(first, now=h.clock.now(), outcome="sent")


async def test_two_workers_at_once_handle_each_job_exactly_once(h: Harness) -> None:
    for n in range(30):
        await reply(h, f"message {n}")
    a, b = worker(h, concurrency=4), worker(h, concurrency=4)
    handled = await asyncio.gather(a.drain(), b.drain())
    assert sum(handled) == 30 + inbound_jobs(h)
    assert sorted(s.message.text or "" for s in h.gateway.sent) == sorted(
        f"message {n}" for n in range(30)
    )
    assert a.stats["claimed"] + b.stats["claimed"] == 30 + inbound_jobs(h)


async def test_a_retryable_error_is_retried_after_a_backoff_then_delivered(h: Harness) -> None:
    message_id = await reply(h)
    h.gateway.fail_next(130429, http_status=429)
    w = worker(h, policy=RetryPolicy(base_delay=2.0, rng=lambda: 0.5))
    await w.drain()

    (send,) = await jobs(h)
    assert send.state is JobState.PENDING
    assert send.available_at == h.clock.now() + timedelta(seconds=1.0)  # 0.5 · 2 s
    assert "code 130429" in (send.last_error or "")
    assert h.gateway.sent == []
    assert h.uow.db.state.messages[(h.t.id, message_id)].status is MessageStatus.ACCEPTED

    h.clock.advance(timedelta(seconds=0.9))
    assert await w.drain() == 0  # not due yet
    h.clock.advance(timedelta(seconds=0.2))
    assert await w.drain() == 1
    (send,) = await jobs(h)
    assert (send.state, send.outcome, send.attempts) == (JobState.DONE, "sent", 2)
    assert len(h.gateway.sent) == 1


async def test_the_pair_rate_limit_waits_six_seconds_for_that_recipient(h: Harness) -> None:
    await reply(h)
    h.gateway.fail_next(131056)
    await worker(h).drain()
    (send,) = await jobs(h)
    assert send.available_at is not None
    assert send.available_at - h.clock.now() >= timedelta(seconds=6)


async def test_a_permanent_refusal_fails_the_message_and_finishes_the_job(h: Harness) -> None:
    message_id = await reply(h)
    h.gateway.fail_next(131047)
    w = worker(h)
    await w.drain()

    message = h.uow.db.state.messages[(h.t.id, message_id)]
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131047)
    (send,) = await jobs(h)
    assert (send.state, send.outcome, send.attempts) == (JobState.DONE, "failed", 1)
    h.clock.advance(timedelta(hours=1))
    assert await w.drain() == 0
    assert h.gateway.sent == []


async def test_after_max_attempts_a_job_is_dead_and_can_be_requeued_by_hand(h: Harness) -> None:
    message_id = await reply(h)
    h.gateway.fail_next(131000, http_status=500, times=3)
    w = worker(h, policy=RetryPolicy(max_attempts=3, rng=lambda: 0.5))
    for _ in range(3):
        await w.drain()
        h.clock.advance(timedelta(minutes=10))
    assert await w.drain() == 0

    (dead,) = await jobs(h)
    assert (dead.state, dead.attempts) == (JobState.DEAD, 3)
    assert (dead.last_error or "").startswith("gave up after 3 attempts")
    relay = MemoryOutboxRelay(h.uow.db)
    assert await relay.list_jobs(JobState.DEAD) == [dead]
    assert (await relay.count_by_state())[JobState.DEAD] == 1

    with pytest.raises(NotFound):
        await relay.requeue(dead.id, now=h.clock.now(), tenant_id=uuid.uuid4())
    requeued = await relay.requeue(dead.id, now=h.clock.now(), tenant_id=h.t.id)
    assert (requeued.state, requeued.attempts) == (JobState.PENDING, 0)
    with pytest.raises(Conflict):
        await relay.requeue(dead.id, now=h.clock.now())
    assert await w.drain() == 1
    assert h.uow.db.state.messages[(h.t.id, message_id)].wamid == h.gateway.sent[0].wamid


async def test_unknown_kinds_and_bad_payloads_go_to_dead_letters(h: Harness) -> None:
    async with h.uow() as uow:
        for kind, payload in (("sms.send", {}), (MSG_SEND, {"message_id": "not-a-uuid"})):
            await h.svc.enqueue(uow, h.t.id, kind, payload)
        await uow.commit()
    await worker(h).drain()
    dead = {
        j.kind: j.last_error for j in await MemoryOutboxRelay(h.uow.db).list_jobs(JobState.DEAD)
    }
    assert dead["sms.send"] == "unknown job kind 'sms.send'"
    assert "bad msg.send payload" in (dead[MSG_SEND] or "")


async def test_a_job_whose_worker_keeps_dying_ends_dead(h: Harness) -> None:
    await reply(h)
    relay = MemoryOutboxRelay(h.uow.db)
    policy = RetryPolicy(max_attempts=2)
    for _ in range(2):  # claimed, then the worker dies; the lease runs out
        await relay.claim(10, now=h.clock.now(), lease=LEASE)
        h.clock.advance(LEASE + timedelta(seconds=1))
    await worker(h, policy=policy).drain()
    (send,) = await jobs(h)
    assert send.state is JobState.DEAD
    assert "lease expired" in (send.last_error or "")
    assert h.gateway.sent == []


class RecordingGateway:
    """Records the structlog context at each send, and can be slow."""

    def __init__(self, inner: MemoryWhatsAppGateway, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.contexts: list[dict[str, object]] = []
        self.sending = asyncio.Event()

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        self.contexts.append(structlog.contextvars.get_contextvars())
        self.sending.set()
        await asyncio.sleep(self.delay)
        return await self.inner.send(tenant, recipient, message)

    async def submit_template(self, tenant: Tenant, template: object) -> str:
        raise NotImplementedError


async def test_the_job_correlation_id_is_in_the_log_context_while_it_runs(h: Harness) -> None:
    await reply(h, correlation_id="req-42")
    gateway = RecordingGateway(h.gateway)
    w = Worker(
        relay=MemoryOutboxRelay(h.uow.db),
        limiter=MemoryRateLimiter(),
        gateway=gateway,
        services=lambda: h.svc,
        clock=h.clock,
    )
    await w.drain()
    (context,) = gateway.contexts
    assert context["correlation_id"] == "req-42"
    assert context["job_kind"] == MSG_SEND
    assert "correlation_id" not in structlog.contextvars.get_contextvars()


async def test_stop_finishes_the_jobs_in_flight_and_claims_no_more(h: Harness) -> None:
    for n in range(6):
        await reply(h, f"m{n}")
    gateway = RecordingGateway(h.gateway, delay=0.05)
    w = Worker(
        relay=MemoryOutboxRelay(h.uow.db),
        limiter=MemoryRateLimiter(),
        gateway=gateway,
        services=lambda: h.svc,
        clock=h.clock,
        concurrency=2,
        poll_interval=0.01,
    )
    running = asyncio.create_task(w.run())
    await asyncio.wait_for(gateway.sending.wait(), 2)
    w.stop()
    await asyncio.wait_for(running, 2)

    states = [j.state for j in await jobs(h)]
    assert JobState.RUNNING not in states  # every claimed job was finished
    assert states.count(JobState.DONE) == len(h.gateway.sent) < 6
    assert states.count(JobState.PENDING) == 6 - len(h.gateway.sent)


async def test_build_worker_on_the_memory_profile_uses_the_runtime_database() -> None:
    runtime = build_runtime(load_settings(environ={}, overrides={"profile": "memory"}))
    with pytest.raises(RuntimeError, match="not started"):
        build_worker(runtime, runtime.gateway)  # type: ignore[arg-type]
    await runtime.start()
    try:
        w = build_worker(runtime, runtime.gateway, concurrency=3)  # type: ignore[arg-type]
        assert isinstance(w.relay, MemoryOutboxRelay)
        assert w.concurrency == 3
        async with runtime.uow() as uow:
            assert not list(uow.outbox.all())  # type: ignore[attr-defined]
        assert await w.drain() == 0
    finally:
        await runtime.stop()


async def test_memory_outbox_rows_written_by_a_use_case_are_pending_jobs(h: Harness) -> None:
    await reply(h)
    relay = MemoryOutboxRelay(h.uow.db)
    counts = await relay.count_by_state(tenant_id=h.t.id)
    assert counts == {JobState.PENDING: 1 + inbound_jobs(h)}
    assert isinstance(next(iter(h.uow.db.state.outbox.values())), OutboxJob)


class GatedRelay(MemoryOutboxRelay):
    """Each batch write waits until the test opens the gate; records every batch."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gate = asyncio.Event()
        self.batches: list[list[str]] = []
        self.fail_with: Exception | None = None

    async def mark_done_many(self, done, *, now):  # type: ignore[no-untyped-def]
        self.batches.append([outcome for _, outcome in done])
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return await super().mark_done_many(done, now=now)


async def test_jobs_finishing_while_a_batch_is_written_share_the_next_one(h: Harness) -> None:
    for n in range(5):
        await reply(h, f"reply {n}")
    relay = GatedRelay(h.uow.db)
    claimed = await relay.claim(5, now=h.clock.now(), lease=LEASE)
    finished = FinishedJobs(relay, h.clock)
    tasks = [asyncio.create_task(finished.done(job, f"sent {n}")) for n, job in enumerate(claimed)]
    await asyncio.sleep(0)  # the first writes at once, alone; the others wait for it
    assert relay.batches == [["sent 0"]]
    relay.gate.set()
    assert await asyncio.gather(*tasks) == [True] * 5
    assert relay.batches == [["sent 0"], ["sent 1", "sent 2", "sent 3", "sent 4"]]
    assert finished.batches == 2
    ids = {job.id for job in claimed}
    assert {j.state for j in await relay.list_jobs() if j.id in ids} == {JobState.DONE}
    assert await finished.done(claimed[0], "again") is False  # fenced, as mark_done is


async def test_a_failed_batch_write_reaches_every_job_in_it(h: Harness) -> None:
    for n in range(3):
        await reply(h, f"reply {n}")
    relay = GatedRelay(h.uow.db)
    claimed = await relay.claim(3, now=h.clock.now(), lease=LEASE)
    finished = FinishedJobs(relay, h.clock)
    tasks = [asyncio.create_task(finished.done(job, "sent")) for job in claimed]
    await asyncio.sleep(0)
    relay.fail_with = Conflict("database gone")
    relay.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results] == [Conflict] * 3
    relay.fail_with = None  # the next finished job writes again
    assert await finished.done(claimed[0], "sent") is True
