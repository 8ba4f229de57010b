"""After a message is classified: a suggestion pushed to the inbox (auto-suggest) and,
when the tenant's rules allow (``policies.auto_reply``), that suggestion sent as the
AI's own reply (auto-reply).

An auto-reply goes through the normal send path: an ``accepted`` text message with an
outbox ``msg.send`` job, written in one transaction with its audit row. It is marked
``content["sent_by"] == "ai"`` (no author), so the inbox shows it as sent by the AI,
and it leaves the conversation unread: an agent still has to look.

The rules are checked twice: before any token is spent on a suggestion, and again in
the sending transaction on fresh data, where the auto-reply log's conditional write
makes sure two racing jobs cannot both answer one conversation within the cooldown.
"""

from __future__ import annotations

from datetime import timedelta

from msgspec.structs import replace

from whatsapp_core.ai import Embedder, ProviderRouter, Suggestion
from whatsapp_core.ai_settings import AiSettings
from whatsapp_core.domain.model import Direction, Message, Principal
from whatsapp_core.errors import PolicyViolation, UpstreamUnavailable
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.auto_reply import AutoReplyDecision, decide_auto_reply
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.ai_context import message_text, record_usage_alone, reply_context
from whatsapp_core.services.ai_settings import plan_for
from whatsapp_core.services.context import Services
from whatsapp_core.services.outbound import MAX_TEXT, _outbound, _queue

SENT_BY_AI = "ai"
_NOT_A_TURN = frozenset({"reaction", "system"})  # they do not move a conversation on


async def _decide(
    svc: Services, uow: UnitOfWork, settings: AiSettings, message: Message, intent: str
) -> AutoReplyDecision:
    tenant_id, conversation_id = message.tenant_id, message.conversation_id
    conversation = await uow.conversations.get(tenant_id, conversation_id)
    recent = await uow.messages.thread(tenant_id, conversation_id, limit=5)
    latest = next((m for m in recent if m.type not in _NOT_A_TURN), None)
    return decide_auto_reply(
        settings.auto_reply,
        intent=intent,
        now=svc.clock.now(),
        last_inbound_at=conversation.last_inbound_at,
        last_auto_reply_at=await uow.auto_replies.last_sent(tenant_id, conversation_id),
        superseded=latest is not None and latest.id != message.id,
    )


async def follow_up(
    svc: Services,
    router: ProviderRouter,
    settings: AiSettings,
    message: Message,
    intent: str,
    *,
    embedder: Embedder | None = None,
) -> str:
    """What happened after the classification, for the job's outcome ("" for nothing)."""
    rules = settings.auto_reply
    if not (settings.auto_suggest or rules.enabled) or message.direction is not Direction.INBOUND:
        return ""
    if not message_text(message):  # a sticker...: its intent says nothing about a reply
        return "; nothing to answer in a message without text"
    async with svc.uow() as uow:
        decision = await _decide(svc, uow, settings, message, intent)
    if not decision.send and not settings.auto_suggest:
        return f"; no auto-reply: {decision.reason}"
    try:
        engine, _ = await plan_for(svc, router, settings)  # the budget, checked again
        context = await reply_context(
            svc, message.tenant_id, message.conversation_id, embedder=embedder
        )
        suggestion = await engine.suggest(context)
    except (PolicyViolation, UpstreamUnavailable) as exc:
        return f"; no suggestion: {exc.message}"
    await record_usage_alone(svc, message.tenant_id, suggestion, "suggest")
    notes: list[str] = []
    if settings.auto_suggest and suggestion.text:
        await svc.publish_all([svc.event(
            "ai.suggested", message.tenant_id, conversation_id=str(message.conversation_id),
            message_id=str(message.id), text=suggestion.text, provider=suggestion.provider,
            grounded_on=list(suggestion.grounded_on),
        )])  # fmt: skip
        notes.append("suggestion pushed")
    if rules.enabled:
        sent = await _send(svc, settings, message, intent, suggestion) if decision.send else None
        notes.append(sent or f"no auto-reply: {decision.reason}")
    return "".join(f"; {note}" for note in notes)


async def _send(
    svc: Services, settings: AiSettings, message: Message, intent: str, suggestion: Suggestion
) -> str:
    text = suggestion.text.strip()
    if not text:
        return "no auto-reply: the suggestion is empty"
    if len(text) > MAX_TEXT:
        return "no auto-reply: the suggestion is longer than WhatsApp allows"
    tenant_id = message.tenant_id
    system = Principal(tenant_id=tenant_id, role=Role.ADMIN)  # audited as "system"
    now = svc.clock.now()
    async with svc.uow() as uow:
        decision = await _decide(svc, uow, settings, message, intent)  # on fresh data
        if not decision.send:
            return f"no auto-reply: {decision.reason}"
        conversation = await uow.conversations.get(tenant_id, message.conversation_id)
        ai = {
            "provider": suggestion.provider, "model": suggestion.model, "intent": intent,
            "in_reply_to": str(message.id), "grounded_on": list(suggestion.grounded_on),
        }  # fmt: skip
        reply = replace(
            _outbound(svc, system, conversation, type="text", text=text),
            content={"sent_by": SENT_BY_AI, "ai": ai},
        )
        cooldown = timedelta(hours=settings.auto_reply.cooldown_hours)
        recorded = await uow.auto_replies.record(
            tenant_id, conversation.id, reply.id, now, not_since=now - cooldown
        )
        if not recorded:  # another job answered this conversation meanwhile
            return "no auto-reply: another auto-reply was just sent"
        events = await _queue(svc, uow, system, conversation, reply, None, mark_read=False)
        await svc.audit(
            uow, system, "ai.auto_reply", "message", reply.id,
            after={"conversation_id": str(conversation.id), **ai},
        )  # fmt: skip
        await uow.commit()
    await svc.publish_all(events)
    return "auto-reply queued"
