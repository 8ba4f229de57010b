"""The dashboard's aggregates in SQL: one GROUP BY per figure, counted with FILTER, so a
tenant's million messages never leave the database (only a row per day, code, intent,
template or user does). Response times run window functions over the threads of the
conversations active in the period (``ix_messages_thread``) and return only the
``percentile_cont`` aggregates.

The period filter is ``tenant_id = :t AND created_at BETWEEN :since AND :until``; RLS
scopes the transaction to the tenant like every other store. Ties are ordered with the
"C" collation, byte order, which is how the memory twin's ``sorted`` orders them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from adapters.postgres import tables
from adapters.postgres.store_base import SqlaStore
from whatsapp_core.domain.model import ConversationStatus, Direction
from whatsapp_core.domain.statistics import (
    STATUS_FIELD,
    AgentTally,
    ConversationTally,
    DayTally,
    FailureTally,
    IntentTally,
    ResponseTimes,
    TemplateTally,
)
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.window import SERVICE_WINDOW

_c = tables.conversations
_m = tables.messages
_INBOUND = _m.c.direction == Direction.INBOUND.value
_OUTBOUND = _m.c.direction == Direction.OUTBOUND.value
_OPEN = _c.c.status == ConversationStatus.OPEN.value
_INSTANTS = ARRAY(sa.DateTime(timezone=True))


def _count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count().filter(sa.and_(*conditions))


def _in_period(since: datetime, until: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(_m.c.created_at >= since, _m.c.created_at <= until)


def _c_order(column: Any) -> Any:
    return column.collate("C")


class SqlaInboxStatistics(SqlaStore):
    table = _m

    async def _rows(self, tenant_id: uuid.UUID, statement: sa.Executable) -> list[Any]:
        return list(await self._execute(tenant_id, statement))

    async def conversations(
        self, tenant_id: uuid.UUID, *, now: datetime, closing_within: timedelta
    ) -> ConversationTally:
        statuses = {
            s.value: _count(_c.c.status == s.value).label(s.value) for s in ConversationStatus
        }
        q = sa.select(
            *statuses.values(),
            _count(_OPEN, _c.c.assignee_id.is_(None)).label("unassigned_open"),
            _count(_OPEN, _c.c.unread_count > 0).label("unread_open"),
            _count(
                _OPEN,
                _c.c.last_inbound_at > now - SERVICE_WINDOW,
                _c.c.last_inbound_at <= now - SERVICE_WINDOW + closing_within,
            ).label("closing_open"),
        ).where(_c.c.tenant_id == tenant_id)
        (row,) = await self._rows(tenant_id, q)
        return ConversationTally(**{k: int(v) for k, v in row._mapping.items()})

    async def days(
        self, tenant_id: uuid.UUID, *, day_starts: Sequence[datetime], until: datetime
    ) -> list[DayTally]:
        if not day_starts:
            return []
        # width_bucket: 1 for the first day's start up to the second's, ... (0 before).
        day = sa.func.width_bucket(_m.c.created_at, sa.literal(list(day_starts), _INSTANTS))
        q = (
            sa.select(
                (day - 1).label("day"),
                _count(_INBOUND).label("inbound"),
                _count(_OUTBOUND).label("outbound"),
                *(
                    _count(_OUTBOUND, _m.c.status == status.value).label(name)
                    for status, name in STATUS_FIELD.items()
                ),
            )
            .where(_m.c.tenant_id == tenant_id, _in_period(day_starts[0], until))
            .group_by(sa.literal_column("day"))
            .order_by(sa.literal_column("day"))
        )
        return [
            DayTally(**{k: int(v) for k, v in row._mapping.items()})
            for row in await self._rows(tenant_id, q)
        ]

    async def failures(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[FailureTally]:
        texts = sa.func.array_agg(
            aggregate_order_by(_m.c.error_text, _m.c.created_at.desc(), _m.c.id.desc()),
            type_=ARRAY(sa.Text),
        ).filter(_m.c.error_text.is_not(None))
        count = sa.func.count().label("count")
        q = (
            sa.select(
                _m.c.error_code,
                count,
                sa.type_coerce(texts, ARRAY(sa.Text))[1].label("text"),
            )
            .where(
                _m.c.tenant_id == tenant_id,
                _in_period(since, until),
                _OUTBOUND,
                _m.c.status == MessageStatus.FAILED.value,
            )
            .group_by(_m.c.error_code)
            .order_by(count.desc(), _m.c.error_code.asc().nulls_last())
            .limit(limit)
        )
        return [
            FailureTally(code=code, count=int(n), text=text)
            for code, n, text in await self._rows(tenant_id, q)
        ]

    async def intents(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[IntentTally]:
        count = sa.func.count().label("count")
        q = (
            sa.select(_m.c.intent, count)
            .where(
                _m.c.tenant_id == tenant_id,
                _in_period(since, until),
                _INBOUND,
                _m.c.intent.is_not(None),
            )
            .group_by(_m.c.intent)
            .order_by(count.desc(), _c_order(_m.c.intent))
            .limit(limit)
        )
        return [
            IntentTally(intent=intent, count=int(n)) for intent, n in await self._rows(tenant_id, q)
        ]

    async def templates(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[TemplateTally]:
        name = _m.c.template_name.label("name")
        language = sa.func.coalesce(_m.c.template_language, sa.literal_column("''"))
        sent = sa.func.count().label("sent")
        q = (
            sa.select(
                name,
                language.label("language"),
                sent,
                _count(
                    _m.c.status.in_([MessageStatus.DELIVERED.value, MessageStatus.READ.value])
                ).label("delivered"),
                _count(_m.c.status == MessageStatus.READ.value).label("read"),
                _count(_m.c.status == MessageStatus.FAILED.value).label("failed"),
            )
            .where(
                _m.c.tenant_id == tenant_id,
                _in_period(since, until),
                _OUTBOUND,
                _m.c.template_name.is_not(None),
            )
            .group_by(_m.c.template_name, language)
            .order_by(sent.desc(), _c_order(_m.c.template_name), _c_order(language))
            .limit(limit)
        )
        return [
            TemplateTally(
                name=name, language=lang, sent=int(n), delivered=int(d), read=int(r), failed=int(f)
            )
            for name, lang, n, d, r, f in await self._rows(tenant_id, q)
        ]

    async def agents(
        self, tenant_id: uuid.UUID, *, now: datetime, since: datetime
    ) -> list[AgentTally]:
        assigned_q = (
            sa.select(_c.c.assignee_id, sa.func.count())
            .where(_c.c.tenant_id == tenant_id, _OPEN, _c.c.assignee_id.is_not(None))
            .group_by(_c.c.assignee_id)
        )
        replies_q = (
            sa.select(_m.c.author_id, sa.func.count())
            .where(
                _m.c.tenant_id == tenant_id,
                _in_period(since, now),
                _OUTBOUND,
                _m.c.author_id.is_not(None),
            )
            .group_by(_m.c.author_id)
        )
        assigned = {u: int(n) for u, n in await self._rows(tenant_id, assigned_q)}
        replies = {u: int(n) for u, n in await self._rows(tenant_id, replies_q)}
        return [
            AgentTally(
                user_id=user_id,
                open_assigned=assigned.get(user_id, 0),
                replies=replies.get(user_id, 0),
            )
            for user_id in sorted(assigned.keys() | replies.keys())
        ]

    async def response_times(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime
    ) -> ResponseTimes:
        # Each conversation with an inbound message in the period is read through its
        # whole history up to ``until`` (a wait may have begun before the period), in
        # ``ix_messages_thread`` order: newest first, so the window frames look back to
        # "the next person's answer" and forward to "the previous message". Messages
        # nobody wrote (AI, automations) are left out before the windows run.
        active = _m.alias("active")
        conversations = sa.select(active.c.conversation_id).where(
            active.c.tenant_id == tenant_id,
            active.c.created_at >= since,
            active.c.created_at <= until,
            active.c.direction == Direction.INBOUND.value,
        )
        by = _m.c.conversation_id
        newest_first = (_m.c.created_at.desc(), _m.c.direction.desc(), _m.c.id.desc())
        thread = (
            sa.select(
                _m.c.direction,
                _m.c.created_at,
                sa.func.lead(_m.c.direction)
                .over(partition_by=by, order_by=newest_first)
                .label("previous"),
                sa.func.min(_m.c.created_at)
                .filter(_OUTBOUND)
                .over(partition_by=by, order_by=newest_first, rows=(None, 0))
                .label("answered_at"),
                sa.func.count()
                .filter(_INBOUND)
                .over(partition_by=by, order_by=newest_first, rows=(0, None))
                .label("inbound_seen"),
            )
            .where(
                _m.c.tenant_id == tenant_id,
                _m.c.conversation_id.in_(conversations),
                _m.c.created_at <= until,
                sa.or_(_INBOUND, _m.c.author_id.is_not(None)),
            )
            .subquery("thread")
        )
        t = thread.c
        seconds = sa.cast(sa.extract("epoch", t.answered_at - t.created_at), sa.Float)
        first = sa.case((t.inbound_seen == 1, seconds))
        q = sa.select(
            sa.func.count(t.answered_at).label("answered"),
            sa.func.count().filter(t.answered_at.is_(None)).label("unanswered"),
            sa.func.percentile_cont(0.5).within_group(seconds).label("median_seconds"),
            sa.func.percentile_cont(0.9).within_group(seconds).label("p90_seconds"),
            sa.func.percentile_cont(0.5).within_group(first).label("first_median_seconds"),
        ).where(
            t.direction == Direction.INBOUND.value,
            sa.or_(t.previous.is_(None), t.previous == Direction.OUTBOUND.value),
            t.created_at >= since,
        )
        (row,) = await self._rows(tenant_id, q)
        return ResponseTimes(**row._mapping)
