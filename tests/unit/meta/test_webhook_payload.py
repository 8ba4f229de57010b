"""Every fixture decodes, and each message type lands in its fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.meta import (
    ContactInfo,
    decode_webhook,
    identity_of,
)
from tests.unit.meta.payloads import (
    ALL_FIXTURES,
    ANA_BSUID,
    ANA_PHONE,
    body_of,
    only_message,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_decodes_and_drops_nothing(name: str) -> None:
    body = body_of(name)
    plain = json.loads(body)
    values = [c["value"] for e in plain["entry"] for c in e["changes"] if c["field"] == "messages"]
    decoded = decode_webhook(body)
    assert len(decoded.changes) == sum(len(e["changes"]) for e in plain["entry"])
    assert [m.id for _, _, m in decoded.iter_messages()] == [
        m["id"] for v in values for m in v.get("messages", [])
    ]
    assert [(s.id, s.status) for _, _, s in decoded.iter_statuses()] == [
        (s["id"], s["status"]) for v in values for s in v.get("statuses", [])
    ]
    for _, _, message in decoded.iter_messages():
        assert isinstance(message.timestamp, int)
        assert json.loads(message.raw) in [m for v in values for m in v.get("messages", [])]


def test_text_with_reply_context_and_both_ids() -> None:
    value, message = only_message("text")
    assert (message.type, message.from_, message.from_user_id) == ("text", ANA_PHONE, ANA_BSUID)
    assert message.id.startswith("wamid.HBg")
    assert message.timestamp == 1749416383
    assert message.text is not None
    assert message.text.body == "Oi! O pedido 4417 já saiu? 🚚"
    assert message.context is not None
    assert message.context.from_ == "15550783881"
    assert message.context.id is not None
    assert message.context.id.startswith("wamid.")
    assert message.is_known
    assert message.decode_error is None
    assert value.contacts == [
        ContactInfo(user_id=ANA_BSUID, wa_id=ANA_PHONE, profile=value.contacts[0].profile)
    ]
    assert identity_of(message, value.contacts) == (ANA_BSUID, ANA_PHONE, None, "Ana Souza", None)


def test_username_user_without_phone_is_metas_own_example() -> None:
    value, message = only_message("text_username_only")
    assert message.from_ is None
    assert message.from_user_id == "US.13491208655302741918"
    assert message.text is not None
    assert message.text.body == "Does it come in another color?"
    assert value.contacts[0].wa_id is None
    assert identity_of(message, value.contacts) == (
        "US.13491208655302741918",
        None,
        "@realsheenanelson",
        "Sheena Nelson",
        None,
    )


def test_legacy_payload_with_only_phone() -> None:
    value, message = only_message("text_legacy_wa_id")
    assert (message.from_, message.from_user_id, message.timestamp) == (
        "16315551181",
        None,
        1504902988,
    )
    assert identity_of(message, value.contacts).wa_id == "16315551181"
    assert identity_of(message, value.contacts).bsuid is None


def test_ad_referral_is_kept_as_a_dict() -> None:
    _, message = only_message("text_ad_referral")
    assert message.referral is not None
    assert message.referral["source_type"] == "ad"
    assert message.referral["ctwa_clid"].startswith("ARAk")


@pytest.mark.parametrize(
    ("name", "kind", "media_id", "mime", "extra"),
    [
        ("image", "image", "1163937421426731", "image/jpeg", {"caption": "Nota fiscal"}),
        ("video", "video", "1026452185542813", "video/mp4", {"caption": "Chegou assim"}),
        ("audio_voice", "audio", "972384716527491", "audio/ogg; codecs=opus", {"voice": True}),
        (
            "document",
            "document",
            "1391245628364412",
            "application/pdf",
            {"filename": "contrato-2026.pdf", "caption": "Contrato assinado"},
        ),
        ("sticker", "sticker", "1544102049637925", "image/webp", {"animated": False}),
    ],
)
def test_media(name: str, kind: str, media_id: str, mime: str, extra: dict[str, Any]) -> None:
    _, message = only_message(name)
    media = getattr(message, kind)
    assert message.type == kind
    assert (media.id, media.mime_type) == (media_id, mime)
    assert media.sha256.endswith("=")
    for key, expected in extra.items():
        assert getattr(media, key) == expected


def test_forwarded_context_without_reply() -> None:
    _, message = only_message("image")
    assert message.context is not None
    assert (message.context.forwarded, message.context.id) == (True, None)


def test_location_contacts_order() -> None:
    location = only_message("location")[1].location
    assert location is not None
    assert (location.latitude, location.longitude, location.name) == (
        -23.561414,
        -46.655881,
        "MASP",
    )
    cards = only_message("contacts")[1].contacts
    assert cards is not None
    assert cards[0]["phones"][0]["wa_id"] == "5521998765432"
    order = only_message("order")[1].order
    assert order is not None
    assert [i["product_retailer_id"] for i in order["product_items"]] == [
        "sku-cafe-500g",
        "sku-filtro-103",
    ]


def test_interactive_replies_and_template_button() -> None:
    button = only_message("interactive_button_reply")[1].interactive
    assert button is not None
    assert button.button_reply is not None
    assert (button.type, button.button_reply.id, button.button_reply.title) == (
        "button_reply",
        "confirm-4417",
        "Confirmar",
    )
    listed = only_message("interactive_list_reply")[1].interactive
    assert listed is not None
    assert listed.list_reply is not None
    assert (listed.list_reply.id, listed.list_reply.description) == (
        "slot-2026-03-02T10",
        "Segunda-feira, 10:00-11:00",
    )
    flow = only_message("interactive_nfm_reply")[1].interactive
    assert flow is not None
    assert flow.nfm_reply is not None
    assert json.loads(flow.nfm_reply.response_json or "") == {"flow_token": "f-1", "rating": "5"}
    template_button = only_message("button")[1].button
    assert template_button is not None
    assert (template_button.payload, template_button.text) == ("STOP_PROMOTIONS", "Parar promoções")


def test_reaction_with_numeric_timestamp() -> None:
    _, message = only_message("reaction")
    assert message.timestamp == 1749416510
    assert message.reaction is not None
    assert message.reaction.emoji == "👍"
    assert message.reaction.message_id.startswith("wamid.")


def test_system_bsuid_changes() -> None:
    _, changed_number = only_message("system_user_changed_number")
    system = changed_number.system
    assert system is not None
    assert (system.type, system.wa_id, system.user_id, system.previous_user_id) == (
        "user_changed_number",
        "5511912345678",
        "BR.77120458830019923310",
        ANA_BSUID,
    )
    value, changed_id = only_message("system_user_changed_user_id")
    system = changed_id.system
    assert system is not None
    assert (system.type, system.user_id, system.previous_user_id, system.parent_user_id) == (
        "user_changed_user_id",
        "US.90215573380142297715",
        "US.13491208655302741918",
        "US.ENT.11815799212886844830",
    )
    assert identity_of(changed_id, value.contacts).parent_bsuid == "US.ENT.11815799212886844830"


def test_unsupported_keeps_errors_and_is_not_known() -> None:
    _, message = only_message("unsupported")
    assert not message.is_known
    assert [(e.code, e.title) for e in message.errors] == [(131051, "Message type unknown")]
    assert message.errors[0].error_data is not None
    assert message.errors[0].error_data.details == "Message type is currently not supported."


def test_unknown_type_keeps_its_exact_raw_bytes() -> None:
    body = body_of("unknown_type_poll")
    _, message = only_message("unknown_type_poll")
    original = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (message.type, message.is_known, message.decode_error) == ("poll", False, None)
    assert message.raw in body
    assert json.loads(message.raw) == original
