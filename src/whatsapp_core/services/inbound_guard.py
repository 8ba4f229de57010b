"""Flow 1, step 4: the fast duplicate guard in front of ``ingest_webhook``.

Meta redelivers a batch it believes we missed, sometimes many times. A batch is
absorbed (acknowledged without touching the database) only when EVERY message and
status in it was remembered and it carries nothing else (template updates, identity
changes and other changes always reach the database). Anything less goes to the
database whole, whose unique keys absorb the partial duplicates. Keys are remembered
only after the batch's transaction commits, so a failed commit never loses a message.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from whatsapp_core.domain.webhook import IngestReport, WebhookBatch
from whatsapp_core.ports import IdempotencyGuard
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound import ingest_webhook

DEFAULT_TTL_SECONDS = 24 * 3600  # Meta retries a failed delivery for up to about a day


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    report: IngestReport
    absorbed: bool  # every key was seen: answered without touching the database


def delivery_keys(batch: WebhookBatch, *, skip_numbers: frozenset[str] = frozenset()) -> list[str]:
    """One key per inbound message (wamid) and per status (wamid + status, plus time and
    code for a failure), scoped by the receiving phone number (Meta's ids are global; the
    scope keeps keys readable and lets an operator drop one number's memory)."""
    keys: dict[str, None] = {}
    for number in batch.numbers:
        if number.phone_number_id in skip_numbers:
            continue
        scope = number.phone_number_id
        for message in number.messages:
            keys[f"{scope}:m:{message.wamid}"] = None
        for status in number.statuses:
            key = f"{scope}:s:{status.wamid}:{status.status}"
            if status.status == "failed":
                # Two failures of one message may differ (code, time); the later one
                # wins, so a second failure is news, not a duplicate.
                key += f":{int(status.at.timestamp())}:{status.error_code}"
            keys[key] = None
    return list(keys)


def only_messages_and_statuses(batch: WebhookBatch) -> bool:
    """True when the batch holds nothing but messages and statuses, the only parts a
    remembered key can stand for."""
    return not (
        batch.templates
        or batch.errors
        or batch.ignored_fields
        or any(number.identity_changes for number in batch.numbers)
    )


class Ingest(Protocol):
    """``ingest_webhook``'s shape (``IngestCoalescer.ingest`` has it too)."""

    async def __call__(
        self, svc: Services, batch: WebhookBatch, *, correlation_id: str | None = None
    ) -> IngestReport: ...


async def ingest_unless_seen(
    svc: Services,
    guard: IdempotencyGuard,
    batch: WebhookBatch,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    correlation_id: str | None = None,
    ingest: Ingest = ingest_webhook,
) -> Delivery:
    """``ingest`` stores what the guard has not seen: ``ingest_webhook``, or a
    coalescer's, which may share the transaction with other deliveries."""
    keys = delivery_keys(batch)
    if keys and only_messages_and_statuses(batch) and len(await guard.seen(keys)) == len(keys):
        return Delivery(report=_absorbed_report(batch), absorbed=True)
    report = await ingest(svc, batch, correlation_id=correlation_id)
    # An unknown number's keys are not remembered: its deliveries were dropped, not
    # stored, and must not be answered as duplicates once the number is registered.
    stored = delivery_keys(batch, skip_numbers=frozenset(report.unknown_numbers))
    if stored:
        await guard.remember(stored, ttl_seconds)
    return Delivery(report=report, absorbed=False)


def _absorbed_report(batch: WebhookBatch) -> IngestReport:
    """What the database would have said: every message a duplicate, every status stale."""
    return IngestReport(
        messages_duplicate=sum(len(number.messages) for number in batch.numbers),
        statuses_stale=sum(len(number.statuses) for number in batch.numbers),
    )
