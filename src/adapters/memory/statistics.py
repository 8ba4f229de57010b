"""The dashboard's aggregates over the memory state: the same answers as the SQL of
``adapters.postgres.statistics``, computed by walking the dicts."""

from __future__ import annotations

import bisect
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from adapters.memory.stores import MemoryState
from whatsapp_core.domain.model import ConversationStatus, Direction, Message
from whatsapp_core.domain.statistics import (
    STATUS_FIELD,
    AgentTally,
    ConversationTally,
    DayTally,
    FailureTally,
    IntentTally,
    ResponseTimes,
    TemplateTally,
    percentile_cont,
)
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.window import SERVICE_WINDOW

_OPEN = ConversationStatus.OPEN


class MemoryInboxStatistics:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def _messages(
        self, tenant_id: uuid.UUID, since: datetime, until: datetime
    ) -> Iterator[Message]:
        for m in self._s.messages.values():
            if m.tenant_id == tenant_id and since <= m.created_at <= until:
                yield m

    async def conversations(
        self, tenant_id: uuid.UUID, *, now: datetime, closing_within: timedelta
    ) -> ConversationTally:
        counts: Counter[str] = Counter()
        for c in self._s.conversations.values():
            if c.tenant_id != tenant_id:
                continue
            counts[c.status.value] += 1
            if c.status is not _OPEN:
                continue
            counts["unassigned_open"] += c.assignee_id is None
            counts["unread_open"] += c.unread_count > 0
            closes = None if c.last_inbound_at is None else c.last_inbound_at + SERVICE_WINDOW
            counts["closing_open"] += closes is not None and now < closes <= now + closing_within
        return ConversationTally(**counts)

    async def days(
        self, tenant_id: uuid.UUID, *, day_starts: Sequence[datetime], until: datetime
    ) -> list[DayTally]:
        if not day_starts:
            return []
        per_day: dict[int, Counter[str]] = {}
        for m in self._messages(tenant_id, day_starts[0], until):
            counts = per_day.setdefault(
                bisect.bisect_right(day_starts, m.created_at) - 1, Counter()
            )
            counts[m.direction.value] += 1
            if m.direction is Direction.OUTBOUND and m.status is not None:
                counts[STATUS_FIELD[m.status]] += 1
        return [DayTally(day=day, **per_day[day]) for day in sorted(per_day)]

    async def failures(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[FailureTally]:
        counts: Counter[int | None] = Counter()
        latest: dict[int | None, Message] = {}
        for m in self._messages(tenant_id, since, until):
            if m.direction is not Direction.OUTBOUND or m.status is not MessageStatus.FAILED:
                continue
            counts[m.error_code] += 1
            if m.error_text is not None:
                shown = latest.get(m.error_code)
                if shown is None or (m.created_at, m.id) > (shown.created_at, shown.id):
                    latest[m.error_code] = m
        ranked = sorted(counts, key=lambda code: (-counts[code], code is None, code or 0))
        return [
            FailureTally(
                code=code,
                count=counts[code],
                text=latest[code].error_text if code in latest else None,
            )
            for code in ranked[:limit]
        ]

    async def intents(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[IntentTally]:
        counts = Counter(
            m.intent
            for m in self._messages(tenant_id, since, until)
            if m.direction is Direction.INBOUND and m.intent is not None
        )
        ranked = sorted(counts, key=lambda intent: (-counts[intent], intent))
        return [IntentTally(intent=i, count=counts[i]) for i in ranked[:limit]]

    async def templates(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[TemplateTally]:
        counts: dict[tuple[str, str], Counter[str]] = {}
        for m in self._messages(tenant_id, since, until):
            if m.direction is not Direction.OUTBOUND or m.template_name is None:
                continue
            c = counts.setdefault((m.template_name, m.template_language or ""), Counter())
            c["sent"] += 1
            c["delivered"] += m.status in (MessageStatus.DELIVERED, MessageStatus.READ)
            c["read"] += m.status is MessageStatus.READ
            c["failed"] += m.status is MessageStatus.FAILED
        ranked = sorted(counts, key=lambda key: (-counts[key]["sent"], key))
        return [
            TemplateTally(
                name=name,
                language=language,
                **{k: counts[name, language][k] for k in ("sent", "delivered", "read", "failed")},
            )
            for name, language in ranked[:limit]
        ]

    async def agents(
        self, tenant_id: uuid.UUID, *, now: datetime, since: datetime
    ) -> list[AgentTally]:
        assigned: Counter[uuid.UUID] = Counter(
            c.assignee_id
            for c in self._s.conversations.values()
            if c.tenant_id == tenant_id and c.status is _OPEN and c.assignee_id is not None
        )
        replies: Counter[uuid.UUID] = Counter(
            m.author_id
            for m in self._messages(tenant_id, since, now)
            if m.direction is Direction.OUTBOUND and m.author_id is not None
        )
        return [
            AgentTally(user_id=user_id, open_assigned=assigned[user_id], replies=replies[user_id])
            for user_id in sorted(assigned.keys() | replies.keys())
        ]

    async def response_times(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime
    ) -> ResponseTimes:
        threads: dict[uuid.UUID, list[Message]] = {}
        for m in self._s.messages.values():
            if m.tenant_id != tenant_id or m.created_at > until:
                continue
            if m.direction is Direction.INBOUND or m.author_id is not None:
                threads.setdefault(m.conversation_id, []).append(m)
        waits: list[float] = []
        first_waits: list[float] = []
        unanswered = 0
        for thread in threads.values():
            thread.sort(key=lambda m: (m.created_at, m.direction.value, m.id))
            answered_at: datetime | None = None
            answers: list[datetime | None] = []  # the next person's answer, per message
            for m in reversed(thread):
                if m.direction is Direction.OUTBOUND:
                    answered_at = m.created_at
                answers.append(answered_at)
            answers.reverse()
            previous: Message | None = None
            inbound_seen = 0
            for m, answer in zip(thread, answers, strict=True):
                is_inbound = m.direction is Direction.INBOUND
                inbound_seen += is_inbound
                starts = is_inbound and (
                    previous is None or previous.direction is Direction.OUTBOUND
                )
                previous = m
                if not starts or m.created_at < since:
                    continue
                if answer is None:
                    unanswered += 1
                    continue
                seconds = (answer - m.created_at).total_seconds()
                waits.append(seconds)
                if inbound_seen == 1:
                    first_waits.append(seconds)
        return ResponseTimes(
            answered=len(waits),
            unanswered=unanswered,
            median_seconds=percentile_cont(waits, 0.5),
            p90_seconds=percentile_cont(waits, 0.9),
            first_median_seconds=percentile_cont(first_waits, 0.5),
        )
