"""Webhook subscriptions, their delivery log and idempotency keys on PostgreSQL
(all three tenant tables under row-level security, migration 0007)."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgres import tables
from adapters.postgres.store_base import SqlaStore, from_row, to_row
from whatsapp_core.automation import IdempotencyRecord, WebhookDelivery, WebhookSubscription
from whatsapp_core.errors import NotFound


class SqlaSubscriptionStore(SqlaStore):
    table = tables.webhook_subscriptions
    entity = WebhookSubscription
    not_found = "webhook subscription not found"

    async def add(self, subscription: WebhookSubscription) -> None:
        await self._insert(subscription)

    async def update(self, subscription: WebhookSubscription) -> None:
        await self._replace(subscription)

    async def get(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookSubscription:
        if not for_update:
            found: WebhookSubscription = await self._get(tenant_id, subscription_id)
            return found
        params = {"w_tenant_id": tenant_id, "w_id": subscription_id}
        row = (await self._execute(tenant_id, _locked(self.table), params)).first()
        if row is None:
            raise NotFound(self.not_found)
        return from_row(row, WebhookSubscription)

    async def delete(self, tenant_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
        t = self.table
        result = await self._execute(
            tenant_id, sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.id == subscription_id)
        )
        if result.rowcount == 0:
            raise NotFound(self.not_found)

    async def matching(self, tenant_id: uuid.UUID, event: str) -> list[WebhookSubscription]:
        t = self.table
        q = sa.select(t).where(
            t.c.tenant_id == tenant_id, t.c.active, sa.literal(event) == sa.any_(t.c.events)
        )
        return await self._all(tenant_id, q.order_by(t.c.created_at, sa.cast(t.c.id, sa.Text)))

    async def list(self, tenant_id: uuid.UUID) -> list[WebhookSubscription]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id)
        return await self._all(tenant_id, q.order_by(t.c.created_at, sa.cast(t.c.id, sa.Text)))


@functools.cache
def _locked(table: sa.Table) -> sa.Select[Any]:
    return (
        sa.select(table)
        .where(table.c.tenant_id == sa.bindparam("w_tenant_id"), table.c.id == sa.bindparam("w_id"))
        .with_for_update()
    )


class SqlaDeliveryLog(SqlaStore):
    table = tables.webhook_deliveries
    entity = WebhookDelivery
    not_found = "webhook delivery not found"

    async def add(self, delivery: WebhookDelivery) -> None:
        await self._insert(delivery)

    async def get(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        found: WebhookDelivery = await self._get(tenant_id, delivery_id)
        return found

    async def list(
        self,
        tenant_id: uuid.UUID,
        subscription_id: uuid.UUID,
        *,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[WebhookDelivery]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.subscription_id == subscription_id)
        if before is not None:
            q = q.where(t.c.at < before)
        order = (t.c.at.desc(), sa.cast(t.c.id, sa.Text).desc())
        return await self._all(tenant_id, q.order_by(*order).limit(limit))


class SqlaIdempotencyStore(SqlaStore):
    table = tables.idempotency_keys
    entity = IdempotencyRecord
    _claim = (
        insert(tables.idempotency_keys)
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(tables.idempotency_keys.c.key)
    )

    async def claim(self, record: IdempotencyRecord) -> bool:
        result = await self._execute(record.tenant_id, self._claim, to_row(record, self.table))
        return result.first() is not None

    async def get(self, tenant_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        found: IdempotencyRecord | None = await self._one(tenant_id, tenant_id=tenant_id, key=key)
        return found

    async def update(self, record: IdempotencyRecord) -> None:
        t = self.table
        statement = (
            sa.update(t)
            .where(t.c.tenant_id == record.tenant_id, t.c.key == record.key)
            .values(
                request_hash=record.request_hash,
                result_id=record.result_id,
                created_at=record.created_at,
            )
        )
        if (await self._execute(record.tenant_id, statement)).rowcount == 0:
            raise NotFound("idempotency key not found")

    async def release(self, tenant_id: uuid.UUID, key: str) -> None:
        t = self.table
        await self._execute(
            tenant_id, sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.key == key)
        )
