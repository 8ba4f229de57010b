"""One tenant's view of its jobs in the memory database (the ``OutboxStore`` side of the
job monitor), and the delivery record of every outbox row, shared with the relay.

An outbox row's delivery state lives in ``job_runs`` once the relay first touches it;
a row never claimed is pending as written.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from msgspec.structs import replace

from whatsapp_core.domain.model import OutboxJob
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import JobRecord, JobState, QueueDepth, QueueStatus

if TYPE_CHECKING:
    from adapters.memory.stores import MemoryState


def _as_written(job: OutboxJob) -> JobRecord:
    return JobRecord(
        id=job.id,
        tenant_id=job.tenant_id,
        kind=job.kind,
        payload=job.payload,
        created_at=job.created_at,
        correlation_id=job.correlation_id,
    )


def job_records(state: MemoryState) -> Iterator[JobRecord]:
    """Every outbox row with its delivery state."""
    for job in state.outbox.values():
        yield state.job_runs.get(job.id) or _as_written(job)


def job_record(state: MemoryState, job_id: uuid.UUID) -> JobRecord | None:
    job = state.outbox.get(job_id)
    if job is None:
        return None
    return state.job_runs.get(job_id) or _as_written(job)


class MemoryJobBoard:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    def _find(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        found = job_record(self._s, job_id)
        if found is None or found.tenant_id != tenant_id:
            raise NotFound("job not found")
        return found

    async def depths(self, tenant_id: uuid.UUID) -> list[QueueDepth]:
        counts: dict[str, dict[str, int]] = {}
        for r in job_records(self._s):
            status = QueueStatus.of(r)
            if r.tenant_id == tenant_id and status is not QueueStatus.DONE:
                by_status = counts.setdefault(r.kind, {})
                by_status[status.value] = by_status.get(status.value, 0) + 1
        return [QueueDepth(kind=kind, **counts[kind]) for kind in sorted(counts)]

    async def list_jobs(
        self,
        tenant_id: uuid.UUID,
        *,
        statuses: Collection[QueueStatus],
        kind: str | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        found = [
            r
            for r in job_records(self._s)
            if r.tenant_id == tenant_id
            and QueueStatus.of(r) in statuses
            and (kind is None or r.kind == kind)
        ]
        found.sort(key=lambda r: (r.created_at, str(r.id)), reverse=True)
        return found[: max(limit, 0)]

    async def get_job(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        return self._find(tenant_id, job_id)

    async def requeue(self, tenant_id: uuid.UUID, job_id: uuid.UUID, *, now: datetime) -> JobRecord:
        current = self._find(tenant_id, job_id)
        _must_be_dead(current, "requeued")
        requeued = replace(
            current,
            state=JobState.PENDING,
            attempts=0,
            available_at=now,
            locked_until=None,
            finished_at=None,
            outcome=None,
        )
        self._s.job_runs[job_id] = requeued
        return requeued

    async def discard(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        current = self._find(tenant_id, job_id)
        _must_be_dead(current, "discarded")
        del self._s.outbox[job_id]
        self._s.job_runs.pop(job_id, None)
        return current

    async def set_progress(self, job: JobRecord, outcome: str) -> bool:
        current = self._s.job_runs.get(job.id)
        if (
            current is None
            or current.tenant_id != job.tenant_id
            or current.state is not JobState.RUNNING
            or current.attempts != job.attempts
        ):
            return False
        self._s.job_runs[job.id] = replace(current, outcome=outcome)
        return True


def _must_be_dead(job: JobRecord, verb: str) -> None:
    if job.state is not JobState.DEAD:
        raise Conflict(
            f"only a dead job can be {verb} (this one is {QueueStatus.of(job).value})",
            code="job_not_dead",
        )
