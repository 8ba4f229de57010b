"""Flow 1: a Meta webhook batch, applied whole in one transaction.

For every message: contact (BSUID first), conversation (reopened if resolved), the
24 h window moved, the message stored once per wamid, and outbox jobs for AI, automation
and media. For every status: the message's status only moves forward; a status for an
unknown wamid is kept and applied when the wamid becomes known. Template updates move
the template's state. Real-time events go out after commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from msgspec.structs import replace

from whatsapp_core.domain.model import (
    Conversation,
    ConversationStatus,
    Direction,
    DomainEvent,
    Message,
    PendingStatus,
)
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.domain.webhook import (
    IdentityChange,
    InboundMessage,
    IngestReport,
    StatusUpdate,
    TemplateUpdate,
    WebhookBatch,
)
from whatsapp_core.errors import Conflict, DomainError
from whatsapp_core.policies.status import MessageStatus, advance, parse_meta_status
from whatsapp_core.policies.templates import apply_meta_event
from whatsapp_core.policies.window import latest_inbound, window_state
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.contacts_identity import ContactResolver
from whatsapp_core.services.context import Services
from whatsapp_core.services.templates import announce_status

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_ATTEMPTS = 3


async def ingest_webhook(
    svc: Services, batch: WebhookBatch, *, correlation_id: str | None = None
) -> IngestReport:
    """Apply the whole batch or nothing. A concurrent redelivery of the same batch can
    race us on a new contact or conversation; the loser retries and finds them."""
    for attempt in range(_ATTEMPTS):
        try:
            report, events = await _ingest_once(svc, batch, correlation_id)
        except Conflict:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        await svc.publish_all(events)
        return report
    raise AssertionError("unreachable")


class _Batch:
    def __init__(self, svc: Services, uow: UnitOfWork, correlation_id: str | None) -> None:
        self.svc = svc
        self.uow = uow
        self.correlation_id = correlation_id
        self.report = IngestReport()
        self.events: list[DomainEvent] = []

    async def job(self, tenant_id: uuid.UUID, kind: str, payload: dict[str, Any]) -> None:
        await self.svc.enqueue(self.uow, tenant_id, kind, payload, self.correlation_id)

    def emit(self, kind: str, tenant_id: uuid.UUID, **payload: Any) -> None:
        self.events.append(self.svc.event(kind, tenant_id, **payload))


async def _ingest_once(
    svc: Services, batch: WebhookBatch, correlation_id: str | None
) -> tuple[IngestReport, list[DomainEvent]]:
    async with svc.uow() as uow:
        work = _Batch(svc, uow, correlation_id)
        for number in batch.numbers:
            tenant = await uow.tenants.by_phone_number_id(number.phone_number_id)
            if tenant is None:
                work.report.unknown_numbers.append(number.phone_number_id)
                continue
            for change in number.identity_changes:
                await _apply_identity_change(work, tenant, change)
            if number.messages:
                await _store_inbound(work, tenant, number.messages)
            for status in number.statuses:
                await _apply_status(work, tenant, status)
        for update in batch.templates:
            await _apply_template_update(work, update)
        await uow.commit()
    return work.report, work.events


async def _store_inbound(work: _Batch, tenant: Tenant, batch: list[InboundMessage]) -> None:
    """Store a number's messages of one webhook with a constant number of round trips
    for the batch: lookups and inserts are set-based, new contacts included."""
    uow, svc, now = work.uow, work.svc, work.svc.clock.now()
    unique: dict[str, InboundMessage] = {}
    for inbound in sorted(batch, key=lambda m: m.sent_at):
        unique.setdefault(inbound.wamid, inbound)
    work.report.messages_duplicate += len(batch) - len(unique)
    known = await uow.messages.existing_wamids(tenant.id, list(unique))
    fresh = [m for m in unique.values() if m.wamid not in known]
    work.report.messages_duplicate += len(known)
    if not fresh:
        return

    resolver = ContactResolver(uow, svc.ids, tenant.id, now)
    await resolver.prefetch(m.customer for m in fresh)
    contact_of: list[uuid.UUID] = []
    for inbound in fresh:
        contact, created = await resolver.resolve(inbound.customer)
        contact_of.append(contact.id)
        if created:
            work.report.contacts_created += 1
            work.emit("contact.created", tenant.id, contact_id=str(contact.id))
            await work.job(
                tenant.id,
                "n8n.trigger",
                {"event": "contact.created", "contact_id": str(contact.id)},
            )
    await resolver.flush()

    conversations = await uow.conversations.for_contacts(tenant.id, sorted(set(contact_of)))
    before = dict(conversations)
    for contact_id, inbound in zip(contact_of, fresh, strict=True):
        if contact_id not in conversations:
            conversations[contact_id] = Conversation(
                id=svc.ids.new_id(),
                tenant_id=tenant.id,
                contact_id=contact_id,
                last_message_at=inbound.sent_at,
                created_at=now,
            )
    await uow.conversations.add_many([c for k, c in conversations.items() if k not in before])

    messages = [
        Message(
            id=svc.ids.new_id(),
            tenant_id=tenant.id,
            conversation_id=conversations[contact_id].id,
            contact_id=contact_id,
            direction=Direction.INBOUND,
            type=inbound.type,
            text=inbound.text,
            content=inbound.content,
            wamid=inbound.wamid,
            created_at=inbound.sent_at,
            reply_to_wamid=inbound.reply_to_wamid,
        )
        for contact_id, inbound in zip(contact_of, fresh, strict=True)
    ]
    inserted = await uow.messages.add_many(messages)
    changed: dict[uuid.UUID, Conversation] = {}
    for message, inbound in zip(messages, fresh, strict=True):
        if message.id not in inserted:  # a concurrent delivery stored it first
            work.report.messages_duplicate += 1
            continue
        work.report.messages_stored += 1
        current = conversations[message.contact_id]
        opened = message.contact_id not in before and current.id not in changed
        opened = opened or current.status is ConversationStatus.RESOLVED
        last_inbound = latest_inbound(current.last_inbound_at, inbound.sent_at)
        current = replace(
            current,
            status=ConversationStatus.OPEN,
            last_inbound_at=last_inbound,
            last_message_at=max(current.last_message_at, inbound.sent_at),
            unread_count=current.unread_count + 1,
        )
        conversations[message.contact_id] = changed[current.id] = current
        await _after_stored(work, tenant, message, inbound, current, opened=opened)
    # New conversations were inserted as created; their counters move with the rest.
    await uow.conversations.update_activity(list(changed.values()))


async def _after_stored(
    work: _Batch,
    tenant: Tenant,
    message: Message,
    inbound: InboundMessage,
    conversation: Conversation,
    *,
    opened: bool,
) -> None:
    ids = {"message_id": str(message.id), "conversation_id": str(conversation.id)}
    await work.job(tenant.id, "ai.classify", ids)
    await work.job(tenant.id, "n8n.trigger", {"event": "message.received", **ids})
    if inbound.media_id and inbound.type in MEDIA_TYPES:
        await work.job(tenant.id, "media.fetch", {**ids, "media_id": inbound.media_id})
    if opened:
        work.report.conversations_opened += 1
        work.emit("conversation.opened", tenant.id, conversation_id=str(conversation.id))
        await work.job(
            tenant.id,
            "n8n.trigger",
            {"event": "conversation.opened", "conversation_id": str(conversation.id)},
        )
    closes_at = window_state(conversation.last_inbound_at, inbound.sent_at).closes_at
    work.emit(
        "message.created",
        tenant.id,
        **ids,
        direction="inbound",
        type=message.type,
        text=message.text,
        window_closes_at=closes_at.isoformat() if closes_at else None,
    )


async def _apply_status(work: _Batch, tenant: Tenant, update: StatusUpdate) -> None:
    uow = work.uow
    try:
        incoming = parse_meta_status(update.status)
    except DomainError:
        work.report.statuses_stale += 1  # e.g. "deleted": nothing to move
        return
    message = await uow.messages.by_wamid(tenant.id, update.wamid)
    if message is None:
        await uow.messages.add_pending_status(
            PendingStatus(
                tenant_id=tenant.id,
                wamid=update.wamid,
                status=incoming,
                at=update.at,
                error_code=update.error_code,
                error_text=update.error_text,
                message_id=_our_message_id(update.callback_data),
            )
        )
        work.report.statuses_pending += 1
        return
    changed = await apply_status(
        work.svc, uow, message, incoming, update.at, update.error_code, update.error_text
    )
    if changed is None:
        work.report.statuses_stale += 1
        return
    work.report.statuses_applied += 1
    work.emit(
        "message.status",
        tenant.id,
        message_id=str(changed.id),
        conversation_id=str(changed.conversation_id),
        status=str(changed.status),
        error_code=changed.error_code,
        error_text=changed.error_text,
    )
    await work.job(
        tenant.id,
        "n8n.trigger",
        {"event": "message.status", "message_id": str(changed.id), "status": str(changed.status)},
    )


def _our_message_id(callback_data: str | None) -> uuid.UUID | None:
    """Our sends put the message id in ``biz_opaque_callback_data``; anything else
    there (another tool's sends on the same number) names nothing of ours."""
    try:
        return uuid.UUID(callback_data) if callback_data else None
    except ValueError:
        return None


_COUNTED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


async def apply_status(
    svc: Services,
    uow: UnitOfWork,
    message: Message,
    incoming: MessageStatus,
    at: datetime,
    error_code: int | None,
    error_text: str | None,
) -> Message | None:
    """Move ``message`` forward to ``incoming``; ``None`` if it would not move.

    Per-template counters count every level a message reaches once (a ``read`` that
    skipped ``delivered`` was delivered too)."""
    current = message.status or MessageStatus.ACCEPTED
    new = advance(current, incoming)
    if new == current:
        return None
    updated = replace(message, status=new, status_at=at)
    if new is MessageStatus.FAILED:
        updated = replace(updated, error_code=error_code, error_text=error_text)
    await uow.messages.update(updated)
    if message.template_name and message.template_language:
        template = await uow.templates.by_name(
            message.tenant_id, message.template_name, message.template_language
        )
        if template is not None:
            counts = {
                "sent": template.sent,
                "delivered": template.delivered,
                "read": template.read,
                "failed": template.failed,
            }
            if new is MessageStatus.FAILED:
                counts["failed"] += 1
            else:
                for level in _COUNTED:
                    if current.rank < level.rank <= new.rank:
                        counts[str(level)] += 1
            await uow.templates.update(replace(template, **counts, updated_at=svc.clock.now()))
    return updated


async def _apply_identity_change(work: _Batch, tenant: Tenant, change: IdentityChange) -> None:
    if not change.previous_bsuid or not change.new_bsuid:
        return
    uow = work.uow
    contact = await uow.contacts.by_bsuid(tenant.id, change.previous_bsuid)
    if contact is None or await uow.contacts.by_bsuid(tenant.id, change.new_bsuid) is not None:
        return
    phone_owner = (
        await uow.contacts.by_wa_id(tenant.id, change.new_wa_id) if change.new_wa_id else None
    )
    new_phone = change.new_wa_id if phone_owner is None else contact.wa_id
    await uow.contacts.update(
        replace(contact, bsuid=change.new_bsuid, wa_id=new_phone, updated_at=work.svc.clock.now())
    )


async def _apply_template_update(work: _Batch, update: TemplateUpdate) -> None:
    uow = work.uow
    applied = False
    for tenant in await uow.tenants.by_waba_id(update.waba_id):
        template = await uow.templates.by_name(tenant.id, update.name, update.language)
        if template is None:
            continue
        try:
            status = apply_meta_event(template.status, update.event)
        except DomainError:
            continue
        applied = True
        updated = replace(
            template,
            status=status,
            meta_id=update.meta_template_id or template.meta_id,
            rejection_reason=update.reason if update.event == "REJECTED" else None,
            updated_at=work.svc.clock.now(),
        )
        await uow.templates.update(updated)
        work.events.append(
            await announce_status(work.svc, uow, updated, update.reason, work.correlation_id)
        )
    if applied:
        work.report.templates_updated += 1
    else:
        work.report.unknown_templates += 1
