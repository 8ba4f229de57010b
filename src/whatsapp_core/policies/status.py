"""Delivery status of an outbound message: it only ever moves forward.

Meta delivers status webhooks out of order and more than once (``read`` may come
before ``delivered``, or without it). Applying them with :func:`advance` makes the
stored status independent of arrival order: pending < sent < delivered < read, and
``failed`` is terminal. ``accepted`` and ``held_for_quality_assessment`` are both
"pending" and share a rank, so neither replaces the other.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType

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
