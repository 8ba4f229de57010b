"""Real calls to Claude and OpenAI, only with ``WA_LIVE_AI=1`` and the keys set."""

from __future__ import annotations

import os

import pytest

from whatsapp_core.ai import DEFAULT_INTENTS

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(os.environ.get("WA_LIVE_AI") != "1", reason="live AI: set WA_LIVE_AI=1"),
]


@pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="no ANTHROPIC_API_KEY")
async def test_claude_classifies_for_real() -> None:
    from adapters.ai.anthropic import AnthropicProvider

    provider = AnthropicProvider(os.environ["ANTHROPIC_API_KEY"])
    try:
        result = await provider.classify("Cadê meu pedido 4521?", intents=DEFAULT_INTENTS)
    finally:
        await provider.aclose()
    assert result.intent == "order_status"
    assert result.usage.input_tokens > 0


@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="no OPENAI_API_KEY")
async def test_openai_classifies_for_real() -> None:
    from adapters.ai.openai import OpenAIProvider

    provider = OpenAIProvider(os.environ["OPENAI_API_KEY"])
    try:
        result = await provider.classify("¿Dónde está mi pedido?", intents=DEFAULT_INTENTS)
    finally:
        await provider.aclose()
    assert result.intent == "order_status"
    assert result.usage.input_tokens > 0
