"""Request quotas and event fan-out: the in-process twins and the Redis adapters agree."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis import asyncio as aioredis

from adapters.quota import MemoryQuota, RedisQuota
from adapters.realtime.local import LocalBroadcaster
from adapters.realtime.redis_pubsub import RedisEventPublisher, RedisRelay
from whatsapp_core.domain.model import DomainEvent

pytestmark = pytest.mark.contract
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def quota(request: pytest.FixtureRequest, redis: aioredis.Redis) -> Any:
    if request.param == "memory":
        return MemoryQuota()
    return RedisQuota(redis, prefix=f"wa:test:{uuid.uuid4().hex}:")


async def test_quota_counts_each_key_within_its_window(quota: Any) -> None:
    counts = [(await quota.hit("u:ann", 60))[0] for _ in range(3)]
    assert counts == [1, 2, 3]
    other, resets_in = await quota.hit("u:bob", 60)
    assert other == 1
    assert 1 <= resets_in <= 60


async def test_events_reach_a_subscriber_through_redis(redis: aioredis.Redis) -> None:
    local = LocalBroadcaster()
    relay = RedisRelay(redis, local)
    await relay.start()
    tenant, stranger = uuid.uuid4(), uuid.uuid4()
    try:
        async with local.subscribe(tenant) as mine, local.subscribe(stranger) as theirs:
            publisher = RedisEventPublisher(redis)
            event = DomainEvent(
                kind="message.created", tenant_id=tenant, payload={"text": "hi"},
                at=datetime(2026, 1, 1, tzinfo=UTC),
            )  # fmt: skip
            # The relay subscribes asynchronously: publish until it is listening.
            for _ in range(50):
                await publisher.publish(event)
                try:
                    data = await asyncio.wait_for(mine.get(), 0.1)
                    break
                except TimeoutError:
                    continue
            else:
                pytest.fail("no event came through Redis")
            assert b'"kind":"message.created"' in data
            assert theirs.empty()
    finally:
        await relay.stop()
