"""The worker: claim due outbox jobs, run each kind's handler, record what happened.

A job becomes visible to workers when the use case's transaction commits, and stays
in the outbox table until it is done or dead, so nothing is lost if a worker, Redis or
the network fails in between. ``Worker`` claims rows and runs them itself (the
``outbox`` transport, and the CLI harness); ``entrypoints.worker.broker`` puts taskiq
between the claim and the run, and reuses ``Worker.handle`` for each job.

One ``Worker`` keeps at most ``concurrency`` jobs in flight and claims only as many
as it has free slots, so claimed jobs do not wait (lease ticking) behind others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import structlog

from entrypoints.observability import report_exception
from entrypoints.worker.handlers import JobHandler, ServicesFactory, ai_classify, default_handlers
from whatsapp_core.automation import AutomationSink
from whatsapp_core.errors import DomainError, UpstreamUnavailable
from whatsapp_core.jobs import (
    AI_CLASSIFY,
    JOB_KINDS,
    NO_HANDLER,
    JobRecord,
    OutboxRelay,
    RateLimiter,
    RetryAction,
    RetryPolicy,
    describe_error,
)
from whatsapp_core.media import BlobStore
from whatsapp_core.ports import Clock, WhatsAppGateway
from whatsapp_core.services.context import CURRENT_CORRELATION_ID

if TYPE_CHECKING:
    from entrypoints.bootstrap import Runtime
    from entrypoints.worker.broker import BrokerJobs

log = structlog.get_logger("worker")
ItemT = TypeVar("ItemT")
AnswerT = TypeVar("AnswerT")


class Worker:
    def __init__(
        self,
        *,
        relay: OutboxRelay,
        limiter: RateLimiter,
        gateway: WhatsAppGateway,
        services: ServicesFactory,
        clock: Clock,
        policy: RetryPolicy | None = None,
        handlers: Mapping[str, JobHandler] | None = None,
        concurrency: int = 16,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 0.25,
        stop_grace: float = 30.0,
        sink: AutomationSink | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.relay = relay
        self.policy = policy or RetryPolicy()
        self.handlers: dict[str, JobHandler] = {
            **default_handlers(
                services,
                gateway,
                limiter,
                blobs,
                sink=sink,
                max_attempts=self.policy.max_attempts,
            ),
            **(handlers or {}),
        }
        self.clock = clock
        self.concurrency = concurrency
        self.lease = lease
        self.poll_interval = poll_interval
        self.stop_grace = stop_grace
        self.stats: Counter[str] = Counter()
        self._stopping = asyncio.Event()
        self._finished = FinishedJobs(relay, clock)
        self._in_flight: set[asyncio.Task[None]] = set()

    # -- running -------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and handle jobs until ``stop()``; then finish what is in flight (up to
        ``stop_grace`` seconds; jobs cut off then come back when their lease expires).
        A stopped worker stays stopped: ``stop()`` before ``run()`` makes it return at once."""
        log.info("worker.started", concurrency=self.concurrency)
        try:
            while not self._stopping.is_set():
                free = self.concurrency - len(self._in_flight)
                if free <= 0:
                    await asyncio.wait(
                        self._in_flight,
                        timeout=self.poll_interval,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    continue
                jobs = await self.claim(free)
                for job in jobs:
                    self._spawn(job)
                if len(jobs) < free:  # nothing more is due right now
                    await self._pause(self.poll_interval)
        finally:
            await self._finish_in_flight()
            log.info("worker.stopped", **self.stats)

    def stop(self) -> None:
        """Stop claiming; ``run()`` returns once in-flight jobs have finished."""
        self._stopping.set()

    async def run_once(self, limit: int | None = None) -> int:
        """Claim one batch, handle it completely; the number of jobs handled."""
        jobs = await self.claim(limit or self.concurrency)
        await asyncio.gather(*(self.handle(job) for job in jobs))
        return len(jobs)

    async def drain(self) -> int:
        """Handle jobs until none is due; the number handled."""
        total = 0
        while handled := await self.run_once():
            total += handled
        return total

    def _spawn(self, job: JobRecord) -> None:
        task = asyncio.create_task(self.handle(job), name=f"job:{job.kind}:{job.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def claim(self, limit: int) -> list[JobRecord]:
        """Up to ``limit`` due jobs, now claimed by this worker (none while the outbox
        cannot be reached)."""
        try:
            jobs = await self.relay.claim(limit, now=self.clock.now(), lease=self.lease)
        except UpstreamUnavailable as exc:
            log.warning("worker.claim_failed", error=str(exc))
            await self._pause(max(self.poll_interval, 1.0))
            return []
        self.stats["claimed"] += len(jobs)
        return jobs

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _finish_in_flight(self) -> None:
        if not self._in_flight:
            return
        _, late = await asyncio.wait(set(self._in_flight), timeout=self.stop_grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    # -- one job ---------------------------------------------------------------------

    async def handle(self, job: JobRecord) -> None:
        """Run one claimed job and record its result. Never raises (but cancellation)."""
        # Jobs and audit rows this job causes carry the same correlation id.
        token = CURRENT_CORRELATION_ID.set(job.correlation_id)
        try:
            await self._handle_in_context(job)
        finally:
            CURRENT_CORRELATION_ID.reset(token)

    async def _handle_in_context(self, job: JobRecord) -> None:
        with structlog.contextvars.bound_contextvars(
            correlation_id=job.correlation_id,
            job_id=str(job.id),
            job_kind=job.kind,
            tenant_id=str(job.tenant_id),
            attempt=job.attempts,
        ):
            try:
                await self._handle(job)
            except DomainError as exc:
                # The relay could not record the result: the lease expires and the job
                # runs again, which its handler's idempotency makes harmless.
                self.stats["unrecorded"] += 1
                log.error("job.unrecorded", error=describe_error(exc))

    async def _handle(self, job: JobRecord) -> None:
        if job.attempts > self.policy.max_attempts:
            # Only leases that expired get here: a worker died mid-job every time.
            await self._dead(
                job,
                f"gave up after {job.attempts - 1} attempts whose worker stopped "
                f"mid-job (lease expired); last error: {job.last_error or 'none'}",
            )
            return
        handler = self.handlers.get(job.kind)
        if handler is None:
            if job.kind in JOB_KINDS:
                await self._done(job, NO_HANDLER)
                log.warning("job.no_handler")
            else:
                await self._dead(job, f"unknown job kind {job.kind!r}")
            return
        try:
            outcome = await handler(job)
        except Exception as exc:  # recorded on the job and decided on by the policy
            if not isinstance(exc, DomainError):  # a bug, not Meta or bad data: report it
                report_exception(exc)
            await self._failed(job, exc)
        else:
            await self._done(job, outcome)

    async def _failed(self, job: JobRecord, exc: Exception) -> None:
        decision = self.policy.decide(job.attempts, exc)
        now = self.clock.now()
        if decision.action is RetryAction.RETRY:
            self.stats["retried"] += 1
            log.warning("job.retry", delay=round(decision.delay, 3), error=decision.reason)
            await self.relay.schedule_retry(
                job, at=now + timedelta(seconds=decision.delay), error=decision.reason
            )
        elif decision.action is RetryAction.DONE:
            await self._done(job, f"failed: {decision.reason}")
        else:
            await self._dead(job, decision.reason)

    async def _done(self, job: JobRecord, outcome: str) -> None:
        self.stats["done"] += 1
        if not await self._finished.done(job, outcome):
            log.warning("job.lease_lost", outcome=outcome)
        else:
            log.debug("job.done", outcome=outcome)

    async def _dead(self, job: JobRecord, error: str) -> None:
        self.stats["dead"] += 1
        log.error("job.dead", error=error)
        await self.relay.mark_dead(job, now=self.clock.now(), error=error)


class GroupCommit(Generic[ItemT, AnswerT]):
    """Writes batched by arrival: an item that comes while the previous batch is being
    written joins the next batch, so under load many items cost one transaction
    instead of one each; an item arriving alone is written at once. The caller whose
    item found no batch in progress writes batches until none is left."""

    MAX_BATCH = 64

    def __init__(self, write: Callable[[list[ItemT]], Awaitable[Sequence[AnswerT]]]) -> None:
        self._write = write  # one answer per item, in order
        self._waiting: list[tuple[ItemT, asyncio.Future[AnswerT]]] = []
        self._writing = False
        self.batches = 0  # transactions written (for tests and stats)

    async def submit(self, item: ItemT) -> AnswerT:
        answer: asyncio.Future[AnswerT] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if not self._writing:
            self._writing = True
            try:
                await self._write_all()
            except Exception:  # noqa: S110 - every waiting answer, this one's too, carries it
                pass
            finally:
                self._writing = False
        return await answer

    async def _write_all(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.MAX_BATCH]
            del self._waiting[: self.MAX_BATCH]
            try:
                answers = await self._write([item for item, _ in batch])
            except BaseException as exc:
                # Every item waiting here hears of it (as its own write would raise).
                stranded, self._waiting = batch + self._waiting, []
                for _, answer in stranded:
                    if answer.done():
                        continue
                    if isinstance(exc, Exception):
                        answer.set_exception(exc)
                    else:
                        answer.cancel()
                raise
            self.batches += 1
            for (_, answer), result in zip(batch, answers, strict=True):
                answer.set_result(result)


class FinishedJobs(GroupCommit[tuple[JobRecord, str], bool]):
    """Finished jobs marked done in group commits (``mark_done_many``)."""

    def __init__(self, relay: OutboxRelay, clock: Clock) -> None:
        super().__init__(lambda done: relay.mark_done_many(done, now=clock.now()))

    async def done(self, job: JobRecord, outcome: str) -> bool:
        """Whether the job was marked done (False: its lease was lost to a newer claim)."""
        return await self.submit((job, outcome))


def build_worker(runtime: Runtime, gateway: WhatsAppGateway, **options: Any) -> Worker:
    """A worker over the runtime's database, for its profile (call after ``start()``).

    - memory: relay over the memory database, in-process token bucket;
    - embedded: PostgreSQL relay, in-process token bucket (one process runs everything);
    - production: PostgreSQL relay, Redis token bucket shared by every worker process.

    Connections it opens (a small engine for the relay, a Redis client) close with the
    runtime. ``options`` go to ``Worker`` (concurrency, lease, policy, handlers...).
    """
    if not runtime.started:
        raise RuntimeError("runtime not started: await runtime.start() first")
    profile = runtime.settings.profile
    relay: OutboxRelay
    if profile == "memory":
        from adapters.memory.jobs import MemoryOutboxRelay
        from adapters.memory.uow import MemoryUnitOfWorkFactory

        uow = runtime.uow
        if not isinstance(uow, MemoryUnitOfWorkFactory):
            raise RuntimeError("the memory profile needs the memory unit of work")
        relay = MemoryOutboxRelay(uow.db)
    else:
        from adapters.postgres.engine import create_engine
        from adapters.postgres.outbox import SqlaOutboxRelay

        if runtime.database_url is None:
            raise RuntimeError("the runtime has no database")
        engine = create_engine(runtime.database_url, pool_size=2)
        runtime.on_stop(engine.dispose)
        relay = SqlaOutboxRelay(engine)
    limiter: RateLimiter
    if profile == "production":
        from redis import asyncio as aioredis

        from adapters.redis.rate_limit import RedisRateLimiter

        assert runtime.settings.redis_url is not None  # settings require it in production
        # A Redis that hangs is an outage too (the limiter waits it out, then gives up),
        # never a send stuck past its job's lease.
        client = aioredis.from_url(
            runtime.settings.redis_url, socket_connect_timeout=3, socket_timeout=5
        )
        runtime.on_stop(client.aclose)
        limiter = RedisRateLimiter(client)  # waits out an outage of up to 20 s (lease 60 s)
    else:
        from adapters.memory.jobs import MemoryRateLimiter

        limiter = MemoryRateLimiter()
    if options.get("sink") is None:
        from adapters.automation.httpx_sink import HttpxAutomationSink

        sink = options["sink"] = HttpxAutomationSink()
        runtime.on_stop(sink.aclose)
    options.setdefault("blobs", runtime.blobs)  # media.fetch stores into the runtime's store
    ai_handler = ai_classify(lambda: runtime.services, runtime.ai)  # the runtime's providers
    options["handlers"] = {AI_CLASSIFY: ai_handler, **(options.get("handlers") or {})}
    return Worker(
        relay=relay,
        limiter=limiter,
        gateway=gateway,
        services=lambda: runtime.services,
        clock=runtime.clock,
        **options,
    )


def build_jobs(runtime: Runtime, gateway: WhatsAppGateway, **options: Any) -> Worker | BrokerJobs:
    """What ``wa worker`` and the in-process jobs of ``wa serve`` run, per
    ``WA_JOBS_BROKER``: a ``Worker`` over the outbox (``outbox``), or the same worker
    behind taskiq (``taskiq``): Redis in production, in this process otherwise."""
    worker = build_worker(runtime, gateway, **options)
    if runtime.settings.jobs_broker == "outbox":
        return worker
    from entrypoints.worker.broker import BrokerJobs

    if runtime.settings.profile == "production":
        from adapters.redis.idempotency import namespace_for
        from adapters.redis.job_queue import RedisJobBroker

        assert runtime.settings.redis_url is not None  # settings require it in production
        # One queue per database: deployments sharing a Redis never take each other's jobs.
        queue_name = namespace_for(runtime.database_url, "wa:jobs:").rstrip(":")
        queue = RedisJobBroker(runtime.settings.redis_url, queue_name=queue_name)
        return BrokerJobs(worker, queue, backlog=queue.backlog)
    from taskiq import InMemoryBroker

    return BrokerJobs(worker, InMemoryBroker(cast_types=False))
