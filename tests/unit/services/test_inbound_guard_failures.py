"""The webhook guard never absorbs news: a second, different failure of a message, or a
batch carrying Meta's webhook-level errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.webhook import StatusUpdate, WebhookBatch, WebhookError
from whatsapp_core.services.inbound_guard import delivery_keys, only_messages_and_statuses

pytestmark = pytest.mark.unit


def test_a_different_failure_of_one_message_has_its_own_key(h: Harness) -> None:
    first = h.status("wamid.9", "failed", error_code=131026)
    same = h.status("wamid.9", "failed", error_code=131026)
    later = StatusUpdate(
        wamid="wamid.9", status="failed", error_code=131049, at=h.clock.now() + timedelta(seconds=5)
    )
    assert delivery_keys(h.batch(statuses=(first,))) == delivery_keys(h.batch(statuses=(same,)))
    assert delivery_keys(h.batch(statuses=(first,))) != delivery_keys(h.batch(statuses=(later,)))
    # Other statuses keep one key per (wamid, status): a repeat is a duplicate.
    read = h.status("wamid.9", "read")
    read_again = StatusUpdate(wamid="wamid.9", status="read", at=read.at + timedelta(seconds=5))
    assert delivery_keys(h.batch(statuses=(read,))) == delivery_keys(
        h.batch(statuses=(read_again,))
    )


def test_a_batch_with_webhook_errors_is_never_absorbed(h: Harness) -> None:
    error = WebhookError(code=131051, title="Message type unknown", phone_number_id="1")
    batch = WebhookBatch(numbers=h.batch(h.text()).numbers, errors=[error])
    assert only_messages_and_statuses(h.batch(h.text()))
    assert not only_messages_and_statuses(batch)
