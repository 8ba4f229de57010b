"""What every use case needs, passed explicitly (no globals, no service locator)."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from whatsapp_core.domain.model import AuditEntry, DomainEvent, OutboxJob, Principal
from whatsapp_core.errors import UpstreamUnavailable
from whatsapp_core.ports import (
    Clock,
    EventPublisher,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger("whatsapp_core")

# The request or job being served; entry points set it, audit rows and outbox jobs
# carry it so one id follows a webhook or a click through every job it causes.
CURRENT_CORRELATION_ID: ContextVar[str | None] = ContextVar("correlation_id", default=None)


class NoEvents:
    """Publisher for callers that do not need real-time fan-out."""

    async def publish(self, event: DomainEvent) -> None:
        return None


@dataclass(frozen=True)
class Services:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    events: EventPublisher = field(default_factory=NoEvents)

    def event(self, kind: str, tenant_id: Any, **payload: Any) -> DomainEvent:
        return DomainEvent(kind=kind, tenant_id=tenant_id, payload=payload, at=self.clock.now())

    async def publish_all(self, events: list[DomainEvent]) -> None:
        """After commit, best effort: the data is stored; a dropped push is re-read on load."""
        for event in events:
            try:
                await self.events.publish(event)
            except UpstreamUnavailable as exc:
                log.warning("event %s not published: %s", event.kind, exc)

    async def enqueue(
        self,
        uow: UnitOfWork,
        tenant_id: Any,
        kind: str,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> uuid.UUID:
        """Write a job in ``uow``'s transaction; its id (to follow it in the monitor)."""
        job_id = self.ids.new_id()
        await uow.outbox.add(
            OutboxJob(
                id=job_id,
                tenant_id=tenant_id,
                kind=kind,
                payload=payload,
                created_at=self.clock.now(),
                correlation_id=correlation_id or CURRENT_CORRELATION_ID.get(),
            )
        )
        return job_id

    async def audit(
        self,
        uow: UnitOfWork,
        principal: Principal,
        action: str,
        entity_type: str,
        entity_id: Any,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        await uow.audit.add(
            AuditEntry(
                id=self.ids.new_id(),
                tenant_id=principal.tenant_id,
                actor=principal.actor,
                action=action,
                entity_type=entity_type,
                entity_id=str(entity_id),
                at=self.clock.now(),
                before=before,
                after=after,
                correlation_id=correlation_id or CURRENT_CORRELATION_ID.get(),
            )
        )
