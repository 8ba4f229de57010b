"""Exports and jobs for the RBAC and IDOR suites (``http_world``): asked for over the
API, then, where a case needs a finished or a dead job, that one job is run by the
product's ``Worker`` (its handler, retry policy and relay updates). Only the claim is
done here, for that one row, because the relay's claim takes whatever is due in the
whole database, other tests' jobs included.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from adapters.memory.jobs import MemoryRateLimiter
from adapters.memory.media import MemoryBlobStore
from adapters.postgres import tables
from adapters.postgres.engine import create_engine
from adapters.postgres.outbox import RELAY_ROLE, SqlaOutboxRelay, job_record
from entrypoints.bootstrap import Runtime
from entrypoints.worker.runner import Worker
from tests.integration.http_world import World
from whatsapp_core.errors import StorageError
from whatsapp_core.jobs import JobRecord, JobState, RetryPolicy
from whatsapp_core.media import StoredBlob

_t = tables.outbox


class DownBlobStore(MemoryBlobStore):
    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob:
        raise StorageError("the file store is unreachable")


def export(w: World, kind: str = "contacts", conversation_id: str | None = None) -> str:
    """An export asked for by the tenant's admin; its id (a job id)."""
    body: dict[str, Any] = {"kind": kind}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    answer = w.http.call("POST", "/api/exports", w.admin, json=body)
    assert answer.status_code == 202, answer.text
    export_id: str = answer.json()["id"]
    w.markers.add(export_id)
    return export_id


def ready_export(w: World, kind: str = "contacts") -> str:
    conversation_id = w.customer_says().id if kind == "transcript" else None
    export_id = export(w, kind, conversation_id)
    job = _run_one(w, export_id)
    assert job.state is JobState.DONE, job
    return export_id


def dead_job(w: World) -> str:
    """An export whose only allowed attempt failed: a dead letter."""
    export_id = export(w)
    job = _run_one(w, export_id, blobs=DownBlobStore(), policy=RetryPolicy(max_attempts=1))
    assert job.state is JobState.DEAD, job
    return export_id


def _run_one(w: World, job_id: str, **options: Any) -> JobRecord:
    runtime = w.http.runtime
    result: JobRecord = w.http.run(lambda: _claim_and_handle(runtime, job_id, options))
    return result


async def _claim_and_handle(runtime: Runtime, job_id: str, options: dict[str, Any]) -> JobRecord:
    assert runtime.database_url is not None
    assert runtime.gateway is not None
    engine = create_engine(runtime.database_url, pool_size=1)
    try:
        now = runtime.clock.now()
        claim = (
            sa.update(_t)
            .where(_t.c.id == job_id, _t.c.state == JobState.PENDING.value)
            .values(state=JobState.RUNNING.value, attempts=_t.c.attempts + 1,
                    locked_until=now + timedelta(minutes=1), dispatched_at=now)
            .returning(*(_t.c[name] for name in JobRecord.__struct_fields__))
        )  # fmt: skip
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'SET LOCAL ROLE "{RELAY_ROLE}"'))
            job = job_record((await conn.execute(claim)).one())
        relay = SqlaOutboxRelay(engine)
        worker = Worker(
            relay=relay, limiter=MemoryRateLimiter(), gateway=runtime.gateway,
            services=lambda: runtime.services, clock=runtime.clock,
            blobs=options.pop("blobs", runtime.blobs), **options,
        )  # fmt: skip
        await worker.handle(job)
        (done,) = [j for j in await relay.list_jobs(limit=10_000) if str(j.id) == job_id]
        return done
    finally:
        await engine.dispose()
