"""Job handlers: decode the payload, call one core use case, return the outcome.

Pacing lives in the gateway the handlers get (``PacedGateway``), so the token is taken
at the moment of the send call, with the tenant already loaded by the use case.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

import msgspec

from adapters.ai import build_ai
from adapters.automation.httpx_sink import HttpxAutomationSink
from whatsapp_core.ai import AiProviders
from whatsapp_core.automation import AutomationSink, WebhookJob
from whatsapp_core.domain.model import Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.phone_numbers import PhoneNumberInfo
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import InvalidInput
from whatsapp_core.jobs import (
    AI_CLASSIFY,
    EXPORT_BUILD,
    MEDIA_FETCH,
    MSG_SEND,
    N8N_TRIGGER,
    TEMPLATE_SYNC,
    WEBHOOK_OUT,
    JobRecord,
    MessageSendPayload,
    RateLimiter,
    RetryPolicy,
)
from whatsapp_core.media import BlobStore, MediaFetcher
from whatsapp_core.ports import WhatsAppGateway
from whatsapp_core.services.ai import classify_message
from whatsapp_core.services.automation import deliver_event, fan_out
from whatsapp_core.services.context import Services
from whatsapp_core.services.exports import build_export
from whatsapp_core.services.media import fetch_inbound_media
from whatsapp_core.services.outbound import deliver_message
from whatsapp_core.services.templates import sync_templates_as_system

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

    async def list_templates(self, tenant: Tenant) -> list[RemoteTemplate]:
        return await self._gateway.list_templates(tenant)

    async def delete_template(
        self, tenant: Tenant, *, name: str, meta_id: str | None = None
    ) -> bool:
        return await self._gateway.delete_template(tenant, name=name, meta_id=meta_id)

    async def upload_media(
        self,
        tenant: Tenant,
        data: AsyncIterable[bytes],
        *,
        mime_type: str,
        size: int,
        filename: str | None = None,
    ) -> str:
        return await self._gateway.upload_media(
            tenant, data, mime_type=mime_type, size=size, filename=filename
        )

    async def phone_number_info(self, tenant: Tenant) -> PhoneNumberInfo:
        return await self._gateway.phone_number_info(tenant)


def decode_payload(job: JobRecord, shape: type[T]) -> T:
    """A payload that does not decode can never succeed: ``InvalidInput`` (dead letter)."""
    try:
        return msgspec.convert(job.payload, shape)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"bad {job.kind} payload: {exc}", field="payload") from exc


def message_send(
    services: ServicesFactory, gateway: WhatsAppGateway, blobs: BlobStore | None = None
) -> JobHandler:
    """``blobs`` holds the files of media messages (uploaded to Meta before the send)."""

    async def handle(job: JobRecord) -> str:
        payload = decode_payload(job, MessageSendPayload)
        return await deliver_message(
            services(), gateway, job.tenant_id, payload.message_id, blobs=blobs
        )

    return handle


class MediaFetchPayload(msgspec.Struct, frozen=True):
    """``media.fetch``: copy an inbound message's media from Meta into the blob store."""

    message_id: uuid.UUID
    media_id: str | None = None
    conversation_id: uuid.UUID | None = None


def media_fetch(
    services: ServicesFactory,
    fetcher: MediaFetcher,
    blobs: BlobStore,
    *,
    max_attempts: int = RetryPolicy.max_attempts,
) -> JobHandler:
    """On its last attempt a job that still fails records the media as unavailable
    (with the reason) instead of leaving a silent gap."""

    async def handle(job: JobRecord) -> str:
        payload = decode_payload(job, MediaFetchPayload)
        return await fetch_inbound_media(
            services(), fetcher, blobs, job.tenant_id, payload.message_id,
            media_id=payload.media_id, final_attempt=job.attempts >= max_attempts,
        )  # fmt: skip

    return handle


def template_sync(services: ServicesFactory, gateway: WhatsAppGateway) -> JobHandler:
    """``template.sync``: reconcile the job's tenant's templates with Meta's list."""

    async def handle(job: JobRecord) -> str:
        report = await sync_templates_as_system(
            services(), gateway, job.tenant_id, correlation_id=job.correlation_id
        )
        return (
            f"templates: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {len(report.skipped)} skipped"
        )

    return handle


def n8n_trigger(services: ServicesFactory) -> JobHandler:
    async def handle(job: JobRecord) -> str:
        return await fan_out(
            services(), job.tenant_id, job.payload, trigger_id=job.id,
            occurred_at=job.created_at, correlation_id=job.correlation_id,
        )  # fmt: skip

    return handle


def webhook_out(
    services: ServicesFactory, sink: AutomationSink, *, max_attempts: int = RetryPolicy.max_attempts
) -> JobHandler:
    async def handle(job: JobRecord) -> str:
        payload = decode_payload(job, WebhookJob)
        return await deliver_event(
            services(), sink, job.tenant_id, payload, attempt=job.attempts,
            final=job.attempts >= max_attempts,
        )  # fmt: skip

    return handle


class AiClassifyPayload(msgspec.Struct, frozen=True):
    """``ai.classify``: the intent of one inbound message (written by ingest)."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID | None = None


def ai_classify(services: ServicesFactory, ai: AiProviders) -> JobHandler:
    async def handle(job: JobRecord) -> str:
        payload = decode_payload(job, AiClassifyPayload)
        return await classify_message(
            services(), ai.router, job.tenant_id, payload.message_id, embedder=ai.embedder
        )

    return handle


def export_build(services: ServicesFactory, blobs: BlobStore) -> JobHandler:
    """``export.build``: stream a contact list or a transcript into the blob store."""

    async def handle(job: JobRecord) -> str:
        return await build_export(services(), blobs, job)

    return handle


def default_handlers(
    services: ServicesFactory,
    gateway: WhatsAppGateway,
    limiter: RateLimiter,
    blobs: BlobStore | None = None,
    *,
    sink: AutomationSink | None = None,
    max_attempts: int = RetryPolicy.max_attempts,
) -> dict[str, JobHandler]:
    """Kinds with a handler today. The other known kinds are recorded as not run.
    ``media.fetch`` needs a blob store and a gateway that serves media."""
    handlers = {MSG_SEND: message_send(services, PacedGateway(gateway, limiter), blobs)}
    handlers[N8N_TRIGGER] = n8n_trigger(services)
    handlers[TEMPLATE_SYNC] = template_sync(services, gateway)
    handlers[AI_CLASSIFY] = ai_classify(services, build_ai())  # offline; build_worker: runtime.ai
    handlers[WEBHOOK_OUT] = webhook_out(
        services, sink or HttpxAutomationSink(), max_attempts=max_attempts
    )
    if blobs is not None and isinstance(gateway, MediaFetcher):
        handlers[MEDIA_FETCH] = media_fetch(services, gateway, blobs, max_attempts=max_attempts)
    if blobs is not None:
        handlers[EXPORT_BUILD] = export_build(services, blobs)
    return handlers
