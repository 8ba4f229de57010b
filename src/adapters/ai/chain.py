"""Claude -> OpenAI -> offline: the first provider that answers wins.

Each provider sits behind its own ``CircuitBreaker``: a provider that times out, errors,
is rate limited or answers malformed JSON is skipped for this call, and after a few
consecutive failures (or a 429 naming a ``retry-after``) it is not called at all until
its cool-down has passed. The answer records which provider gave it (``provider``).
Put the offline provider last and the chain always answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from whatsapp_core.ai import (
    AiProviderError,
    CircuitBreaker,
    IntentResult,
    ReplyContext,
    Suggestion,
    Summary,
    Turn,
)

log = logging.getLogger("adapters.ai")
T = TypeVar("T")


@dataclass
class Link:
    name: str
    provider: Any  # implements some of IntentClassifier / ReplySuggester / Summarizer
    breaker: CircuitBreaker


class FallbackChain:
    def __init__(
        self,
        providers: Sequence[Any],
        *,
        breakers: Sequence[CircuitBreaker] | None = None,
        call_timeout: float = 20.0,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
    ) -> None:
        if not providers:
            raise ValueError("a fallback chain needs at least one provider")
        if breakers is not None and len(breakers) != len(providers):
            raise ValueError("one breaker per provider")
        self.links = [
            Link(
                name=getattr(p, "name", type(p).__name__),
                provider=p,
                breaker=breakers[i]
                if breakers is not None
                else CircuitBreaker(failure_threshold=failure_threshold, cooldown=cooldown),
            )
            for i, p in enumerate(providers)
        ]
        self.call_timeout = call_timeout
        self.name = "+".join(link.name for link in self.links)

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        return await self._first(
            "classify", lambda p: p.classify(text, intents=intents, context=context)
        )

    async def suggest(self, context: ReplyContext) -> Suggestion:
        return await self._first("suggest", lambda p: p.suggest(context))

    async def summarize(self, turns: Sequence[Turn], *, contact_name: str | None) -> Summary:
        return await self._first(
            "summarize", lambda p: p.summarize(turns, contact_name=contact_name)
        )

    async def _first(self, operation: str, call: Callable[[Any], Awaitable[T]]) -> T:
        failures: list[str] = []
        for link in self.links:
            if not hasattr(link.provider, operation):
                continue
            if not link.breaker.allow():
                failures.append(f"{link.name}: circuit open")
                continue
            try:
                async with asyncio.timeout(self.call_timeout):
                    result = await call(link.provider)
            except (AiProviderError, TimeoutError) as exc:
                wait = exc.retry_after if isinstance(exc, AiProviderError) else None
                link.breaker.record_failure(wait)
                reason = str(exc) or f"no answer within {self.call_timeout:g} s"
                failures.append(f"{link.name}: {reason}")
                log.warning(
                    "ai %s: %s failed, trying the next provider: %s", operation, link.name, reason
                )
                continue
            except BaseException:
                link.breaker.record_failure()  # cancelled mid-call: free a half-open trial
                raise
            link.breaker.record_success()
            return result
        raise AiProviderError(
            f"no AI provider could {operation}: " + "; ".join(failures),
            provider="chain",
            kind="exhausted",
        )

    async def aclose(self) -> None:
        for link in self.links:
            close = getattr(link.provider, "aclose", None)
            if close is not None:
                await close()
