"""AI in the core: the provider ports, what they answer, the knowledge-base and embedding
storage ports, and the circuit breaker that decides when a provider is skipped.

Providers (Claude, OpenAI, the offline heuristics) live in ``adapters.ai``; a fallback
chain there tries them in order, each behind its own ``CircuitBreaker``.
"""

from __future__ import annotations

import enum
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from whatsapp_core.errors import UpstreamUnavailable

DEFAULT_INTENTS: tuple[str, ...] = (
    "greeting",
    "question",
    "order_status",
    "complaint",
    "purchase_intent",
    "support",
    "spam",
    "other",
)
FALLBACK_INTENT = "other"


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


NO_USAGE = TokenUsage()


class IntentResult(msgspec.Struct, frozen=True, kw_only=True):
    intent: str
    confidence: float  # in [0, 1]
    provider: str  # who answered: "anthropic", "openai", "offline"
    model: str = ""
    usage: TokenUsage = NO_USAGE


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One message of a thread as a provider sees it: who spoke and what was said."""

    role: Literal["customer", "agent"]
    text: str


class KnowledgeSnippet(msgspec.Struct, frozen=True, kw_only=True):
    """An answer an admin wrote for the team (FAQ, policy, price list...)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    title: str
    body: str
    created_at: datetime


class KnowledgeHit(msgspec.Struct, frozen=True, kw_only=True):
    snippet: KnowledgeSnippet
    score: float  # cosine similarity, 1 = same direction


class SimilarMessage(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    score: float


class ReplyContext(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a suggester may use: one tenant's thread, never more."""

    contact_name: str | None
    turns: tuple[Turn, ...]  # oldest first; the last customer turn is the one to answer
    intent: str | None = None
    knowledge: tuple[KnowledgeHit, ...] = ()


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    provider: str
    grounded_on: tuple[str, ...] = ()  # ids of the knowledge snippets it used
    model: str = ""
    usage: TokenUsage = NO_USAGE


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    provider: str
    model: str = ""
    usage: TokenUsage = NO_USAGE


class AiUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens one provider call used, recorded per tenant."""

    tenant_id: uuid.UUID
    provider: str
    model: str
    operation: str  # "classify", "suggest", "summarize"
    input_tokens: int
    output_tokens: int
    at: datetime


class AiProviderError(UpstreamUnavailable):
    """A provider could not answer: unreachable, timed out, rate limited, refused, or
    answered something that does not decode. The fallback chain moves on to the next."""

    code = "ai_provider_failed"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        kind: str = "error",  # "rate_limited", "overloaded", "timeout", "malformed", ...
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, kind=kind)
        self.provider = provider
        self.kind = kind
        self.retry_after = retry_after


# -- provider ports ------------------------------------------------------------------


class IntentClassifier(Protocol):
    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        """One of ``intents`` for ``text``; ``AiProviderError`` when it cannot answer."""
        ...


class ReplySuggester(Protocol):
    async def suggest(self, context: ReplyContext) -> Suggestion: ...


class Summarizer(Protocol):
    async def summarize(self, turns: Sequence[Turn], *, contact_name: str | None) -> Summary: ...


class Embedder(Protocol):
    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector of ``dimensions`` floats per text."""
        ...


class AiEngine(IntentClassifier, ReplySuggester, Summarizer, Protocol):
    """All three answering ports in one (a fallback chain is one)."""


class ProviderRouter(Protocol):
    """The providers this server has, put in the order one tenant's settings ask for."""

    def configured(self) -> tuple[str, ...]:
        """Names of the providers this server can call ("anthropic", "offline"...)."""
        ...

    def engine(self, order: Sequence[str], models: Mapping[str, str]) -> AiEngine:
        """A chain of the configured providers of ``order`` (``models`` overrides a
        provider's default model); each provider keeps its circuit breaker."""
        ...


@dataclass(frozen=True)
class AiProviders:
    """The AI ports a deployment uses. ``classifier``/``suggester``/``summarizer`` are the
    default order's chain; ``router`` builds the chain of a tenant's own order."""

    classifier: IntentClassifier
    suggester: ReplySuggester
    summarizer: Summarizer
    embedder: Embedder
    router: ProviderRouter


# -- storage ports ---------------------------------------------------------------------


class KnowledgeStore(Protocol):
    async def add(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None: ...

    async def update(self, snippet: KnowledgeSnippet, embedding: Sequence[float]) -> None:
        """``NotFound`` when absent or in another tenant."""
        ...

    async def delete(self, tenant_id: uuid.UUID, snippet_id: uuid.UUID) -> None: ...

    async def get(self, tenant_id: uuid.UUID, snippet_id: uuid.UUID) -> KnowledgeSnippet: ...

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 5
    ) -> list[KnowledgeHit]:
        """Most similar first. ``UpstreamUnavailable`` where vectors are not supported."""
        ...

    async def list(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[KnowledgeSnippet]:
        """Newest first."""
        ...


class EmbeddingStore(Protocol):
    async def supported(self) -> bool:
        """Whether this database can store and search vectors (indexed or exact)."""
        ...

    async def put(
        self, tenant_id: uuid.UUID, message_id: uuid.UUID, embedding: Sequence[float]
    ) -> None:
        """Insert or replace. ``UpstreamUnavailable`` where vectors are not supported."""
        ...

    async def similar(
        self, tenant_id: uuid.UUID, embedding: Sequence[float], *, limit: int = 10
    ) -> list[SimilarMessage]: ...


class AiUsageStore(Protocol):
    async def add(self, usage: AiUsage) -> None: ...

    async def tokens_since(self, tenant_id: uuid.UUID, since: datetime) -> int: ...


# -- pure helpers ----------------------------------------------------------------------


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """1 for the same direction, 0 for orthogonal; 0 when either vector is zero."""
    if len(a) != len(b):
        raise ValueError(f"vectors of {len(a)} and {len(b)} dimensions")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norm if norm else 0.0


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls are refused until the cool-down has passed
    HALF_OPEN = "half_open"  # one trial call is let through; its result decides


@dataclass
class CircuitBreaker:
    """Stops calling a failing provider for a while.

    closed --N consecutive failures--> open --cooldown passed--> half-open
    half-open --trial succeeds--> closed;  half-open --trial fails--> open again.
    A failure that names a ``retry_after`` (a 429 saying when to come back) opens it at
    once, for at least that long.
    ``clock`` returns monotonic seconds (injected so tests control time).
    """

    failure_threshold: int = 3
    cooldown: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    failures: int = 0
    _opened_until: float | None = None
    _trial_in_flight: bool = False

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.cooldown <= 0:
            raise ValueError("cooldown must be positive")

    @property
    def state(self) -> BreakerState:
        if self._opened_until is None:
            return BreakerState.CLOSED
        if self.clock() < self._opened_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """Whether a call may go through now. In half-open, only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self.failures = 0
        self._opened_until = None
        self._trial_in_flight = False

    def record_failure(self, retry_after: float | None = None) -> None:
        self.failures += 1
        half_open = self._trial_in_flight or self.state is BreakerState.HALF_OPEN
        self._trial_in_flight = False
        if half_open or retry_after or self.failures >= self.failure_threshold:
            wait = max(self.cooldown, retry_after or 0.0)
            self._opened_until = self.clock() + wait
