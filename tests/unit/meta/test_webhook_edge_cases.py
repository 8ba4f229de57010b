"""Lenient where Meta varies, strict where a guess would lose data."""

from __future__ import annotations

import json

import pytest

from adapters.meta import (
    ContactInfo,
    InboundMessage,
    decode_webhook,
    identity_of,
)
from tests.unit.meta.payloads import (
    ANA_BSUID,
    ANA_PHONE,
    body_of,
    envelope,
    messages_value,
    text_message,
)
from whatsapp_core.errors import InvalidInput

pytestmark = pytest.mark.unit


def test_unknown_keys_everywhere_are_ignored() -> None:
    plain = json.loads(body_of("text"))
    plain["new_top"] = 1
    plain["entry"][0]["time"] = 1749416383
    plain["entry"][0]["changes"][0]["value"]["new_value_key"] = {"a": [1]}
    message = plain["entry"][0]["changes"][0]["value"]["messages"][0]
    message["new_message_key"] = "x"
    message["text"]["new_text_key"] = None
    [(_, _, decoded)] = list(decode_webhook(json.dumps(plain).encode()).iter_messages())
    assert decoded.text is not None
    assert decoded.text.body.startswith("Oi!")
    assert decoded.is_known


def test_empty_phone_strings_mean_absent() -> None:
    body = envelope(
        messages_value(
            text_message(**{"from": ""}),
            contacts=[{"profile": {"name": "Ana"}, "wa_id": "", "user_id": ANA_BSUID}],
            statuses=[
                {
                    "id": "wamid.S",
                    "status": "sent",
                    "timestamp": "1",
                    "recipient_id": "",
                    "recipient_user_id": ANA_BSUID,
                }
            ],
        )
    )
    [(_, value, message)] = list(decode_webhook(body).iter_messages())
    assert (message.from_, value.contacts[0].wa_id) == (None, None)
    assert next(decode_webhook(body).iter_statuses())[2].recipient_id is None


@pytest.mark.parametrize("stamp", ["1749416383", 1749416383])
def test_string_and_number_timestamps_are_both_ints(stamp: object) -> None:
    body = envelope(
        messages_value(
            text_message(timestamp=stamp),
            statuses=[{"id": "wamid.S", "status": "read", "timestamp": stamp}],
        )
    )
    decoded = decode_webhook(body)
    assert next(decoded.iter_messages())[2].timestamp == 1749416383
    assert next(decoded.iter_statuses())[2].timestamp == 1749416383


def test_a_known_type_with_an_odd_payload_degrades_to_raw_not_an_error() -> None:
    odd = text_message(text={"body": 42})
    good = text_message(id="wamid.T2")
    [(_, _, first), (_, _, second)] = list(
        decode_webhook(envelope(messages_value(odd, good))).iter_messages()
    )
    assert (first.id, first.type, first.from_user_id, first.text) == (
        "wamid.T1",
        "text",
        ANA_BSUID,
        None,
    )
    assert not first.is_known
    assert first.decode_error == (
        "Expected `str`, got `int` - at `$.entry[0].changes[0].value.messages[0].text.body`"
    )
    assert json.loads(first.raw) == odd
    assert second.is_known


def test_a_known_type_without_its_payload_is_not_known() -> None:
    [(_, _, message)] = list(
        decode_webhook(envelope(messages_value(text_message(text=None)))).iter_messages()
    )
    assert not message.is_known


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "webhook body: JSON is malformed"),
        (b"", "webhook body: Input data was truncated"),
        (b"[]", "webhook body: Expected `object`, got `array`"),
        (b'{"object": "whatsapp_business_account"}', "Object missing required field `entry`"),
        (
            b'{"object": "whatsapp_business_account", "entry": {}}',
            "webhook body: Expected `array`, got `object` - at `$.entry`",
        ),
        (b'{"object": "page", "entry": []}', "`object` is 'page'"),
        (
            envelope(messages_value(text_message(timestamp="soon"))),
            "Expected `int`, got `str` - at `$.entry[0].changes[0].value.messages[0].timestamp`",
        ),
        (
            envelope(messages_value(text_message(id=None))),
            "Expected `str`, got `null` - at `$.entry[0].changes[0].value.messages[0].id`",
        ),
        (
            envelope(messages_value(statuses=[{"id": "wamid.S", "status": "sent"}])),
            "Object missing required field `timestamp`"
            " - at `$.entry[0].changes[0].value.statuses[0]`",
        ),
        (
            envelope({"messaging_product": "whatsapp"}),
            "Object missing required field `metadata` - at `$.entry[0].changes[0].value`",
        ),
        (
            envelope([], field="message_template_status_update"),
            "Expected `object`, got `array` - at `$.entry[0].changes[0].value`",
        ),
        (
            '{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": '
            '"messages", "value": {"metadata": {"display_phone_number": "1", "phone_number_id": '
            '"\xff"}}}]}]}'.encode("latin-1"),
            "webhook body: ",
        ),
    ],
)
def test_malformed_bodies_raise_invalid_input_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_webhook(body)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.details["field"] == "webhook_body"


def test_identity_prefers_the_matching_contact_and_never_merges_strangers() -> None:
    ana = ContactInfo(user_id=ANA_BSUID, wa_id=ANA_PHONE)
    bea = ContactInfo(user_id="BR.60017723941180275530")
    by_bsuid = InboundMessage(id="w", type="text", timestamp=1, from_user_id=bea.user_id)
    assert identity_of(by_bsuid, [ana, bea]).bsuid == "BR.60017723941180275530"
    assert identity_of(by_bsuid, [ana, bea]).wa_id is None
    by_phone = InboundMessage(id="w", type="text", timestamp=1, from_=ANA_PHONE)
    assert identity_of(by_phone, [bea, ana]) == (ANA_BSUID, ANA_PHONE, None, None, None)
    stranger = InboundMessage(id="w", type="text", timestamp=1, from_user_id="US.1")
    assert identity_of(stranger, [ana]) == ("US.1", None, None, None, None)
    lone = InboundMessage(id="w", type="text", timestamp=1, from_user_id="US.1")
    assert identity_of(lone, [ContactInfo(wa_id="123")]).wa_id == "123"
    assert identity_of(lone, []) == ("US.1", None, None, None, None)
