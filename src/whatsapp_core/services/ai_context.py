"""What the AI use cases share: a thread as turns, the context a reply is written from,
and the token usage each answer is recorded with.

Everything a provider sees is read through one tenant, so a prompt can only ever carry
that tenant's messages and snippets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from whatsapp_core.ai import (
    AiUsage,
    Embedder,
    IntentResult,
    KnowledgeHit,
    ReplyContext,
    Suggestion,
    Summary,
    Turn,
)
from whatsapp_core.domain.model import Contact, Direction, Message
from whatsapp_core.errors import PolicyViolation
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.context import Services

SUGGEST_CONTEXT = 12  # messages a suggester sees
KNOWLEDGE_TOP_K = 3
# Below this cosine similarity a snippet is about something else; grounding a reply on
# it would mislead (hashing embeddings of unrelated texts stay under ~0.15).
KNOWLEDGE_MIN_SCORE = 0.2


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


async def reply_context(
    svc: Services,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    embedder: Embedder | None = None,
) -> ReplyContext:
    """The thread's recent messages and, where vectors are supported, the tenant's most
    similar knowledge snippets. ``PolicyViolation`` when no customer said anything yet."""
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
    return ReplyContext(
        contact_name=contact_name(contact),
        turns=as_turns(recent),
        intent=last.intent,
        knowledge=knowledge,
    )


async def record_usage(
    svc: Services,
    uow: UnitOfWork,
    tenant_id: uuid.UUID,
    answer: IntentResult | Suggestion | Summary,
    operation: str,
) -> None:
    usage = answer.usage
    if usage.total == 0:
        return
    await uow.ai_usage.add(
        AiUsage(
            tenant_id=tenant_id, provider=answer.provider, model=answer.model or "unknown",
            operation=operation, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, at=svc.clock.now(),
        )
    )  # fmt: skip


async def record_usage_alone(
    svc: Services, tenant_id: uuid.UUID, answer: Suggestion | Summary, operation: str
) -> None:
    """``record_usage`` in a transaction of its own."""
    if answer.usage.total == 0:
        return
    async with svc.uow() as uow:
        await record_usage(svc, uow, tenant_id, answer, operation)
        await uow.commit()
