"""Jobs through taskiq: a relay moves due outbox rows to a broker; taskiq runs them.

- production: taskiq-redis (``adapters.redis.job_queue.RedisJobBroker``). Each
  ``wa worker`` process runs a relay and a taskiq receiver. Relays in several processes
  never dispatch a row twice: a claim is ``FOR UPDATE SKIP LOCKED`` under a lease.
- embedded and memory: taskiq's ``InMemoryBroker``, in the process (``wa serve``).

The outbox row stays the truth. The relay claims a row (under a lease) before it hands
the job to the broker. A worker renews the lease when it starts the job, so a message
that waited in the queue, or a stale copy of a row claimed again since, is skipped:
its claim was lost. The result is recorded on the row, fenced by the claim
(``Worker.handle``: retries, dead letters, group-committed ``done``).

What the broker may lose is not lost: a message dropped by Redis (restarted without
persistence) or by a worker killed after taking it leaves its row claimed until the
lease expires; then a relay dispatches it again, and the job's handler is idempotent
(a send never goes to Meta twice once its wamid is known). While the broker cannot be
reached the relay claims nothing, and a claim whose message the broker refused is
released, so jobs wait in the outbox with no attempt used up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
import structlog
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.receiver import Receiver

from entrypoints.worker.runner import GroupCommit, Worker
from whatsapp_core.errors import DomainError
from whatsapp_core.jobs import JobRecord

log = structlog.get_logger("worker")

JOB_TASK = "wa.job"
OUTAGE_PAUSE_S = 1.0

# taskiq logs every task it runs at INFO; our worker logs each job's outcome itself.
logging.getLogger("taskiq").setLevel(logging.WARNING)


class BrokerJobs:
    """``run()`` until ``stop()``: the relay loop, and the broker's consumer.

    ``backlog`` (an external queue such as Redis): how many messages wait in it; the
    relay keeps that under ``queue_limit`` and workers renew each lease on start.
    Without it the broker runs jobs in this process (``InMemoryBroker``), and the relay
    keeps at most the worker's ``concurrency`` in flight."""

    def __init__(
        self,
        worker: Worker,
        broker: AsyncBroker,
        *,
        backlog: Callable[[], Awaitable[int]] | None = None,
        queue_limit: int | None = None,
    ) -> None:
        self.worker = worker
        self.broker = broker
        self.stats = worker.stats
        self._backlog = backlog
        self.queue_limit = queue_limit or worker.concurrency
        self._renewals: GroupCommit[JobRecord, bool] | None = None
        if backlog is not None:
            self._renewals = GroupCommit(
                lambda jobs: worker.relay.renew_many(
                    jobs, now=worker.clock.now(), lease=worker.lease
                )
            )
        self._in_flight = 0  # in-process only: dispatched, not finished
        self._finished_one = asyncio.Event()
        self._stopping = asyncio.Event()
        self._broker_down = False

        async def run_job(job: str) -> None:  # taskiq renames its function: not a method
            await self.run_job(job)

        self._task = broker.register_task(run_job, task_name=JOB_TASK)

    @property
    def _in_process(self) -> bool:
        """No external queue: the broker runs each job in this process as it is sent."""
        return self._backlog is None

    @property
    def concurrency(self) -> int:
        return self.worker.concurrency

    def stop(self) -> None:
        """Stop dispatching; ``run()`` returns once jobs in flight have finished."""
        self._stopping.set()
        self.worker.stop()

    async def run(self) -> None:
        log.info(
            "worker.started",
            concurrency=self.concurrency,
            broker=type(self.broker).__name__,
        )
        await self.broker.startup()
        consumer: asyncio.Task[None] | None = None
        if not self._in_process:
            receiver = Receiver(
                self.broker,
                max_async_tasks=self.concurrency,
                validate_params=False,  # the job decodes its own argument
                run_startup=False,
                wait_tasks_timeout=self.worker.stop_grace,
            )
            consumer = asyncio.create_task(receiver.listen(self._stopping), name="jobs-consumer")
        try:
            await self._relay()
        finally:
            self._stopping.set()
            if consumer is not None:
                await consumer
            elif isinstance(self.broker, InMemoryBroker):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.broker.wait_all(), self.worker.stop_grace)
            await self.broker.shutdown()
            log.info("worker.stopped", **self.stats)

    # -- the relay -------------------------------------------------------------------

    async def _relay(self) -> None:
        while not self._stopping.is_set():
            room = await self._room()
            if room is None:  # the broker cannot be reached: claim nothing
                await self._pause(OUTAGE_PAUSE_S)
                continue
            if room <= 0:
                await self._wait_for_room()
                continue
            jobs = await self.worker.claim(room)
            await self._dispatch(jobs)
            if len(jobs) < room:  # nothing more is due right now
                await self._pause(self.worker.poll_interval)

    async def _room(self) -> int | None:
        if self._backlog is None:  # in process (the check mypy narrows on)
            return self.concurrency - self._in_flight
        try:
            waiting = await self._backlog()
        except Exception as exc:  # any failure to reach it is an outage
            self.stats["broker_unreachable"] += 1
            if not self._broker_down:  # one line an outage
                log.warning("jobs.broker_unreachable", error=str(exc) or type(exc).__name__)
                self._broker_down = True
            return None
        if self._broker_down:
            log.info("jobs.broker_reachable")
            self._broker_down = False
        return self.queue_limit - waiting

    async def _dispatch(self, jobs: list[JobRecord]) -> None:
        for i, job in enumerate(jobs):
            if self._in_process:
                self._in_flight += 1  # before the task can start (and finish)
            try:
                await self._task.kiq(msgspec.json.encode(job).decode())
            except Exception as exc:  # the broker refused: keep the rest back
                if self._in_process:
                    self._in_flight -= 1
                await self._release(jobs[i:], exc)
                await self._pause(OUTAGE_PAUSE_S)
                return
            self.stats["dispatched"] += 1

    async def _release(self, jobs: list[JobRecord], exc: Exception) -> None:
        log.warning(
            "jobs.dispatch_failed", error=str(exc) or type(exc).__name__, released=len(jobs)
        )
        for job in jobs:
            try:
                await self.worker.relay.release(job)
            except DomainError as err:  # its lease expires instead
                log.warning("jobs.release_failed", job_id=str(job.id), error=str(err))

    async def _wait_for_room(self) -> None:
        if self._in_process:
            self._finished_one.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished_one.wait(), self.worker.poll_interval)
        else:
            await self._pause(self.worker.poll_interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # -- the task --------------------------------------------------------------------

    async def run_job(self, job: str) -> None:
        """The taskiq task: one claimed outbox row, encoded by the relay."""
        record = msgspec.json.decode(job, type=JobRecord)
        try:
            if self._renewals is not None:
                renewed = await self._renew(record)
                if renewed is None:
                    return
                record = renewed
            await self.worker.handle(record)
        finally:
            if self._in_process:
                self._in_flight -= 1
                self._finished_one.set()

    async def _renew(self, job: JobRecord) -> JobRecord | None:
        assert self._renewals is not None
        start = self.worker.clock.now()
        try:
            held = await self._renewals.submit(job)
        except DomainError as exc:  # not started; the job comes back when its lease expires
            self.stats["not_started"] += 1
            log.warning("job.not_started", job_id=str(job.id), error=str(exc))
            return None
        if not held:  # a newer claim holds it, or it is finished
            self.stats["stale"] += 1
            log.info("job.stale", job_id=str(job.id), attempt=job.attempts)
            return None
        return msgspec.structs.replace(job, locked_until=start + self.worker.lease)
