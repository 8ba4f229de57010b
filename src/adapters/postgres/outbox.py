"""The outbox as a queue in PostgreSQL: claim with ``FOR UPDATE SKIP LOCKED`` under a lease.

Each call is its own short transaction, run as the role ``wa_relay`` (migration 0004):
the relay serves every tenant, while the application's units of work run as
``wa_app`` and row-level security shows them one tenant's rows. The engine given here
logs in as the same user as the application; that user may ``SET ROLE wa_relay``.

A claim is one statement: lock up to N due rows that no other transaction holds
(``SKIP LOCKED``, so concurrent relays never wait for or take each other's rows),
mark them ``running`` until ``now + lease`` and count the attempt. A worker that dies
leaves its rows ``running``; once the lease passes they are due again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgres import tables
from adapters.postgres.engine import translated_errors
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import JobRecord, JobState

RELAY_ROLE = "wa_relay"

_t = tables.outbox
_COLUMNS = [_t.c[name] for name in JobRecord.__struct_fields__]
_due_at = sa.func.coalesce(_t.c.available_at, _t.c.created_at)


# Each finished job by (id, attempts): the attempt fences it as in ``_fenced``.
_MARK_DONE_MANY = sa.text(
    "UPDATE outbox SET state = 'done', finished_at = :now, outcome = f.outcome,"
    " locked_until = NULL"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:outcomes AS text[]))"
    " AS f(id, attempts, outcome)"
    " WHERE outbox.id = f.id AND outbox.state = 'running' AND outbox.attempts = f.attempts"
    " RETURNING outbox.id"
)


# Each job by (id, attempts), fenced the same way; its lease runs again.
_RENEW_MANY = sa.text(
    "UPDATE outbox SET locked_until = :until"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[])) AS f(id, attempts)"
    " WHERE outbox.id = f.id AND outbox.state = 'running' AND outbox.attempts = f.attempts"
    " RETURNING outbox.id, outbox.attempts"
)


def job_record(row: sa.Row[Any]) -> JobRecord:
    # Column keys are SQLAlchemy ``quoted_name`` (a str subclass msgspec does not take).
    return msgspec.convert({str(k): v for k, v in row._mapping.items()}, JobRecord)


class SqlaOutboxRelay:
    def __init__(self, engine: AsyncEngine, *, role: str | None = RELAY_ROLE) -> None:
        self._engine = engine
        self._role = role

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        async with translated_errors(), self._engine.begin() as conn:
            if self._role:
                await conn.execute(sa.text(f'SET LOCAL ROLE "{self._role}"'))
            yield conn

    async def claim(self, limit: int, *, now: datetime, lease: timedelta) -> list[JobRecord]:
        if limit <= 0:
            return []
        picked = (
            sa.select(_t.c.id)
            .where(
                sa.or_(
                    sa.and_(_t.c.state == JobState.PENDING.value, _due_at <= now),
                    sa.and_(_t.c.state == JobState.RUNNING.value, _t.c.locked_until <= now),
                )
            )
            .order_by(_due_at, _t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        stmt = (
            sa.update(_t)
            .where(_t.c.id == picked.c.id)
            .values(
                state=JobState.RUNNING.value,
                attempts=_t.c.attempts + 1,
                locked_until=now + lease,
                dispatched_at=sa.func.coalesce(_t.c.dispatched_at, now),
            )
            .returning(*_COLUMNS)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(stmt)).all()
        return sorted((job_record(r) for r in rows), key=lambda r: (r.due_at, str(r.id)))

    async def _fenced(self, job: JobRecord, **values: Any) -> bool:
        stmt = (
            sa.update(_t)
            .where(
                _t.c.id == job.id,
                _t.c.state == JobState.RUNNING.value,
                _t.c.attempts == job.attempts,
            )
            .values(locked_until=None, **values)
        )
        async with self._tx() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    async def mark_done(self, job: JobRecord, *, now: datetime, outcome: str) -> bool:
        return await self._fenced(job, state=JobState.DONE.value, finished_at=now, outcome=outcome)

    async def mark_done_many(
        self, done: Sequence[tuple[JobRecord, str]], *, now: datetime
    ) -> list[bool]:
        if not done:
            return []
        params = {
            "ids": [job.id for job, _ in done],
            "attempts": [job.attempts for job, _ in done],
            "outcomes": [outcome for _, outcome in done],
            "now": now,
        }
        async with self._tx() as conn:
            marked = set((await conn.execute(_MARK_DONE_MANY, params)).scalars())
        return [job.id in marked for job, _ in done]

    async def renew_many(
        self, jobs: Sequence[JobRecord], *, now: datetime, lease: timedelta
    ) -> list[bool]:
        if not jobs:
            return []
        params = {
            "ids": [job.id for job in jobs],
            "attempts": [job.attempts for job in jobs],
            "until": now + lease,
        }
        async with self._tx() as conn:
            renewed = {(i, n) for i, n in (await conn.execute(_RENEW_MANY, params)).all()}
        return [(job.id, job.attempts) in renewed for job in jobs]

    async def release(self, job: JobRecord) -> bool:
        return await self._fenced(job, state=JobState.PENDING.value, attempts=_t.c.attempts - 1)

    async def schedule_retry(self, job: JobRecord, *, at: datetime, error: str) -> bool:
        return await self._fenced(
            job, state=JobState.PENDING.value, available_at=at, last_error=error
        )

    async def mark_dead(self, job: JobRecord, *, now: datetime, error: str) -> bool:
        return await self._fenced(job, state=JobState.DEAD.value, finished_at=now, last_error=error)

    async def list_jobs(
        self,
        state: JobState | None = None,
        *,
        tenant_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        q = sa.select(*_COLUMNS).order_by(_t.c.created_at.desc(), _t.c.id.desc()).limit(limit)
        if state is not None:
            q = q.where(_t.c.state == state.value)
        if tenant_id is not None:
            q = q.where(_t.c.tenant_id == tenant_id)
        async with self._tx() as conn:
            rows = (await conn.execute(q)).all()
        return [job_record(r) for r in rows]

    async def count_by_state(self, *, tenant_id: uuid.UUID | None = None) -> dict[JobState, int]:
        q = sa.select(_t.c.state, sa.func.count()).group_by(_t.c.state)
        if tenant_id is not None:
            q = q.where(_t.c.tenant_id == tenant_id)
        async with self._tx() as conn:
            rows = (await conn.execute(q)).all()
        return {JobState(state): int(count) for state, count in rows}

    async def requeue(
        self, job_id: uuid.UUID, *, now: datetime, tenant_id: uuid.UUID | None = None
    ) -> JobRecord:
        scope = [_t.c.id == job_id]
        if tenant_id is not None:
            scope.append(_t.c.tenant_id == tenant_id)
        stmt = (
            sa.update(_t)
            .where(*scope, _t.c.state == JobState.DEAD.value)
            .values(
                state=JobState.PENDING.value,
                attempts=0,
                available_at=now,
                locked_until=None,
                finished_at=None,
                outcome=None,
            )
            .returning(*_COLUMNS)
        )
        async with self._tx() as conn:
            row = (await conn.execute(stmt)).first()
            if row is not None:
                return job_record(row)
            current = (await conn.execute(sa.select(_t.c.state).where(*scope))).scalar()
        if current is None:
            raise NotFound("job not found")
        raise Conflict(f"only a dead job can be requeued (this one is {current})")
