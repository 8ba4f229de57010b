"""The 24-hour customer service window.

Meta allows free-form messages only within 24 hours of the contact's LAST inbound
message; outside it, only an approved template may be sent (error 131047 otherwise).
All arithmetic is done in UTC: adding 24 h to a zone-local time would add 24 wall-clock
hours, which is 23 or 25 real hours across a daylight-saving change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from whatsapp_core.errors import InvalidInput, PolicyViolation

SERVICE_WINDOW: timedelta = timedelta(hours=24)


class WindowState(msgspec.Struct, frozen=True):
    """Whether free-form messages are allowed now, and until (or since) when."""

    is_open: bool
    closes_at: datetime | None
    """When the window closes or closed, in UTC; None if the contact never wrote."""


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be a timezone-aware datetime", field=field)
    return value.astimezone(UTC)


def latest_inbound(current: datetime | None, arrived_at: datetime) -> datetime:
    """The last-inbound time after a message sent at ``arrived_at`` is recorded.

    Webhooks arrive out of order, so an older message processed late must never
    pull the window's start backwards.
    """
    arrived = _utc(arrived_at, "arrived_at")
    if current is None:
        return arrived
    return max(_utc(current, "last_inbound_at"), arrived)


def window_state(last_inbound_at: datetime | None, now: datetime) -> WindowState:
    """The window as seen at ``now``: open iff ``now < last_inbound_at + 24 h``."""
    now_utc = _utc(now, "now")
    if last_inbound_at is None:
        return WindowState(is_open=False, closes_at=None)
    closes_at = _utc(last_inbound_at, "last_inbound_at") + SERVICE_WINDOW
    return WindowState(is_open=now_utc < closes_at, closes_at=closes_at)


def require_free_form_allowed(last_inbound_at: datetime | None, now: datetime) -> WindowState:
    """Return the open window, or refuse with ``PolicyViolation(code="window_closed")``."""
    state = window_state(last_inbound_at, now)
    if state.is_open:
        return state
    if state.closes_at is None:
        message = (
            "This contact has never messaged you, so free-form messages are not allowed; "
            "send an approved template instead."
        )
        closes_at = None
    else:
        closes_at = state.closes_at.isoformat()
        message = (
            f"The 24-hour customer service window closed at {closes_at}; "
            "send an approved template instead."
        )
    raise PolicyViolation(message, code="window_closed", closes_at=closes_at)
