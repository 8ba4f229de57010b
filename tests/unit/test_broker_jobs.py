"""Jobs through taskiq's in-process broker (the embedded default) on memory adapters:
the relay dispatches claimed rows, taskiq runs them, results land on the rows; a broker
that refuses a job gives its claim back. (Redis: tests/integration/test_jobs_taskiq.py.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from taskiq import InMemoryBroker
from taskiq.message import BrokerMessage

from adapters.memory.jobs import MemoryOutboxRelay
from entrypoints.worker.broker import BrokerJobs
from entrypoints.worker.runner import Worker
from tests.unit.services.harness import Harness
from tests.unit.test_worker import h, reply, worker
from whatsapp_core.jobs import MSG_SEND, JobRecord, JobState

pytestmark = pytest.mark.unit
__all__ = ["h"]  # the fixture


class CountingSends:
    """Wraps the worker's msg.send handler: calls per message, most at once."""

    def __init__(self, w: Worker) -> None:
        self.inner = w.handlers[MSG_SEND]
        self.calls: Counter[uuid.UUID] = Counter()
        self.running = self.most = 0
        w.handlers[MSG_SEND] = self

    async def __call__(self, job: JobRecord) -> str:
        self.calls[job.id] += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.01)  # a send takes a while: others overlap it
            return await self.inner(job)
        finally:
            self.running -= 1


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {within} s")
        await asyncio.sleep(0.01)


async def send_jobs(h: Harness) -> list[JobRecord]:
    return [j for j in await MemoryOutboxRelay(h.uow.db).list_jobs() if j.kind == MSG_SEND]


async def all_done(h: Harness) -> bool:
    return all(j.state is JobState.DONE for j in await MemoryOutboxRelay(h.uow.db).list_jobs())


async def test_the_in_process_broker_runs_each_job_once_within_the_concurrency(
    h: Harness,
) -> None:
    for n in range(30):
        await reply(h, f"reply {n}")
    w = worker(h, concurrency=4, poll_interval=0.01)
    sends = CountingSends(w)
    jobs = BrokerJobs(w, InMemoryBroker(cast_types=False))
    running = asyncio.create_task(jobs.run())
    await until(lambda: all_done(h))
    jobs.stop()
    await running

    assert len(h.gateway.sent) == 30
    assert sorted(s.message.text for s in h.gateway.sent) == sorted(f"reply {n}" for n in range(30))
    assert set(sends.calls.values()) == {1}
    assert sends.most == 4  # as many as allowed, never more
    assert {(j.outcome, j.attempts) for j in await send_jobs(h)} == {("sent", 1)}
    assert jobs.stats["dispatched"] == jobs.stats["claimed"] == jobs.stats["done"]


class RefusingBroker(InMemoryBroker):
    def __init__(self) -> None:
        super().__init__(cast_types=False)
        self.refuse = True
        self.refused = 0

    async def kick(self, message: BrokerMessage) -> None:
        if self.refuse:
            self.refused += 1
            raise ConnectionError("the broker is down")
        await super().kick(message)


async def test_a_job_the_broker_refuses_waits_in_the_outbox_with_no_attempt_used(
    h: Harness,
) -> None:
    for n in range(3):
        await reply(h, f"reply {n}")
    broker = RefusingBroker()
    w = worker(h, concurrency=4, poll_interval=0.01)
    jobs = BrokerJobs(w, broker)
    running = asyncio.create_task(jobs.run())

    async def refused() -> bool:
        return broker.refused >= 1

    await until(refused)
    await asyncio.sleep(0.05)
    # The claim the broker refused was released: pending, as if never claimed.
    assert {(j.state, j.attempts) for j in await send_jobs(h)} == {(JobState.PENDING, 0)}
    assert h.gateway.sent == []

    broker.refuse = False  # back: the jobs flow, each once, first attempt
    await until(lambda: all_done(h))
    jobs.stop()
    await running
    assert len(h.gateway.sent) == 3
    assert {(j.outcome, j.attempts) for j in await send_jobs(h)} == {("sent", 1)}


async def test_stop_before_run_returns_at_once(h: Harness) -> None:
    await reply(h)
    jobs = BrokerJobs(worker(h), InMemoryBroker(cast_types=False))
    jobs.stop()
    await asyncio.wait_for(jobs.run(), 5)
    assert h.gateway.sent == []
