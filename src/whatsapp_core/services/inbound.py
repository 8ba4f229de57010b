"""Flow 1: a Meta webhook batch, applied whole in one transaction.

For every message: contact (BSUID first), conversation (reopened if resolved), the
24 h window moved, the message stored once per wamid, and outbox jobs for AI, automation
and media. For every status: the message's state settles the same whatever the order
(``policies.status.settle``); a status for an unknown wamid is kept and applied when the
wamid becomes known. Template updates move the template's state (audited as the
system). Errors Meta reports about the webhook itself are reported and logged.
Real-time events go out after commit. Several batches can go in one transaction
(``ingest_webhooks``), each with its own report.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from msgspec.structs import replace

from whatsapp_core.domain.model import (
    Conversation,
    ConversationStatus,
    Direction,
    DomainEvent,
    Message,
    PendingStatus,
    Template,
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
from whatsapp_core.policies.status import parse_meta_status
from whatsapp_core.policies.templates import apply_meta_event
from whatsapp_core.policies.window import latest_inbound, window_state
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.contacts_identity import ContactResolver
from whatsapp_core.services.context import Services
from whatsapp_core.services.delivery_status import apply_status
from whatsapp_core.services.templates import announce_status, system_principal

log = logging.getLogger("whatsapp_core")

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_ATTEMPTS = 3


async def ingest_webhook(
    svc: Services, batch: WebhookBatch, *, correlation_id: str | None = None
) -> IngestReport:
    """Apply the whole batch or nothing. A concurrent delivery about the same new
    person races us on their contact and conversation: the inserts skip what the other
    stored first and we use its rows (``ContactResolver.flush``). What still clashes
    (e.g. a contact changed under us) retries the transaction, a last resort."""
    (report,) = await ingest_webhooks(svc, [batch], correlation_ids=[correlation_id])
    return report


async def ingest_webhooks(
    svc: Services,
    batches: Sequence[WebhookBatch],
    *,
    correlation_ids: Sequence[str | None] | None = None,
) -> list[IngestReport]:
    """Apply several batches in ONE transaction, all of them or none: a report per batch,
    and each batch's jobs carry its own correlation id.

    The batches are applied as one: identity changes first, then every tenant's
    messages set-based (one set of round trips for all of them), then statuses, then
    template updates. For batches that arrived concurrently that is as good an order as
    any; a caller that needs one batch's failure not to fail the others (see
    ``inbound_coalesce``) retries them one by one."""
    ids = list(correlation_ids) if correlation_ids is not None else [None] * len(batches)
    if len(ids) != len(batches):
        raise ValueError("one correlation id (or None) per batch")
    for attempt in range(_ATTEMPTS):
        try:
            reports, events = await _ingest_once(svc, batches, ids)
        except Conflict:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        _log_notices(reports)
        await svc.publish_all(events)
        return reports
    raise AssertionError("unreachable")


class _Work:
    """The transaction's working state: a report and a correlation id per batch applied."""

    def __init__(
        self, svc: Services, uow: UnitOfWork, correlation_ids: Sequence[str | None]
    ) -> None:
        self.svc = svc
        self.uow = uow
        self.correlation_ids = correlation_ids
        self.reports = [IngestReport() for _ in correlation_ids]
        self.events: list[DomainEvent] = []

    async def job(
        self, origin: int, tenant_id: uuid.UUID, kind: str, payload: dict[str, Any]
    ) -> None:
        correlation_id = self.correlation_ids[origin]
        await self.svc.enqueue(self.uow, tenant_id, kind, payload, correlation_id)

    def emit(self, kind: str, tenant_id: uuid.UUID, **payload: Any) -> None:
        self.events.append(self.svc.event(kind, tenant_id, **payload))


class _Inbound(NamedTuple):
    origin: int  # index of the batch it came in
    message: InboundMessage


async def _ingest_once(
    svc: Services, batches: Sequence[WebhookBatch], correlation_ids: Sequence[str | None]
) -> tuple[list[IngestReport], list[DomainEvent]]:
    async with svc.uow() as uow:
        work = _Work(svc, uow, correlation_ids)
        tenants: dict[str, Tenant | None] = {}
        inbound: dict[uuid.UUID, tuple[Tenant, list[_Inbound]]] = {}
        statuses: list[tuple[int, Tenant, StatusUpdate]] = []
        for origin, batch in enumerate(batches):
            work.reports[origin].webhook_errors.extend(batch.errors)
            for number in batch.numbers:
                pnid = number.phone_number_id
                if pnid not in tenants:
                    tenants[pnid] = await uow.tenants.by_phone_number_id(pnid)
                tenant = tenants[pnid]
                if tenant is None:
                    work.reports[origin].unknown_numbers.append(pnid)
                    continue
                for change in number.identity_changes:
                    await _apply_identity_change(work, tenant, change)
                if number.messages:
                    _, items = inbound.setdefault(tenant.id, (tenant, []))
                    items.extend(_Inbound(origin, m) for m in number.messages)
                statuses.extend((origin, tenant, status) for status in number.statuses)
        for tenant, items in inbound.values():
            await _store_inbound(work, tenant, items)
        # Any order settles to the same state; this one locks messages in the same
        # order in every transaction, so parallel deliveries do not deadlock.
        statuses.sort(key=lambda item: (str(item[1].id), item[2].wamid))
        for origin, tenant, status in statuses:
            await _apply_status(work, origin, tenant, status)
        for origin, batch in enumerate(batches):
            for update in batch.templates:
                await _apply_template_update(work, origin, update)
        await uow.commit()
    return work.reports, work.events


async def _store_inbound(work: _Work, tenant: Tenant, batch: list[_Inbound]) -> None:
    """Store a tenant's messages of one transaction with a constant number of round
    trips: lookups and inserts are set-based, new contacts included."""
    uow, svc, now, reports = work.uow, work.svc, work.svc.clock.now(), work.reports
    unique: dict[str, _Inbound] = {}
    for item in sorted(batch, key=lambda i: i.message.sent_at):
        if unique.setdefault(item.message.wamid, item) is not item:
            reports[item.origin].messages_duplicate += 1
    known = await uow.messages.existing_wamids(tenant.id, list(unique))
    fresh: list[_Inbound] = []
    for item in unique.values():
        if item.message.wamid in known:
            reports[item.origin].messages_duplicate += 1
        else:
            fresh.append(item)
    if not fresh:
        return

    resolver = ContactResolver(uow, svc.ids, tenant.id, now)
    await resolver.prefetch(i.message.customer for i in fresh)
    resolved = [(await resolver.resolve(i.message.customer))[0] for i in fresh]
    # A contact a concurrent delivery stored first is replaced by the stored one.
    replaced = await resolver.flush()
    contact_of = [replaced.get(c.id, c).id for c in resolved]
    announced: set[uuid.UUID] = set()
    for (origin, _), contact_id in zip(fresh, contact_of, strict=True):
        if contact_id in resolver.inserted and contact_id not in announced:
            announced.add(contact_id)
            reports[origin].contacts_created += 1
            work.emit("contact.created", tenant.id, contact_id=str(contact_id))
            await work.job(
                origin,
                tenant.id,
                "n8n.trigger",
                {"event": "contact.created", "contact_id": str(contact_id)},
            )

    conversations = await uow.conversations.for_contacts(tenant.id, sorted(set(contact_of)))
    new: dict[uuid.UUID, Conversation] = {}
    for contact_id, (_, inbound) in zip(contact_of, fresh, strict=True):
        if contact_id not in conversations and contact_id not in new:
            new[contact_id] = Conversation(
                id=svc.ids.new_id(),
                tenant_id=tenant.id,
                contact_id=contact_id,
                last_message_at=inbound.sent_at,
                created_at=now,
            )
    inserted = await uow.conversations.add_many(list(new.values()))
    lost = sorted(k for k, c in new.items() if c.id not in inserted)
    # Those a concurrent delivery opened first (it committed: the insert waited for it)
    # are used as stored; they count as existing ones.
    before = conversations | await uow.conversations.for_contacts(tenant.id, lost)
    if any(k not in before for k in lost):  # gone again (its contact was deleted)
        raise Conflict("a conversation changed under a concurrent delivery; retry")
    conversations = before | {k: c for k, c in new.items() if c.id in inserted}

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
        for contact_id, (_, inbound) in zip(contact_of, fresh, strict=True)
    ]
    stored = await uow.messages.add_many(messages)
    changed: dict[uuid.UUID, Conversation] = {}
    for message, (origin, inbound) in zip(messages, fresh, strict=True):
        if message.id not in stored:  # a concurrent delivery stored it first
            reports[origin].messages_duplicate += 1
            continue
        reports[origin].messages_stored += 1
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
        await _after_stored(work, origin, tenant, message, inbound, current, opened=opened)
    # New conversations were inserted as created; their counters move with the rest.
    await uow.conversations.update_activity(list(changed.values()))


async def _after_stored(
    work: _Work,
    origin: int,
    tenant: Tenant,
    message: Message,
    inbound: InboundMessage,
    conversation: Conversation,
    *,
    opened: bool,
) -> None:
    ids = {"message_id": str(message.id), "conversation_id": str(conversation.id)}
    await work.job(origin, tenant.id, "ai.classify", ids)
    await work.job(origin, tenant.id, "n8n.trigger", {"event": "message.received", **ids})
    if inbound.media_id and inbound.type in MEDIA_TYPES:
        await work.job(origin, tenant.id, "media.fetch", {**ids, "media_id": inbound.media_id})
    if opened:
        work.reports[origin].conversations_opened += 1
        work.emit("conversation.opened", tenant.id, conversation_id=str(conversation.id))
        await work.job(
            origin,
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


async def _apply_status(work: _Work, origin: int, tenant: Tenant, update: StatusUpdate) -> None:
    uow, report = work.uow, work.reports[origin]
    try:
        incoming = parse_meta_status(update.status)
    except DomainError:
        report.statuses_stale += 1  # e.g. "deleted": nothing to move
        return
    message = await uow.messages.by_wamid(tenant.id, update.wamid)
    if message is not None:
        # Two statuses of one message in parallel deliveries settle one after the
        # other: unlocked, the last to commit would win whatever it carried.
        message = await uow.messages.locked(tenant.id, message.id)
    ours = _our_message_id(update.callback_data)
    if message is None and ours is not None:
        # Our send of that message may be recording this wamid right now. Lock the
        # message: once that send commits we see its wamid and apply the status here;
        # before it writes, our pending status commits first and the send takes it
        # (it updates the locked row, so it waits for us). Either way none is left behind.
        candidate = await uow.messages.locked(tenant.id, ours)
        if candidate is not None and candidate.wamid == update.wamid:
            message = candidate
    if message is None:
        await uow.messages.add_pending_status(
            PendingStatus(
                tenant_id=tenant.id,
                wamid=update.wamid,
                status=incoming,
                at=update.at,
                error_code=update.error_code,
                error_text=update.error_text,
                message_id=ours,
            )
        )
        report.statuses_pending += 1
        return
    changed = await apply_status(
        work.svc, uow, message, incoming, update.at, update.error_code, update.error_text
    )
    if changed is None:
        report.statuses_stale += 1
        return
    report.statuses_applied += 1
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
        origin,
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


async def _apply_identity_change(work: _Work, tenant: Tenant, change: IdentityChange) -> None:
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


async def _apply_template_update(work: _Work, origin: int, update: TemplateUpdate) -> None:
    """Move every holder's template (one WABA may serve several tenants). The change is
    audited as the system, as a template sync's is. An event the state machine refuses
    for the template's state here (a missed webhook, a race with our submit) leaves it
    alone and is reported with its reason: the next sync repairs it."""
    uow, report = work.uow, work.reports[origin]
    applied = False
    refused: list[str] = []
    for tenant in await uow.tenants.by_waba_id(update.waba_id):
        template = await uow.templates.by_name(tenant.id, update.name, update.language)
        if template is None:
            continue
        try:
            status = apply_meta_event(template.status, update.event)
        except DomainError as exc:
            refused.append(f"{update.name} ({update.language}) {update.event}: {exc.message}")
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
        before, after = _template_snapshot(template), _template_snapshot(updated)
        if after != before:
            await work.svc.audit(
                uow, system_principal(tenant.id), "template.status_update", "template",
                template.id, before=before, after=after | {"event": update.event},
                correlation_id=work.correlation_ids[origin],
            )  # fmt: skip
        work.events.append(
            await announce_status(
                work.svc, uow, updated, update.reason, work.correlation_ids[origin]
            )
        )
    if applied:
        report.templates_updated += 1
    elif refused:
        report.ignored_template_updates.extend(refused)
    else:
        report.unknown_templates += 1


def _template_snapshot(template: Template) -> dict[str, Any]:
    """What an audit entry of a status change shows (the keys a sync's entry has)."""
    return {
        "status": template.status.value,
        "rejection_reason": template.rejection_reason,
        "meta_id": template.meta_id,
        "category": template.category.value,
    }


def _log_notices(reports: Sequence[IngestReport]) -> None:
    """What Meta told us that stores nothing, once the batch is applied (a retried
    transaction logs once)."""
    for report in reports:
        for error in report.webhook_errors:
            log.warning(
                "Meta reported webhook error %s for phone number %s: %s",
                error.code,
                error.phone_number_id,
                " - ".join(p for p in (error.title, error.message, error.details) if p),
            )
        for reason in report.ignored_template_updates:
            log.warning("template status update ignored: %s", reason)
