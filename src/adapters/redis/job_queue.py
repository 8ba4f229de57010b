"""The job queue in Redis for taskiq: a list, LPUSH to enqueue, BRPOP to take.

taskiq-redis's ``ListQueueBroker`` with two changes for running unattended:
- its consumer waits out a Redis outage (a pause between tries, one log line per
  outage) where the stock one retries in a tight loop;
- ``backlog()`` says how many messages wait, so the relay that fills the queue keeps it
  short (a message waits little; what is not in Redis waits in the outbox).

A message lost here (Redis restarted without persistence, a consumer killed after its
BRPOP) is not a job lost: the outbox row stays claimed until its lease expires, and
the relay dispatches it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq_redis import ListQueueBroker

log = structlog.get_logger("jobs.redis")

QUEUE = "wa:jobs"
OUTAGE_PAUSE_S = 1.0


class RedisJobBroker(ListQueueBroker):
    def __init__(self, url: str, *, queue_name: str = QUEUE, block_s: int = 2) -> None:
        # A Redis that hangs is an outage too: no call waits past block_s + 3 s.
        super().__init__(
            url,
            queue_name=queue_name,
            socket_connect_timeout=3,
            socket_timeout=block_s + 3,
            timeout=5,  # waiting for a pooled connection
        )
        self.block_s = block_s

    async def listen(self) -> AsyncGenerator[bytes, None]:
        down = False
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as conn:
                    got = await conn.brpop([self.queue_name], timeout=self.block_s)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if not down:
                    log.warning("jobs.queue_unreachable", error=str(exc))
                    down = True
                await asyncio.sleep(OUTAGE_PAUSE_S)
                continue
            if down:
                log.info("jobs.queue_reachable")
                down = False
            if got:
                body = got[1]
                yield body.encode() if isinstance(body, str) else body

    async def backlog(self) -> int:
        """Messages waiting in the queue (raises when Redis cannot be reached)."""
        async with Redis(connection_pool=self.connection_pool) as conn:
            return int(await conn.llen(self.queue_name))
