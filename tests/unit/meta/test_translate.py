"""Every fixture translates into the core's batch; nothing Meta sent is dropped."""

from __future__ import annotations

import json

import pytest

from adapters.meta.translate import to_batch
from tests.unit.meta.payloads import ALL_FIXTURES, ANA_BSUID, WABA, body_of, decode
from whatsapp_core.domain.webhook import WebhookBatch

pytestmark = pytest.mark.unit


def batch(name: str) -> WebhookBatch:
    return to_batch(decode(name))


def count_in_body(name: str, key: str) -> int:
    data = json.loads(body_of(name))
    return sum(
        len(change["value"].get(key, []))
        for entry in data["entry"]
        for change in entry["changes"]
        if change["field"] == "messages"
    )


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_message_and_status_of_every_fixture_is_carried(name: str) -> None:
    result = batch(name)
    messages = [m for n in result.numbers for m in n.messages]
    statuses = [s for n in result.numbers for s in n.statuses]
    assert len(messages) == count_in_body(name, "messages")
    assert len(statuses) == count_in_body(name, "statuses")
    data = json.loads(body_of(name))
    numbers_in_body = {
        change["value"]["metadata"]["phone_number_id"]
        for entry in data["entry"]
        for change in entry["changes"]
        if change["field"] == "messages"
    }
    assert {number.phone_number_id for number in result.numbers} == numbers_in_body
    for message in messages:
        assert message.sent_at.tzinfo is not None
        assert message.customer.bsuid or message.customer.wa_id


def test_text_keeps_identity_and_words() -> None:
    (message,) = batch("text").numbers[0].messages
    assert message.type == "text"
    assert message.text
    assert message.customer.bsuid == ANA_BSUID
    assert message.content["text"]["body"] == message.text


def test_a_username_user_has_no_phone_but_a_bsuid() -> None:
    (message,) = batch("text_username_only").numbers[0].messages
    assert message.customer.wa_id is None
    assert message.customer.bsuid
    assert message.customer.username


def test_media_carries_its_media_id_for_the_fetch_job() -> None:
    (message,) = batch("image").numbers[0].messages
    assert message.type == "image"
    assert message.media_id == message.content["image"]["id"]


@pytest.mark.parametrize("name", ["unknown_type_poll", "unsupported"])
def test_unknown_types_are_stored_as_unsupported_with_their_raw_json(name: str) -> None:
    (message,) = batch(name).numbers[0].messages
    assert message.type == "unsupported"
    raw = json.loads(body_of(name))["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message.content["raw"] == raw


def test_identity_change_system_messages_move_the_bsuid() -> None:
    number = batch("system_user_changed_user_id").numbers[0]
    (change,) = number.identity_changes
    assert change.previous_bsuid
    assert change.new_bsuid
    assert change.previous_bsuid != change.new_bsuid


def test_failed_status_carries_meta_code_and_text() -> None:
    (status,) = batch("status_failed").numbers[0].statuses
    assert status.status == "failed"
    assert status.error_code
    assert status.error_text


def test_template_updates_route_by_waba_and_drop_the_none_reason() -> None:
    (approved,) = batch("template_status_approved").templates
    (rejected,) = batch("template_status_rejected").templates
    assert (approved.waba_id, approved.event, approved.reason) == (WABA, "APPROVED", None)
    assert rejected.event == "REJECTED"
    assert rejected.reason


@pytest.mark.parametrize("name", ["calls", "template_quality_update"])
def test_fields_out_of_scope_are_listed_not_failed(name: str) -> None:
    result = batch(name)
    assert result.ignored_fields
    assert not result.numbers
