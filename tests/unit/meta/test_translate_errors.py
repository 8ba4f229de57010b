"""Meta's change-level ``value.errors[]`` reach the core's batch (never dropped)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.meta import decode_webhook
from adapters.meta.translate import to_batch
from tests.unit.meta.payloads import PNID, WABA, body_of
from whatsapp_core.domain.webhook import WebhookError

pytestmark = pytest.mark.unit

UNSUPPORTED = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "error_data": {"details": "Message type is currently not supported."},
    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
}


def _messages_change(pnid: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid},
            "errors": errors,
        },
    }


def _body(*changes: dict[str, Any]) -> bytes:
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": list(changes)}],
    }
    return json.dumps(envelope).encode()


def test_errors_of_a_messages_change_are_carried_with_their_number() -> None:
    other = {"code": 130472, "title": "User's number is part of an experiment"}
    batch = to_batch(
        decode_webhook(
            _body(_messages_change(PNID, [UNSUPPORTED]), _messages_change("2000", [other]))
        )
    )
    assert batch.errors == [
        WebhookError(
            code=131051,
            title="Message type unknown",
            message="Message type unknown",
            details="Message type is currently not supported.",
            phone_number_id=PNID,
        ),
        WebhookError(
            code=130472, title="User's number is part of an experiment", phone_number_id="2000"
        ),
    ]


def test_errors_survive_the_general_decoding_path_too() -> None:
    """A body with another field besides ``messages`` takes the general decoder."""
    template = json.loads(body_of("template_status_approved"))["entry"][0]["changes"][0]
    batch = to_batch(decode_webhook(_body(template, _messages_change(PNID, [UNSUPPORTED]))))
    assert [(e.code, e.phone_number_id) for e in batch.errors] == [(131051, PNID)]
    assert len(batch.templates) == 1


def test_a_body_without_errors_has_none() -> None:
    assert to_batch(decode_webhook(body_of("text"))).errors == []
