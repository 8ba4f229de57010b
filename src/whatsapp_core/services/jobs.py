"""The job monitor: one tenant's queues by kind, its failing and dead jobs, and the two
things a person does about a dead one: retry it (queued again, attempts from zero) or
discard it. Managers and admins only (``job.read`` / ``job.manage``); both actions are
audited with the job as it was.

Why not taskiq-dashboard (or any broker dashboard): the jobs' truth is the outbox table
(``whatsapp_core.jobs``), written in the same transaction as the data a job is about and
claimed by the relay under a lease; taskiq only carries a claimed job to a worker for a
moment, so a broker's dashboard would show a few messages in passing, never the
retrying, dead or finished jobs. The monitor must also be tenant-scoped (row-level security),
role-checked and audited like every other use case, which a separate dashboard is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

import msgspec

from whatsapp_core.domain.model import Principal
from whatsapp_core.jobs import JobRecord, QueueDepth, QueueStatus
from whatsapp_core.policies.access import Action
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

# What the monitor lists unless asked otherwise: what is moving and what is stuck (the
# merely queued are counted in the depths; there may be thousands of them).
TROUBLE = frozenset({QueueStatus.RUNNING, QueueStatus.RETRYING, QueueStatus.DEAD})
MAX_LISTED = 500


class JobOverview(msgspec.Struct, frozen=True, kw_only=True):
    depths: list[QueueDepth]
    jobs: list[JobRecord]


async def job_overview(
    svc: Services,
    principal: Principal,
    *,
    statuses: Collection[QueueStatus] = TROUBLE,
    kind: str | None = None,
    limit: int = 100,
) -> JobOverview:
    """Depths of every kind with open jobs, and the newest jobs in ``statuses``."""
    authorize(principal, Action.JOB_READ)
    async with svc.uow() as uow:
        depths = await uow.outbox.depths(principal.tenant_id)
        jobs = await uow.outbox.list_jobs(
            principal.tenant_id,
            statuses=frozenset(statuses),
            kind=kind,
            limit=max(1, min(limit, MAX_LISTED)),
        )
    return JobOverview(depths=depths, jobs=jobs)


async def get_job(svc: Services, principal: Principal, job_id: uuid.UUID) -> JobRecord:
    authorize(principal, Action.JOB_READ)
    async with svc.uow() as uow:
        return await uow.outbox.get_job(principal.tenant_id, job_id)


async def retry_job(svc: Services, principal: Principal, job_id: uuid.UUID) -> JobRecord:
    """A dead job queued again now. ``NotFound``; ``Conflict`` when it is not dead."""
    authorize(principal, Action.JOB_MANAGE)
    async with svc.uow() as uow:
        before = await uow.outbox.get_job(principal.tenant_id, job_id)
        after = await uow.outbox.requeue(principal.tenant_id, job_id, now=svc.clock.now())
        await svc.audit(
            uow, principal, "job.retry", "job", job_id,
            before=_snapshot(before), after=_snapshot(after),
        )  # fmt: skip
        await uow.commit()
    return after


async def discard_job(svc: Services, principal: Principal, job_id: uuid.UUID) -> JobRecord:
    """Delete a dead job for good; returns it as it was. ``NotFound``; ``Conflict``."""
    authorize(principal, Action.JOB_MANAGE)
    async with svc.uow() as uow:
        gone = await uow.outbox.discard(principal.tenant_id, job_id)
        await svc.audit(uow, principal, "job.discard", "job", job_id, before=_snapshot(gone))
        await uow.commit()
    return gone


def _snapshot(job: JobRecord) -> dict[str, object]:
    """What the audit keeps of a job: not its payload (message text, event bodies)."""
    return {
        "kind": job.kind,
        "status": QueueStatus.of(job).value,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "correlation_id": job.correlation_id,
        "created_at": job.created_at.isoformat(),
    }
