"""Statuses, template updates, unknown fields, and a many-entry batch."""

from __future__ import annotations

import json

import pytest

from adapters.meta import (
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UnknownChange,
    identity_of,
)
from tests.unit.meta.payloads import (
    ANA_BSUID,
    ANA_PHONE,
    PNID,
    WABA,
    body_of,
    decode,
    only_status,
    only_value,
)

pytestmark = pytest.mark.unit


def test_statuses_sent_delivered_read_failed() -> None:
    sent = only_status("status_sent")
    assert (sent.status, sent.timestamp, sent.recipient_id, sent.recipient_user_id) == (
        "sent",
        1749416600,
        ANA_PHONE,
        ANA_BSUID,
    )
    assert sent.conversation is not None
    assert sent.conversation.origin is not None
    assert (sent.conversation.expiration_timestamp, sent.conversation.origin.type) == (
        1749503000,
        "utility",
    )
    assert sent.pricing is not None
    assert (sent.pricing.pricing_model, sent.pricing.category, sent.pricing.type) == (
        "PMP",
        "utility",
        "regular",
    )
    assert sent.biz_opaque_callback_data == "order-4417"
    delivered = only_status("status_delivered")
    assert delivered.recipient_parent_user_id == "BR.ENT.30581147729910384412"  # April-2026 key
    read = only_status("status_read")
    assert (read.status, read.timestamp) == ("read", 1749416700)
    failed = only_status("status_failed")
    assert (failed.status, failed.recipient_user_id) == ("failed", None)
    assert [e.code for e in failed.errors] == [131047]
    assert failed.pricing is not None
    assert failed.pricing.billable is False


def test_status_to_a_bsuid_has_no_phone() -> None:
    status = only_status("status_recipient_user_id_only")
    assert (status.recipient_id, status.recipient_user_id, status.recipient_parent_user_id) == (
        None,
        "US.13491208655302741918",
        "US.ENT.11815799212886844830",
    )
    assert status.pricing is not None
    assert status.pricing.type == "free_customer_service"


def test_template_updates() -> None:
    approved = only_value("template_status_approved")
    assert isinstance(approved, TemplateStatusUpdate)
    assert (approved.event, approved.template_id, approved.message_template_name) == (
        "APPROVED",
        "594425479261596",
        "pedido_enviado",
    )
    rejected = only_value("template_status_rejected")
    assert isinstance(rejected, TemplateStatusUpdate)
    assert (rejected.event, rejected.reason, rejected.message_template_language) == (
        "REJECTED",
        "INCORRECT_CATEGORY",
        "en_US",
    )
    quality = only_value("template_quality_update")
    assert isinstance(quality, TemplateQualityUpdate)
    assert (quality.previous_quality_score, quality.new_quality_score) == ("GREEN", "YELLOW")
    category = only_value("template_category_update")
    assert isinstance(category, TemplateCategoryUpdate)
    assert (category.previous_category, category.new_category, category.correct_category) == (
        "UTILITY",
        "MARKETING",
        "MARKETING",
    )


def test_unknown_field_is_kept_raw_not_an_error() -> None:
    body = body_of("calls")
    value = only_value("calls")
    assert isinstance(value, UnknownChange)
    assert value.field == "calls"
    assert value.raw in body
    assert json.loads(value.raw)["calls"][0]["event"] == "connect"


def test_batch_yields_every_message_and_status_of_every_entry_and_change() -> None:
    decoded = decode("batch")
    assert [(c.waba_id, c.field) for c in decoded.changes] == [
        (WABA, "messages"),
        (WABA, "messages"),
        ("230718346691725", "messages"),
        ("230718346691725", "messages"),
    ]
    messages = list(decoded.iter_messages())
    assert [(w, m.type) for w, _, m in messages] == [
        (WABA, "text"),
        (WABA, "image"),
        (WABA, "text"),
        ("230718346691725", "reaction"),
        ("230718346691725", "text"),
    ]
    assert [identity_of(m, v.contacts).name for _, v, m in messages] == [
        "Ana Souza",
        "Ana Souza",
        "Beatriz Rocha",
        "Kerry Fisher",
        "Kerry Fisher",
    ]
    statuses = [(v.metadata.phone_number_id, s.status) for _, v, s in decoded.iter_statuses()]
    assert statuses == [
        (PNID, "sent"),
        (PNID, "delivered"),
        (PNID, "read"),
        ("114839201556390", "read"),
        ("114839201556390", "failed"),
    ]
