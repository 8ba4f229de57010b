"""Job handlers: decode the payload, call one core use case, return the outcome.

Pacing lives in the gateway the handlers get (``PacedGateway``), so the token is taken
at the moment of the send call, with the tenant already loaded by the use case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from whatsapp_core.domain.model import Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import InvalidInput
from whatsapp_core.jobs import MSG_SEND, JobRecord, MessageSendPayload, RateLimiter
from whatsapp_core.ports import WhatsAppGateway
from whatsapp_core.services.context import Services
from whatsapp_core.services.outbound import deliver_message

JobHandler = Callable[[JobRecord], Awaitable[str]]
ServicesFactory = Callable[[], Services]

T = TypeVar("T")


def pace_key(tenant: Tenant) -> str:
    """Meta's throughput limit is per phone number."""
    return f"pn:{tenant.phone_number_id or tenant.id}"


class PacedGateway:
    """A gateway whose sends wait for the number's token bucket first."""

    def __init__(self, gateway: WhatsAppGateway, limiter: RateLimiter) -> None:
        self._gateway = gateway
        self._limiter = limiter

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        await self._limiter.acquire(pace_key(tenant), max(tenant.throughput_per_second, 1))
        return await self._gateway.send(tenant, recipient, message)

    async def submit_template(self, tenant: Tenant, template: Template) -> str:
        return await self._gateway.submit_template(tenant, template)


def decode_payload(job: JobRecord, shape: type[T]) -> T:
    """A payload that does not decode can never succeed: ``InvalidInput`` (dead letter)."""
    try:
        return msgspec.convert(job.payload, shape)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"bad {job.kind} payload: {exc}", field="payload") from exc


def message_send(services: ServicesFactory, gateway: WhatsAppGateway) -> JobHandler:
    async def handle(job: JobRecord) -> str:
        payload = decode_payload(job, MessageSendPayload)
        return await deliver_message(services(), gateway, job.tenant_id, payload.message_id)

    return handle


def default_handlers(
    services: ServicesFactory, gateway: WhatsAppGateway, limiter: RateLimiter
) -> dict[str, JobHandler]:
    """Kinds with a handler today. The other known kinds are recorded as not run."""
    return {MSG_SEND: message_send(services, PacedGateway(gateway, limiter))}
