"""What the harness records: a step's report, the state after it, its events and ids."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

import msgspec

from whatsapp_core.domain.model import (
    Contact,
    Conversation,
    Direction,
    DomainEvent,
    Message,
)
from whatsapp_core.errors import DomainError
from whatsapp_core.jobs import JobRecord
from whatsapp_core.policies.window import WindowState


class StepRefused(DomainError):
    """The harness cannot do what a step asks (e.g. a status before anything was sent)."""

    code = "harness"


class StepReport(msgspec.Struct, kw_only=True):
    notes: list[str] = msgspec.field(default_factory=list)
    events: list[DomainEvent] = msgspec.field(default_factory=list)
    error_code: str | None = None
    error: str | None = None


class State(msgspec.Struct, kw_only=True):
    """What a step's expectations are checked against: the conversation in focus."""

    now: datetime
    contact: Contact | None
    conversation: Conversation | None
    window: WindowState | None
    messages: list[Message]  # oldest first
    jobs: list[JobRecord]  # oldest first
    contacts: int
    sent_to_meta: int
    assignee: str = "nobody"  # the focus conversation's: agent, admin or nobody
    notes: int = 0  # on the focus conversation


class SequentialIds:
    """Ids in creation order, the same on every run: output a CI job can diff."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=next(self._next))


class RecordingPublisher:
    """Keeps every event a step publishes (nobody is subscribed in the harness)."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, event: DomainEvent) -> None:
        self.events.append(event)


def last_inbound(state: State) -> Message | None:
    return next((m for m in reversed(state.messages) if m.direction is Direction.INBOUND), None)


def counted(kinds: list[str]) -> str:
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(k if n == 1 else f"{k} ×{n}" for k, n in counts.items())


def human_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    shown = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "+" + ("".join(shown) or "0s")
