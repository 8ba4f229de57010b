"""Fixture loading and small payload builders shared by the webhook tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.meta import DecodedWebhook, InboundMessage, MessagesValue, StatusInfo, decode_webhook

FIXTURES = Path(__file__).parents[2] / "fixtures" / "meta"
ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))
WABA = "102290129340398"
PNID = "106540352242922"
ANA_BSUID = "BR.48201957730016452291"
ANA_PHONE = "5511987654321"


def body_of(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def decode(name: str) -> DecodedWebhook:
    return decode_webhook(body_of(name))


def only_message(name: str) -> tuple[MessagesValue, InboundMessage]:
    [(waba, value, message)] = list(decode(name).iter_messages())
    assert waba == WABA
    assert value.metadata.phone_number_id == PNID
    assert message.raw
    return value, message


def only_status(name: str) -> StatusInfo:
    [(_, _, status)] = list(decode(name).iter_statuses())
    return status


def only_value(name: str) -> object:
    [change] = decode(name).changes
    assert change.waba_id == WABA
    return change.value


def envelope(value: object, field: str = "messages") -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": field, "value": value}]}],
        }
    ).encode()


def messages_value(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    meta = {"display_phone_number": "15550783881", "phone_number_id": PNID}
    return {"messaging_product": "whatsapp", "metadata": meta, "messages": list(messages), **extra}


def text_message(**overrides: Any) -> dict[str, Any]:
    message = {
        "from": ANA_PHONE,
        "from_user_id": ANA_BSUID,
        "id": "wamid.T1",
        "timestamp": "1749416383",
        "type": "text",
        "text": {"body": "oi"},
    }
    return {**message, **overrides}
