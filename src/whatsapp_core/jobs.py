"""Background jobs: kinds, their life cycle, the retry policy and the job-side ports.

A job is an outbox row written in the same transaction as the data it is about
(``Services.enqueue``). The outbox table itself is the queue: a relay claims due rows
under a lease, a worker runs the handler of the row's kind, then the row is marked
done, scheduled for a retry, or buried as a dead letter that a person can requeue.

State machine of a row::

    pending --claim--> running --done--> done
       ^                  |  \\--retry (available_at later)--> pending
       |                  |   \\--lease expired: claimable again (attempts counted)
       +---requeue--- dead <--+  (max attempts, or an error retrying cannot fix)

``attempts`` counts claims, so a worker that dies mid-job still uses up an attempt,
and it doubles as the fencing token: an update from a worker whose lease expired (and
whose job was claimed again since) matches no row and is ignored.
"""

from __future__ import annotations

import enum
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec

from whatsapp_core.errors import DeliveryError, DomainError, UpstreamUnavailable
from whatsapp_core.policies.meta_errors import Remedy, remedy_for

# Job kinds (the seed's BullMQ queue names).
MSG_SEND = "msg.send"
MSG_PROCESS = "msg.process"
AI_CLASSIFY = "ai.classify"
N8N_TRIGGER = "n8n.trigger"
MEDIA_FETCH = "media.fetch"
WEBHOOK_OUT = "webhook.out"
TEMPLATE_SYNC = "template.sync"
EXPORT_BUILD = "export.build"
JOB_KINDS = frozenset(
    {
        MSG_SEND,
        MSG_PROCESS,
        AI_CLASSIFY,
        N8N_TRIGGER,
        MEDIA_FETCH,
        WEBHOOK_OUT,
        TEMPLATE_SYNC,
        EXPORT_BUILD,
    }
)

# Outcome recorded on a known kind that has no handler yet: it did NOT run.
NO_HANDLER = "no handler"


class JobState(enum.StrEnum):
    PENDING = "pending"  # waiting for its available time (new, or a scheduled retry)
    RUNNING = "running"  # claimed by a worker until ``locked_until``
    DONE = "done"  # finished; ``outcome`` says how
    DEAD = "dead"  # gave up; ``last_error`` says why; can be requeued by hand


class JobRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An outbox row with its delivery state, as the relay and the monitor see it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    correlation_id: str | None = None
    state: JobState = JobState.PENDING
    attempts: int = 0
    available_at: datetime | None = None  # None: due as soon as it was created
    locked_until: datetime | None = None
    dispatched_at: datetime | None = None  # first claim
    finished_at: datetime | None = None
    last_error: str | None = None
    outcome: str | None = None

    @property
    def due_at(self) -> datetime:
        return self.available_at or self.created_at


class QueueStatus(enum.StrEnum):
    """How the job monitor shows a job: its state, with ``pending`` split in two."""

    QUEUED = "queued"  # pending, not tried yet (or requeued by hand: attempts back to 0)
    RETRYING = "retrying"  # pending after a failed attempt, until its next run
    RUNNING = "running"  # in flight
    DEAD = "dead"
    DONE = "done"

    @classmethod
    def of(cls, job: JobRecord) -> QueueStatus:
        if job.state is JobState.PENDING:
            return cls.RETRYING if job.attempts > 0 else cls.QUEUED
        return cls(job.state.value)


OPEN_STATUSES = frozenset(QueueStatus) - {QueueStatus.DONE}


class QueueDepth(msgspec.Struct, frozen=True, kw_only=True):
    """One kind's jobs that are not done, by monitor status."""

    kind: str
    queued: int = 0
    running: int = 0
    retrying: int = 0
    dead: int = 0


class MessageSendPayload(msgspec.Struct, frozen=True):
    """``msg.send``: deliver one stored outbound message."""

    message_id: uuid.UUID


class RetryAction(enum.StrEnum):
    RETRY = "retry"  # run again after ``delay`` seconds
    DONE = "done"  # a permanent refusal the job body already recorded: nothing to retry
    DEAD = "dead"  # dead letter: retrying cannot help, or attempts are used up


class RetryDecision(msgspec.Struct, frozen=True, kw_only=True):
    action: RetryAction
    reason: str
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (delay uniform in [0, min(cap, base·2^(n-1))]).

    - Meta says retry (throttling, 5xx, maintenance) or the error is an outage of ours
      (``UpstreamUnavailable``) or an unexpected exception: back off; a ``retry_after``
      from the server is honoured when it is longer (clamped to ``max_retry_after``).
    - Pair rate limit (131056): at least ``recipient_delay`` seconds, this job only.
    - Meta refused for good (fail / broken credentials): ``deliver_message`` has already
      marked the message failed, so the job is done, never retried.
    - Any other domain error (not found, invalid, forbidden...) cannot get better by
      waiting: dead letter at once, visible in the monitor.
    - After ``max_attempts`` attempts: dead letter.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    cap: float = 300.0
    recipient_delay: float = 6.0
    max_retry_after: float = 3600.0
    rng: Callable[[], float] = field(default=random.random, compare=False)  # in [0, 1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.base_delay <= self.cap:
            raise ValueError("need 0 < base_delay <= cap")
        if self.recipient_delay > self.cap:
            raise ValueError("recipient_delay must not exceed cap")

    def ceiling(self, attempt: int) -> float:
        """The largest backoff after failed attempt number ``attempt`` (1-based)."""
        exponent = min(max(attempt, 1) - 1, 64)  # 2**64 · base is past any cap
        return min(self.cap, self.base_delay * 2.0**exponent)

    def backoff(self, attempt: int) -> float:
        return self.ceiling(attempt) * min(max(self.rng(), 0.0), 1.0)

    def decide(self, attempt: int, error: BaseException) -> RetryDecision:
        """What to do after attempt number ``attempt`` (1-based) failed with ``error``."""
        text = describe_error(error)
        if isinstance(error, DeliveryError):
            remedy = remedy_for(error.meta_code, error.http_status)
            if remedy in (Remedy.FAIL, Remedy.CREDENTIALS):
                return RetryDecision(action=RetryAction.DONE, reason=f"{remedy.value}: {text}")
        elif isinstance(error, DomainError) and not isinstance(error, UpstreamUnavailable):
            return RetryDecision(action=RetryAction.DEAD, reason=f"not retryable: {text}")
        else:
            remedy = Remedy.RETRY
        if attempt >= self.max_attempts:
            return RetryDecision(
                action=RetryAction.DEAD, reason=f"gave up after {attempt} attempts: {text}"
            )
        delay = self.backoff(attempt)
        if remedy is Remedy.RETRY_RECIPIENT:
            delay = max(delay, self.recipient_delay)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and math.isfinite(retry_after):
            delay = max(delay, min(float(retry_after), self.max_retry_after))
        return RetryDecision(action=RetryAction.RETRY, reason=text, delay=delay)


def describe_error(error: BaseException) -> str:
    """One line for ``last_error``: the type, Meta's code when there is one, the text."""
    if isinstance(error, DeliveryError):
        codes = [f"code {error.meta_code}"] if error.meta_code is not None else []
        if error.http_status is not None:
            codes.append(f"http {error.http_status}")
        where = f" ({', '.join(codes)})" if codes else ""
        return f"DeliveryError{where}: {error}"
    return f"{type(error).__name__}: {error}"


def pacing_slot(tat: float | None, now: float, interval: float, burst: int) -> tuple[float, float]:
    """Token bucket as GCRA ("virtual scheduling"): reserve the caller's slot.

    ``tat`` is the bucket's theoretical arrival time (``None`` for a fresh bucket),
    ``interval`` = 1 / rate, ``burst`` the bucket's capacity in tokens. Returns
    ``(new_tat, wait)``: store ``new_tat``, sleep ``wait`` seconds, then go. Any window
    of length W holds at most ``floor(W·rate) + burst`` slots, so with ``burst=1`` no
    1-second window has more than ``rate + 1`` sends (the +1 is the window's fencepost).
    The Redis limiter runs this same arithmetic in Lua.
    """
    start = now if tat is None or tat < now else tat
    wait = max(0.0, start - (burst - 1) * interval - now)
    return start + interval, wait


LATE_RETRIES = 3  # then go anyway: a process that keeps stalling must still progress


async def await_slot(
    reserve: Callable[[], Awaitable[float]],
    interval: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[object]],
) -> None:
    """Reserve a slot (``reserve`` returns the wait), sleep until it, then go.

    A caller that wakes more than a slot late (its process stalled: GC, CPU
    starvation) takes a new slot instead: every caller asleep through the stall wakes
    at once, and sending then would bunch them over the rate where Meta counts.
    """
    for _ in range(LATE_RETRIES):
        wait = await reserve()
        if wait <= 0:
            return
        due = clock() + wait
        await sleep(wait)
        if clock() - due <= interval:
            return


class OutboxRelay(Protocol):
    """Moves outbox rows through their states for every tenant at once.

    ``claim`` is atomic across relays (two relays, in one process or many, never get
    the same row under a live lease). Updates take the claimed record, whose
    ``attempts`` fences them: they return ``False`` and change nothing when the lease
    was lost to a newer claim.
    """

    async def claim(self, limit: int, *, now: datetime, lease: timedelta) -> list[JobRecord]:
        """Up to ``limit`` due rows (pending and available, or running with an expired
        lease), oldest due first, now ``running`` until ``now + lease`` with
        ``attempts`` incremented."""
        ...

    async def mark_done(self, job: JobRecord, *, now: datetime, outcome: str) -> bool: ...

    async def mark_done_many(
        self, done: Sequence[tuple[JobRecord, str]], *, now: datetime
    ) -> list[bool]:
        """``mark_done`` for each ``(job, outcome)`` at once (one transaction where the
        store has them); one answer per item, in order."""
        ...

    async def renew_many(
        self, jobs: Sequence[JobRecord], *, now: datetime, lease: timedelta
    ) -> list[bool]:
        """Each job's lease runs again from ``now`` where its claim still holds it (a
        worker starting a job that waited in a broker's queue); ``False`` for a job
        whose lease was lost to a newer claim or that is no longer running."""
        ...

    async def release(self, job: JobRecord) -> bool:
        """Undo a claim that never reached a worker (the broker refused it): back to
        ``pending`` as it was, the attempt not counted. The next claim then has the same
        attempt number, so release only a claim nothing else holds."""
        ...

    async def schedule_retry(self, job: JobRecord, *, at: datetime, error: str) -> bool:
        """Back to ``pending``, claimable from ``at``; keeps the attempt count."""
        ...

    async def mark_dead(self, job: JobRecord, *, now: datetime, error: str) -> bool: ...

    async def list_jobs(
        self,
        state: JobState | None = None,
        *,
        tenant_id: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        """For the monitor: newest first."""
        ...

    async def count_by_state(self, *, tenant_id: uuid.UUID | None = None) -> dict[JobState, int]:
        """Queue depths for the monitor (states with no rows are absent)."""
        ...

    async def requeue(
        self, job_id: uuid.UUID, *, now: datetime, tenant_id: uuid.UUID | None = None
    ) -> JobRecord:
        """A person retries a dead letter: ``pending`` now, attempts back to 0.
        ``NotFound`` when unknown (or in another tenant), ``Conflict`` when not dead."""
        ...


class RateLimiter(Protocol):
    """A token bucket shared by every worker that uses the same key."""

    async def acquire(self, key: str, rate_per_second: float) -> None:
        """Return when the caller may act; ``UpstreamUnavailable`` if the shared
        bucket cannot be reached."""
        ...
