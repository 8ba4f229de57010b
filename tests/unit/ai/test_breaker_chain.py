"""The circuit breaker's state machine and the fallback chain built on it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.ai.chain import FallbackChain
from adapters.ai.offline import OfflineProvider
from whatsapp_core.ai import (
    DEFAULT_INTENTS,
    AiProviderError,
    BreakerState,
    CircuitBreaker,
    IntentResult,
    ReplyContext,
    Turn,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def breaker(clock: FakeClock, threshold: int = 3, cooldown: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=threshold, cooldown=cooldown, clock=clock)


def test_opens_after_consecutive_failures_then_half_opens_after_the_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()

    clock.t += 29.9
    assert not b.allow()
    clock.t += 0.2
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the one trial
    assert not b.allow()  # nobody else while it runs
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert b.allow()


def test_a_failed_trial_opens_it_again_for_a_full_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock, threshold=1)
    b.record_failure()
    clock.t += 30
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.t += 29
    assert not b.allow()


def test_a_success_resets_the_failure_count() -> None:
    clock = FakeClock()
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_retry_after_opens_at_once_for_at_least_that_long() -> None:
    clock = FakeClock()
    b = breaker(clock, cooldown=10)
    b.record_failure(retry_after=60)
    assert b.state is BreakerState.OPEN
    clock.t += 59
    assert not b.allow()
    clock.t += 2
    assert b.allow()


@given(st.lists(st.sampled_from(["ok", "fail", "wait"]), max_size=60))
def test_never_lets_a_call_through_while_open(steps: list[str]) -> None:
    clock = FakeClock()
    b = breaker(clock, threshold=2, cooldown=5)
    for step in steps:
        if step == "wait":
            clock.t += 3
            continue
        was_open = b.state is BreakerState.OPEN
        allowed = b.allow()
        assert not (was_open and allowed)
        if allowed:
            b.record_success() if step == "ok" else b.record_failure()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(cooldown=0)


class Scripted:
    """A provider that fails (or hangs) as told, and counts its calls."""

    def __init__(self, name: str, *outcomes: str) -> None:
        self.name = name
        self.outcomes = list(outcomes)
        self.calls = 0

    async def classify(
        self, text: str, *, intents: Sequence[str], context: Sequence[Turn] = ()
    ) -> IntentResult:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "hang":
            await asyncio.sleep(10)
        if outcome == "malformed":
            raise AiProviderError("not JSON", provider=self.name, kind="malformed")
        if outcome == "429":
            raise AiProviderError("slow down", provider=self.name, kind="rate_limited",
                                  retry_after=120)  # fmt: skip
        return IntentResult(intent="question", confidence=0.9, provider=self.name)


async def test_the_first_provider_that_answers_wins_and_is_recorded() -> None:
    claude, openai = Scripted("anthropic"), Scripted("openai")
    chain = FallbackChain([claude, openai, OfflineProvider()])
    result = await chain.classify("hi", intents=DEFAULT_INTENTS)
    assert result.provider == "anthropic"
    assert (claude.calls, openai.calls) == (1, 0)


async def test_malformed_output_and_timeouts_fall_through_to_the_next_provider() -> None:
    claude, openai = Scripted("anthropic", "malformed"), Scripted("openai", "hang")
    chain = FallbackChain([claude, openai, OfflineProvider()], call_timeout=0.05)
    result = await chain.classify("Where is my order?", intents=DEFAULT_INTENTS)
    assert (result.provider, result.intent) == ("offline", "order_status")


async def test_a_provider_whose_breaker_is_open_is_not_called() -> None:
    clock = FakeClock()
    claude = Scripted("anthropic", "malformed", "malformed")
    breakers = [breaker(clock, threshold=2), breaker(clock), breaker(clock)]
    chain = FallbackChain([claude, Scripted("openai"), OfflineProvider()], breakers=breakers)
    for _ in range(2):
        assert (await chain.classify("x", intents=DEFAULT_INTENTS)).provider == "openai"
    assert (await chain.classify("x", intents=DEFAULT_INTENTS)).provider == "openai"
    assert claude.calls == 2  # open: skipped on the third call

    clock.t += 31  # half-open: one trial, which now succeeds
    assert (await chain.classify("x", intents=DEFAULT_INTENTS)).provider == "anthropic"
    assert breakers[0].state is BreakerState.CLOSED


async def test_a_rate_limit_opens_the_breaker_for_its_retry_after() -> None:
    clock = FakeClock()
    claude = Scripted("anthropic", "429")
    breakers = [breaker(clock), breaker(clock)]
    chain = FallbackChain([claude, OfflineProvider()], breakers=breakers)
    assert (await chain.classify("hola", intents=DEFAULT_INTENTS)).provider == "offline"
    clock.t += 100
    await chain.classify("hola", intents=DEFAULT_INTENTS)
    assert claude.calls == 1
    clock.t += 21
    assert (await chain.classify("hola", intents=DEFAULT_INTENTS)).provider == "anthropic"


async def test_when_every_provider_fails_the_error_names_each() -> None:
    chain = FallbackChain([Scripted("anthropic", "malformed"), Scripted("openai", "429")])
    with pytest.raises(AiProviderError, match=r"anthropic: not JSON; openai: slow down") as e:
        await chain.classify("x", intents=DEFAULT_INTENTS)
    assert e.value.kind == "exhausted"


async def test_operations_a_provider_lacks_are_skipped() -> None:
    chain = FallbackChain([Scripted("classifier-only"), OfflineProvider()])
    context = ReplyContext(contact_name="Ana", turns=(Turn(role="customer", text="Oi"),))
    assert (await chain.suggest(context)).provider == "offline"
    summary = await chain.summarize(context.turns, contact_name="Ana")
    assert summary.provider == "offline"


def test_a_chain_needs_providers_and_one_breaker_each() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FallbackChain([])
    with pytest.raises(ValueError, match="one breaker per provider"):
        FallbackChain([OfflineProvider()], breakers=[])
