"""Aggregates of one tenant's inbox, as ``ports.InboxStatistics`` returns them (the
database computes them; no row is returned): the dashboard's raw figures."""

from __future__ import annotations

import math
import uuid

import msgspec

from whatsapp_core.policies.status import MessageStatus


class ConversationTally(msgspec.Struct, frozen=True, kw_only=True):
    """Conversations as they are now."""

    open: int = 0
    pending: int = 0
    resolved: int = 0
    unassigned_open: int = 0
    unread_open: int = 0  # open with messages nobody has read
    closing_open: int = 0  # open, service window closes within the warning horizon


class DayTally(msgspec.Struct, frozen=True, kw_only=True):
    """Messages created on one day of the period; outbound split by their status now."""

    day: int  # index into the period's day starts
    inbound: int = 0
    outbound: int = 0
    accepted: int = 0
    held: int = 0  # held_for_quality_assessment: still pending at Meta
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0


# Which ``DayTally`` field counts an outbound message in each status.
STATUS_FIELD = {
    MessageStatus.ACCEPTED: "accepted",
    MessageStatus.HELD: "held",
    MessageStatus.SENT: "sent",
    MessageStatus.DELIVERED: "delivered",
    MessageStatus.READ: "read",
    MessageStatus.FAILED: "failed",
}


class FailureTally(msgspec.Struct, frozen=True, kw_only=True):
    code: int | None  # Meta's error code (None: failed without one)
    count: int
    text: str | None  # Meta's error text of the latest such failure


class IntentTally(msgspec.Struct, frozen=True, kw_only=True):
    intent: str
    count: int


class TemplateTally(msgspec.Struct, frozen=True, kw_only=True):
    """One template's sends in the period; a message counts at the furthest status it
    reached (a read message was delivered too)."""

    name: str
    language: str
    sent: int  # every send of it, whatever became of it
    delivered: int  # delivered or read
    read: int
    failed: int


class AgentTally(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    open_assigned: int = 0  # now
    replies: int = 0  # outbound messages they wrote in the period


class ResponseTimes(msgspec.Struct, frozen=True, kw_only=True):
    """How long customers waited for a person to answer, over the waits that began in
    the period (seconds; None when no wait of that kind was answered).

    A conversation's messages are taken in ``(created_at, direction, id)`` order
    (inbound first at an equal instant), leaving out outbound messages without an
    author: AI auto-replies (``content.sent_by == "ai"``) and template or automation
    sends by an API key answer nobody personally, so they neither answer a wait nor
    split one. A *wait* begins at an inbound message that starts the conversation or
    follows an outbound message written by a person; a burst of inbound messages is one
    wait, from its first message. It is answered by the next outbound message written
    by a person (``author_id`` set, whatever Meta later did with it), at most at the
    period's end (now); otherwise it is still unanswered. The *first* wait of a
    conversation is the one that begins at its first inbound message ever, so a
    conversation counts for the first response in the period its customer first wrote.
    Wall-clock time: business hours are out of scope (a night counts as a night)."""

    answered: int = 0
    unanswered: int = 0  # waits begun in the period that no person has answered yet
    median_seconds: float | None = None
    p90_seconds: float | None = None  # 90 % of the answered waits took at most this
    first_median_seconds: float | None = None  # median of the answered first waits


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the two values
    around ``fraction * (n - 1)`` of the sorted values (None for no values), with the
    same floating-point steps so both give the same figure."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    first, second = ordered[low], ordered[high]
    return first if low == high else first + (position - low) * (second - first)
