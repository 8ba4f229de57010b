"""The duplicate guard shared by every API replica, in Redis.

``seen`` is one ``MGET``; ``remember`` is one pipeline of ``SET key 1 EX ttl``. Redis
is a cache of what the database already stored, so it never fails a webhook: when it
errs or is slow, ``seen`` answers "nothing seen" and ``remember`` is skipped, both
logged (once per outage) and counted; the database's unique keys still hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

UNAVAILABLE = "idempotency_guard_unavailable"  # counter: calls that fell back


def namespace_for(database_url: str | None, prefix: str = "wa:seen:") -> str:
    """A key prefix per database: the guard remembers what ONE database stored, so two
    databases sharing a Redis (staging and production, test runs) never absorb each
    other's deliveries. Credentials are left out, so rotating them keeps the memory."""
    if not database_url:
        return prefix
    parts = urlsplit(database_url)
    where = f"{parts.hostname}:{parts.port}/{parts.path.lstrip('/')}?{parts.query}"
    return f"{prefix}{hashlib.sha256(where.encode()).hexdigest()[:12]}:"


class RedisIdempotencyGuard:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str = "wa:seen:",
        timeout_seconds: float = 1.0,
        counters: Counter[str] | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._timeout = timeout_seconds
        self._counters: Counter[str] = Counter() if counters is None else counters
        self._healthy = True

    async def seen(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        try:
            async with asyncio.timeout(self._timeout):
                values = await self._client.mget([self._namespace + key for key in keys])
        except (RedisError, OSError, TimeoutError) as exc:
            self._fell_back("seen", exc)
            return set()
        self._recovered()
        return {key for key, value in zip(keys, values, strict=True) if value is not None}

    async def remember(self, keys: Sequence[str], ttl_seconds: int) -> None:
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        if not keys:
            return
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.set(self._namespace + key, b"1", ex=ttl_seconds)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._fell_back("remember", exc)
            return
        self._recovered()

    def _fell_back(self, operation: str, exc: BaseException) -> None:
        self._counters[UNAVAILABLE] += 1
        if self._healthy:
            self._healthy = False
            log.warning(
                "duplicate guard unavailable (%s: %s); the database alone deduplicates "
                "until Redis answers again",
                operation,
                str(exc) or type(exc).__name__,
            )

    def _recovered(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.info("duplicate guard available again")
