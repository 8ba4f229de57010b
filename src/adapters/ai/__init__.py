"""AI providers: Claude and OpenAI (official SDKs), the offline heuristics, local
embedders, and the fallback chain that puts them in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from adapters.ai.hashing import HashingEmbedder
from adapters.ai.offline import OfflineProvider
from adapters.ai.router import ProviderRegistry
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
    none is. A tenant's settings may reorder them (``router``). Nothing connects until
    the first call."""
    providers: dict[str, Any] = {}
    if anthropic_api_key:
        from adapters.ai.anthropic import DEFAULT_MODEL, AnthropicProvider

        providers["anthropic"] = AnthropicProvider(
            anthropic_api_key, model=anthropic_model or DEFAULT_MODEL
        )
    if openai_api_key:
        from adapters.ai.openai import DEFAULT_MODEL as OPENAI_MODEL
        from adapters.ai.openai import OpenAIProvider

        providers["openai"] = OpenAIProvider(openai_api_key, model=openai_model or OPENAI_MODEL)
    providers["offline"] = OfflineProvider()
    return providers_with(providers, embedder=_embedder(embedder))


def providers_with(
    providers: Mapping[str, Any], *, embedder: Embedder | None = None
) -> AiProviders:
    """``AiProviders`` over named providers (``"anthropic"``, ``"openai"``, ``"offline"``,
    or fakes in tests), the default chain in the order given."""
    router = ProviderRegistry(providers)
    engine = router.engine(tuple(providers), {})
    return AiProviders(
        classifier=engine, suggester=engine, summarizer=engine,
        embedder=embedder or HashingEmbedder(), router=router,
    )  # fmt: skip


def _embedder(name: EmbedderName) -> Embedder:
    if name == "minilm":
        from adapters.ai.minilm import MiniLmEmbedder

        return MiniLmEmbedder()
    return HashingEmbedder()


async def close_ai(ai: AiProviders) -> None:
    """Close the SDK clients (their connection pools) of a ``build_ai`` result."""
    close = getattr(ai.router, "aclose", None)
    if close is not None:
        await close()
