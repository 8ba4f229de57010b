"""The offline provider and the hashing embedder: honest figures on labelled messages
(printed; run ``pytest -s`` to see them), templates, summaries, latency."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime

import pytest

from adapters.ai.hashing import HashingEmbedder, hash_embed
from adapters.ai.intent_rules import RULES, scores
from adapters.ai.offline import OfflineProvider, classify_text, detect_language
from tests.unit.ai.labelled import DEV, FRESH, FRESH_2, HOLDOUT
from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    KnowledgeHit,
    KnowledgeSnippet,
    ReplyContext,
    Turn,
    cosine_similarity,
)

pytestmark = pytest.mark.unit


def accuracy(labelled: list[tuple[str, str]]) -> float:
    hits = sum(classify_text(text, DEFAULT_INTENTS).intent == label for label, text in labelled)
    return hits / len(labelled)


def test_accuracy_on_the_labelled_sets() -> None:
    assert len(DEV) + len(HOLDOUT) + len(FRESH) >= 60
    dev, holdout = accuracy(DEV), accuracy(HOLDOUT)
    fresh, fresh_2 = accuracy(FRESH), accuracy(FRESH_2)
    print(
        f"\noffline intent accuracy: tuned set {dev:.1%} of {len(DEV)}, "
        f"contaminated hold-out {holdout:.1%} of {len(HOLDOUT)}, "
        f"fresh set {fresh:.1%} of {len(FRESH)}, "
        f"second fresh set {fresh_2:.1%} of {len(FRESH_2)} (the honest figures)"
    )
    # Floors just under what the rules reach today. Measured with rules-v2: 100 % (91),
    # 100 % (48), 45.8 % (48), 65.2 % (46); before it (rules-v1): 100 % (78), 100 %,
    # 43.8 %, 65.2 %.
    assert dev >= 0.98
    assert holdout >= 0.97
    assert fresh >= 0.45
    assert fresh_2 >= 0.65


def test_every_language_and_intent_is_covered_by_the_labelled_sets() -> None:
    labels = {label for label, _ in DEV + FRESH + FRESH_2}
    assert labels == set(DEFAULT_INTENTS)
    languages = {detect_language(text) for _, text in DEV}
    assert languages == {"en", "pt", "es"}


def test_confidence_grows_with_evidence_and_margin() -> None:
    clear = classify_text("Where is my order #4521? Has it shipped?", DEFAULT_INTENTS)
    mixed = classify_text("Hi, where is my order?", DEFAULT_INTENTS)
    nothing = classify_text("🙂", DEFAULT_INTENTS)
    assert clear.intent == mixed.intent == "order_status"
    assert 0.5 < mixed.confidence < clear.confidence <= 0.95
    assert (nothing.intent, nothing.confidence) == ("other", 0.3)
    assert clear.provider == "offline"


@pytest.mark.parametrize(
    "text",
    [
        "My parcel arrived damaged",
        "Meu pedido chegou quebrado",
        "Mi paquete llegó roto",
        "They delivered the wrong item",
        # Every order_status rule fires here, and the fault still wins.
        "Where is my order #4521? Tracking says delivered but it arrived broken",
    ],
)
def test_a_faulty_item_is_a_complaint_even_though_it_arrived(text: str) -> None:
    assert classify_text(text, DEFAULT_INTENTS).intent == "complaint"


def test_a_fault_on_arrival_outweighs_all_the_order_tracking_vocabulary() -> None:
    most_order_status_can_score = sum(weight for _, weight in RULES["order_status"])
    found = scores("Where is my order #4521? Tracking says delivered but it arrived broken")
    assert found["order_status"] == most_order_status_can_score
    assert found["complaint"] > most_order_status_can_score


@pytest.mark.parametrize(
    "text",
    [
        "Has my parcel arrived?",
        "When will it be delivered?",
        "Minha encomenda já chegou?",
        "¿Cuándo llega mi pedido? Ya lo pagué",
    ],
)
def test_a_delivery_question_without_a_fault_is_order_status(text: str) -> None:
    assert classify_text(text, DEFAULT_INTENTS).intent == "order_status"


def test_only_the_tenants_intents_are_answered() -> None:
    result = classify_text("Where is my order?", ["greeting", "other"])
    assert result.intent == "other"


def context(text: str, *, name: str | None = "Ana Souza", intent: str | None = None,
            knowledge: tuple[KnowledgeHit, ...] = ()) -> ReplyContext:  # fmt: skip
    return ReplyContext(
        contact_name=name,
        turns=(Turn(role="agent", text="Hello!"), Turn(role="customer", text=text)),
        intent=intent,
        knowledge=knowledge,
    )


async def test_suggestions_greet_by_first_name_in_the_customers_language() -> None:
    offline = OfflineProvider()
    en = await offline.suggest(context("Where is my order #4521?"))
    pt = await offline.suggest(context("Cadê meu pedido?", intent="order_status"))
    es = await offline.suggest(context("Estoy muy molesto, nadie contesta", name="Luis"))
    assert en.text.startswith("Hi Ana!")
    assert "4521" in en.text
    assert pt.text.startswith("Olá Ana!")
    assert "número do pedido" in pt.text
    assert es.text.startswith("¡Hola Luis!")
    assert "Lamento" in es.text
    assert (en.provider, en.grounded_on) == ("offline", ())


async def test_a_phone_number_is_never_used_as_a_name_and_spam_gets_no_reply() -> None:
    offline = OfflineProvider()
    assert (await offline.suggest(context("hi", name="+5511999999999"))).text.startswith("Hi!")
    spam = await offline.suggest(context("You won a free iPhone, click here bit.ly/x"))
    assert spam.text == ""


async def test_a_suggestion_is_grounded_on_the_best_snippet() -> None:
    snippet = KnowledgeSnippet(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), title="Opening hours",
        body="We are open Monday to Saturday, 9am to 6pm.",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    hit = KnowledgeHit(snippet=snippet, score=0.7)
    s = await OfflineProvider().suggest(context("What time do you open?", knowledge=(hit,)))
    assert snippet.body in s.text
    assert s.grounded_on == (str(snippet.id),)


async def test_summaries_are_extractive() -> None:
    turns = [
        Turn(role="customer", text="Hi. I ordered a blender last week."),
        Turn(role="agent", text="Hello! Let me check."),
        Turn(role="customer", text="It arrived broken and nobody answers. I want a refund!"),
    ]
    summary = await OfflineProvider().summarize(turns, contact_name="Ana")
    assert summary.text.splitlines()[0] == "Ana sent 2 messages; the team replied 1 time."
    assert "Topic: complaint." in summary.text
    assert "It arrived broken and nobody answers." in summary.text
    assert "(waiting for the team)" in summary.text


async def test_hashing_embeddings_are_unit_length_stable_and_closer_for_related_texts() -> None:
    embedder = HashingEmbedder()
    question, hours, returns, empty = await embedder.embed(
        [
            "What time do you open on Saturday?",
            "Opening hours\nWe are open Monday to Saturday, 9am to 6pm.",
            "Returns\nYou can return any item within 30 days.",
            "",
        ]
    )
    assert embedder.dimensions == len(question) == 384
    assert sum(x * x for x in question) == pytest.approx(1.0)
    assert question == hash_embed("What time do you open on Saturday?")  # any process
    assert cosine_similarity(question, hours) > 0.3 > 0.1 > cosine_similarity(question, returns)
    assert not any(empty)


def test_latency() -> None:
    texts = [text for _, text in DEV]

    def p50(fn: object) -> float:
        samples = []
        for text in texts * 3:
            start = time.perf_counter()
            fn(text)  # type: ignore[operator]
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000

    classify_ms = p50(lambda t: classify_text(t, DEFAULT_INTENTS))
    embed_ms = p50(hash_embed)
    print(f"\noffline classify p50 {classify_ms:.3f} ms, hashing embed p50 {embed_ms:.3f} ms")
    assert classify_ms < 5
    assert embed_ms < 5
