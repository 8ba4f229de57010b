"""Jobs through taskiq-redis (production's transport) against a real redis-server of
the test's own; the outbox is the memory twin (its PostgreSQL relay has its own
contract suite, and test_jobs_faults runs `wa worker` processes on PostgreSQL).

What is checked: two relays and two receivers on one queue run every job exactly
once; a stale copy of a job claimed again is skipped; a message Redis never delivered
comes back when its claim's lease expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from redis import asyncio as aioredis

from adapters.memory.jobs import MemoryOutboxRelay
from adapters.redis.job_queue import RedisJobBroker
from entrypoints.worker.broker import BrokerJobs
from tests.support.redis_server import PrivateRedis, private_redis
from tests.unit.services.harness import Harness
from tests.unit.test_broker_jobs import CountingSends, all_done, send_jobs, until
from tests.unit.test_worker import LEASE, h, reply, worker
from whatsapp_core.jobs import MSG_SEND, JobRecord, JobState

pytestmark = pytest.mark.integration
__all__ = ["h"]  # the fixture


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with private_redis(tmp_path / "redis") as server:
        yield server


def redis_jobs(h: Harness, redis: PrivateRedis, sends: list[CountingSends]) -> BrokerJobs:
    """One `wa worker`'s jobs: its relay and its receiver, on the shared queue."""
    w = worker(h, concurrency=4, poll_interval=0.01)
    sends.append(CountingSends(w))
    queue = RedisJobBroker(redis.url, block_s=1)
    return BrokerJobs(w, queue, backlog=queue.backlog)


async def test_two_relays_and_two_receivers_run_every_job_exactly_once(
    h: Harness, redis: PrivateRedis
) -> None:
    for n in range(60):
        await reply(h, f"reply {n}")
    sends: list[CountingSends] = []
    both = [redis_jobs(h, redis, sends), redis_jobs(h, redis, sends)]
    running = [asyncio.create_task(jobs.run()) for jobs in both]
    await until(lambda: all_done(h), within=30)
    for jobs in both:
        jobs.stop()
    await asyncio.gather(*running)

    calls = sends[0].calls + sends[1].calls
    assert len(calls) == 60
    assert set(calls.values()) == {1}
    assert len(h.gateway.sent) == 60
    assert {(j.outcome, j.attempts) for j in await send_jobs(h)} == {("sent", 1)}
    assert all(s.calls for s in sends)  # both workers took part
    assert all(jobs.stats["dispatched"] > 0 for jobs in both)  # and both relays
    assert sum(jobs.stats["stale"] for jobs in both) == 0


async def test_a_stale_copy_of_a_job_claimed_again_is_skipped(
    h: Harness, redis: PrivateRedis
) -> None:
    await reply(h)
    relay = MemoryOutboxRelay(h.uow.db)
    claimed = await relay.claim(10, now=h.clock.now(), lease=LEASE)
    (old,) = [j for j in claimed if j.kind == MSG_SEND]
    h.clock.advance(LEASE + timedelta(seconds=1))  # its worker died; another relay takes it
    (new,) = [j for j in await relay.claim(10, now=h.clock.now(), lease=LEASE) if j.id == old.id]

    async def sent() -> bool:
        return [j.state for j in await send_jobs(h)] == [JobState.DONE]

    # Both copies wait in Redis, the stale one first.
    client = aioredis.from_url(redis.url)
    try:
        sends: list[CountingSends] = []
        jobs = redis_jobs(h, redis, sends)
        for job in (old, new):
            await jobs._task.kiq(msgspec.json.encode(job).decode())
        assert await client.llen("wa:jobs") == 2
        running = asyncio.create_task(jobs.run())
        await until(sent, within=30)
        jobs.stop()
        await running
    finally:
        await client.aclose()

    assert sends[0].calls == {old.id: 1}
    assert len(h.gateway.sent) == 1
    (send,) = await send_jobs(h)
    assert (send.state, send.attempts, send.outcome) == (JobState.DONE, 2, "sent")
    assert jobs.stats["stale"] == 1


async def test_a_message_redis_never_delivered_comes_back_after_the_lease(
    h: Harness, redis: PrivateRedis
) -> None:
    await reply(h)
    relay = MemoryOutboxRelay(h.uow.db)
    claimed = await relay.claim(10, now=h.clock.now(), lease=LEASE)  # dispatched, then lost
    lost: JobRecord = next(j for j in claimed if j.kind == MSG_SEND)
    sends: list[CountingSends] = []
    jobs = redis_jobs(h, redis, sends)
    running = asyncio.create_task(jobs.run())
    try:
        await asyncio.sleep(0.3)
        assert h.gateway.sent == []  # its lease holds: nobody takes it yet
        h.clock.advance(LEASE + timedelta(seconds=1))
        await until(lambda: all_done(h), within=30)
    finally:
        jobs.stop()
        await running
    assert sends[0].calls == {lost.id: 1}
    assert len(h.gateway.sent) == 1
    (send,) = [j for j in await send_jobs(h) if j.id == lost.id]
    assert (send.attempts, send.outcome) == (2, "sent")


async def test_the_consumer_waits_out_an_outage_and_takes_what_comes_after(
    h: Harness, redis: PrivateRedis
) -> None:
    sends: list[CountingSends] = []
    jobs = redis_jobs(h, redis, sends)
    running = asyncio.create_task(jobs.run())
    try:
        await asyncio.sleep(0.2)
        await redis.stop()
        await reply(h, "written while Redis is down")
        await asyncio.sleep(1.5)
        assert h.gateway.sent == []
        assert {(j.state, j.attempts) for j in await send_jobs(h)} == {(JobState.PENDING, 0)}
        await redis.start()
        await until(lambda: all_done(h), within=30)
    finally:
        jobs.stop()
        await running
    assert [s.message.text for s in h.gateway.sent] == ["written while Redis is down"]
    assert jobs.stats["broker_unreachable"] >= 1
