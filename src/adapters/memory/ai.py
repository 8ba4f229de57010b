"""In-memory twins of the AI ports.

The answering ports (``IntentClassifier``, ``ReplySuggester``, ``Summarizer``) and the
``Embedder`` need no twin of their own: ``OfflineProvider`` (keyword heuristics) and
``HashingEmbedder`` (feature hashing) are in-process, deterministic and standard-library
only, so they are re-exported here as the twins; ``memory_ai()`` wires them as the
``AiProviders`` for tests and the harness (no key, no network).

The AI stores below: knowledge base, message embeddings, token usage, settings and the
auto-reply log.

Their state is staged with the rest of a memory unit of work (copied on enter, kept
on commit). Similarity is exact cosine over every vector of the tenant: the real
adapter's HNSW index is approximate, which the contract suite allows for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from adapters.ai import providers_with
from adapters.ai.hashing import HashingEmbedder
from adapters.ai.offline import OfflineProvider
from whatsapp_core.ai import AiProviders, AiUsage, KnowledgeHit, KnowledgeSnippet, SimilarMessage
from whatsapp_core.ai import cosine_similarity as cosine
from whatsapp_core.ai_settings import AiSettings
from whatsapp_core.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "HashingEmbedder",
    "MemoryAiSettingsStore",
    "MemoryAiState",
    "MemoryAiUsageStore",
    "MemoryAutoReplyLog",
    "MemoryEmbeddingStore",
    "MemoryKnowledgeStore",
    "OfflineProvider",
    "memory_ai",
]

Key = tuple[uuid.UUID, uuid.UUID]
DIMENSIONS = 384  # what the PostgreSQL columns hold (tables.EMBEDDING_DIMENSIONS)


def memory_ai() -> AiProviders:
    """The offline provider as classifier, suggester and summarizer (and the only link
    of every tenant's chain), with the hashing embedder."""
    return providers_with({"offline": OfflineProvider()}, embedder=HashingEmbedder())


@dataclass
class MemoryAiState:
    snippets: dict[Key, KnowledgeSnippet] = field(default_factory=dict)
    snippet_vectors: dict[Key, tuple[float, ...]] = field(default_factory=dict)
    message_vectors: dict[Key, tuple[float, ...]] = field(default_factory=dict)
    usage: list[AiUsage] = field(default_factory=list)
    settings: dict[uuid.UUID, AiSettings] = field(default_factory=dict)
    auto_replies: dict[Key, tuple[datetime, uuid.UUID]] = field(default_factory=dict)

    def staged(self) -> MemoryAiState:
        """A copy a transaction can change without touching this one."""
        return MemoryAiState(
            snippets=dict(self.snippets),
            snippet_vectors=dict(self.snippet_vectors),
            message_vectors=dict(self.message_vectors),
            usage=list(self.usage),
            settings=dict(self.settings),
            auto_replies=dict(self.auto_replies),
        )


def _vector(embedding: Sequence[float]) -> tuple[float, ...]:
    if len(embedding) != DIMENSIONS:
        raise InvalidInput(
            f"an embedding has {DIMENSIONS} dimensions, not {len(embedding)}", field="embedding"
        )
    return tuple(float(x) for x in embedding)


class MemoryKnowledgeStore:
    def __init__(self, state: MemoryAiState) -> None:
        self._s = state

    async def add(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        key = (snippet.tenant_id, snippet.id)
        if key in self._s.snippets or any(k[1] == snippet.id for k in self._s.snippets):
            raise Conflict("knowledge snippet exists")
        self._s.snippet_vectors[key] = _vector(embedding)
        self._s.snippets[key] = snippet

    async def update(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        key = (snippet.tenant_id, snippet.id)
        if key not in self._s.snippets:
            raise NotFound("knowledge snippet not found")
        self._s.snippet_vectors[key] = _vector(embedding)
        self._s.snippets[key] = snippet

    async def delete(self, tenant_id: uuid.UUID, snippet_id: uuid.UUID) -> None:
        key = (tenant_id, snippet_id)
        if self._s.snippets.pop(key, None) is None:
            raise NotFound("knowledge snippet not found")
        self._s.snippet_vectors.pop(key, None)

    async def get(self, tenant_id: uuid.UUID, snippet_id: uuid.UUID) -> KnowledgeSnippet:
        try:
            return self._s.snippets[(tenant_id, snippet_id)]
        except KeyError:
            raise NotFound("knowledge snippet not found") from None

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 5
    ) -> list[KnowledgeHit]:
        query = _vector(embedding)
        hits = [
            KnowledgeHit(snippet=self._s.snippets[key], score=cosine(query, vector))
            for key, vector in self._s.snippet_vectors.items()
            if key[0] == tenant_id
        ]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]

    async def list(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[KnowledgeSnippet]:
        found = [s for (t, _), s in self._s.snippets.items() if t == tenant_id]
        found.sort(key=lambda s: (s.created_at, str(s.id)), reverse=True)
        return found[:limit]


class MemoryEmbeddingStore:
    def __init__(self, state: MemoryAiState) -> None:
        self._s = state

    async def supported(self) -> bool:
        return True

    async def put(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, embedding: Sequence[float]
    ) -> None:
        self._s.message_vectors[(tenant_id, message_id)] = _vector(embedding)

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 10
    ) -> list[SimilarMessage]:
        query = _vector(embedding)
        hits = [
            SimilarMessage(message_id=message_id, score=cosine(query, vector))
            for (tenant, message_id), vector in self._s.message_vectors.items()
            if tenant == tenant_id
        ]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]


class MemoryAiUsageStore:
    def __init__(self, state: MemoryAiState) -> None:
        self._s = state

    async def add(self, usage: AiUsage) -> None:
        self._s.usage.append(usage)

    async def tokens_since(self, tenant_id: uuid.UUID, since: datetime) -> int:
        return sum(
            u.input_tokens + u.output_tokens
            for u in self._s.usage
            if u.tenant_id == tenant_id and u.at >= since
        )


class MemoryAiSettingsStore:
    def __init__(self, state: MemoryAiState) -> None:
        self._s = state

    async def get(self, tenant_id: uuid.UUID) -> AiSettings | None:
        return self._s.settings.get(tenant_id)

    async def put(self, settings: AiSettings) -> None:
        self._s.settings[settings.tenant_id] = settings


class MemoryAutoReplyLog:
    def __init__(self, state: MemoryAiState) -> None:
        self._s = state

    async def last_sent(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> datetime | None:
        found = self._s.auto_replies.get((tenant_id, conversation_id))
        return None if found is None else found[0]

    async def record(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        at: datetime,
        *,
        not_since: datetime,
    ) -> bool:
        key = (tenant_id, conversation_id)
        found = self._s.auto_replies.get(key)
        if found is not None and found[0] > not_since:
            return False
        self._s.auto_replies[key] = (at, message_id)
        return True
