"""AI use cases: classify an inbound message (the ``ai.classify`` job), suggest a reply,
summarise a conversation, manage the knowledge base, search by meaning.

Providers are called outside any transaction (a slow model never holds a database
connection); what they answer is stored in a short transaction after. Everything a
provider sees is read through the caller's tenant, so a prompt can only ever carry
that tenant's messages and snippets. Which providers answer, with which intents, and
whether at all, is the tenant's AI settings (``services.ai_settings``).
"""

from __future__ import annotations

import uuid

import msgspec
from msgspec.structs import replace

from whatsapp_core.ai import (
    FALLBACK_INTENT,
    Embedder,
    IntentResult,
    KnowledgeHit,
    KnowledgeSnippet,
    ProviderRouter,
    Suggestion,
    Summary,
)
from whatsapp_core.domain.model import Direction, Message, Principal
from whatsapp_core.errors import InvalidInput, NotFound, PolicyViolation
from whatsapp_core.jobs import N8N_TRIGGER
from whatsapp_core.policies.access import Action
from whatsapp_core.services.ai_context import (
    as_turns,
    contact_name,
    message_text,
    record_usage,
    record_usage_alone,
    reply_context,
)
from whatsapp_core.services.ai_settings import plan_for, require_enabled, settings_for
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.auto_reply import follow_up
from whatsapp_core.services.context import Services

CLASSIFY_CONTEXT = 6  # earlier messages a classifier sees
SUMMARY_CONTEXT = 50
MAX_TITLE, MAX_BODY, MAX_QUERY = 200, 4000, 500


# -- the ai.classify job ------------------------------------------------------------------


async def classify_message(
    svc: Services,
    router: ProviderRouter,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
) -> str:
    """Store the intent of an inbound message (one of the tenant's intents; anything else
    is ``other``) and its embedding, where vectors are supported; tell the inbox and
    automation; then suggest and auto-reply as the tenant's settings say. Idempotent: a
    message that has an intent already is left alone, so a retried job changes nothing.
    A tenant with AI off, over its budget (and no offline provider) or without a
    configured provider: nothing is done and the outcome says why."""
    async with svc.uow() as uow:
        settings = await settings_for(uow, tenant_id)
        if not settings.enabled:
            return "ai disabled"
        message = await uow.messages.get(tenant_id, message_id)
        if message.intent is not None:
            return f"already classified: {message.intent}"
        if message.direction is not Direction.INBOUND:
            return "skipped: not an inbound message"
        earlier = await uow.messages.thread(
            tenant_id, message.conversation_id, limit=CLASSIFY_CONTEXT, before=message.created_at
        )
    intents = settings.intents
    text = message_text(message)
    if text:
        try:
            engine, _ = await plan_for(svc, router, settings)
        except PolicyViolation as exc:
            return f"skipped: {exc.message}"
        result = await engine.classify(text, intents=intents, context=as_turns(earlier))
        if result.intent not in intents:
            result = replace(result, intent=FALLBACK_INTENT)
    else:  # a sticker, a location...: nothing to classify
        result = IntentResult(intent=FALLBACK_INTENT, confidence=0.0, provider="none")
    vector = (await embedder.embed([text]))[0] if embedder is not None and text else None
    confidence = round(min(max(result.confidence, 0.0), 1.0), 4)

    async with svc.uow() as uow:
        current = await uow.messages.get(tenant_id, message_id)
        if current.intent is not None:  # another run got there first
            return f"already classified: {current.intent}"
        current = replace(current, intent=result.intent, intent_confidence=confidence)
        await uow.messages.update(current)
        await record_usage(svc, uow, tenant_id, result, "classify")
        if vector is not None and await uow.embeddings.supported():
            await uow.embeddings.put(tenant_id, message_id, vector)
        payload = {
            "message_id": str(message_id),
            "conversation_id": str(current.conversation_id),
            "intent": result.intent,
            "confidence": confidence,
            "provider": result.provider,
        }
        await svc.enqueue(uow, tenant_id, N8N_TRIGGER, {"event": "ai.classified", **payload})
        await uow.commit()
    await svc.publish_all([svc.event("ai.classified", tenant_id, **payload)])
    after = await follow_up(svc, router, settings, current, result.intent, embedder=embedder)
    return f"classified: {result.intent} ({confidence:.2f}) by {result.provider}{after}"


# -- agent helpers ----------------------------------------------------------------------


async def suggest_reply(
    svc: Services,
    router: ProviderRouter,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
) -> Suggestion:
    """A reply to the customer's last message, from the thread's recent messages and,
    where vectors are supported, the tenant's most similar knowledge snippets. Through
    the tenant's providers; refused (409) when AI is off or the budget is spent."""
    authorize(principal, Action.CONVERSATION_READ)
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        settings = await settings_for(uow, tenant_id)
    require_enabled(settings)
    context = await reply_context(svc, tenant_id, conversation_id, embedder=embedder)
    engine, _ = await plan_for(svc, router, settings)
    suggestion = await engine.suggest(context)
    await record_usage_alone(svc, tenant_id, suggestion, "suggest")
    return suggestion


async def summarize(
    svc: Services, router: ProviderRouter, principal: Principal, conversation_id: uuid.UUID
) -> Summary:
    authorize(principal, Action.CONVERSATION_READ)
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        settings = await settings_for(uow, tenant_id)
        conversation = await uow.conversations.get(tenant_id, conversation_id)
        contact = await uow.contacts.get(tenant_id, conversation.contact_id)
        recent = await uow.messages.thread(tenant_id, conversation_id, limit=SUMMARY_CONTEXT)
    require_enabled(settings)
    turns = as_turns(recent)
    if not turns:
        return Summary(text="No messages yet.", provider="none")
    engine, _ = await plan_for(svc, router, settings)
    summary = await engine.summarize(turns, contact_name=contact_name(contact))
    await record_usage_alone(svc, tenant_id, summary, "summarize")
    return summary


# -- knowledge base ---------------------------------------------------------------------


def _clean(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"a title has 1 to {MAX_TITLE} characters", field="title")
    if not body or len(body) > MAX_BODY:
        raise InvalidInput(f"a body has 1 to {MAX_BODY} characters", field="body")
    return title, body


def _audit_view(snippet: KnowledgeSnippet) -> dict[str, str]:
    return {"title": snippet.title, "body": snippet.body}


async def add_snippet(
    svc: Services, embedder: Embedder, principal: Principal, title: str, body: str
) -> KnowledgeSnippet:
    authorize(principal, Action.AI_MANAGE)
    title, body = _clean(title, body)
    snippet = KnowledgeSnippet(
        id=svc.ids.new_id(), tenant_id=principal.tenant_id, title=title, body=body,
        created_at=svc.clock.now(),
    )  # fmt: skip
    vector = (await embedder.embed([f"{title}\n{body}"]))[0]
    async with svc.uow() as uow:
        await uow.knowledge.add(snippet, vector)
        await svc.audit(
            uow, principal, "knowledge.create", "knowledge_snippet", snippet.id,
            after=_audit_view(snippet),
        )  # fmt: skip
        await uow.commit()
    return snippet


async def update_snippet(
    svc: Services,
    embedder: Embedder,
    principal: Principal,
    snippet_id: uuid.UUID,
    title: str,
    body: str,
) -> KnowledgeSnippet:
    authorize(principal, Action.AI_MANAGE)
    title, body = _clean(title, body)
    vector = (await embedder.embed([f"{title}\n{body}"]))[0]
    async with svc.uow() as uow:
        before = await uow.knowledge.get(principal.tenant_id, snippet_id)
        after = replace(before, title=title, body=body)
        await uow.knowledge.update(after, vector)
        await svc.audit(
            uow, principal, "knowledge.update", "knowledge_snippet", snippet_id,
            before=_audit_view(before), after=_audit_view(after),
        )  # fmt: skip
        await uow.commit()
    return after


async def delete_snippet(svc: Services, principal: Principal, snippet_id: uuid.UUID) -> None:
    authorize(principal, Action.AI_MANAGE)
    async with svc.uow() as uow:
        before = await uow.knowledge.get(principal.tenant_id, snippet_id)
        await uow.knowledge.delete(principal.tenant_id, snippet_id)
        await svc.audit(
            uow, principal, "knowledge.delete", "knowledge_snippet", snippet_id,
            before=_audit_view(before),
        )  # fmt: skip
        await uow.commit()


async def get_snippet(
    svc: Services, principal: Principal, snippet_id: uuid.UUID
) -> KnowledgeSnippet:
    authorize(principal, Action.AI_MANAGE)
    async with svc.uow() as uow:
        return await uow.knowledge.get(principal.tenant_id, snippet_id)


async def list_snippets(
    svc: Services, principal: Principal, *, limit: int = 100
) -> list[KnowledgeSnippet]:
    authorize(principal, Action.AI_MANAGE)
    async with svc.uow() as uow:
        return await uow.knowledge.list(principal.tenant_id, limit=max(1, min(limit, 500)))


# -- semantic search --------------------------------------------------------------------


class SimilarFound(msgspec.Struct, frozen=True, kw_only=True):
    snippets: list[KnowledgeHit]
    messages: list[tuple[Message, float]]  # (message, cosine similarity), best first


async def search_similar(
    svc: Services, embedder: Embedder, principal: Principal, query: str, *, limit: int = 5
) -> SimilarFound:
    """Knowledge snippets and past messages closest in meaning to ``query``. Needs vector
    support (``UpstreamUnavailable`` saying what is missing otherwise)."""
    authorize(principal, Action.CONVERSATION_READ)
    query = query.strip()
    if not query or len(query) > MAX_QUERY:
        raise InvalidInput(f"a search has 1 to {MAX_QUERY} characters", field="q")
    limit = max(1, min(limit, 50))
    vector = (await embedder.embed([query]))[0]
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        snippets = await uow.knowledge.similar(tenant_id, vector, limit=limit)
        messages: list[tuple[Message, float]] = []
        for hit in await uow.embeddings.similar(tenant_id, vector, limit=limit):
            try:
                messages.append((await uow.messages.get(tenant_id, hit.message_id), hit.score))
            except NotFound:  # deleted since it was embedded
                continue
    return SimilarFound(snippets=snippets, messages=messages)
