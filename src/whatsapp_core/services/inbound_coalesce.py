"""Flow 1 under load: concurrent webhook deliveries share one transaction (group commit).

Meta mostly sends one message or one status per delivery. Alone, each one pays a whole
unit of work (pool checkout and ping, role, tenant lookup, five statements, commit: a
dozen round trips and about 3 ms of Python on the event loop), which caps a process at
a few hundred deliveries a second whatever PostgreSQL could do. Here at most
``max_in_flight`` transactions run at once; deliveries arriving meanwhile wait, and the
next free slot takes them all into ONE ``ingest_webhooks`` call. Under light load a
delivery finds a free slot and starts at once, alone: nothing waits for company.

Each delivery is still answered only once the transaction holding it has committed. If a
shared transaction fails, its deliveries are retried one by one, so each gets what it
would have got alone (stored, or its own error: a 503 for a database outage, a 400 for a
value the database refuses): one bad delivery never fails, nor loses, another tenant's
good one. Only deliveries holding nothing but messages and statuses are grouped;
template updates and identity changes go alone, as before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from whatsapp_core.domain.webhook import IngestReport, WebhookBatch
from whatsapp_core.services.context import CURRENT_CORRELATION_ID, Services
from whatsapp_core.services.inbound import ingest_webhook, ingest_webhooks
from whatsapp_core.services.inbound_guard import only_messages_and_statuses

log = logging.getLogger("whatsapp_core")

# Two transactions in flight: one commits while the next group forms and starts, so the
# database's round trips overlap with Python work; more only makes groups smaller.
DEFAULT_MAX_IN_FLIGHT = 2
# Messages and statuses in one transaction at most (a single larger delivery goes alone).
DEFAULT_MAX_ITEMS = 200


@dataclass(eq=False)
class _Waiting:
    svc: Services
    batch: WebhookBatch
    correlation_id: str | None
    items: int
    answer: asyncio.Future[IngestReport] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, report: IngestReport | None = None, error: Exception | None = None) -> None:
        if self.answer.done():  # its caller went away (cancelled): nothing to tell
            return
        if error is not None:
            self.answer.set_exception(error)
        elif report is not None:
            self.answer.set_result(report)
        else:
            self.answer.cancel()


class IngestCoalescer:
    """One per process (per event loop). ``ingest`` has ``ingest_webhook``'s contract."""

    def __init__(
        self, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, max_items: int = DEFAULT_MAX_ITEMS
    ) -> None:
        if max_in_flight < 1 or max_items < 1:
            raise ValueError("max_in_flight and max_items must be at least 1")
        self._max_in_flight = max_in_flight
        self._max_items = max_items
        self._queue: list[_Waiting] = []
        self._in_flight = 0
        self._running: set[asyncio.Task[None]] = set()  # strong references

    async def ingest(
        self, svc: Services, batch: WebhookBatch, *, correlation_id: str | None = None
    ) -> IngestReport:
        """``batch`` stored (or nothing of it), possibly in one transaction with others."""
        if not only_messages_and_statuses(batch):
            return await ingest_webhook(svc, batch, correlation_id=correlation_id)
        items = sum(len(n.messages) + len(n.statuses) for n in batch.numbers)
        # The request's own id: the group runs in whichever request's context started it.
        waiting = _Waiting(svc, batch, correlation_id or CURRENT_CORRELATION_ID.get(), items)
        self._queue.append(waiting)
        self._start_groups()
        return await waiting.answer

    def _start_groups(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            group = self._take_group()
            self._in_flight += 1
            task = asyncio.create_task(self._run(group), name="webhook-ingest-group")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _take_group(self) -> list[_Waiting]:
        """The oldest waiting delivery and, up to ``max_items``, those after it on the same
        services (a test may swap the database under a running app)."""
        head = self._queue[0]
        group, rest, items = [head], [], head.items
        for waiting in self._queue[1:]:
            if waiting.svc == head.svc and items + waiting.items <= self._max_items:
                group.append(waiting)
                items += waiting.items
            else:
                rest.append(waiting)
        self._queue = rest
        return group

    async def _run(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:
                await _alone(group[0])
                return
            try:
                reports = await ingest_webhooks(
                    group[0].svc,
                    [w.batch for w in group],
                    correlation_ids=[w.correlation_id for w in group],
                )
            except Exception as exc:  # each delivery gets its own outcome below
                log.warning(
                    "shared webhook transaction of %d deliveries failed (%s: %s); "
                    "retrying them one by one",
                    len(group),
                    type(exc).__name__,
                    exc,
                )
                await asyncio.gather(*(_alone(w) for w in group))
            else:
                for waiting, report in zip(group, reports, strict=True):
                    waiting.settle(report)
        except BaseException:  # cancelled (shutdown): nobody may wait forever
            for waiting in group:
                waiting.settle()
            raise
        finally:
            self._in_flight -= 1
            self._start_groups()


async def _alone(waiting: _Waiting) -> None:
    try:
        report = await ingest_webhook(
            waiting.svc, waiting.batch, correlation_id=waiting.correlation_id
        )
    except Exception as exc:  # handed to the delivery's own caller
        waiting.settle(error=exc)
    else:
        waiting.settle(report)
