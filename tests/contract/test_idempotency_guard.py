"""The webhook duplicate guard: the in-process twin and the Redis adapter agree.

Expiry is driven by the memory twin's clock and by real time on Redis (TTLs are whole
seconds there, so those cases sleep a little over one second).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from adapters.memory.basics import FrozenClock
from adapters.memory.idempotency import MemoryIdempotencyGuard
from adapters.redis.idempotency import UNAVAILABLE, RedisIdempotencyGuard, namespace_for
from whatsapp_core.ports import IdempotencyGuard

pytestmark = pytest.mark.contract
REDIS_URL = "redis://127.0.0.1:6379/0"
PN1, PN2 = "106540352242922", "106540352242923"


@dataclass
class Backend:
    guard: IdempotencyGuard
    wait: Callable[[float], Awaitable[None]]  # let this many seconds pass


@contextlib.asynccontextmanager
async def _real_redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    async with _real_redis() as client:
        yield client


async def _drop(client: aioredis.Redis, namespace: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{namespace}*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FrozenClock()

        async def advance(seconds: float) -> None:
            clock.advance(timedelta(seconds=seconds))

        yield Backend(MemoryIdempotencyGuard(clock), advance)
        return
    namespace = f"wa:seen:test-{uuid.uuid4().hex[:8]}:"
    async with _real_redis() as client:
        try:
            yield Backend(RedisIdempotencyGuard(client, namespace=namespace), asyncio.sleep)
        finally:
            await _drop(client, namespace)


def keys(*wamids: str, number: str = PN1) -> list[str]:
    return [f"{number}:m:{wamid}" for wamid in wamids]


async def test_nothing_is_seen_before_it_is_remembered(backend: Backend) -> None:
    assert await backend.guard.seen(keys("wamid.a", "wamid.b")) == set()
    assert await backend.guard.seen([]) == set()


async def test_remembered_keys_are_seen_and_only_those(backend: Backend) -> None:
    await backend.guard.remember(keys("wamid.a", "wamid.b"), 60)
    asked = keys("wamid.a", "wamid.b", "wamid.c")
    assert await backend.guard.seen(asked) == set(keys("wamid.a", "wamid.b"))
    assert await backend.guard.seen(keys("wamid.a", "wamid.a")) == set(keys("wamid.a"))
    await backend.guard.remember([], 60)  # nothing to do, no error


async def test_keys_expire_after_their_ttl(backend: Backend) -> None:
    await backend.guard.remember(keys("wamid.short"), 1)
    await backend.guard.remember(keys("wamid.long"), 30)
    await backend.wait(1.2)
    assert await backend.guard.seen(keys("wamid.short", "wamid.long")) == set(keys("wamid.long"))


async def test_remembering_again_extends_the_ttl(backend: Backend) -> None:
    await backend.guard.remember(keys("wamid.a"), 1)
    await backend.guard.remember(keys("wamid.a"), 30)
    await backend.wait(1.2)
    assert await backend.guard.seen(keys("wamid.a")) == set(keys("wamid.a"))


async def test_the_same_wamid_under_another_number_is_another_key(backend: Backend) -> None:
    await backend.guard.remember(keys("wamid.a", number=PN1), 60)
    assert await backend.guard.seen(keys("wamid.a", number=PN2)) == set()
    status = [f"{PN1}:s:wamid.a:delivered"]
    assert await backend.guard.seen(status) == set()  # a status is not its message


async def test_a_ttl_under_one_second_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await backend.guard.remember(keys("wamid.a"), 0)


# -- Redis only: one key space shared by replicas, and the outage path -----------------


async def test_redis_keys_live_under_the_namespace_with_a_ttl(redis: aioredis.Redis) -> None:
    ours, theirs = (f"wa:seen:test-{uuid.uuid4().hex[:8]}:" for _ in range(2))
    try:
        await RedisIdempotencyGuard(redis, namespace=ours).remember(keys("wamid.a"), 90)
        assert 0 < await redis.ttl(f"{ours}{PN1}:m:wamid.a") <= 90
        other = RedisIdempotencyGuard(redis, namespace=theirs)
        assert await other.seen(keys("wamid.a")) == set()
    finally:
        await _drop(redis, ours)


def test_each_database_gets_its_own_namespace_whatever_its_credentials() -> None:
    a = namespace_for("postgresql+asyncpg://app:one@db:5432/wa")
    assert a == namespace_for("postgresql+asyncpg://app:rotated@db:5432/wa")
    assert a != namespace_for("postgresql+asyncpg://app:one@db:5432/wa_staging")
    assert a.startswith("wa:seen:")
    assert a.endswith(":")
    assert namespace_for(None) == "wa:seen:"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


async def test_a_redis_outage_degrades_to_nothing_seen() -> None:
    client = aioredis.from_url(f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=1)
    counters: Counter[str] = Counter()
    guard = RedisIdempotencyGuard(client, counters=counters)
    try:
        await guard.remember(keys("wamid.a"), 60)  # skipped, no error
        assert await guard.seen(keys("wamid.a")) == set()
    finally:
        await client.aclose()
    assert counters[UNAVAILABLE] == 2


async def test_a_redis_that_never_answers_is_given_up_on_quickly() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.read()  # accept, read, never reply
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.from_url(f"redis://127.0.0.1:{port}/0")
    counters: Counter[str] = Counter()
    guard = RedisIdempotencyGuard(client, timeout_seconds=0.2, counters=counters)
    try:
        started = time.perf_counter()
        assert await guard.seen(keys("wamid.a")) == set()
        await guard.remember(keys("wamid.a"), 60)
        assert time.perf_counter() - started < 2
    finally:
        await client.aclose()
        server.close()
    assert counters[UNAVAILABLE] == 2


async def test_the_memory_twin_forgets_its_oldest_keys_past_its_bound() -> None:
    # Memory only: a bounded dict in one process; forgetting only sends a redelivery to
    # the database, which still refuses the duplicate.
    guard = MemoryIdempotencyGuard(FrozenClock(), max_keys=2)
    await guard.remember(keys("wamid.1", "wamid.2", "wamid.3"), 60)
    assert await guard.seen(keys("wamid.1", "wamid.2", "wamid.3")) == set(
        keys("wamid.2", "wamid.3")
    )
