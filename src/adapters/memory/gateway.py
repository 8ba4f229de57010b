"""In-memory WhatsApp gateway and event publisher: record what was asked of them.

The gateway answers like Meta's send endpoint (a new wamid per send) and can be told
to refuse the next sends with a Meta error code, so the core's retry/fail rules can
be exercised without a network. The simulator (real HTTP) is the richer twin.
"""

from __future__ import annotations

import itertools
from collections import deque

import msgspec

from whatsapp_core.domain.model import DomainEvent, Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError


class SentMessage(msgspec.Struct, frozen=True):
    tenant_id: str
    recipient: Recipient
    message: OutgoingMessage
    wamid: str


class MemoryWhatsAppGateway:
    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.submitted: list[Template] = []
        self._failures: deque[DeliveryError] = deque()
        self._seq = itertools.count(1)
        self.next_wamids: deque[str] = deque()

    def fail_next(self, meta_code: int | None, *, http_status: int = 400, times: int = 1) -> None:
        for _ in range(times):
            self._failures.append(
                DeliveryError(
                    f"(#{meta_code}) refused by the fake gateway",
                    meta_code=meta_code,
                    http_status=http_status,
                )
            )

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        if self._failures:
            raise self._failures.popleft()
        wamid = (
            self.next_wamids.popleft() if self.next_wamids else f"wamid.FAKE{next(self._seq):012d}"
        )
        self.sent.append(SentMessage(str(tenant.id), recipient, message, wamid))
        return SendReceipt(wamid=wamid)

    async def submit_template(self, tenant: Tenant, template: Template) -> str:
        if self._failures:
            raise self._failures.popleft()
        self.submitted.append(template)
        return str(900000000 + next(self._seq))


class MemoryEventPublisher:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, event: DomainEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]
