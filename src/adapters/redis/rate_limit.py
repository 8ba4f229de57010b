"""A token bucket in Redis shared by every worker process (GCRA in one Lua script).

One ``EVALSHA`` reserves the caller's slot and tells it how long to sleep, so callers
never poll and N workers in any number of processes together stay within the rate.
The time is Redis's own (``TIME``), so worker hosts' clocks do not matter. The
arithmetic is ``whatsapp_core.jobs.pacing_slot``'s; the key expires once idle.

Redis down: the caller waits (retrying every ``retry_every`` s) up to ``outage_wait``
s, then raises ``UpstreamUnavailable`` (the job backs off and uses up an attempt).
Failing at once instead made each claimed send burn an attempt per backoff, so about
a minute of outage buried the queued sends as dead letters. Waiting fills the
worker's slots with those sends, so it stops claiming them and the rest wait in the
outbox; an outage shorter than ``outage_wait`` costs no attempt at all. Keep it well
under the job lease. Sends never go out unpaced.
"""

from __future__ import annotations

import asyncio
import time

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from whatsapp_core.errors import UpstreamUnavailable
from whatsapp_core.jobs import await_slot

# KEYS[1] bucket; ARGV[1] interval = 1/rate (s); ARGV[2] burst (tokens).
# Returns the wait in seconds as a string (a Lua number would come back truncated).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now + burst * interval) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', ttl_ms)
return string.format('%.6f', wait)
"""


class RedisRateLimiter:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "wa:pace:",
        burst: int = 1,
        outage_wait: float = 20.0,
        retry_every: float = 0.5,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._client = client
        self._prefix = prefix
        self._burst = burst
        self._outage_wait = outage_wait
        self._retry_every = retry_every
        self._script = client.register_script(_GCRA)  # EVALSHA, loading it on NOSCRIPT

    async def acquire(self, key: str, rate_per_second: float) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        interval = 1.0 / rate_per_second
        args: list[str | int] = [repr(interval), self._burst]
        await await_slot(
            lambda: self._reserve(key, args), interval, clock=time.monotonic, sleep=asyncio.sleep
        )

    async def _reserve(self, key: str, args: list[str | int]) -> float:
        give_up = time.monotonic() + self._outage_wait
        while True:
            try:
                answer = await self._script(keys=[self._prefix + key], args=args)
                return float(answer.decode() if isinstance(answer, bytes) else answer)
            except (RedisError, OSError) as exc:
                if time.monotonic() + self._retry_every > give_up:
                    raise UpstreamUnavailable(f"rate limiter unavailable: {exc}") from exc
                await asyncio.sleep(self._retry_every)
