from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import InvalidInput, PolicyViolation
from whatsapp_core.policies.window import (
    SERVICE_WINDOW,
    WindowState,
    latest_inbound,
    require_free_form_allowed,
    window_state,
)

pytestmark = pytest.mark.unit

PARIS = ZoneInfo("Europe/Paris")
# Zones with DST and odd offsets: wall-clock arithmetic would be wrong in them.
ZONES = st.sampled_from(
    [UTC, PARIS, ZoneInfo("America/Sao_Paulo"), timezone(timedelta(hours=5, minutes=30))]
)
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=ZONES,
    allow_imaginary=False,  # webhook times are real instants, never in a DST gap
)
ELAPSED = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=96))


@given(INSTANTS, ELAPSED, ZONES)
def test_open_exactly_during_the_24_hours_after_the_last_inbound(
    last: datetime, elapsed: timedelta, viewer_zone: timezone
) -> None:
    now = (last.astimezone(UTC) + elapsed).astimezone(viewer_zone)
    assert window_state(last, now).is_open == (elapsed < timedelta(hours=24))


@given(INSTANTS, INSTANTS)
def test_closes_at_is_24_real_hours_after_the_last_inbound_in_utc(
    last: datetime, now: datetime
) -> None:
    closes_at = window_state(last, now).closes_at
    assert closes_at is not None
    assert closes_at.utcoffset() == timedelta(0)
    assert closes_at - last == SERVICE_WINDOW


def _utc(value: datetime) -> datetime:
    # Same-zone comparison of aware datetimes ignores DST folds; UTC does not.
    return value.astimezone(UTC)


@given(st.data(), st.lists(INSTANTS, min_size=1, max_size=8), INSTANTS)
def test_arrival_order_of_inbound_messages_does_not_matter(
    data: st.DataObject, inbound: list[datetime], now: datetime
) -> None:
    arrivals = data.draw(st.permutations(inbound))
    recorded = functools.reduce(latest_inbound, arrivals[1:], latest_inbound(None, arrivals[0]))
    newest = max(inbound, key=_utc)
    assert _utc(recorded) == _utc(newest)
    assert window_state(recorded, now) == window_state(newest, now)


@given(INSTANTS, INSTANTS, INSTANTS)
def test_a_later_inbound_never_shortens_the_window(
    first: datetime, second: datetime, now: datetime
) -> None:
    before = window_state(first, now)
    after = window_state(latest_inbound(first, second), now)
    assert before.closes_at is not None
    assert after.closes_at is not None
    assert after.closes_at >= before.closes_at
    assert after.is_open or not before.is_open


@given(INSTANTS)
def test_a_contact_who_never_wrote_has_a_closed_window(now: datetime) -> None:
    assert window_state(None, now) == WindowState(is_open=False, closes_at=None)


def test_the_boundary_instant_is_already_closed() -> None:
    last = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert window_state(last, last + SERVICE_WINDOW - timedelta(microseconds=1)).is_open
    assert not window_state(last, last + SERVICE_WINDOW).is_open


def test_daylight_saving_change_does_not_shorten_the_window() -> None:
    # Paris springs forward on 2024-03-31: 24 wall-clock hours are only 23 real ones.
    last = datetime(2024, 3, 30, 12, 0, tzinfo=PARIS)
    now = datetime(2024, 3, 31, 12, 30, tzinfo=PARIS)  # 23.5 real hours later
    state = window_state(last, now)
    assert state.is_open
    assert state.closes_at == datetime(2024, 3, 31, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "now", "field"),
    [
        (datetime(2025, 1, 1), datetime(2025, 1, 1, tzinfo=UTC), "last_inbound_at"),
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1), "now"),
        (None, datetime(2025, 1, 1), "now"),
    ],
)
def test_naive_datetimes_are_refused(last: datetime | None, now: datetime, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        window_state(last, now)
    assert info.value.details["field"] == field


def test_latest_inbound_refuses_naive_datetimes() -> None:
    with pytest.raises(InvalidInput):
        latest_inbound(None, datetime(2025, 1, 1))


def test_free_form_is_allowed_inside_the_window() -> None:
    last = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    state = require_free_form_allowed(last, last + timedelta(hours=23))
    assert state == WindowState(is_open=True, closes_at=last + SERVICE_WINDOW)


def test_free_form_after_the_window_is_refused_with_its_closing_time() -> None:
    last = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(PolicyViolation) as info:
        require_free_form_allowed(last, last + timedelta(hours=30))
    assert info.value.code == "window_closed"
    assert info.value.details == {"closes_at": "2025-06-02T12:00:00+00:00"}
    assert "2025-06-02T12:00:00+00:00" in info.value.message
    assert "approved template" in info.value.message


def test_free_form_to_a_contact_who_never_wrote_is_refused() -> None:
    with pytest.raises(PolicyViolation) as info:
        require_free_form_allowed(None, datetime(2025, 6, 1, tzinfo=UTC))
    assert info.value.code == "window_closed"
    assert info.value.details == {"closes_at": None}
    assert "approved template" in info.value.message
