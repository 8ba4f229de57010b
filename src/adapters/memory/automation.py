"""In-memory twins of the automation ports: the stores (subscriptions, delivery log,
idempotency keys) and ``RecordingAutomationSink``, the ``AutomationSink`` that records
what it was asked to POST and answers from a script instead of the network.

The stores' state is staged with the rest of a memory unit of work (copied on enter,
kept on commit). Units of work run one at a time, so ``for_update`` needs no lock here.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from whatsapp_core.automation import (
    DeliveryResult,
    IdempotencyRecord,
    WebhookDelivery,
    WebhookSubscription,
    address_refusal,
)
from whatsapp_core.errors import Conflict, NotFound

__all__ = [
    "MemoryAutomationState",
    "MemoryDeliveryLog",
    "MemoryIdempotencyStore",
    "MemorySubscriptionStore",
    "RecordingAutomationSink",
    "SinkCall",
]

Key = tuple[uuid.UUID, uuid.UUID]


@dataclass
class MemoryAutomationState:
    subscriptions: dict[Key, WebhookSubscription] = field(default_factory=dict)
    deliveries: dict[Key, WebhookDelivery] = field(default_factory=dict)
    idempotency: dict[tuple[uuid.UUID, str], IdempotencyRecord] = field(default_factory=dict)

    def staged(self) -> MemoryAutomationState:
        """A copy a transaction can change without touching this one."""
        return MemoryAutomationState(
            subscriptions=dict(self.subscriptions),
            deliveries=dict(self.deliveries),
            idempotency=dict(self.idempotency),
        )


class MemorySubscriptionStore:
    def __init__(self, state: MemoryAutomationState) -> None:
        self._s = state

    async def add(self, subscription: WebhookSubscription) -> None:
        key = (subscription.tenant_id, subscription.id)
        if any(k[1] == subscription.id for k in self._s.subscriptions):
            raise Conflict("webhook subscription exists")
        self._s.subscriptions[key] = subscription

    async def update(self, subscription: WebhookSubscription) -> None:
        key = (subscription.tenant_id, subscription.id)
        if key not in self._s.subscriptions:
            raise NotFound("webhook subscription not found")
        self._s.subscriptions[key] = subscription

    async def get(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookSubscription:
        try:
            return self._s.subscriptions[(tenant_id, subscription_id)]
        except KeyError:
            raise NotFound("webhook subscription not found") from None

    async def delete(self, tenant_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
        if self._s.subscriptions.pop((tenant_id, subscription_id), None) is None:
            raise NotFound("webhook subscription not found")
        for key, delivery in list(self._s.deliveries.items()):
            if delivery.subscription_id == subscription_id:
                del self._s.deliveries[key]

    async def matching(self, tenant_id: uuid.UUID, event: str) -> list[WebhookSubscription]:
        return [s for s in await self.list(tenant_id) if s.active and event in s.events]

    async def list(self, tenant_id: uuid.UUID) -> list[WebhookSubscription]:
        found = [s for s in self._s.subscriptions.values() if s.tenant_id == tenant_id]
        return sorted(found, key=lambda s: (s.created_at, str(s.id)))


class MemoryDeliveryLog:
    def __init__(self, state: MemoryAutomationState) -> None:
        self._s = state

    async def add(self, delivery: WebhookDelivery) -> None:
        if (delivery.tenant_id, delivery.subscription_id) not in self._s.subscriptions:
            raise NotFound("the delivery's subscription does not exist")
        if any(k[1] == delivery.id for k in self._s.deliveries):
            raise Conflict("webhook delivery exists")
        self._s.deliveries[(delivery.tenant_id, delivery.id)] = delivery

    async def get(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        try:
            return self._s.deliveries[(tenant_id, delivery_id)]
        except KeyError:
            raise NotFound("webhook delivery not found") from None

    async def list(
        self,
        tenant_id: uuid.UUID,
        subscription_id: uuid.UUID,
        *,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[WebhookDelivery]:
        found = [
            d
            for d in self._s.deliveries.values()
            if d.tenant_id == tenant_id
            and d.subscription_id == subscription_id
            and (before is None or d.at < before)
        ]
        found.sort(key=lambda d: (d.at, str(d.id)), reverse=True)
        return found[:limit]


class MemoryIdempotencyStore:
    def __init__(self, state: MemoryAutomationState) -> None:
        self._s = state

    async def claim(self, record: IdempotencyRecord) -> bool:
        key = (record.tenant_id, record.key)
        if key in self._s.idempotency:
            return False
        self._s.idempotency[key] = record
        return True

    async def get(self, tenant_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        return self._s.idempotency.get((tenant_id, key))

    async def update(self, record: IdempotencyRecord) -> None:
        key = (record.tenant_id, record.key)
        if key not in self._s.idempotency:
            raise NotFound("idempotency key not found")
        self._s.idempotency[key] = record

    async def release(self, tenant_id: uuid.UUID, key: str) -> None:
        self._s.idempotency.pop((tenant_id, key), None)


@dataclass(frozen=True)
class SinkCall:
    """One POST the sink attempted, and what it answered (a refused target is never
    contacted, so never recorded; a scripted "no response" is, with its error)."""

    url: str
    body: bytes
    headers: dict[str, str]
    allow_private: bool
    result: DeliveryResult


class RecordingAutomationSink:
    """``AutomationSink`` without a network: each delivery is recorded in ``calls`` and
    answered by the next scripted result (``answer``), else 200.

    Like the HTTP sink it refuses (``refused=True``, nothing sent) a non-http(s) URL and
    a target address the subscription may not reach (``address_refusal``), capped by
    ``platform_allows_private``. Known difference: there is no DNS here; a name is looked
    up in ``hosts`` (``localhost`` is 127.0.0.1) and any other name counts as public."""

    def __init__(
        self,
        *,
        platform_allows_private: bool = True,
        hosts: Mapping[str, str] | None = None,
    ) -> None:
        self.calls: list[SinkCall] = []
        self.results: deque[DeliveryResult] = deque()
        self.platform_allows_private = platform_allows_private
        self.hosts = dict(hosts) if hosts is not None else {"localhost": "127.0.0.1"}

    def answer(
        self,
        *statuses: int | None,
        error: str = "connection refused",
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Script the next answers: a status code, or ``None`` for no response (``error``)."""
        for status in statuses:
            self.results.append(
                DeliveryResult(
                    status_code=status,
                    latency_ms=1.0,
                    response_excerpt=body if status else None,
                    error=None if status else error,
                    retry_after=retry_after if status else None,
                )
            )

    async def deliver(
        self, url: str, body: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> DeliveryResult:
        refusal = self._refusal(url, allow_private and self.platform_allows_private)
        if refusal is not None:
            return DeliveryResult(latency_ms=0.0, error=refusal, refused=True)
        if self.results:
            result = self.results.popleft()
        else:
            result = DeliveryResult(status_code=200, latency_ms=1.0)
        self.calls.append(SinkCall(url, bytes(body), dict(headers), allow_private, result))
        return result

    def _refusal(self, url: str, allow_private: bool) -> str | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("http", "https") or not host:
            return f"not an http(s) URL: {url}"
        try:
            address = ipaddress.ip_address(self.hosts.get(host, host))
        except ValueError:
            return None  # a public name (no DNS here)
        reason = address_refusal(address, allow_private=allow_private)
        return f"webhook target refused: {reason}" if reason else None
