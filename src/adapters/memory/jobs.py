"""In-memory job relay over the memory database's outbox, and an in-process token bucket.

The relay takes the database's lock for each operation, the same lock every memory
unit of work holds for its whole transaction, so a claim is atomic with respect to
other relays and never interleaves with a transaction that is writing outbox rows.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from msgspec.structs import replace

from adapters.memory.job_board import job_records
from adapters.memory.uow import MemoryDatabase
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.jobs import JobRecord, JobState, await_slot, pacing_slot


class MemoryOutboxRelay:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def claim(self, limit: int, *, now: datetime, lease: timedelta) -> list[JobRecord]:
        async with self._db.lock:
            state = self._db.state
            due = sorted(
                (r for r in job_records(state) if _claimable(r, now)),
                key=lambda r: (r.due_at, str(r.id)),
            )[: max(limit, 0)]
            claimed = [
                replace(
                    r,
                    state=JobState.RUNNING,
                    attempts=r.attempts + 1,
                    locked_until=now + lease,
                    dispatched_at=r.dispatched_at or now,
                )
                for r in due
            ]
            state.job_runs.update((r.id, r) for r in claimed)
            return claimed

    async def _fenced(self, job: JobRecord, change: Callable[[JobRecord], JobRecord]) -> bool:
        async with self._db.lock:
            runs = self._db.state.job_runs
            current = runs.get(job.id)
            if (
                current is None
                or current.state is not JobState.RUNNING
                or current.attempts != job.attempts
            ):
                return False
            runs[job.id] = change(current)
            return True

    async def mark_done(self, job: JobRecord, *, now: datetime, outcome: str) -> bool:
        return await self._fenced(
            job,
            lambda r: replace(
                r, state=JobState.DONE, finished_at=now, locked_until=None, outcome=outcome
            ),
        )

    async def mark_done_many(
        self, done: Sequence[tuple[JobRecord, str]], *, now: datetime
    ) -> list[bool]:
        return [await self.mark_done(job, now=now, outcome=outcome) for job, outcome in done]

    async def renew_many(
        self, jobs: Sequence[JobRecord], *, now: datetime, lease: timedelta
    ) -> list[bool]:
        until = now + lease
        return [await self._fenced(job, lambda r: replace(r, locked_until=until)) for job in jobs]

    async def release(self, job: JobRecord) -> bool:
        return await self._fenced(
            job,
            lambda r: replace(
                r, state=JobState.PENDING, attempts=r.attempts - 1, locked_until=None
            ),
        )

    async def schedule_retry(self, job: JobRecord, *, at: datetime, error: str) -> bool:
        return await self._fenced(
            job,
            lambda r: replace(
                r, state=JobState.PENDING, available_at=at, locked_until=None, last_error=error
            ),
        )

    async def mark_dead(self, job: JobRecord, *, now: datetime, error: str) -> bool:
        return await self._fenced(
            job,
            lambda r: replace(
                r, state=JobState.DEAD, finished_at=now, locked_until=None, last_error=error
            ),
        )

    async def list_jobs(
        self,
        state: JobState | None = None,
        *,
        tenant_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        async with self._db.lock:
            found = [
                r
                for r in job_records(self._db.state)
                if (state is None or r.state is state)
                and (tenant_id is None or r.tenant_id == tenant_id)
            ]
        found.sort(key=lambda r: (r.created_at, str(r.id)), reverse=True)
        return found[:limit]

    async def count_by_state(self, *, tenant_id: uuid.UUID | None = None) -> dict[JobState, int]:
        counts: dict[JobState, int] = {}
        async with self._db.lock:
            for r in job_records(self._db.state):
                if tenant_id is None or r.tenant_id == tenant_id:
                    counts[r.state] = counts.get(r.state, 0) + 1
        return counts

    async def requeue(
        self, job_id: uuid.UUID, *, now: datetime, tenant_id: uuid.UUID | None = None
    ) -> JobRecord:
        async with self._db.lock:
            state = self._db.state
            current = next((r for r in job_records(state) if r.id == job_id), None)
            if current is None or tenant_id not in (None, current.tenant_id):
                raise NotFound("job not found")
            if current.state is not JobState.DEAD:
                raise Conflict(f"only a dead job can be requeued (this one is {current.state})")
            requeued = replace(
                current,
                state=JobState.PENDING,
                attempts=0,
                available_at=now,
                locked_until=None,
                finished_at=None,
                outcome=None,
            )
            state.job_runs[job_id] = requeued
            return requeued


def _claimable(r: JobRecord, now: datetime) -> bool:
    if r.state is JobState.PENDING:
        return r.due_at <= now
    return r.state is JobState.RUNNING and r.locked_until is not None and r.locked_until <= now


class MemoryRateLimiter:
    """A token bucket per key for the workers of one process (GCRA, see ``pacing_slot``).

    Reading and reserving a slot happen with no ``await`` in between, so concurrent
    tasks on one event loop cannot both take the same slot.
    """

    def __init__(
        self,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tat: dict[str, float] = {}

    async def acquire(self, key: str, rate_per_second: float) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        interval = 1.0 / rate_per_second

        async def reserve() -> float:  # no await between reading and storing the slot
            self._tat[key], wait = pacing_slot(
                self._tat.get(key), self._clock(), interval, self._burst
            )
            return wait

        await await_slot(reserve, interval, clock=self._clock, sleep=self._sleep)
