"""Subscription, delivery-log and idempotency stores: the same on memory and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from tests.contract.test_stores import tenant
from whatsapp_core.automation import (
    DeliveryState,
    IdempotencyRecord,
    WebhookDelivery,
    WebhookSubscription,
)
from whatsapp_core.errors import NotFound
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def subscription(tenant_id: uuid.UUID, *events: str, **kw: object) -> WebhookSubscription:
    fields: dict[str, object] = {
        "id": uuid.uuid4(), "tenant_id": tenant_id, "url": "https://hooks.example.com/h",
        "events": events or ("message.received",), "secret": "whsec_x", "created_at": T0,
        "updated_at": T0,
    }  # fmt: skip
    return WebhookSubscription(**{**fields, **kw})  # type: ignore[arg-type]


def delivery(s: WebhookSubscription, at: datetime, **kw: object) -> WebhookDelivery:
    fields: dict[str, object] = {
        "id": uuid.uuid4(), "tenant_id": s.tenant_id, "subscription_id": s.id,
        "event_id": uuid.uuid4(), "event": "message.received", "attempt": 1,
        "state": DeliveryState.DELIVERED, "status_code": 200, "latency_ms": 12.5,
        "response_excerpt": "ok", "body": '{"type":"message.received"}', "at": at,
    }  # fmt: skip
    return WebhookDelivery(**{**fields, **kw})  # type: ignore[arg-type]


async def test_subscriptions_round_trip_match_by_event_and_stay_in_their_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    first = subscription(acme.id, "message.received", "ai.classified", allow_private=True)
    second = subscription(acme.id, "template.status", created_at=T0 + timedelta(minutes=1))
    off = subscription(acme.id, "message.received", active=False, created_at=T0 + timedelta(2))
    theirs = subscription(beta.id, "message.received")
    async with uow_factory() as uow:
        for s in (first, second, off, theirs):
            await uow.webhooks.add(s)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.webhooks.get(acme.id, first.id) == first
        assert await uow.webhooks.list(acme.id) == [first, second, off]
        assert await uow.webhooks.matching(acme.id, "message.received") == [first]
        assert await uow.webhooks.matching(acme.id, "ai.classified") == [first]
        assert await uow.webhooks.matching(acme.id, "contact.created") == []
        assert await uow.webhooks.matching(beta.id, "message.received") == [theirs]
        with pytest.raises(NotFound):
            await uow.webhooks.get(acme.id, theirs.id)
        with pytest.raises(NotFound):
            await uow.webhooks.update(replace(theirs, tenant_id=acme.id))
        with pytest.raises(NotFound):
            await uow.webhooks.delete(acme.id, theirs.id)
    changed = replace(
        first, events=("contact.created",), consecutive_failures=3, active=False,
        disabled_reason="too many failures", updated_at=T0 + timedelta(hours=1),
    )  # fmt: skip
    async with uow_factory() as uow:
        await uow.webhooks.update(changed)
        # Not committed: nothing kept.
    async with uow_factory() as uow:
        assert await uow.webhooks.get(acme.id, first.id) == first
        await uow.webhooks.update(changed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.webhooks.get(acme.id, first.id, for_update=True) == changed


async def test_the_delivery_log_pages_newest_first_and_goes_with_its_subscription(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    s, other = subscription(acme.id), subscription(acme.id)
    logged = [
        delivery(s, T0 + timedelta(seconds=n), attempt=n + 1, state=DeliveryState.RETRYING,
                 status_code=None, latency_ms=None, response_excerpt=None, error="timed out")
        for n in range(3)
    ] + [delivery(s, T0 + timedelta(seconds=3), manual=True)]  # fmt: skip
    async with uow_factory() as uow:
        await uow.webhooks.add(s)
        await uow.webhooks.add(other)
        for d in logged:
            await uow.webhook_deliveries.add(d)
        await uow.webhook_deliveries.add(delivery(other, T0))
        await uow.commit()
    async with uow_factory() as uow:
        newest_first = list(reversed(logged))
        assert await uow.webhook_deliveries.list(acme.id, s.id) == newest_first
        assert await uow.webhook_deliveries.list(acme.id, s.id, limit=2) == newest_first[:2]
        page = await uow.webhook_deliveries.list(acme.id, s.id, before=logged[2].at)
        assert page == newest_first[2:]
        assert await uow.webhook_deliveries.get(acme.id, logged[0].id) == logged[0]
        assert await uow.webhook_deliveries.list(beta.id, s.id) == []
        with pytest.raises(NotFound):
            await uow.webhook_deliveries.get(beta.id, logged[0].id)
    async with uow_factory() as uow:
        await uow.webhooks.delete(acme.id, s.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.webhook_deliveries.list(acme.id, s.id) == []
        with pytest.raises(NotFound):
            await uow.webhook_deliveries.get(acme.id, logged[0].id)
        assert len(await uow.webhook_deliveries.list(acme.id, other.id)) == 1


async def test_a_delivery_needs_an_existing_subscription(uow_factory: UnitOfWorkFactory) -> None:
    acme = await tenant(uow_factory)
    ghost = subscription(acme.id)
    async with uow_factory() as uow:
        with pytest.raises(NotFound):  # a foreign key: the thing referred to is not there
            await uow.webhook_deliveries.add(delivery(ghost, T0))


async def test_an_idempotency_key_is_claimed_once_per_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    claim = IdempotencyRecord(tenant_id=acme.id, key="send:apikey:1:k", request_hash="h1",
                              created_at=T0)  # fmt: skip
    async with uow_factory() as uow:
        assert await uow.idempotency.claim(claim)
        assert not await uow.idempotency.claim(replace(claim, request_hash="h2"))
        assert await uow.idempotency.claim(replace(claim, tenant_id=beta.id))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.idempotency.get(acme.id, claim.key) == claim
        assert await uow.idempotency.get(acme.id, "other") is None
        done = replace(claim, result_id=uuid.uuid4(), created_at=T0 + timedelta(seconds=1))
        await uow.idempotency.update(done)
        with pytest.raises(NotFound):
            await uow.idempotency.update(replace(claim, key="never-claimed"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.idempotency.get(acme.id, claim.key) == done
        await uow.idempotency.release(acme.id, claim.key)
        await uow.idempotency.release(acme.id, "never-claimed")  # no error
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.idempotency.get(acme.id, claim.key) is None
        assert await uow.idempotency.get(beta.id, claim.key) is not None


async def test_for_update_serializes_read_modify_write(uow_factory: UnitOfWorkFactory) -> None:
    """Two deliveries counting a failure at once: no lost update."""
    acme = await tenant(uow_factory)
    s = subscription(acme.id)
    async with uow_factory() as uow:
        await uow.webhooks.add(s)
        await uow.commit()
    first_has_read = asyncio.Event()

    async def count_failure(pause: float) -> None:
        async with uow_factory() as uow:
            current = await uow.webhooks.get(acme.id, s.id, for_update=True)
            first_has_read.set()
            await asyncio.sleep(pause)
            failures = current.consecutive_failures + 1
            await uow.webhooks.update(replace(current, consecutive_failures=failures))
            await uow.commit()

    async def second() -> None:
        await first_has_read.wait()
        await count_failure(0)

    await asyncio.wait_for(asyncio.gather(count_failure(0.2), second()), timeout=10)
    async with uow_factory() as uow:
        assert (await uow.webhooks.get(acme.id, s.id)).consecutive_failures == 2
