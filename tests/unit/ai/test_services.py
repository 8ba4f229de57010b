"""The AI use cases on memory adapters: the ai.classify job from ingest to inbox event,
suggestions (RBAC, tenant isolation, grounding), summaries, knowledge base, search."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest

from adapters.ai import build_ai, providers_with
from adapters.ai.prompts import classification_prompt, suggestion_prompt
from adapters.memory.jobs import MemoryOutboxRelay, MemoryRateLimiter
from entrypoints.worker import Worker
from tests.unit.services.harness import ANA_PHONE, Harness
from whatsapp_core.ai import (
    IntentResult,
    ProviderRouter,
    ReplyContext,
    Suggestion,
    TokenUsage,
    Turn,
)
from whatsapp_core.domain.model import Message, Principal
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Forbidden, NotFound, PolicyViolation
from whatsapp_core.jobs import AI_CLASSIFY, N8N_TRIGGER, JobState, RetryPolicy
from whatsapp_core.policies.access import Role
from whatsapp_core.services import ai as ai_service
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.unit
AI = build_ai()  # no keys: the offline provider and the hashing embedder


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.add_tenant()
    return harness


async def inbound(h: Harness, text: str, tenant: Tenant | None = None, **kw: object) -> Message:
    t = tenant or h.t
    batch = h.batch(h.text(text, **kw), phone_number_id=t.phone_number_id)  # type: ignore[arg-type]
    await ingest_webhook(h.svc, batch)
    h.clock.advance(timedelta(seconds=5))
    found = [m for m in h.uow.db.state.messages.values() if m.tenant_id == t.id]
    return max(found, key=lambda m: m.created_at)


def routed(provider: object, name: str = "anthropic") -> ProviderRouter:
    """A router whose only provider is ``provider`` (a fake), under ``name``."""
    return providers_with({name: provider}).router


def jobs(h: Harness, kind: str) -> list[dict[str, object]]:
    return [j.payload for j in h.uow.db.state.outbox.values() if j.kind == kind]


async def test_the_classify_job_runs_from_ingest_to_the_inbox_event(h: Harness) -> None:
    message = await inbound(h, "Where is my order #4521?")
    assert [p["message_id"] for p in jobs(h, AI_CLASSIFY)] == [str(message.id)]

    worker = Worker(
        relay=MemoryOutboxRelay(h.uow.db), limiter=MemoryRateLimiter(), gateway=h.gateway,
        services=lambda: h.svc, clock=h.clock, policy=RetryPolicy(rng=lambda: 0.5),
    )  # fmt: skip
    await worker.drain()

    stored = h.uow.db.state.messages[(h.t.id, message.id)]
    assert stored.intent == "order_status"
    assert stored.intent_confidence is not None
    assert stored.intent_confidence > 0.5
    (event,) = [e for e in h.events.events if e.kind == "ai.classified"]
    assert event.payload["message_id"] == str(message.id)
    assert event.payload["intent"] == "order_status"
    assert event.payload["provider"] == "offline"
    (trigger,) = [p for p in jobs(h, N8N_TRIGGER) if p["event"] == "ai.classified"]
    assert trigger["conversation_id"] == str(message.conversation_id)
    runs = await MemoryOutboxRelay(h.uow.db).list_jobs()
    (run,) = [r for r in runs if r.kind == AI_CLASSIFY]
    assert run.state is JobState.DONE
    assert run.outcome is not None
    assert run.outcome.startswith("classified: order_status")


async def test_classifying_again_changes_nothing(h: Harness) -> None:
    message = await inbound(h, "Oi, tudo bem?")
    first = await ai_service.classify_message(
        h.svc, AI.router, h.t.id, message.id, embedder=AI.embedder
    )
    assert first.startswith("classified: greeting")
    again = await ai_service.classify_message(h.svc, AI.router, h.t.id, message.id)
    assert again == "already classified: greeting"
    assert len([p for p in jobs(h, N8N_TRIGGER) if p["event"] == "ai.classified"]) == 1
    assert h.events.kinds().count("ai.classified") == 1


class Counting:
    """A classifier that reports token usage, as Claude and OpenAI do."""

    name = "anthropic"

    def __init__(self) -> None:
        self.seen: list[tuple[str, Sequence[Turn]]] = []

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        self.seen.append((text, context))
        return IntentResult(
            intent="purchase_intent", confidence=1.7, provider="anthropic",
            model="claude-haiku-4-5", usage=TokenUsage(input_tokens=120, output_tokens=9),
        )  # fmt: skip


async def test_usage_is_recorded_and_the_embedding_stored(h: Harness) -> None:
    await inbound(h, "Hello")
    message = await inbound(h, "I want to buy two")
    counting = Counting()
    await ai_service.classify_message(
        h.svc, routed(counting), h.t.id, message.id, embedder=AI.embedder
    )
    ((text, context),) = counting.seen
    assert text == "I want to buy two"
    assert [t.text for t in context] == ["Hello"]  # earlier messages of the thread only
    stored = h.uow.db.state.messages[(h.t.id, message.id)]
    assert (stored.intent, stored.intent_confidence) == ("purchase_intent", 1.0)  # clamped
    (usage,) = h.uow.db.ai.usage
    assert (usage.provider, usage.operation, usage.input_tokens) == ("anthropic", "classify", 120)
    assert (h.t.id, message.id) in h.uow.db.ai.message_vectors


async def test_media_without_text_is_other_without_calling_a_provider(h: Harness) -> None:
    message = await inbound(h, "", type="sticker", media_id="m1")
    counting = Counting()
    outcome = await ai_service.classify_message(h.svc, routed(counting), h.t.id, message.id)
    assert outcome == "classified: other (0.00) by none"
    assert counting.seen == []


class Recording:
    def __init__(self) -> None:
        self.contexts: list[ReplyContext] = []

    async def suggest(self, context: ReplyContext) -> Suggestion:
        self.contexts.append(context)
        return Suggestion(text="ok", provider="recording")


async def test_a_prompt_for_one_tenant_holds_none_of_another_tenants_data(h: Harness) -> None:
    other = await h.add_tenant("globex", phone_number_id="999000111")
    await inbound(h, "Globex secret: invoice 7731 is unpaid", tenant=other, name="Zed")
    mine = await inbound(h, "Where is my order #4521?")
    recording = Recording()
    await ai_service.suggest_reply(
        h.svc, routed(recording), h.as_(Role.AGENT), mine.conversation_id, embedder=AI.embedder
    )
    (context,) = recording.contexts
    prompt = suggestion_prompt(context)
    text = prompt.system + prompt.user
    assert "Where is my order #4521?" in text
    assert "Globex" not in text
    assert "7731" not in text
    assert "Zed" not in text
    assert ANA_PHONE not in text  # nor the customer's phone number
    assert "sk-" not in text
    foreign = next(m for m in h.uow.db.state.messages.values() if m.tenant_id == other.id)
    with pytest.raises(NotFound):  # another tenant's conversation looks absent
        await ai_service.suggest_reply(
            h.svc, routed(recording), h.as_(Role.AGENT), foreign.conversation_id
        )
    classify = classification_prompt("x", ["other"], context.turns)
    assert "Globex" not in classify.user


async def test_suggestions_need_conversation_read_and_a_customer_message(h: Harness) -> None:
    message = await inbound(h, "Cadê meu pedido?")
    viewer = await ai_service.suggest_reply(
        h.svc, AI.router, h.as_(Role.VIEWER), message.conversation_id
    )
    assert viewer.text.startswith("Olá Ana!")
    api_key = Principal(tenant_id=h.t.id, role=Role.ADMIN, api_key_id=uuid.uuid4())
    with pytest.raises(Forbidden):
        await ai_service.suggest_reply(h.svc, AI.router, api_key, message.conversation_id)


async def test_a_thread_without_customer_text_has_nothing_to_answer(h: Harness) -> None:
    message = await inbound(h, "", type="sticker", media_id="m1")
    with pytest.raises(PolicyViolation, match="no customer message"):
        await ai_service.suggest_reply(h.svc, AI.router, h.as_(Role.AGENT), message.conversation_id)


async def test_the_knowledge_base_grounds_suggestions_and_search(h: Harness) -> None:
    admin, agent = h.as_(Role.ADMIN), h.as_(Role.AGENT)
    with pytest.raises(Forbidden):
        await ai_service.add_snippet(h.svc, AI.embedder, agent, "Hours", "9 to 6")
    hours = await ai_service.add_snippet(
        h.svc, AI.embedder, admin, "Opening hours", "We are open Monday to Saturday, 9am to 6pm."
    )
    await ai_service.add_snippet(
        h.svc, AI.embedder, admin, "Returns", "You can return any item within 30 days."
    )
    message = await inbound(h, "What time do you open on Saturday?")
    await ai_service.classify_message(h.svc, AI.router, h.t.id, message.id, embedder=AI.embedder)

    suggestion = await ai_service.suggest_reply(
        h.svc, AI.router, agent, message.conversation_id, embedder=AI.embedder
    )
    assert suggestion.grounded_on == (str(hours.id),)
    assert "Monday to Saturday" in suggestion.text

    found = await ai_service.search_similar(h.svc, AI.embedder, agent, "open saturday")
    assert found.snippets[0].snippet == hours
    assert found.messages[0][0].id == message.id

    edited = await ai_service.update_snippet(
        h.svc, AI.embedder, admin, hours.id, "Opening hours", "Open every day, 8am to 8pm."
    )
    assert await ai_service.get_snippet(h.svc, admin, hours.id) == edited
    await ai_service.delete_snippet(h.svc, admin, hours.id)
    titles = [s.title for s in await ai_service.list_snippets(h.svc, admin)]
    assert titles == ["Returns"]
    actions = [e.action for e in h.uow.db.state.audit.values()]
    assert {"knowledge.create", "knowledge.update", "knowledge.delete"} <= set(actions)


async def test_summaries_come_from_the_thread(h: Harness) -> None:
    await inbound(h, "Hi. I ordered a blender last week.")
    message = await inbound(h, "It arrived broken and nobody answers!")
    summary = await ai_service.summarize(
        h.svc, AI.router, h.as_(Role.VIEWER), message.conversation_id
    )
    assert summary.provider == "offline"
    assert summary.text.startswith("Ana sent 2 messages")
