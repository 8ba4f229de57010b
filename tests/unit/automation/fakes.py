"""A scripted ``AutomationSink`` and small builders for the automation tests."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from msgspec.structs import replace

from tests.unit.services.harness import Harness
from whatsapp_core.automation import DeliveryResult, WebhookJob
from whatsapp_core.domain.model import Template
from whatsapp_core.jobs import N8N_TRIGGER, WEBHOOK_OUT
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateComponents, TemplateStatus
from whatsapp_core.services.templates import create_template


@dataclass(frozen=True)
class Call:
    url: str
    body: bytes
    headers: dict[str, str]
    allow_private: bool


@dataclass
class FakeSink:
    results: deque[DeliveryResult] = field(default_factory=deque)
    calls: list[Call] = field(default_factory=list)
    during: Callable[[], Awaitable[None]] | None = None  # runs inside the "HTTP call"

    def answer(self, *statuses: int | None, error: str = "connection refused") -> None:
        for status in statuses:
            self.results.append(
                DeliveryResult(status_code=status, latency_ms=3.0, error=None if status else error)
            )

    async def deliver(
        self, url: str, body: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> DeliveryResult:
        self.calls.append(Call(url, body, dict(headers), allow_private))
        if self.during is not None:
            await self.during()
        if self.results:
            return self.results.popleft()
        return DeliveryResult(status_code=200, latency_ms=3.0, response_excerpt="ok")


def triggers(h: Harness) -> list[tuple[uuid.UUID, dict[str, object]]]:
    """(job id, payload) of every n8n.trigger job, oldest first."""
    jobs = sorted(h.uow.db.state.outbox.values(), key=lambda j: j.created_at)
    return [(j.id, j.payload) for j in jobs if j.kind == N8N_TRIGGER]


def webhook_jobs(h: Harness) -> list[WebhookJob]:
    import msgspec

    jobs = sorted(h.uow.db.state.outbox.values(), key=lambda j: j.created_at)
    return [msgspec.convert(j.payload, WebhookJob) for j in jobs if j.kind == WEBHOOK_OUT]


async def approved_template(h: Harness, name: str = "order_status") -> Template:
    template = await create_template(
        h.svc, h.as_(Role.MANAGER), name=name, language="en", category="UTILITY",
        components=TemplateComponents(body="Hi {{1}}, your order {{2}} is on its way."),
    )  # fmt: skip
    approved = replace(template, status=TemplateStatus.APPROVED)
    async with h.uow() as uow:
        await uow.templates.update(approved)
        await uow.commit()
    return approved
