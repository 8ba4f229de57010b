"""In-process fan-out: one bounded queue per connected inbox, grouped by tenant.

A slow browser never slows the publisher: when its queue is full the oldest event is
dropped and the client re-reads the state on its next load (events are hints, the
database is the truth).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from whatsapp_core.domain.model import DomainEvent

_ENCODER = msgspec.json.Encoder()


def encode_event(event: DomainEvent) -> bytes:
    return _ENCODER.encode(
        {
            "kind": event.kind,
            "tenant_id": str(event.tenant_id),
            "at": event.at.isoformat(),
            "payload": event.payload,
        }
    )


class LocalBroadcaster:
    """``EventPublisher`` for one process, and the delivery end for the Redis relay."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[uuid.UUID, set[asyncio.Queue[bytes]]] = defaultdict(set)

    async def publish(self, event: DomainEvent) -> None:
        self.deliver(event.tenant_id, encode_event(event))

    def deliver(self, tenant_id: uuid.UUID, data: bytes) -> None:
        for queue in tuple(self._subscribers.get(tenant_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)

    @asynccontextmanager
    async def subscribe(self, tenant_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        self._subscribers[tenant_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[tenant_id].discard(queue)
            if not self._subscribers[tenant_id]:
                del self._subscribers[tenant_id]

    def subscriber_count(self, tenant_id: uuid.UUID) -> int:
        return len(self._subscribers.get(tenant_id, ()))
