from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.status import MessageStatus, advance, final_status, parse_meta_status

pytestmark = pytest.mark.unit

S = MessageStatus
# Written out independently of the module so a wrong rank there is caught here.
ORDER = {S.ACCEPTED: 0, S.HELD: 0, S.SENT: 1, S.DELIVERED: 2, S.READ: 3, S.FAILED: 4}
STATUSES = st.sampled_from(S)
ARRIVALS = st.lists(STATUSES, max_size=12)


def expected_final(arrivals: list[MessageStatus], start: MessageStatus) -> MessageStatus:
    if S.FAILED in arrivals or start is S.FAILED:
        return S.FAILED
    best = max(arrivals, key=ORDER.__getitem__, default=start)
    return best if ORDER[best] > ORDER[start] else start


@given(st.data(), ARRIVALS, STATUSES)
def test_final_status_ignores_arrival_order_and_duplicates(
    data: st.DataObject, arrivals: list[MessageStatus], start: MessageStatus
) -> None:
    # Meta redelivers: replay some arrivals again, then shuffle everything.
    repeats = data.draw(st.lists(st.sampled_from(arrivals))) if arrivals else []
    replayed = data.draw(st.permutations(arrivals + repeats))
    assert final_status(arrivals, start) == final_status(replayed, start)
    assert final_status(replayed, start) == expected_final(arrivals, start)


@given(ARRIVALS, STATUSES)
def test_status_never_moves_backwards(arrivals: list[MessageStatus], start: MessageStatus) -> None:
    status = start
    for incoming in arrivals:
        following = advance(status, incoming)
        assert ORDER[following] >= ORDER[status]
        assert following in (status, incoming)
        status = following


@given(ARRIVALS)
def test_failed_is_absorbing(arrivals: list[MessageStatus]) -> None:
    assert final_status(arrivals, start=S.FAILED) is S.FAILED
    assert final_status([*arrivals, S.FAILED, *arrivals]) is S.FAILED


@given(STATUSES)
def test_failed_wins_over_any_status(current: MessageStatus) -> None:
    assert advance(current, S.FAILED) is S.FAILED


def test_read_before_delivered_stays_read() -> None:
    assert final_status([S.SENT, S.READ, S.DELIVERED]) is S.READ


def test_a_late_sent_never_undoes_delivered() -> None:
    assert advance(S.DELIVERED, S.SENT) is S.DELIVERED


def test_accepted_and_held_are_both_pending_so_the_current_one_stays() -> None:
    assert advance(S.ACCEPTED, S.HELD) is S.ACCEPTED
    assert advance(S.HELD, S.ACCEPTED) is S.HELD
    assert advance(S.HELD, S.SENT) is S.SENT


def test_failure_after_read_is_still_recorded() -> None:
    assert final_status([S.SENT, S.DELIVERED, S.READ, S.FAILED]) is S.FAILED


def test_nothing_arrived_keeps_the_start() -> None:
    assert final_status([]) is S.ACCEPTED
    assert final_status([], start=S.HELD) is S.HELD


@pytest.mark.parametrize(
    ("meta", "status"),
    [
        ("accepted", S.ACCEPTED),
        ("held_for_quality_assessment", S.HELD),
        ("sent", S.SENT),
        ("delivered", S.DELIVERED),
        ("read", S.READ),
        ("played", S.READ),
        ("failed", S.FAILED),
    ],
)
def test_meta_status_strings_are_parsed(meta: str, status: MessageStatus) -> None:
    assert parse_meta_status(meta) is status


def test_deleted_is_not_a_delivery_status() -> None:
    with pytest.raises(InvalidInput, match="not a delivery status") as info:
        parse_meta_status("deleted")
    assert info.value.details == {"field": "status", "value": "deleted"}


@given(st.text(max_size=30))
def test_unknown_meta_status_strings_are_refused(value: str) -> None:
    known = {s.value for s in S} | {"played"}
    if value in known:
        assert parse_meta_status(value).value in known | {"read"}
    else:
        with pytest.raises(InvalidInput):
            parse_meta_status(value)


@pytest.mark.parametrize("value", ["SENT", " sent", "sent ", "Read", ""])
def test_status_strings_are_matched_exactly(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_meta_status(value)
