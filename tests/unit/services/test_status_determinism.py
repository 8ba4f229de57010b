"""Flow 1, statuses: the final state of a message depends only on the SET of statuses
Meta sent for it - not on their order, their repeats, how they were grouped into
deliveries, or whether some arrived before our send learnt the wamid."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory.gateway import MemoryWhatsAppGateway
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Message
from whatsapp_core.domain.webhook import StatusUpdate
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import deliver_message, send_reply

pytestmark = pytest.mark.unit

WAMID = "wamid.DETERMINISM"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _status(
    status: str, seconds: int, code: int | None = None, text: str | None = None
) -> StatusUpdate:
    return StatusUpdate(
        wamid=WAMID, status=status, at=_at(seconds), error_code=code, error_text=text
    )


# What Meta may say about one message: every level, ``played`` after ``read``, and
# three failures - two at the same second with different errors, one earlier.
POOL = (
    _status("sent", 1),
    _status("delivered", 2),
    _status("read", 3),
    _status("played", 4),
    _status("failed", 5, 131026, "Message undeliverable"),
    _status("failed", 5, 131049, "Healthy ecosystem engagement"),
    _status("failed", 4, 131000, "Something went wrong"),
    _status("deleted", 6),
)

State = tuple[MessageStatus | None, datetime | None, int | None, str | None]


def _state(message: Message) -> State:
    return (message.status, message.status_at, message.error_code, message.error_text)


async def _deliver(statuses: list[StatusUpdate], batch_sizes: list[int], known_after: int) -> State:
    """A reply whose statuses arrive in ``statuses`` order, cut into deliveries of
    ``batch_sizes``; the send records its wamid after the first ``known_after``
    deliveries (the ones before are kept pending and applied then)."""
    h = Harness()
    await h.add_tenant()
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    reply = await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, "on its way")
    gateway = MemoryWhatsAppGateway()
    gateway.next_wamids.append(WAMID)

    deliveries: list[list[StatusUpdate]] = []
    rest = list(statuses)
    for size in batch_sizes:
        if not rest:
            break
        deliveries.append(rest[:size])
        rest = rest[size:]
    if rest:
        deliveries.append(rest)
    for i, delivery in enumerate(deliveries):
        if i == known_after:
            assert await deliver_message(h.svc, gateway, h.t.id, reply.id) == "sent"
        await ingest_webhook(h.svc, h.batch(statuses=tuple(delivery)))
    if known_after >= len(deliveries):
        assert await deliver_message(h.svc, gateway, h.t.id, reply.id) == "sent"
    async with h.uow() as uow:
        stored = await uow.messages.get(h.t.id, reply.id)
        assert not await uow.messages.take_pending_statuses(h.t.id, WAMID)
    assert stored.wamid == WAMID
    return _state(stored)


def _run(statuses: list[StatusUpdate], batch_sizes: list[int], known_after: int) -> State:
    return asyncio.run(_deliver(statuses, batch_sizes, known_after))


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[StatusUpdate], list[StatusUpdate]]:
    """``(the set, as sent once in canonical order; how it arrived)``."""
    chosen = draw(st.lists(st.sampled_from(POOL), unique=True, max_size=len(POOL)))
    canonical = [s for s in POOL if s in chosen]
    repeats = draw(st.lists(st.sampled_from(canonical), max_size=4)) if canonical else []
    return canonical, draw(st.permutations(canonical + repeats))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrivals(),
    st.lists(st.integers(min_value=1, max_value=4), max_size=6),
    st.integers(min_value=0, max_value=6),
)
def test_the_final_state_ignores_order_repeats_batching_and_pending(
    sets: tuple[list[StatusUpdate], list[StatusUpdate]],
    batch_sizes: list[int],
    known_after: int,
) -> None:
    canonical, arrived = sets
    reference = _run(canonical, [len(canonical) or 1], known_after=0)
    assert _run(arrived, batch_sizes, known_after) == reference


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
async def test_of_two_failures_the_later_one_wins_in_either_order(
    order: tuple[int, int],
) -> None:
    early = _status("failed", 10, 131026, "Message undeliverable")
    late = _status("failed", 20, 131049, "Healthy ecosystem engagement")
    pair = [early, late]
    state = await _deliver([pair[order[0]], pair[order[1]]], [1, 1], known_after=0)
    assert state == (MessageStatus.FAILED, _at(20), 131049, "Healthy ecosystem engagement")


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
async def test_two_failures_at_the_same_second_are_decided_by_code(
    order: tuple[int, int],
) -> None:
    pair = [_status("failed", 10, 131026, "b"), _status("failed", 10, 131049, "a")]
    state = await _deliver([pair[order[0]], pair[order[1]]], [2], known_after=0)
    assert state == (MessageStatus.FAILED, _at(10), 131049, "a")


async def test_a_repeated_or_an_earlier_failure_is_stale() -> None:
    h = Harness()
    await h.add_tenant()
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    reply = await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, "on its way")
    gateway = MemoryWhatsAppGateway()
    gateway.next_wamids.append(WAMID)
    await deliver_message(h.svc, gateway, h.t.id, reply.id)
    failed = _status("failed", 10, 131026, "Message undeliverable")
    first = await ingest_webhook(h.svc, h.batch(statuses=(failed,)))
    again = await ingest_webhook(h.svc, h.batch(statuses=(failed,)))
    earlier = await ingest_webhook(
        h.svc, h.batch(statuses=(_status("failed", 5, 131049, "Healthy ecosystem"),))
    )
    assert (first.statuses_applied, again.statuses_stale, earlier.statuses_stale) == (1, 1, 1)
    async with h.uow() as uow:
        stored = await uow.messages.get(h.t.id, reply.id)
    assert _state(stored) == (MessageStatus.FAILED, _at(10), 131026, "Message undeliverable")


async def test_a_later_failure_replaces_the_error_and_is_announced() -> None:
    h = Harness()
    await h.add_tenant()
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    reply = await send_reply(h.svc, h.as_(Role.AGENT), conversation.id, "on its way")
    gateway = MemoryWhatsAppGateway()
    gateway.next_wamids.append(WAMID)
    await deliver_message(h.svc, gateway, h.t.id, reply.id)
    await ingest_webhook(h.svc, h.batch(statuses=(_status("failed", 5, 131026, "first"),)))
    report = await ingest_webhook(
        h.svc, h.batch(statuses=(_status("failed", 9, 131049, "second"),))
    )
    assert report.statuses_applied == 1
    status_events = [e for e in h.events.events if e.kind == "message.status"]
    assert status_events[-1].payload["error_code"] == 131049
    assert uuid.UUID(status_events[-1].payload["message_id"]) == reply.id
