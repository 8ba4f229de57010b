"""The tenant's AI settings applied, on memory adapters: who may change them (audited),
AI turned off, the tenant's intent set, its provider order and models, and the monthly
token budget. Paid providers are fakes that report token usage like Claude and OpenAI do
(and, for the model override, the real Claude adapter over a mock transport)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from adapters.ai import providers_with
from adapters.ai.anthropic import AnthropicProvider
from adapters.ai.offline import OfflineProvider
from adapters.memory.jobs import MemoryOutboxRelay, MemoryRateLimiter
from entrypoints.worker import Worker
from entrypoints.worker.handlers import ai_classify
from tests.unit.ai.test_services import inbound
from tests.unit.services.harness import Harness
from whatsapp_core.ai import (
    AiProviders,
    IntentResult,
    ReplyContext,
    Suggestion,
    Summary,
    TokenUsage,
    Turn,
)
from whatsapp_core.errors import Forbidden, InvalidInput, PolicyViolation
from whatsapp_core.jobs import AI_CLASSIFY, RetryPolicy
from whatsapp_core.policies.access import Role
from whatsapp_core.services import ai as ai_service
from whatsapp_core.services.ai_settings import get_ai_settings, update_ai_settings

pytestmark = pytest.mark.unit


class Paid:
    """A provider that bills tokens (as Claude and OpenAI report them)."""

    def __init__(self, name: str, *, intent: str = "order_status", tokens: int = 600) -> None:
        self.name = name
        self.intent = intent
        self.usage = TokenUsage(input_tokens=tokens - 20, output_tokens=20)
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        self.calls.append(("classify", tuple(intents)))
        return IntentResult(
            intent=self.intent, confidence=0.9, provider=self.name, model=f"{self.name}-model",
            usage=self.usage,
        )  # fmt: skip

    async def suggest(self, context: ReplyContext) -> Suggestion:
        self.calls.append(("suggest", ()))
        return Suggestion(
            text=f"{self.name} answers", provider=self.name, model="m", usage=self.usage
        )

    async def summarize(self, turns: Sequence[Turn], *, contact_name: str | None) -> Summary:
        self.calls.append(("summarize", ()))
        return Summary(text=f"{self.name} sums up", provider=self.name, usage=self.usage)


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.add_tenant()
    return harness


def worker(h: Harness, ai: AiProviders) -> Worker:
    return Worker(
        relay=MemoryOutboxRelay(h.uow.db), limiter=MemoryRateLimiter(), gateway=h.gateway,
        services=lambda: h.svc, clock=h.clock, policy=RetryPolicy(rng=lambda: 0.5),
        handlers={AI_CLASSIFY: ai_classify(lambda: h.svc, ai)},
    )  # fmt: skip


async def classify_outcome(h: Harness, ai: AiProviders) -> str:
    await worker(h, ai).drain()
    runs = [r for r in await MemoryOutboxRelay(h.uow.db).list_jobs() if r.kind == AI_CLASSIFY]
    latest = max(runs, key=lambda r: r.created_at)
    assert latest.outcome is not None
    return latest.outcome


async def configure(h: Harness, **changes: Any) -> None:
    await update_ai_settings(h.svc, h.as_(Role.ADMIN), changes)


# -- reading and changing the settings --------------------------------------------------------


async def test_only_admins_read_and_change_the_settings_and_every_change_is_audited(
    h: Harness,
) -> None:
    admin = h.as_(Role.ADMIN)
    report = await get_ai_settings(h.svc, admin)
    assert report.settings.updated_at is None  # the defaults, never saved
    assert report.tokens_used_this_month == 0
    assert report.budget_resets_at == datetime(2026, 2, 1, tzinfo=UTC)
    for role in (Role.VIEWER, Role.AGENT, Role.MANAGER):
        with pytest.raises(Forbidden):
            await get_ai_settings(h.svc, h.as_(role))
        with pytest.raises(Forbidden):
            await update_ai_settings(h.svc, h.as_(role), {"enabled": False})

    saved = await update_ai_settings(
        h.svc, admin, {"enabled": False, "auto_reply": {"enabled": True}}
    )
    assert not saved.enabled
    assert saved.auto_reply.enabled
    assert saved.updated_at == h.clock.now()
    assert (await get_ai_settings(h.svc, admin)).settings == saved
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "ai.settings.update"]
    assert entry.actor == f"user:{admin.user_id}"
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["enabled"], entry.after["enabled"]) == (True, False)
    assert entry.after["auto_reply"]["enabled"] is True

    with pytest.raises(InvalidInput) as refused:
        await update_ai_settings(h.svc, admin, {"intents": ["Greeting", "other"]})
    assert refused.value.details["field"] == "intents"
    assert (await get_ai_settings(h.svc, admin)).settings == saved  # nothing half-saved


async def test_one_tenants_settings_are_its_own(h: Harness) -> None:
    other = await h.add_tenant("globex", phone_number_id="999000111")
    await configure(h, enabled=False)
    report = await get_ai_settings(h.svc, h.as_(Role.ADMIN, other))
    assert report.settings.enabled
    assert report.settings.tenant_id == other.id


# -- AI turned off ---------------------------------------------------------------------------


async def test_with_ai_off_the_classify_job_does_nothing_and_helpers_answer_409(
    h: Harness,
) -> None:
    await configure(h, enabled=False)
    paid = Paid("anthropic")
    ai = providers_with({"anthropic": paid})
    message = await inbound(h, "Where is my order #4521?")

    assert await classify_outcome(h, ai) == "ai disabled"
    assert h.uow.db.state.messages[(h.t.id, message.id)].intent is None
    assert "ai.classified" not in h.events.kinds()
    agent = h.as_(Role.AGENT)
    with pytest.raises(PolicyViolation) as refused:
        await ai_service.suggest_reply(h.svc, ai.router, agent, message.conversation_id)
    assert refused.value.code == "ai_disabled"
    assert "turned off" in refused.value.message
    with pytest.raises(PolicyViolation, match="turned off"):
        await ai_service.summarize(h.svc, ai.router, agent, message.conversation_id)
    assert paid.calls == []


# -- the tenant's intents, providers and models ----------------------------------------------


async def test_the_classifier_gets_the_tenants_intents_and_anything_else_becomes_other(
    h: Harness,
) -> None:
    await configure(h, intents=["greeting", "refund_request", "other"])
    paid = Paid("anthropic", intent="order_status")  # not one of this tenant's intents
    message = await inbound(h, "I want my money back")
    outcome = await classify_outcome(h, providers_with({"anthropic": paid}))
    assert outcome.startswith("classified: other (0.90) by anthropic")
    assert paid.calls == [("classify", ("greeting", "refund_request", "other"))]
    assert h.uow.db.state.messages[(h.t.id, message.id)].intent == "other"

    paid.intent = "refund_request"
    second = await inbound(h, "Refund please")
    await classify_outcome(h, providers_with({"anthropic": paid}))
    assert h.uow.db.state.messages[(h.t.id, second.id)].intent == "refund_request"


async def test_the_offline_provider_keeps_to_the_tenants_set(h: Harness) -> None:
    await configure(h, intents=["greeting", "other"], provider_order=["offline"])
    message = await inbound(h, "Where is my order #4521?")  # order_status is not in the set
    await classify_outcome(h, providers_with({"offline": OfflineProvider()}))
    assert h.uow.db.state.messages[(h.t.id, message.id)].intent == "other"
    hello = await inbound(h, "Hello!")
    await classify_outcome(h, providers_with({"offline": OfflineProvider()}))
    assert h.uow.db.state.messages[(h.t.id, hello.id)].intent == "greeting"


async def test_the_tenants_order_decides_who_answers(h: Harness) -> None:
    claude, gpt = Paid("anthropic"), Paid("openai")
    ai = providers_with({"anthropic": claude, "openai": gpt, "offline": OfflineProvider()})
    await configure(h, provider_order=["openai", "offline"])
    message = await inbound(h, "Where is my order?")
    assert (await classify_outcome(h, ai)).endswith("by openai")
    suggestion = await ai_service.suggest_reply(
        h.svc, ai.router, h.as_(Role.AGENT), message.conversation_id
    )
    assert suggestion.provider == "openai"
    assert claude.calls == []

    await configure(h, provider_order=["offline"])
    summary = await ai_service.summarize(
        h.svc, ai.router, h.as_(Role.AGENT), message.conversation_id
    )
    assert summary.provider == "offline"
    assert [c for c, _ in gpt.calls] == ["classify", "suggest"]


def claude_answer(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    return httpx2.Response(
        200,
        json={
            "id": "msg_01", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "tool_use", "id": "toolu_01", "name": body["tools"][0]["name"],
                         "input": {"intent": "question", "confidence": 0.8}}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 300, "output_tokens": 12},
        },
    )  # fmt: skip


async def test_a_tenants_model_override_is_what_claude_is_asked(h: Harness) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content)["model"])
        return claude_answer(request)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    claude = AnthropicProvider("sk-ant-test-never-sent", http_client=client, max_retries=0)
    ai = providers_with({"anthropic": claude, "offline": OfflineProvider()})
    await inbound(h, "Do you ship to Porto?")
    await classify_outcome(h, ai)
    await configure(h, models={"anthropic": "claude-haiku-4-5-20251001"})
    await inbound(h, "And to Braga?")
    await classify_outcome(h, ai)
    assert seen == ["claude-haiku-4-5", "claude-haiku-4-5-20251001"]
    assert [u.model for u in h.uow.db.ai.usage] == ["claude-haiku-4-5", "claude-haiku-4-5-20251001"]
    assert claude.model == "claude-haiku-4-5"  # other tenants keep the default
    await client.aclose()


# -- the monthly token budget ----------------------------------------------------------------


async def test_the_budget_stops_paid_calls_and_offline_answers_when_listed(h: Harness) -> None:
    """Chosen: past the budget the paid providers are skipped; the offline provider (free)
    still answers when it is in the tenant's order, otherwise the call is refused."""
    claude = Paid("anthropic", tokens=600)
    ai = providers_with({"anthropic": claude, "offline": OfflineProvider()})
    await configure(h, monthly_token_budget=1000)
    agent = h.as_(Role.AGENT)

    first = await inbound(h, "Where is my order #1?")
    assert (await classify_outcome(h, ai)).endswith("by anthropic")  # 600 used
    suggestion = await ai_service.suggest_reply(h.svc, ai.router, agent, first.conversation_id)
    assert suggestion.provider == "anthropic"  # 600 < 1000 before the call; 1200 after
    assert (await get_ai_settings(h.svc, h.as_(Role.ADMIN))).tokens_used_this_month == 1200

    await inbound(h, "Where is my order #2?")
    assert (await classify_outcome(h, ai)).endswith("by offline")
    suggestion = await ai_service.suggest_reply(h.svc, ai.router, agent, first.conversation_id)
    assert suggestion.provider == "offline"
    assert [c for c, _ in claude.calls] == ["classify", "suggest"]  # no paid call past it

    await configure(h, provider_order=["anthropic", "openai"])  # no free provider listed
    with pytest.raises(PolicyViolation) as refused:
        await ai_service.suggest_reply(h.svc, ai.router, agent, first.conversation_id)
    assert refused.value.code == "ai_budget_exceeded"
    assert refused.value.message == (
        "monthly AI token budget of 1,000 reached; it resets on 2026-02-01 (UTC)"
    )
    with pytest.raises(PolicyViolation, match="budget of 1,000 reached"):
        await ai_service.summarize(h.svc, ai.router, agent, first.conversation_id)
    third = await inbound(h, "Hello?")
    outcome = await classify_outcome(h, ai)
    assert outcome == (
        "skipped: monthly AI token budget of 1,000 reached; it resets on 2026-02-01 (UTC)"
    )
    assert h.uow.db.state.messages[(h.t.id, third.id)].intent is None
    assert len(claude.calls) == 2

    h.clock.advance(timedelta(days=31))  # February: a new month, a new budget
    again = await ai_service.suggest_reply(h.svc, ai.router, agent, first.conversation_id)
    assert again.provider == "anthropic"


async def test_a_budget_of_zero_means_offline_only(h: Harness) -> None:
    claude = Paid("anthropic")
    ai = providers_with({"anthropic": claude, "offline": OfflineProvider()})
    await configure(h, monthly_token_budget=0)
    await inbound(h, "Hello")
    assert (await classify_outcome(h, ai)).endswith("by offline")
    assert claude.calls == []
