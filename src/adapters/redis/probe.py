"""Readiness of the Redis server used for the queue, rate limits and pub/sub."""

from __future__ import annotations

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from whatsapp_core.errors import UpstreamUnavailable


class RedisProbe:
    name = "queue"

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def check(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise UpstreamUnavailable(f"redis unreachable: {exc}") from exc
