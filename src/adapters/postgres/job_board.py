"""One tenant's view of its jobs in PostgreSQL: the job monitor's side of ``OutboxStore``.

Unlike the relay (``outbox.py``, role ``wa_relay``, every tenant), these statements run
in the unit of work as ``wa_app`` scoped to one tenant, so row-level security agrees
with the ``tenant_id`` filters. Open jobs (not done) of a tenant are found through the
partial index ``ix_outbox_tenant_open`` (migration 0013): done rows, which pile up, are
never scanned. Requeue and discard are single conditional statements (``state =
'dead'``), so they cannot race the relay: a dead row is never claimed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.postgres import tables
from adapters.postgres.outbox import job_record
from adapters.postgres.store_base import SqlaStore
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import JobRecord, JobState, QueueDepth, QueueStatus

_t = tables.outbox
_COLUMNS = [_t.c[name] for name in JobRecord.__struct_fields__]
_PENDING = _t.c.state == JobState.PENDING.value
_NOT_DONE = _t.c.state != JobState.DONE.value  # the partial index's predicate, verbatim
_STATUS = sa.case(
    (sa.and_(_PENDING, _t.c.attempts == 0), QueueStatus.QUEUED.value),
    (_PENDING, QueueStatus.RETRYING.value),
    else_=_t.c.state,
)


def _is(status: QueueStatus) -> sa.ColumnElement[bool]:
    if status is QueueStatus.QUEUED:
        return sa.and_(_PENDING, _t.c.attempts == 0)
    if status is QueueStatus.RETRYING:
        return sa.and_(_PENDING, _t.c.attempts > 0)
    return _t.c.state == status.value


class SqlaJobBoard(SqlaStore):
    table = _t

    async def flush(self) -> None:
        """Write jobs added in this transaction (the outbox store buffers them)."""

    async def _rows(self, tenant_id: uuid.UUID, statement: sa.Executable) -> list[Any]:
        await self.flush()  # read your own writes
        return list(await self._execute(tenant_id, statement))

    async def depths(self, tenant_id: uuid.UUID) -> list[QueueDepth]:
        status = _STATUS.label("status")
        q = (
            sa.select(_t.c.kind, status, sa.func.count())
            .where(_t.c.tenant_id == tenant_id, _NOT_DONE)
            .group_by(_t.c.kind, status)
        )
        counts: dict[str, dict[str, int]] = {}
        for kind, name, n in await self._rows(tenant_id, q):
            counts.setdefault(kind, {})[name] = int(n)
        return [QueueDepth(kind=kind, **counts[kind]) for kind in sorted(counts)]

    async def list_jobs(
        self,
        tenant_id: uuid.UUID,
        *,
        statuses: Collection[QueueStatus],
        kind: str | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        if not statuses or limit <= 0:
            return []
        q = sa.select(*_COLUMNS).where(
            _t.c.tenant_id == tenant_id, sa.or_(*(_is(s) for s in set(statuses)))
        )
        if QueueStatus.DONE not in statuses:
            q = q.where(_NOT_DONE)
        if kind is not None:
            q = q.where(_t.c.kind == kind)
        q = q.order_by(_t.c.created_at.desc(), sa.cast(_t.c.id, sa.Text).desc()).limit(limit)
        return [job_record(r) for r in await self._rows(tenant_id, q)]

    async def get_job(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        q = sa.select(*_COLUMNS).where(_t.c.tenant_id == tenant_id, _t.c.id == job_id)
        rows = await self._rows(tenant_id, q)
        if not rows:
            raise NotFound("job not found")
        return job_record(rows[0])

    async def requeue(self, tenant_id: uuid.UUID, job_id: uuid.UUID, *, now: datetime) -> JobRecord:
        stmt = (
            sa.update(_t)
            .where(_t.c.tenant_id == tenant_id, _t.c.id == job_id, _t.c.state == "dead")
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
        rows = await self._rows(tenant_id, stmt)
        if rows:
            return job_record(rows[0])
        raise await self._not_dead(tenant_id, job_id, "requeued")

    async def discard(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        stmt = (
            sa.delete(_t)
            .where(_t.c.tenant_id == tenant_id, _t.c.id == job_id, _t.c.state == "dead")
            .returning(*_COLUMNS)
        )
        rows = await self._rows(tenant_id, stmt)
        if rows:
            return job_record(rows[0])
        raise await self._not_dead(tenant_id, job_id, "discarded")

    async def _not_dead(self, tenant_id: uuid.UUID, job_id: uuid.UUID, verb: str) -> Conflict:
        """Why a dead-only change matched no row: ``NotFound`` raised, else the Conflict."""
        current = QueueStatus.of(await self.get_job(tenant_id, job_id))
        return Conflict(
            f"only a dead job can be {verb} (this one is {current.value})", code="job_not_dead"
        )

    async def set_progress(self, job: JobRecord, outcome: str) -> bool:
        stmt = (
            sa.update(_t)
            .where(
                _t.c.tenant_id == job.tenant_id,
                _t.c.id == job.id,
                _t.c.state == JobState.RUNNING.value,
                _t.c.attempts == job.attempts,
            )
            .values(outcome=outcome)
        )
        await self.flush()
        result = await self._execute(job.tenant_id, stmt)
        return result.rowcount == 1
