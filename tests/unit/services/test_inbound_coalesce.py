"""Flow 1 under load: several deliveries in one transaction, each answered on its own."""

from __future__ import annotations

import asyncio
import dataclasses
from types import TracebackType
from typing import Any

import pytest

from adapters.memory.idempotency import MemoryIdempotencyGuard
from adapters.memory.uow import MemoryUnitOfWorkFactory
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Message
from whatsapp_core.domain.webhook import IngestReport, TemplateUpdate
from whatsapp_core.errors import InvalidInput, UpstreamUnavailable
from whatsapp_core.services.context import CURRENT_CORRELATION_ID, Services
from whatsapp_core.services.inbound import ingest_webhooks
from whatsapp_core.services.inbound_coalesce import IngestCoalescer
from whatsapp_core.services.inbound_guard import ingest_unless_seen

pytestmark = pytest.mark.unit
OTHER_NUMBER = "106540352200077"


class CountingUow:
    """Memory units of work, counted; one whose batch holds a ``poison`` wamid fails as
    a value the database refuses would (the batch's own fault, never the others')."""

    def __init__(self, inner: MemoryUnitOfWorkFactory) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return _PoisonableUow(self.inner())


class _PoisonableUow:
    def __init__(self, uow: Any) -> None:
        self._uow = uow

    async def __aenter__(self) -> Any:
        uow = await self._uow.__aenter__()
        real = uow.messages.add_many

        async def add_many(messages: list[Message]) -> Any:
            if any((m.wamid or "").startswith("poison") for m in messages):
                raise InvalidInput("the database refused a value sent")
            return await real(messages)

        uow.messages.add_many = add_many
        return uow

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._uow.__aexit__(t, e, tb)


def counted(h: Harness) -> tuple[Services, CountingUow]:
    uow = CountingUow(h.uow)
    return dataclasses.replace(h.svc, uow=uow), uow  # type: ignore[arg-type]


async def stored_wamids(h: Harness) -> set[str]:
    return {m.wamid for m in (await h.state()).messages.values() if m.wamid}


async def test_one_transaction_reports_each_batch_on_its_own(h: Harness) -> None:
    first, second = h.text("one", id="wamid.A"), h.text("two", id="wamid.B")
    again = h.text("one again", id="wamid.A")  # Meta's retry racing the original
    reports = await ingest_webhooks(
        h.svc,
        [
            h.batch(first, second),
            h.batch(again, h.text("three", id="wamid.C")),
            h.batch(h.text("nobody's", id="wamid.D"), phone_number_id=OTHER_NUMBER),
        ],
        correlation_ids=["req-1", "req-2", "req-3"],
    )
    assert [(r.messages_stored, r.messages_duplicate) for r in reports] == [(2, 0), (1, 1), (0, 0)]
    assert [r.contacts_created for r in reports] == [1, 0, 0]
    assert reports[2].unknown_numbers == [OTHER_NUMBER]
    state = await h.state()
    (conversation,) = state.conversations.values()
    assert conversation.unread_count == 3
    # Each job carries the correlation id of the delivery that caused it.
    by_message = {str(m.id): m.wamid for m in state.messages.values()}
    owner = {"wamid.A": "req-1", "wamid.B": "req-1", "wamid.C": "req-2"}
    jobs = [j for j in state.outbox.values() if "message_id" in j.payload]
    assert len(jobs) == 6  # ai.classify and n8n.trigger per message
    for job in jobs:
        assert job.correlation_id == owner[by_message[job.payload["message_id"]]]


async def test_one_batch_alone_is_what_it_always_was(h: Harness) -> None:
    (report,) = await ingest_webhooks(h.svc, [h.batch(h.text("hi"))])
    assert (report.messages_stored, report.contacts_created, report.conversations_opened) == (
        1,
        1,
        1,
    )


async def test_concurrent_deliveries_share_a_transaction_and_get_their_own_answer(
    h: Harness,
) -> None:
    svc, uow = counted(h)
    coalescer = IngestCoalescer(max_in_flight=1)
    batches = [h.batch(h.text(f"message {i}", id=f"wamid.{i}")) for i in range(5)]
    reports = await asyncio.gather(*(coalescer.ingest(svc, b) for b in batches))
    # The first starts at once, alone; the four arriving meanwhile go together.
    assert uow.calls == 2
    assert [r.messages_stored for r in reports] == [1] * 5
    assert await stored_wamids(h) == {f"wamid.{i}" for i in range(5)}


async def test_a_delivery_the_database_refuses_fails_alone(h: Harness) -> None:
    svc, uow = counted(h)
    coalescer = IngestCoalescer(max_in_flight=1)
    await h.add_tenant(slug="other", phone_number_id=OTHER_NUMBER)
    batches = [
        h.batch(h.text("first", id="wamid.first")),
        h.batch(h.text("good", id="wamid.good")),
        h.batch(h.text("bad", id="poison.1")),
        h.batch(h.text("other tenant", id="wamid.other"), phone_number_id=OTHER_NUMBER),
    ]
    outcomes = await asyncio.gather(
        *(coalescer.ingest(svc, b) for b in batches), return_exceptions=True
    )
    assert isinstance(outcomes[2], InvalidInput)
    good = [o for i, o in enumerate(outcomes) if i != 2]
    assert all(isinstance(o, IngestReport) and o.messages_stored == 1 for o in good)
    assert await stored_wamids(h) == {"wamid.first", "wamid.good", "wamid.other"}
    assert uow.calls == 1 + 1 + 3  # alone, the failed group, then each of it alone


async def test_a_database_outage_fails_every_delivery_honestly(h: Harness) -> None:
    calls = 0

    def down() -> Any:
        nonlocal calls
        calls += 1
        raise UpstreamUnavailable("database unavailable: connection refused")

    svc = dataclasses.replace(h.svc, uow=down)
    coalescer = IngestCoalescer(max_in_flight=1)
    batches = [h.batch(h.text(f"m{i}")) for i in range(4)]
    outcomes = await asyncio.gather(
        *(coalescer.ingest(svc, b) for b in batches), return_exceptions=True
    )
    assert all(isinstance(o, UpstreamUnavailable) for o in outcomes)
    assert calls == 1 + 1 + 3
    # Nothing is left waiting: the next delivery still gets its own answer.
    assert (await coalescer.ingest(h.svc, h.batch(h.text("back")))).messages_stored == 1


async def test_a_caller_that_goes_away_strands_nobody(h: Harness) -> None:
    coalescer = IngestCoalescer(max_in_flight=1)
    first = asyncio.create_task(coalescer.ingest(h.svc, h.batch(h.text("a", id="wamid.a"))))
    await asyncio.sleep(0)
    gone = asyncio.create_task(coalescer.ingest(h.svc, h.batch(h.text("b", id="wamid.b"))))
    kept = asyncio.create_task(coalescer.ingest(h.svc, h.batch(h.text("c", id="wamid.c"))))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await first).messages_stored == 1
    assert (await kept).messages_stored == 1
    with pytest.raises(asyncio.CancelledError):
        await gone
    # A cancelled caller's batch may still be stored (as a disconnected request's is):
    # Meta's retry then finds it a duplicate.
    assert {"wamid.a", "wamid.c"} <= await stored_wamids(h)


async def test_template_updates_never_share_a_transaction(h: Harness) -> None:
    svc, uow = counted(h)
    coalescer = IngestCoalescer(max_in_flight=1)
    update = TemplateUpdate(
        waba_id="102290129340398", meta_template_id="1", name="x", language="en", event="APPROVED"
    )
    batches = [h.batch(templates=(update,)) for _ in range(3)]
    reports = await asyncio.gather(*(coalescer.ingest(svc, b) for b in batches))
    assert uow.calls == 3
    assert [r.unknown_templates for r in reports] == [1, 1, 1]


async def test_each_delivery_keeps_the_correlation_id_of_its_request(h: Harness) -> None:
    coalescer = IngestCoalescer(max_in_flight=1)

    async def request(rid: str, wamid: str) -> IngestReport:
        CURRENT_CORRELATION_ID.set(rid)  # as the HTTP middleware does, per request task
        return await coalescer.ingest(h.svc, h.batch(h.text(wamid, id=wamid)))

    await asyncio.gather(*(request(f"req-{i}", f"wamid.{i}") for i in range(4)))
    state = await h.state()
    by_message = {str(m.id): m.wamid for m in state.messages.values()}
    for job in (j for j in state.outbox.values() if "message_id" in j.payload):
        wamid = by_message[job.payload["message_id"]]
        assert job.correlation_id == f"req-{wamid.removeprefix('wamid.')}"


async def test_the_duplicate_guard_in_front_of_the_coalescer(h: Harness) -> None:
    guard = MemoryIdempotencyGuard(h.clock)
    coalescer = IngestCoalescer()
    batch = h.batch(h.text("once", id="wamid.once"), statuses=(h.status("wamid.x", "sent"),))
    first = await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=60, ingest=coalescer.ingest)
    again = await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=60, ingest=coalescer.ingest)
    assert (first.absorbed, first.report.messages_stored, first.report.statuses_pending) == (
        False,
        1,
        1,
    )
    assert (again.absorbed, again.report.messages_duplicate, again.report.statuses_stale) == (
        True,
        1,
        1,
    )


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        IngestCoalescer(max_in_flight=0)
