"""The providers of this server by name, chained in the order a tenant's settings ask for.

One ``ProviderRegistry`` per process holds the providers (one SDK client each) and one
``CircuitBreaker`` per provider and model, shared by every tenant: a Claude outage opens
Claude's breaker for everyone, while one tenant's bad model name only trips the breaker
of that model. Chains are cheap and cached per (order, models).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.ai.chain import FallbackChain
from whatsapp_core.ai import AiProviderError, CircuitBreaker

MAX_CHAINS = 512  # distinct (order, models) kept; older ones are rebuilt when asked again


class ProviderRegistry:
    def __init__(
        self,
        providers: Mapping[str, Any],
        *,
        call_timeout: float = 20.0,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not providers:
            raise ValueError("a registry needs at least one provider")
        self._providers = dict(providers)
        self._call_timeout = call_timeout
        self._failure_threshold = failure_threshold
        self._cooldown = cooldown
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._chains: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], FallbackChain] = {}

    def configured(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def engine(self, order: Sequence[str], models: Mapping[str, str]) -> FallbackChain:
        names = tuple(name for name in order if name in self._providers)
        if not names:
            raise AiProviderError(
                f"none of {', '.join(order) or 'no providers'} is configured here",
                provider="router",
                kind="unconfigured",
            )
        chosen = tuple((name, models[name]) for name in names if models.get(name))
        key = (names, chosen)
        chain = self._chains.get(key)
        if chain is None:
            overrides = dict(chosen)
            providers = [self._variant(name, overrides.get(name)) for name in names]
            breakers = [
                self._breaker(name, getattr(p, "model", ""))
                for name, p in zip(names, providers, strict=True)
            ]
            chain = FallbackChain(providers, breakers=breakers, call_timeout=self._call_timeout)
            if len(self._chains) >= MAX_CHAINS:
                self._chains.pop(next(iter(self._chains)))
            self._chains[key] = chain
        return chain

    def _variant(self, name: str, model: str | None) -> Any:
        base = self._providers[name]
        if model and model != getattr(base, "model", None) and hasattr(base, "using"):
            return base.using(model)
        return base

    def _breaker(self, name: str, model: str) -> CircuitBreaker:
        key = (name, model)
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = CircuitBreaker(
                failure_threshold=self._failure_threshold,
                cooldown=self._cooldown,
                clock=self._clock,
            )
        return found

    async def aclose(self) -> None:
        """Close the providers' SDK clients (model variants share them)."""
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
