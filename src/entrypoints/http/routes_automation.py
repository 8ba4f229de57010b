"""Automation (Flow 4): webhook subscriptions, their delivery log, the event catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from entrypoints.bootstrap import Runtime
from whatsapp_core.automation import (
    EVENT_CATALOGUE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDelivery,
    WebhookSubscription,
    example_envelope,
)
from whatsapp_core.domain.model import Principal
from whatsapp_core.services import automation


class WebhookIn(msgspec.Struct, kw_only=True):
    url: str
    events: list[str]
    allow_private: bool = False  # self-hosted n8n on a private network
    description: str = ""


class WebhookPatchIn(msgspec.Struct, kw_only=True):
    active: bool | None = None
    url: str | None = None
    events: list[str] | None = None
    allow_private: bool | None = None
    description: str | None = None


class WebhookOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    url: str
    events: tuple[str, ...]
    active: bool
    allow_private: bool
    description: str
    consecutive_failures: int
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # only in the answer that creates it

    @classmethod
    def of(cls, s: WebhookSubscription, secret: str | None = None) -> WebhookOut:
        return cls(
            id=s.id, url=s.url, events=s.events, active=s.active, allow_private=s.allow_private,
            description=s.description, consecutive_failures=s.consecutive_failures,
            disabled_reason=s.disabled_reason, created_at=s.created_at,
            updated_at=s.updated_at, secret=secret,
        )  # fmt: skip


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event: str
    attempt: int
    manual: bool
    state: str
    status_code: int | None
    latency_ms: float | None
    response_excerpt: str | None
    error: str | None
    at: datetime

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=d.id, subscription_id=d.subscription_id, event_id=d.event_id, event=d.event,
            attempt=d.attempt, manual=d.manual, state=d.state.value, status_code=d.status_code,
            latency_ms=d.latency_ms, response_excerpt=d.response_excerpt, error=d.error, at=d.at,
        )  # fmt: skip


class RedeliveryOut(msgspec.Struct, kw_only=True):
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event: str
    queued: bool = True


class EventTypeOut(msgspec.Struct, kw_only=True):
    type: str
    version: int
    summary: str
    data_schema: dict[str, Any]
    example: dict[str, Any]  # a whole body as POSTed (fixed ids and times)


class CatalogueOut(msgspec.Struct, kw_only=True):
    signature: str
    events: list[EventTypeOut]


_SIGNATURE_DOC = (
    f"{SIGNATURE_HEADER}: sha256=hex(HMAC-SHA256(secret, {TIMESTAMP_HEADER} + '.' + raw "
    f"body)); refuse a {TIMESTAMP_HEADER} older than 5 minutes; dedupe on X-Event-Id. "
    "Body: {id, type, v, occurred_at, tenant_id, data}."
)


class WebhookController(Controller):
    path = "/api/webhooks"
    tags = ("automation",)

    @get(summary="Webhook subscriptions (admin)")
    async def list_(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> list[WebhookOut]:
        found = await automation.list_subscriptions(runtime.services, principal)
        return [WebhookOut.of(s) for s in found]

    @post(status_code=201, summary="Subscribe a URL to events (the secret is shown once)")
    async def create(
        self,
        data: JSONBody[WebhookIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> WebhookOut:
        subscription, secret = await automation.create_subscription(
            runtime.services, principal, url=data.url, events=data.events,
            allow_private=data.allow_private, description=data.description,
        )  # fmt: skip
        return WebhookOut.of(subscription, secret)

    @get("/events", summary="The event catalogue: versions, JSON schemas, example bodies")
    async def events(self) -> CatalogueOut:
        return CatalogueOut(
            signature=_SIGNATURE_DOC,
            events=[
                EventTypeOut(
                    type=spec.type,
                    version=spec.version,
                    summary=spec.summary,
                    data_schema=msgspec.json.schema(spec.data),
                    example=msgspec.to_builtins(example_envelope(spec)),
                )
                for spec in EVENT_CATALOGUE.values()
            ],
        )

    @patch("/{subscription_id:uuid}", summary="Enable, disable or change a subscription")
    async def update(
        self,
        subscription_id: FromPath[uuid.UUID],
        data: JSONBody[WebhookPatchIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> WebhookOut:
        subscription = await automation.update_subscription(
            runtime.services, principal, subscription_id, active=data.active, url=data.url,
            events=data.events, allow_private=data.allow_private, description=data.description,
        )  # fmt: skip
        return WebhookOut.of(subscription)

    @delete("/{subscription_id:uuid}", status_code=204)
    async def remove(
        self,
        subscription_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await automation.delete_subscription(runtime.services, principal, subscription_id)

    @get("/{subscription_id:uuid}/deliveries", summary="Delivery attempts, newest first")
    async def deliveries(
        self,
        subscription_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        before: FromQuery[datetime | None] = None,
        limit: FromQuery[int] = 50,
    ) -> list[DeliveryOut]:
        found = await automation.list_deliveries(
            runtime.services, principal, subscription_id, limit=limit, before=before
        )
        return [DeliveryOut.of(d) for d in found]


class WebhookDeliveryController(Controller):
    path = "/api/webhook-deliveries"
    tags = ("automation",)

    @post("/{delivery_id:uuid}/redeliver", status_code=202, summary="Send a logged event again")
    async def redeliver(
        self,
        delivery_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> RedeliveryOut:
        job = await automation.redeliver(runtime.services, principal, delivery_id)
        return RedeliveryOut(
            subscription_id=job.subscription_id, event_id=job.event_id, event=job.event
        )


AUTOMATION_CONTROLLERS = (WebhookController, WebhookDeliveryController)
