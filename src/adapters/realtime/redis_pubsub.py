"""Fan-out across API replicas and workers: publish to Redis, relay into each
replica's ``LocalBroadcaster``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from adapters.realtime.local import LocalBroadcaster, encode_event
from whatsapp_core.domain.model import DomainEvent
from whatsapp_core.errors import UpstreamUnavailable

log = logging.getLogger(__name__)
PREFIX = "wa:events:"


class RedisEventPublisher:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def publish(self, event: DomainEvent) -> None:
        try:
            await self._client.publish(f"{PREFIX}{event.tenant_id}", encode_event(event))
        except (RedisError, OSError) as exc:
            raise UpstreamUnavailable(f"redis publish failed: {exc}") from exc


class RedisRelay:
    """Subscribes to every tenant's channel and hands events to the local broadcaster."""

    def __init__(self, client: aioredis.Redis, local: LocalBroadcaster) -> None:
        self._client = client
        self._local = local
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-event-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{PREFIX}*")
                    async for message in pubsub.listen():
                        if message.get("type") != "pmessage":
                            continue
                        channel = message["channel"]
                        channel = channel.decode() if isinstance(channel, bytes) else channel
                        try:
                            tenant_id = uuid.UUID(channel.removeprefix(PREFIX))
                        except ValueError:
                            continue
                        self._local.deliver(tenant_id, message["data"])
            except (RedisError, OSError) as exc:
                log.warning("event relay lost redis (%s); reconnecting", exc)
                await asyncio.sleep(1)
