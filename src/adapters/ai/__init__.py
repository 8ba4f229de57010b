"""AI providers: Claude and OpenAI (official SDKs), the offline heuristics, local
embedders, and the fallback chain that puts them in order."""

from __future__ import annotations

from typing import Literal

from adapters.ai.chain import FallbackChain
from adapters.ai.hashing import HashingEmbedder
from adapters.ai.offline import OfflineProvider
from whatsapp_core.ai import AiProviders, Embedder

EmbedderName = Literal["hashing", "minilm"]


def build_ai(
    *,
    anthropic_api_key: str | None = None,
    openai_api_key: str | None = None,
    anthropic_model: str | None = None,
    openai_model: str | None = None,
    embedder: EmbedderName = "hashing",
) -> AiProviders:
    """Claude, then OpenAI, then offline, for the keys that are set; offline alone when
    none is. Nothing connects until the first call."""
    offline = OfflineProvider()
    remote: list[object] = []
    if anthropic_api_key:
        from adapters.ai.anthropic import DEFAULT_MODEL, AnthropicProvider

        remote.append(AnthropicProvider(anthropic_api_key, model=anthropic_model or DEFAULT_MODEL))
    if openai_api_key:
        from adapters.ai.openai import DEFAULT_MODEL as OPENAI_MODEL
        from adapters.ai.openai import OpenAIProvider

        remote.append(OpenAIProvider(openai_api_key, model=openai_model or OPENAI_MODEL))
    engine: OfflineProvider | FallbackChain = (
        FallbackChain([*remote, offline]) if remote else offline
    )
    vectors: Embedder
    if embedder == "minilm":
        from adapters.ai.minilm import MiniLmEmbedder

        vectors = MiniLmEmbedder()
    else:
        vectors = HashingEmbedder()
    return AiProviders(classifier=engine, suggester=engine, summarizer=engine, embedder=vectors)


async def close_ai(ai: AiProviders) -> None:
    """Close the SDK clients (their connection pools) of a ``build_ai`` result."""
    close = getattr(ai.classifier, "aclose", None)
    if close is not None:
        await close()
