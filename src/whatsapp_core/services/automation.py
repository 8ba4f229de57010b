"""Flow 4: webhook subscriptions, event fan-out, signed deliveries, idempotent sends.

Two jobs carry events out, both through the outbox, so ingest never waits on a
receiver: ``n8n.trigger`` (written by the use case that saw the fact) runs ``fan_out``,
which builds the versioned payload from the stored entities and writes one
``webhook.out`` job per matching subscription; ``webhook.out`` runs ``deliver_event``,
which signs and POSTs it, logs the attempt, and raises for a retry when one can help.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from msgspec.structs import replace

from whatsapp_core.automation import (
    EVENT_CATALOGUE,
    AiClassifiedV1,
    AutomationSink,
    ContactCreatedV1,
    ContactRef,
    ConversationV1,
    DeliveryResult,
    DeliveryState,
    EventEnvelope,
    IdempotencyRecord,
    MessageReceivedV1,
    MessageStatusV1,
    TemplateStatusV1,
    WebhookDelivery,
    WebhookDeliveryFailed,
    WebhookJob,
    WebhookSubscription,
    check_target_url,
    event_headers,
    excerpt,
    validate_events,
)
from whatsapp_core.domain.model import Contact, Message, Principal
from whatsapp_core.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from whatsapp_core.jobs import WEBHOOK_OUT
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

MAX_SUBSCRIPTIONS = 25
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class DeliveryPolicy:
    """After ``disable_after`` consecutive failed deliveries (each one a 4xx, a refused
    target, or retries used up) the subscription is disabled, with an audit entry."""

    disable_after: int = 10


# -- subscriptions (admin) --------------------------------------------------------------


async def create_subscription(
    svc: Services,
    principal: Principal,
    *,
    url: str,
    events: list[str] | tuple[str, ...],
    allow_private: bool = False,
    description: str = "",
    correlation_id: str | None = None,
) -> tuple[WebhookSubscription, str]:
    """The new subscription and its signing secret (returned this once)."""
    authorize(principal, Action.WEBHOOK_MANAGE)
    now = svc.clock.now()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    subscription = WebhookSubscription(
        id=svc.ids.new_id(),
        tenant_id=principal.tenant_id,
        url=check_target_url(url, allow_private=allow_private),
        events=validate_events(events),
        secret=secret,
        allow_private=allow_private,
        description=_description(description),
        created_at=now,
        updated_at=now,
    )
    async with svc.uow() as uow:
        if len(await uow.webhooks.list(principal.tenant_id)) >= MAX_SUBSCRIPTIONS:
            raise PolicyViolation(
                f"a team can have at most {MAX_SUBSCRIPTIONS} webhook subscriptions",
                code="too_many_subscriptions",
            )
        await uow.webhooks.add(subscription)
        await svc.audit(
            uow, principal, "webhook.create", "webhook_subscription", subscription.id,
            after=_snapshot(subscription), correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()
    return subscription, secret


async def list_subscriptions(svc: Services, principal: Principal) -> list[WebhookSubscription]:
    authorize(principal, Action.WEBHOOK_MANAGE)
    async with svc.uow() as uow:
        return await uow.webhooks.list(principal.tenant_id)


async def update_subscription(
    svc: Services,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    active: bool | None = None,
    url: str | None = None,
    events: list[str] | tuple[str, ...] | None = None,
    allow_private: bool | None = None,
    description: str | None = None,
    correlation_id: str | None = None,
) -> WebhookSubscription:
    """Change what is given. Enabling again clears the failure count."""
    authorize(principal, Action.WEBHOOK_MANAGE)
    async with svc.uow() as uow:
        before = await uow.webhooks.get(principal.tenant_id, subscription_id, for_update=True)
        after = before
        if allow_private is not None:
            after = replace(after, allow_private=allow_private)
        if url is not None or allow_private is not None:
            checked = check_target_url(url or after.url, allow_private=after.allow_private)
            after = replace(after, url=checked)
        if events is not None:
            after = replace(after, events=validate_events(events))
        if description is not None:
            after = replace(after, description=_description(description))
        if active is True and not before.active:
            after = replace(after, active=True, consecutive_failures=0, disabled_reason=None)
        elif active is False and before.active:
            after = replace(after, active=False, disabled_reason=f"disabled by {principal.actor}")
        if after == before:
            return before
        after = replace(after, updated_at=svc.clock.now())
        await uow.webhooks.update(after)
        await svc.audit(
            uow, principal, "webhook.update", "webhook_subscription", subscription_id,
            before=_snapshot(before), after=_snapshot(after), correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()
    return after


async def delete_subscription(
    svc: Services,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> None:
    authorize(principal, Action.WEBHOOK_MANAGE)
    async with svc.uow() as uow:
        before = await uow.webhooks.get(principal.tenant_id, subscription_id)
        await uow.webhooks.delete(principal.tenant_id, subscription_id)
        await svc.audit(
            uow, principal, "webhook.delete", "webhook_subscription", subscription_id,
            before=_snapshot(before), correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()


async def list_deliveries(
    svc: Services,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> list[WebhookDelivery]:
    authorize(principal, Action.WEBHOOK_MANAGE)
    async with svc.uow() as uow:
        await uow.webhooks.get(principal.tenant_id, subscription_id)  # scope + existence
        return await uow.webhook_deliveries.list(
            principal.tenant_id, subscription_id, limit=max(1, min(limit, 200)), before=before
        )


async def redeliver(
    svc: Services,
    principal: Principal,
    delivery_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> WebhookJob:
    """Queue the logged delivery's event again: same body, same event id (receivers
    that dedupe on it see a repeat on purpose)."""
    authorize(principal, Action.WEBHOOK_MANAGE)
    async with svc.uow() as uow:
        delivery = await uow.webhook_deliveries.get(principal.tenant_id, delivery_id)
        subscription = await uow.webhooks.get(principal.tenant_id, delivery.subscription_id)
        if not subscription.active:
            raise Conflict(
                "the subscription is disabled; enable it before redelivering",
                code="subscription_disabled",
            )
        job = WebhookJob(
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            event=delivery.event,
            body=delivery.body,
            manual=True,
        )
        await svc.enqueue(
            uow, principal.tenant_id, WEBHOOK_OUT, msgspec.to_builtins(job), correlation_id
        )
        await svc.audit(
            uow, principal, "webhook.redeliver", "webhook_delivery", delivery_id,
            after={"event_id": str(delivery.event_id)}, correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()
    return job


def _description(text: str) -> str:
    if len(text) > 200:
        raise InvalidInput("the description is longer than 200 characters", field="description")
    return text.strip()


def _snapshot(s: WebhookSubscription) -> dict[str, Any]:
    """For the audit log: everything but the secret."""
    return {
        "url": s.url,
        "events": list(s.events),
        "active": s.active,
        "allow_private": s.allow_private,
        "description": s.description,
        "disabled_reason": s.disabled_reason,
    }


# -- the n8n.trigger job: fan-out --------------------------------------------------------


class _Trigger(msgspec.Struct, kw_only=True):
    """The facts a use case recorded when it queued ``n8n.trigger``."""

    event: str
    message_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = None
    status: str | None = None
    reason: str | None = None
    intent: str | None = None
    confidence: float | None = None
    provider: str | None = None


async def fan_out(
    svc: Services,
    tenant_id: uuid.UUID,
    trigger_payload: Mapping[str, Any],
    *,
    trigger_id: uuid.UUID,
    occurred_at: datetime | None = None,
    correlation_id: str | None = None,
) -> str:
    """Write one ``webhook.out`` job per active subscription to the event. Runs again
    harmlessly: the fan-out of a trigger is recorded once, and each event id is derived
    from the trigger's id and the subscription's."""
    try:
        trigger = msgspec.convert(trigger_payload, _Trigger)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"bad n8n.trigger payload: {exc}", field="payload") from exc
    spec = EVENT_CATALOGUE.get(trigger.event)
    if spec is None:
        return f"ignored: {trigger.event!r} is not in the event catalogue"
    now = svc.clock.now()
    async with svc.uow() as uow:
        subscriptions = await uow.webhooks.matching(tenant_id, trigger.event)
        if not subscriptions:
            return "no subscribers"
        ledger = IdempotencyRecord(
            tenant_id=tenant_id, key=f"fanout:{trigger_id}", request_hash=trigger.event,
            result_id=trigger_id, created_at=now,
        )  # fmt: skip
        if not await uow.idempotency.claim(ledger):
            return "already fanned out"
        try:
            data = await _event_data(uow, tenant_id, trigger)
        except NotFound as exc:
            return f"skipped: {exc}"
        for subscription in subscriptions:
            event_id = uuid.uuid5(subscription.id, str(trigger_id))
            envelope = EventEnvelope(
                id=event_id, type=spec.type, v=spec.version, occurred_at=occurred_at or now,
                tenant_id=tenant_id, data=data,
            )  # fmt: skip
            job = WebhookJob(
                subscription_id=subscription.id,
                event_id=event_id,
                event=spec.type,
                body=msgspec.json.encode(envelope).decode(),
            )
            await svc.enqueue(uow, tenant_id, WEBHOOK_OUT, msgspec.to_builtins(job), correlation_id)
        await uow.commit()
    return f"queued {len(subscriptions)} deliveries"


def _contact(c: Contact) -> ContactRef:
    return ContactRef(id=c.id, bsuid=c.bsuid, wa_id=c.wa_id, name=c.name, username=c.username)


def _need(value: uuid.UUID | None, name: str) -> uuid.UUID:
    if value is None:
        raise InvalidInput(f"the n8n.trigger payload has no {name}", field=name)
    return value


async def _event_data(uow: UnitOfWork, tenant_id: uuid.UUID, t: _Trigger) -> msgspec.Struct:
    """The event's payload from the stored entities (as they are now), with the facts the
    trigger recorded (a status, a reason) taking precedence over later changes."""
    if t.event in ("message.received", "message.status", "ai.classified"):
        m = await uow.messages.get(tenant_id, _need(t.message_id, "message_id"))
        return await _message_event(uow, t, m)
    if t.event.startswith("conversation."):
        c = await uow.conversations.get(tenant_id, _need(t.conversation_id, "conversation_id"))
        contact = await uow.contacts.get(tenant_id, c.contact_id)
        status = {"conversation.opened": "open", "conversation.resolved": "resolved"}
        return ConversationV1(
            conversation_id=c.id, status=status.get(t.event, c.status.value),
            assignee_id=c.assignee_id, labels=c.labels, unread_count=c.unread_count,
            last_inbound_at=c.last_inbound_at, contact=_contact(contact),
        )  # fmt: skip
    if t.event == "contact.created":
        contact = await uow.contacts.get(tenant_id, _need(t.contact_id, "contact_id"))
        return ContactCreatedV1(contact=_contact(contact), created_at=contact.created_at)
    template = await uow.templates.get(tenant_id, _need(t.template_id, "template_id"))
    return TemplateStatusV1(
        template_id=template.id, name=template.name, language=template.language,
        category=template.category.value, status=t.status or template.status.value,
        reason=t.reason if t.status else template.rejection_reason, meta_id=template.meta_id,
    )  # fmt: skip


async def _message_event(uow: UnitOfWork, t: _Trigger, m: Message) -> msgspec.Struct:
    if t.event == "message.status":
        return MessageStatusV1(
            message_id=m.id, conversation_id=m.conversation_id, contact_id=m.contact_id,
            wamid=m.wamid, status=t.status or str(m.status), error_code=m.error_code,
            error_text=m.error_text, template_name=m.template_name,
            template_language=m.template_language,
        )  # fmt: skip
    contact = _contact(await uow.contacts.get(m.tenant_id, m.contact_id))
    if t.event == "ai.classified":
        return AiClassifiedV1(
            message_id=m.id, conversation_id=m.conversation_id, contact=contact,
            intent=t.intent or m.intent,
            confidence=t.confidence if t.intent else m.intent_confidence,
            provider=t.provider, text=m.text,
        )  # fmt: skip
    return MessageReceivedV1(
        message_id=m.id, conversation_id=m.conversation_id, contact=contact, type=m.type,
        text=m.text, wamid=m.wamid, sent_at=m.created_at, reply_to_wamid=m.reply_to_wamid,
        content=m.content,
    )  # fmt: skip


# -- the webhook.out job: one signed delivery attempt ----------------------------------


async def deliver_event(
    svc: Services,
    sink: AutomationSink,
    tenant_id: uuid.UUID,
    job: WebhookJob,
    *,
    attempt: int,
    final: bool,
    policy: DeliveryPolicy | None = None,
) -> str:
    """POST the event once and log the attempt. 2xx: done. 5xx, 429, 408, timeout or
    no connection: ``WebhookDeliveryFailed`` for the job's backoff, unless this is the
    ``final`` attempt. Other answers fail for good. No transaction is open while the
    receiver is called, so a slow receiver holds nothing but this job."""
    policy = policy or DeliveryPolicy()
    async with svc.uow() as uow:
        try:
            subscription = await uow.webhooks.get(tenant_id, job.subscription_id)
        except NotFound:
            return "skipped: the subscription was deleted"
    if not subscription.active:
        return "skipped: the subscription is disabled"
    body = job.body.encode()
    timestamp = int(svc.clock.now().timestamp())
    headers = event_headers(subscription.secret, timestamp, body, job.event_id, job.event)
    result = await sink.deliver(
        subscription.url, body, headers, allow_private=subscription.allow_private
    )
    state, summary = judge(result, final=final)
    now = svc.clock.now()
    async with svc.uow() as uow:
        try:
            current = await uow.webhooks.get(tenant_id, subscription.id, for_update=True)
        except NotFound:
            return "skipped: the subscription was deleted"
        await uow.webhook_deliveries.add(
            WebhookDelivery(
                id=svc.ids.new_id(), tenant_id=tenant_id, subscription_id=subscription.id,
                event_id=job.event_id, event=job.event, attempt=attempt, manual=job.manual,
                state=state, status_code=result.status_code, latency_ms=result.latency_ms,
                response_excerpt=excerpt(result.response_excerpt), error=result.error,
                body=job.body, at=now,
            )
        )  # fmt: skip
        after = count_outcome(current, state, summary, policy, now)
        if after != current:
            await uow.webhooks.update(after)
        if current.active and not after.active:
            system = Principal(tenant_id=tenant_id, role=Role.ADMIN)
            await svc.audit(
                uow, system, "webhook.auto_disable", "webhook_subscription", subscription.id,
                before=_snapshot(current), after=_snapshot(after),
            )  # fmt: skip
        await uow.commit()
    if state is DeliveryState.RETRYING:
        raise WebhookDeliveryFailed(summary, retry_after=result.retry_after)
    return summary


def judge(result: DeliveryResult, *, final: bool) -> tuple[DeliveryState, str]:
    """The attempt's state and a one-line summary for the job and the log."""
    code = result.status_code
    took = f" in {result.latency_ms:.0f} ms"
    if result.refused:
        return DeliveryState.FAILED, f"refused: {result.error}"
    if code is not None and 200 <= code < 300:
        return DeliveryState.DELIVERED, f"delivered: HTTP {code}{took}"
    what = f"HTTP {code}" if code is not None else (result.error or "no response")
    if code is not None and 300 <= code < 400:
        what += " (redirects are not followed: use the final URL)"
    retryable = code is None or code in (408, 425, 429) or code >= 500
    if retryable and not final:
        return DeliveryState.RETRYING, f"{what}{took}; will retry"
    return DeliveryState.FAILED, f"failed: {what}{took}" + ("; retries used up" * retryable)


def count_outcome(
    s: WebhookSubscription,
    state: DeliveryState,
    summary: str,
    policy: DeliveryPolicy,
    now: datetime,
) -> WebhookSubscription:
    """A success clears the failure count; a failed delivery adds one, and the
    ``disable_after``-th in a row disables an active subscription."""
    if state is DeliveryState.DELIVERED:
        return replace(s, consecutive_failures=0) if s.consecutive_failures else s
    if state is DeliveryState.RETRYING:
        return s
    failures = s.consecutive_failures + 1
    if s.active and failures >= policy.disable_after:
        reason = f"disabled after {failures} consecutive failed deliveries (last: {summary})"
        return replace(
            s, consecutive_failures=failures, active=False, disabled_reason=reason, updated_at=now
        )
    return replace(s, consecutive_failures=failures)


# -- Idempotency-Key for API sends -------------------------------------------------------

IN_PROGRESS_FOR = timedelta(seconds=60)
MAX_KEY = 255


async def send_once(
    svc: Services,
    principal: Principal,
    key: str,
    request: object,
    send: Callable[[], Awaitable[Message]],
) -> tuple[Message, bool]:
    """Run ``send`` once per (principal, key): the same key with the same request returns
    the first result (``True``: a replay) without sending again; with another request it
    is a ``Conflict``. A request that fails forgets its key, so it can be retried.

    Three short transactions (claim, the send's own, the result), so the send's use case
    stays as it is. A process dying between the send's commit and the result's leaves a
    claim that looks in progress for ``IN_PROGRESS_FOR``, then a retry sends again."""
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY} printable characters", field="Idempotency-Key"
        )
    scoped = f"send:{principal.actor}:{key}"
    fingerprint = hashlib.sha256(msgspec.json.encode(request, order="sorted")).hexdigest()
    tenant_id, now = principal.tenant_id, svc.clock.now()
    claim = IdempotencyRecord(
        tenant_id=tenant_id, key=scoped, request_hash=fingerprint, created_at=now
    )
    async with svc.uow() as uow:
        if not await uow.idempotency.claim(claim):
            seen = await uow.idempotency.get(tenant_id, scoped) or claim
            if seen.request_hash != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was used with a different request; use a new key",
                    code="idempotency_key_reused",
                )
            if seen.result_id is not None:
                return await uow.messages.get(tenant_id, seen.result_id), True
            if now - seen.created_at < IN_PROGRESS_FOR:
                raise Conflict(
                    "a request with this Idempotency-Key is still running; retry shortly",
                    code="idempotency_key_in_progress",
                )
            await uow.idempotency.update(claim)  # the first request died: take over
        await uow.commit()
    try:
        message = await send()
    except Exception:
        async with svc.uow() as uow:
            await uow.idempotency.release(tenant_id, scoped)
            await uow.commit()
        raise
    async with svc.uow() as uow:
        await uow.idempotency.update(replace(claim, result_id=message.id))
        await uow.commit()
    return message, False
