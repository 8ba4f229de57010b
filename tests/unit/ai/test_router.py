"""The provider registry: a tenant's order and models become a chain of this server's
providers, each model behind its own circuit breaker, sharing one SDK client."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.ai.anthropic import AnthropicProvider
from adapters.ai.offline import OfflineProvider
from adapters.ai.router import ProviderRegistry
from whatsapp_core.ai import DEFAULT_INTENTS, AiProviderError, IntentResult, Turn

pytestmark = pytest.mark.unit


class Failing:
    """A model provider whose chosen model does not exist (HTTP 404 at Anthropic)."""

    name = "anthropic"

    def __init__(self, model: str = "good") -> None:
        self.model = model
        self.calls: list[str] = []

    def using(self, model: str) -> Failing:
        variant = Failing(model)
        variant.calls = self.calls  # shared, like the SDK client
        return variant

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        self.calls.append(self.model)
        if self.model != "good":
            raise AiProviderError("model not found", provider="anthropic", kind="refused")
        return IntentResult(intent="question", confidence=0.9, provider="anthropic")


def test_an_order_keeps_only_what_is_configured_and_chains_are_reused() -> None:
    registry = ProviderRegistry({"anthropic": Failing(), "offline": OfflineProvider()})
    assert registry.configured() == ("anthropic", "offline")
    chain = registry.engine(("openai", "offline", "anthropic"), {})
    assert [link.name for link in chain.links] == ["offline", "anthropic"]
    assert registry.engine(("openai", "offline", "anthropic"), {}) is chain
    with pytest.raises(AiProviderError, match="none of openai is configured"):
        registry.engine(("openai",), {})


def test_a_model_override_shares_the_client_and_leaves_the_default_alone() -> None:
    claude = AnthropicProvider("sk-ant-test-never-sent")
    registry = ProviderRegistry({"anthropic": claude})
    (link,) = registry.engine(("anthropic",), {"anthropic": "claude-opus-4-1"}).links
    assert link.provider.model == "claude-opus-4-1"
    assert link.provider._client is claude._client
    assert claude.model == "claude-haiku-4-5"
    (same,) = registry.engine(("anthropic",), {"anthropic": "claude-haiku-4-5"}).links
    assert same.provider is claude  # the default model: the provider itself


async def test_one_tenants_bad_model_trips_only_that_models_breaker() -> None:
    base = Failing()
    registry = ProviderRegistry({"anthropic": base, "offline": OfflineProvider()})
    bad = registry.engine(("anthropic", "offline"), {"anthropic": "no-such-model"})
    for _ in range(3):
        result = await bad.classify("hi", intents=DEFAULT_INTENTS)
        assert result.provider == "offline"
    await bad.classify("hi", intents=DEFAULT_INTENTS)
    assert base.calls == ["no-such-model"] * 3  # its breaker is open now

    good = registry.engine(("anthropic", "offline"), {})
    assert (await good.classify("hi", intents=DEFAULT_INTENTS)).provider == "anthropic"
