"""Aggregates of one tenant's inbox, as ``ports.InboxStatistics`` returns them (the
database computes them; no row is returned): the dashboard's raw figures."""

from __future__ import annotations

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
