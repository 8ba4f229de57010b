"""Request quotas (fixed one-minute windows): in-process, or shared through Redis."""

from __future__ import annotations

import time
from collections import OrderedDict

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from whatsapp_core.errors import UpstreamUnavailable


class MemoryQuota:
    """One process's counters; fine for the embedded default (one process serves all)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._max_keys = max_keys

    async def hit(self, key: str, window_seconds: int) -> tuple[int, int]:
        """Count one request; return ``(count in this window, seconds until it ends)``."""
        now = time.time()
        window = int(now // window_seconds)
        bucket = f"{key}:{window}"
        count = self._counts.pop(bucket, 0) + 1
        self._counts[bucket] = count
        while len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        return count, max(1, int((window + 1) * window_seconds - now))


class RedisQuota:
    """Counters shared by every API replica: INCR + EXPIRE on one key per window."""

    def __init__(self, client: aioredis.Redis, prefix: str = "wa:quota:") -> None:
        self._client = client
        self._prefix = prefix

    async def hit(self, key: str, window_seconds: int) -> tuple[int, int]:
        now = time.time()
        window = int(now // window_seconds)
        bucket = f"{self._prefix}{key}:{window}"
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.incr(bucket)
                pipe.expire(bucket, window_seconds + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise UpstreamUnavailable(f"rate limiter unavailable: {exc}") from exc
        return int(count), max(1, int((window + 1) * window_seconds - now))
