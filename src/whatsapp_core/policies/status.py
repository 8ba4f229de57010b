"""Delivery status of an outbound message: it only ever moves forward.

Meta delivers status webhooks out of order and more than once (``read`` may come
before ``delivered``, or without it). Applying them with :func:`advance` makes the
stored status independent of arrival order: pending < sent < delivered < read, and
``failed`` is terminal. ``accepted`` and ``held_for_quality_assessment`` are both
"pending" and share a rank, so neither replaces the other.

A stored message keeps more than its status: when it got there and, for ``failed``,
Meta's error. :func:`settle` orders whole states, so that part too is independent of
arrival order (two failures with different errors end the same way in any order).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from whatsapp_core.errors import InvalidInput


class MessageStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    HELD = "held_for_quality_assessment"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Position in the delivery order; FAILED ranks above all (it is terminal)."""
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self is MessageStatus.FAILED


_RANK: Mapping[MessageStatus, int] = MappingProxyType(
    {
        MessageStatus.ACCEPTED: 0,
        MessageStatus.HELD: 0,
        MessageStatus.SENT: 1,
        MessageStatus.DELIVERED: 2,
        MessageStatus.READ: 3,
        MessageStatus.FAILED: 4,
    }
)

# "played" is a voice message being listened to: for delivery purposes, read.
_META_STATUSES: Mapping[str, MessageStatus] = MappingProxyType(
    {
        "accepted": MessageStatus.ACCEPTED,
        "held_for_quality_assessment": MessageStatus.HELD,
        "sent": MessageStatus.SENT,
        "delivered": MessageStatus.DELIVERED,
        "read": MessageStatus.READ,
        "played": MessageStatus.READ,
        "failed": MessageStatus.FAILED,
    }
)


def parse_meta_status(value: str) -> MessageStatus:
    """Map a ``statuses[].status`` string from Meta to a delivery status.

    ``deleted`` (the customer deleted the message) says nothing about delivery, so
    it is refused like an unknown value; callers count it and move on.
    """
    try:
        return _META_STATUSES[value]
    except KeyError:
        reason = "is not a delivery status" if value == "deleted" else "is unknown"
        raise InvalidInput(
            f"Meta message status {value!r} {reason}",
            code="unknown_status",
            field="status",
            value=value,
        ) from None


def advance(current: MessageStatus, incoming: MessageStatus) -> MessageStatus:
    """The status after ``incoming`` arrives: never backwards, FAILED absorbs."""
    if current is MessageStatus.FAILED or incoming is MessageStatus.FAILED:
        return MessageStatus.FAILED
    return incoming if incoming.rank > current.rank else current


def final_status(
    arrivals: Iterable[MessageStatus], start: MessageStatus = MessageStatus.ACCEPTED
) -> MessageStatus:
    """Fold ``arrivals`` into ``start`` with :func:`advance`."""
    status = start
    for incoming in arrivals:
        status = advance(status, incoming)
    return status


class Delivery(NamedTuple):
    """A message's delivery state: its status, when it got there, and for ``failed``
    Meta's error. The state a status webhook (or our own send's failure) proposes, too."""

    status: MessageStatus
    at: datetime | None = None
    error_code: int | None = None
    error_text: str | None = None


def settle(current: Delivery, incoming: Delivery) -> Delivery:
    """The state after ``incoming`` arrives: whichever of the two takes precedence.

    A higher rank wins (:func:`advance`: never backwards, ``failed`` above all). Between
    two failures (Meta can report one message failed twice, with different errors) the
    later one wins, then the higher code, then the greater text; between two arrivals
    of one level (``read`` and ``played``, or a repeat) the earlier time is kept, as
    when the message got there. Precedence is a total order and ``settle`` takes its
    maximum, so the final state depends only on the SET of arrivals: any order, any
    duplication, any grouping into batches ends in the same state."""
    return incoming if _precedence(incoming) > _precedence(current) else current


def settle_all(arrivals: Iterable[Delivery], start: Delivery) -> Delivery:
    """Fold ``arrivals`` into ``start`` with :func:`settle`."""
    state = start
    for incoming in arrivals:
        state = settle(state, incoming)
    return state


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _precedence(state: Delivery) -> tuple[int, str, int, int, int, int, int, str]:
    """``settle``'s total order. Every field takes part, so two states that compare
    equal are the same state and which one is kept does not matter."""
    at = state.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    micros = (at - _EPOCH) // _MICROSECOND if at is not None else 0
    failed = state.status is MessageStatus.FAILED
    code, text = state.error_code, state.error_text
    return (
        state.status.rank,
        # One level, several statuses (accepted and held): a fixed order between them.
        state.status.value,
        int(at is not None),
        micros if failed else -micros,  # the latest failure; a level's first arrival
        int(code is not None),
        code if code is not None else 0,
        int(text is not None),
        text or "",
    )
