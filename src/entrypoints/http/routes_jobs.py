"""The job monitor's API: queue depths by kind, failing and dead jobs, retry and discard.

The queue is the outbox table, so the monitor reads it through the core like any other
tenant data (see ``whatsapp_core.services.jobs`` for why this is not taskiq-dashboard).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import InvalidInput
from whatsapp_core.jobs import JobRecord, JobState, QueueDepth, QueueStatus
from whatsapp_core.services import jobs


class JobOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    status: str  # queued | running | retrying | dead | done
    attempts: int
    last_error: str | None
    outcome: str | None  # a finished job's result, or a running job's progress
    correlation_id: str | None
    created_at: datetime
    next_run_at: datetime | None  # when a queued or retrying job is due
    locked_until: datetime | None  # a running job's lease
    finished_at: datetime | None

    @classmethod
    def of(cls, job: JobRecord) -> JobOut:
        return cls(
            id=job.id, kind=job.kind, status=QueueStatus.of(job).value, attempts=job.attempts,
            last_error=job.last_error, outcome=job.outcome, correlation_id=job.correlation_id,
            created_at=job.created_at,
            next_run_at=job.due_at if job.state is JobState.PENDING else None,
            locked_until=job.locked_until, finished_at=job.finished_at,
        )  # fmt: skip


class DepthOut(msgspec.Struct, kw_only=True):
    kind: str
    queued: int
    running: int
    retrying: int
    dead: int

    @classmethod
    def of(cls, d: QueueDepth) -> DepthOut:
        return cls(kind=d.kind, queued=d.queued, running=d.running, retrying=d.retrying,
                   dead=d.dead)  # fmt: skip


class JobsOut(msgspec.Struct, kw_only=True):
    depths: list[DepthOut]
    jobs: list[JobOut]


def parse_statuses(value: str | None) -> frozenset[QueueStatus]:
    """``"dead,retrying"`` -> those statuses; nothing -> ``jobs.TROUBLE``."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names:
        return jobs.TROUBLE
    try:
        return frozenset(QueueStatus(n) for n in names)
    except ValueError:
        allowed = ", ".join(s.value for s in QueueStatus)
        raise InvalidInput(f"status must be some of {allowed}", field="status") from None


class JobController(Controller):
    path = "/api/jobs"
    tags = ("jobs",)

    @get(summary="Queue depths by kind, and the running, retrying and dead jobs")
    async def overview(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> JobsOut:
        found = await jobs.job_overview(
            runtime.services, principal, statuses=parse_statuses(status), kind=kind, limit=limit
        )
        return JobsOut(
            depths=[DepthOut.of(d) for d in found.depths], jobs=[JobOut.of(j) for j in found.jobs]
        )

    @get("/{job_id:uuid}", summary="One job")
    async def show(
        self,
        job_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> JobOut:
        return JobOut.of(await jobs.get_job(runtime.services, principal, job_id))

    @post("/{job_id:uuid}/retry", status_code=200, summary="Queue a dead job again (audited)")
    async def retry(
        self,
        job_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> JobOut:
        return JobOut.of(await jobs.retry_job(runtime.services, principal, job_id))

    @delete("/{job_id:uuid}", status_code=204, summary="Discard a dead job (audited)")
    async def discard(
        self,
        job_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await jobs.discard_job(runtime.services, principal, job_id)
