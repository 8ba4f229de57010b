"""Flow 1, step 4: the duplicate guard in front of the ingest, on memory adapters."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from adapters.memory.idempotency import MemoryIdempotencyGuard
from tests.unit.services.harness import Harness
from whatsapp_core.domain.webhook import IdentityChange, NumberUpdates, TemplateUpdate, WebhookBatch
from whatsapp_core.errors import UpstreamUnavailable
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound_guard import (
    delivery_keys,
    ingest_unless_seen,
    only_messages_and_statuses,
)

pytestmark = pytest.mark.unit
TTL = 3600


class DatabaseDown:
    """A unit of work factory that fails as an unreachable database does, counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        raise UpstreamUnavailable("database unavailable: connection refused")


def without_database(svc: Services) -> tuple[Services, DatabaseDown]:
    down = DatabaseDown()
    return dataclasses.replace(svc, uow=down), down  # type: ignore[arg-type]


@pytest.fixture
def guard(h: Harness) -> MemoryIdempotencyGuard:
    return MemoryIdempotencyGuard(h.clock)


def test_keys_are_messages_and_status_pairs_scoped_by_number(h: Harness) -> None:
    one, two = h.text("one", id="wamid.1"), h.text("two", id="wamid.2")
    batch = WebhookBatch(
        numbers=[
            NumberUpdates(
                phone_number_id="111",
                messages=[one, two, one],
                statuses=[h.status("wamid.9", "sent"), h.status("wamid.9", "delivered")],
            ),
            NumberUpdates(phone_number_id="222", messages=[one]),
        ]
    )
    assert delivery_keys(batch) == [
        "111:m:wamid.1",
        "111:m:wamid.2",
        "111:s:wamid.9:sent",
        "111:s:wamid.9:delivered",
        "222:m:wamid.1",
    ]
    assert delivery_keys(batch, skip_numbers=frozenset({"111"})) == ["222:m:wamid.1"]


def test_only_messages_and_statuses_can_be_absorbed(h: Harness) -> None:
    template = TemplateUpdate(
        waba_id="1", meta_template_id="4", name="hello", language="en", event="APPROVED"
    )
    change = IdentityChange(previous_bsuid="BR.1", new_bsuid="BR.2", at=h.clock.now())
    assert only_messages_and_statuses(h.batch(h.text()))
    assert not only_messages_and_statuses(h.batch(h.text(), templates=(template,)))
    assert not only_messages_and_statuses(
        WebhookBatch(numbers=[NumberUpdates(phone_number_id="1", identity_changes=[change])])
    )
    assert not only_messages_and_statuses(
        WebhookBatch(numbers=h.batch(h.text()).numbers, ignored_fields=["account_update"])
    )


async def test_a_redelivery_is_absorbed_without_the_database(
    h: Harness, guard: MemoryIdempotencyGuard
) -> None:
    first = h.text("one")
    batch = h.batch(first, statuses=(h.status(first.wamid, "read"),))
    stored = await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=TTL)
    assert (stored.absorbed, stored.report.messages_stored) == (False, 1)

    svc, down = without_database(h.svc)
    again = await ingest_unless_seen(svc, guard, batch, ttl_seconds=TTL)

    assert again.absorbed
    assert (again.report.messages_duplicate, again.report.statuses_stale) == (1, 1)
    assert down.calls == 0
    assert len(h.uow.db.state.messages) == 1


async def test_a_partly_new_batch_goes_to_the_database_whole(
    h: Harness, guard: MemoryIdempotencyGuard
) -> None:
    old = h.text("old")
    await ingest_unless_seen(h.svc, guard, h.batch(old), ttl_seconds=TTL)
    new = h.text("new")

    mixed = await ingest_unless_seen(h.svc, guard, h.batch(old, new), ttl_seconds=TTL)

    assert not mixed.absorbed
    assert (mixed.report.messages_stored, mixed.report.messages_duplicate) == (1, 1)
    keys = delivery_keys(h.batch(old, new))
    assert await guard.seen(keys) == set(keys)


async def test_a_failed_commit_remembers_nothing(h: Harness, guard: MemoryIdempotencyGuard) -> None:
    batch = h.batch(h.text("lost if claimed first"))
    svc, _ = without_database(h.svc)
    with pytest.raises(UpstreamUnavailable):
        await ingest_unless_seen(svc, guard, batch, ttl_seconds=TTL)
    assert await guard.seen(delivery_keys(batch)) == set()

    retried = await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=TTL)
    assert (retried.absorbed, retried.report.messages_stored) == (False, 1)


async def test_template_updates_are_never_absorbed(
    h: Harness, guard: MemoryIdempotencyGuard
) -> None:
    template = TemplateUpdate(
        waba_id="1", meta_template_id="4", name="hello", language="en", event="APPROVED"
    )
    batch = h.batch(h.text(), templates=(template,))
    await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=TTL)
    assert await guard.seen(delivery_keys(batch)) == set(delivery_keys(batch))

    svc, down = without_database(h.svc)
    with pytest.raises(UpstreamUnavailable):
        await ingest_unless_seen(svc, guard, batch, ttl_seconds=TTL)
    assert down.calls == 1


async def test_an_unknown_numbers_deliveries_are_not_remembered(
    h: Harness, guard: MemoryIdempotencyGuard
) -> None:
    batch = h.batch(h.text(), phone_number_id="999999999999999")
    report = (await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=TTL)).report
    assert report.unknown_numbers == ["999999999999999"]
    assert await guard.seen(delivery_keys(batch)) == set()


async def test_the_memory_fades_after_the_ttl(h: Harness, guard: MemoryIdempotencyGuard) -> None:
    batch = h.batch(h.text())
    await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=TTL)
    h.clock.advance(timedelta(seconds=TTL))

    again = await ingest_unless_seen(h.svc, guard, batch, ttl_seconds=TTL)

    assert not again.absorbed  # the database absorbs it instead
    assert (again.report.messages_stored, again.report.messages_duplicate) == (0, 1)


async def test_a_batch_with_nothing_to_remember_is_not_absorbed(
    h: Harness, guard: MemoryIdempotencyGuard
) -> None:
    empty = await ingest_unless_seen(h.svc, guard, WebhookBatch(), ttl_seconds=TTL)
    assert not empty.absorbed
