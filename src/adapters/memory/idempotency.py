"""The duplicate guard in one process's memory (embedded and memory profiles)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta

from whatsapp_core.ports import Clock


class MemoryIdempotencyGuard:
    """Keys with an expiry read from the injected clock. Bounded: past ``max_keys`` the
    oldest are forgotten, which only sends their redeliveries to the database."""

    def __init__(self, clock: Clock, *, max_keys: int = 500_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._expires: OrderedDict[str, datetime] = OrderedDict()

    async def seen(self, keys: Sequence[str]) -> set[str]:
        now = self._clock.now()
        return {key for key in keys if (at := self._expires.get(key)) is not None and at > now}

    async def remember(self, keys: Sequence[str], ttl_seconds: int) -> None:
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        now = self._clock.now()
        expires = now + timedelta(seconds=ttl_seconds)
        for key in keys:
            self._expires.pop(key, None)
            self._expires[key] = expires
        self._forget_old(now)

    def _forget_old(self, now: datetime) -> None:
        # Oldest first: with one TTL setting, insertion order is expiry order.
        while self._expires:
            key, at = next(iter(self._expires.items()))
            if at > now and len(self._expires) <= self._max_keys:
                break
            del self._expires[key]
