"""``settle``: a message's whole delivery state (status, time, error) is the same for
any arrival order and duplication of a set of statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.policies.status import (
    Delivery,
    MessageStatus,
    advance,
    settle,
    settle_all,
)

pytestmark = pytest.mark.unit

S = MessageStatus
T0 = datetime(2026, 3, 1, tzinfo=UTC)
TIMES = st.one_of(
    st.none(), st.integers(min_value=0, max_value=5).map(lambda s: T0 + timedelta(seconds=s))
)
CODES = st.one_of(st.none(), st.sampled_from([131026, 131049, 131000]))
TEXTS = st.one_of(st.none(), st.sampled_from(["", "undeliverable", "ecosystem"]))
STATES = st.builds(Delivery, st.sampled_from(S), TIMES, CODES, TEXTS)
START = Delivery(S.ACCEPTED)


@given(st.data(), st.lists(STATES, max_size=10), STATES)
def test_the_final_state_ignores_arrival_order_and_duplicates(
    data: st.DataObject, arrivals: list[Delivery], start: Delivery
) -> None:
    repeats = data.draw(st.lists(st.sampled_from(arrivals))) if arrivals else []
    replayed = data.draw(st.permutations(arrivals + repeats))
    assert settle_all(replayed, start) == settle_all(arrivals, start)


@given(STATES, STATES, STATES)
def test_settle_is_commutative_associative_and_idempotent(
    a: Delivery, b: Delivery, c: Delivery
) -> None:
    assert settle(a, b) == settle(b, a)
    assert settle(settle(a, b), c) == settle(a, settle(b, c))
    assert settle(a, a) == a


@given(STATES, STATES)
def test_the_status_follows_advance_up_to_a_shared_rank(
    current: Delivery, incoming: Delivery
) -> None:
    """Never backwards and ``failed`` absorbs, as ``advance`` says; only between two
    statuses of one rank (accepted, held) is the order fixed rather than first-come."""
    settled = settle(current, incoming).status
    if current.status.rank != incoming.status.rank:
        assert settled is advance(current.status, incoming.status)
    assert settled in (current.status, incoming.status)


def test_of_two_failures_the_later_wins_then_the_higher_code() -> None:
    early = Delivery(S.FAILED, T0, 131049, "ecosystem")
    late = Delivery(S.FAILED, T0 + timedelta(seconds=1), 131026, "undeliverable")
    assert settle(early, late) == settle(late, early) == late
    same_second = Delivery(S.FAILED, T0, 131026, "undeliverable")
    assert settle(early, same_second) == settle(same_second, early) == early


def test_a_level_keeps_the_time_it_was_first_reached() -> None:
    read = Delivery(S.READ, T0 + timedelta(seconds=3))
    played = Delivery(S.READ, T0 + timedelta(seconds=4))
    assert settle(read, played) == settle(played, read) == read


def test_a_failure_after_read_still_wins_and_a_late_sent_changes_nothing() -> None:
    read = settle_all([Delivery(S.SENT, T0), Delivery(S.READ, T0)], START)
    assert read.status is S.READ
    failed = Delivery(S.FAILED, T0, 131026, "undeliverable")
    assert settle(read, failed) == failed
    assert settle(failed, Delivery(S.SENT, T0 + timedelta(hours=1))) == failed


def test_a_known_time_beats_an_unknown_one() -> None:
    assert settle(START, Delivery(S.ACCEPTED, T0)) == Delivery(S.ACCEPTED, T0)
