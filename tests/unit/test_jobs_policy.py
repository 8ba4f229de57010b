"""Laws of the retry policy and of the pacing arithmetic (pure, hypothesis)."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import DeliveryError, InvalidInput, NotFound, StorageError
from whatsapp_core.jobs import (
    LATE_RETRIES,
    RetryAction,
    RetryPolicy,
    await_slot,
    describe_error,
    pacing_slot,
)

pytestmark = pytest.mark.unit

RETRY_CODES = [1, 2, 4, 80007, 130429, 131000, 131057]
PERMANENT_CODES = [131047, 131026, 131048, 131049, 131052, 132000, 132001, 132015, 190]

unit_interval = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
attempts = st.integers(min_value=1, max_value=200)


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    base = draw(st.floats(min_value=0.01, max_value=10.0))
    cap = draw(st.floats(min_value=max(base, 6.0), max_value=3600.0))
    u = draw(unit_interval)
    return RetryPolicy(
        max_attempts=draw(st.integers(min_value=1, max_value=20)),
        base_delay=base,
        cap=cap,
        rng=lambda: u,
    )


retryable_errors = st.one_of(
    st.builds(
        lambda code: DeliveryError("throttled", meta_code=code, http_status=429),
        st.sampled_from(RETRY_CODES),
    ),
    st.builds(lambda status: DeliveryError("boom", http_status=status), st.integers(500, 599)),
    st.just(DeliveryError("no answer")),  # timeout: no code, no HTTP status
    st.just(StorageError("database unavailable")),
    st.just(RuntimeError("a bug")),
)


@given(policies(), attempts, retryable_errors)
def test_a_retry_delay_never_exceeds_the_cap(
    policy: RetryPolicy, attempt: int, error: Exception
) -> None:
    decision = policy.decide(attempt, error)
    if decision.action is RetryAction.RETRY:
        assert 0.0 <= decision.delay <= policy.cap


@given(policies(), attempts, retryable_errors)
def test_retryable_errors_retry_until_the_last_attempt_then_die(
    policy: RetryPolicy, attempt: int, error: Exception
) -> None:
    decision = policy.decide(attempt, error)
    expected = RetryAction.DEAD if attempt >= policy.max_attempts else RetryAction.RETRY
    assert decision.action is expected
    if expected is RetryAction.DEAD:
        assert f"after {attempt} attempts" in decision.reason


@given(unit_interval, st.integers(min_value=1, max_value=40))
def test_for_the_same_draw_the_delay_never_shrinks_as_attempts_grow(u: float, attempt: int) -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=0.5, cap=120.0, rng=lambda: u)
    error = DeliveryError("throttled", meta_code=130429, http_status=429)
    first = policy.decide(attempt, error).delay
    assert policy.decide(attempt + 1, error).delay >= first


def test_delays_grow_with_attempts_on_average() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, cap=300.0, rng=random.Random(7).random)
    error = DeliveryError("server error", http_status=503)
    means = [
        statistics.fmean(policy.decide(n, error).delay for _ in range(400)) for n in range(1, 9)
    ]
    assert means == sorted(means)
    assert means[-1] > 20 * means[0]
    # Full jitter: the mean is about half the ceiling.
    assert means[3] == pytest.approx(policy.ceiling(4) / 2, rel=0.15)


@given(policies(), attempts, st.floats(min_value=0.0, max_value=10_000.0))
def test_retry_after_is_respected_when_longer(
    policy: RetryPolicy, attempt: int, retry_after: float
) -> None:
    error = DeliveryError("slow down", meta_code=4, http_status=429, retry_after=retry_after)
    decision = policy.decide(attempt, error)
    if attempt >= policy.max_attempts:
        assert decision.action is RetryAction.DEAD
        return
    honoured = min(retry_after, policy.max_retry_after)
    assert decision.delay >= honoured
    assert decision.delay <= max(policy.cap, honoured)


@given(policies(), st.integers(min_value=1, max_value=7))
def test_the_pair_rate_limit_waits_at_least_six_seconds(policy: RetryPolicy, attempt: int) -> None:
    policy = RetryPolicy(
        max_attempts=8, base_delay=policy.base_delay, cap=policy.cap, rng=policy.rng
    )
    decision = policy.decide(attempt, DeliveryError("pair limit", meta_code=131056))
    assert decision.action is RetryAction.RETRY
    assert 6.0 <= decision.delay <= policy.cap


@given(policies(), attempts, st.sampled_from(PERMANENT_CODES), st.sampled_from([400, 403, 404]))
def test_permanent_refusals_are_never_retried(
    policy: RetryPolicy, attempt: int, code: int, status: int
) -> None:
    decision = policy.decide(attempt, DeliveryError("refused", meta_code=code, http_status=status))
    # deliver_message has already marked the message failed: the job is done.
    assert decision.action is RetryAction.DONE
    assert f"code {code}" in decision.reason


@given(policies(), attempts, st.sampled_from([NotFound("gone"), InvalidInput("bad payload")]))
def test_errors_waiting_cannot_fix_go_straight_to_dead_letters(
    policy: RetryPolicy, attempt: int, error: Exception
) -> None:
    assert policy.decide(attempt, error).action is RetryAction.DEAD


def test_the_policy_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="recipient_delay"):
        RetryPolicy(cap=5.0)


def test_errors_are_described_with_their_meta_code() -> None:
    error = DeliveryError("(#130429) throughput", meta_code=130429, http_status=429)
    assert describe_error(error) == "DeliveryError (code 130429, http 429): (#130429) throughput"
    assert describe_error(StorageError("down")) == "StorageError: down"


@given(
    st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=100),
    st.integers(min_value=1, max_value=5),
)
def test_paced_slots_never_put_more_than_rate_plus_burst_in_one_second(
    arrivals: list[float], rate: int, burst: int
) -> None:
    tat: float | None = None
    slots = []
    for now in sorted(arrivals):
        tat, wait = pacing_slot(tat, now, 1.0 / rate, burst)
        assert wait >= 0.0
        slots.append(now + wait)
    slots.sort()
    j = 0
    for i, start in enumerate(slots):  # every half-open window [start, start + 1 s)
        while j < len(slots) and slots[j] < start + 1.0 - 1e-9:
            j += 1
        # ``burst`` at once, then one per 1/rate: a closed 1 s window may hold one more.
        assert j - i <= rate + burst - 1


def test_an_idle_bucket_lets_the_first_caller_through_at_once() -> None:
    tat, wait = pacing_slot(None, 100.0, 0.02, 1)
    assert (tat, wait) == (100.02, 0.0)
    _, wait = pacing_slot(tat, 100.0, 0.02, 1)
    assert wait == pytest.approx(0.02)


class _StallingClock:
    """A clock whose sleeps oversleep by ``stall`` seconds the first ``stalls`` times."""

    def __init__(self, stall: float, stalls: int) -> None:
        self.now, self.stall, self.stalls, self.sleeps = 100.0, stall, stalls, 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + (self.stall if self.sleeps <= self.stalls else 0.0)


async def test_a_caller_that_wakes_a_slot_late_takes_a_new_slot() -> None:
    clock = _StallingClock(stall=0.5, stalls=1)
    reserved: list[float] = []
    tat: float | None = 100.1  # someone holds the bucket: the caller must wait

    async def reserve() -> float:
        nonlocal tat
        tat, wait = pacing_slot(tat, clock(), 0.02, 1)
        reserved.append(clock() + wait)
        return wait

    await await_slot(reserve, 0.02, clock=clock, sleep=clock.sleep)
    assert len(reserved) == 2  # the first slot (100.1) was missed by 0.5 s: a new one
    assert clock.now == pytest.approx(100.6)  # the new slot: now, the bucket being idle


async def test_a_caller_on_time_within_a_slot_goes() -> None:
    clock = _StallingClock(stall=0.015, stalls=1)
    calls = 0

    async def reserve() -> float:
        nonlocal calls
        calls += 1
        return 0.1

    await await_slot(reserve, 0.02, clock=clock, sleep=clock.sleep)
    assert calls == 1


async def test_a_process_that_keeps_stalling_still_goes() -> None:
    clock = _StallingClock(stall=1.0, stalls=100)
    calls = 0

    async def reserve() -> float:
        nonlocal calls
        calls += 1
        return 0.1

    await await_slot(reserve, 0.02, clock=clock, sleep=clock.sleep)
    assert calls == LATE_RETRIES
