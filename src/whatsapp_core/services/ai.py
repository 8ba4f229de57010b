"""AI use cases: classify an inbound message (the ``ai.classify`` job), suggest a reply,
summarise a conversation, manage the knowledge base, search by meaning.

Providers are called outside any transaction (a slow model never holds a database
connection); what they answer is stored in a short transaction after. Everything a
provider sees is read through the caller's tenant, so a prompt can only ever carry
that tenant's messages and snippets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import msgspec
from msgspec.structs import replace

from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    FALLBACK_INTENT,
    AiUsage,
    Embedder,
    IntentClassifier,
    IntentResult,
    KnowledgeHit,
    KnowledgeSnippet,
    ReplyContext,
    ReplySuggester,
    Suggestion,
    Summarizer,
    Summary,
    TokenUsage,
    Turn,
)
from whatsapp_core.domain.model import Contact, Direction, Message, Principal
from whatsapp_core.errors import InvalidInput, NotFound, PolicyViolation
from whatsapp_core.jobs import N8N_TRIGGER
from whatsapp_core.policies.access import Action
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

CLASSIFY_CONTEXT = 6  # earlier messages a classifier sees
SUGGEST_CONTEXT = 12  # messages a suggester sees
SUMMARY_CONTEXT = 50
KNOWLEDGE_TOP_K = 3
# Below this cosine similarity a snippet is about something else; grounding a reply on
# it would mislead (hashing embeddings of unrelated texts stay under ~0.15).
KNOWLEDGE_MIN_SCORE = 0.2
MAX_TITLE, MAX_BODY, MAX_QUERY = 200, 4000, 500


def message_text(message: Message) -> str:
    """What was said: the text, or a media caption; empty for stickers, reactions..."""
    caption = message.content.get("caption") if isinstance(message.content, dict) else None
    return (message.text or (caption if isinstance(caption, str) else "") or "").strip()


def as_turns(newest_first: Iterable[Message]) -> tuple[Turn, ...]:
    turns = [
        Turn(role="customer" if m.direction is Direction.INBOUND else "agent", text=text)
        for m in newest_first
        if (text := message_text(m))
    ]
    return tuple(reversed(turns))


def contact_name(contact: Contact) -> str | None:
    """A name to greet by; never the phone number (providers do not need it)."""
    return contact.name or contact.username or None


async def _record_usage(
    svc: Services,
    uow: UnitOfWork,
    tenant_id: uuid.UUID,
    answer: IntentResult | Suggestion | Summary,
    operation: str,
) -> None:
    usage: TokenUsage = answer.usage
    if usage.total == 0:
        return
    await uow.ai_usage.add(
        AiUsage(
            tenant_id=tenant_id, provider=answer.provider, model=answer.model or "unknown",
            operation=operation, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, at=svc.clock.now(),
        )
    )  # fmt: skip


# -- the ai.classify job ------------------------------------------------------------------


async def classify_message(
    svc: Services,
    classifier: IntentClassifier,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
    intents: Sequence[str] = DEFAULT_INTENTS,
) -> str:
    """Store the intent of an inbound message (and its embedding, where vectors are
    supported), then tell the inbox and automation. Idempotent: a message that has an
    intent already is left alone, so a retried job changes nothing."""
    async with svc.uow() as uow:
        message = await uow.messages.get(tenant_id, message_id)
        if message.intent is not None:
            return f"already classified: {message.intent}"
        if message.direction is not Direction.INBOUND:
            return "skipped: not an inbound message"
        earlier = await uow.messages.thread(
            tenant_id, message.conversation_id, limit=CLASSIFY_CONTEXT, before=message.created_at
        )
    text = message_text(message)
    if text:
        result = await classifier.classify(text, intents=intents, context=as_turns(earlier))
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
        await uow.messages.update(
            replace(current, intent=result.intent, intent_confidence=confidence)
        )
        await _record_usage(svc, uow, tenant_id, result, "classify")
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
    return f"classified: {result.intent} ({confidence:.2f}) by {result.provider}"


# -- agent helpers ----------------------------------------------------------------------


async def suggest_reply(
    svc: Services,
    suggester: ReplySuggester,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
) -> Suggestion:
    """A reply to the customer's last message, from the thread's recent messages and,
    where vectors are supported, the tenant's most similar knowledge snippets."""
    authorize(principal, Action.CONVERSATION_READ)
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(tenant_id, conversation_id)
        contact = await uow.contacts.get(tenant_id, conversation.contact_id)
        recent = await uow.messages.thread(tenant_id, conversation_id, limit=SUGGEST_CONTEXT)
    last = next((m for m in recent if m.direction is Direction.INBOUND and message_text(m)), None)
    if last is None:
        raise PolicyViolation(
            "there is no customer message to answer yet", code="nothing_to_answer"
        )
    knowledge: tuple[KnowledgeHit, ...] = ()
    if embedder is not None:
        vector = (await embedder.embed([message_text(last)]))[0]
        async with svc.uow() as uow:
            if await uow.embeddings.supported():
                hits = await uow.knowledge.similar(tenant_id, vector, limit=KNOWLEDGE_TOP_K)
                knowledge = tuple(h for h in hits if h.score >= KNOWLEDGE_MIN_SCORE)
    context = ReplyContext(
        contact_name=contact_name(contact),
        turns=as_turns(recent),
        intent=last.intent,
        knowledge=knowledge,
    )
    suggestion = await suggester.suggest(context)
    await _record_alone(svc, tenant_id, suggestion, "suggest")
    return suggestion


async def summarize(
    svc: Services, summarizer: Summarizer, principal: Principal, conversation_id: uuid.UUID
) -> Summary:
    authorize(principal, Action.CONVERSATION_READ)
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(tenant_id, conversation_id)
        contact = await uow.contacts.get(tenant_id, conversation.contact_id)
        recent = await uow.messages.thread(tenant_id, conversation_id, limit=SUMMARY_CONTEXT)
    turns = as_turns(recent)
    if not turns:
        return Summary(text="No messages yet.", provider="none")
    summary = await summarizer.summarize(turns, contact_name=contact_name(contact))
    await _record_alone(svc, tenant_id, summary, "summarize")
    return summary


async def _record_alone(
    svc: Services, tenant_id: uuid.UUID, answer: Suggestion | Summary, operation: str
) -> None:
    if answer.usage.total == 0:
        return
    async with svc.uow() as uow:
        await _record_usage(svc, uow, tenant_id, answer, operation)
        await uow.commit()


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
    support (``UpstreamUnavailable`` naming pgvector otherwise)."""
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
