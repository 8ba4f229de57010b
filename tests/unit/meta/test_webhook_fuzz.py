"""Properties: the decoder only ever raises InvalidInput, and an odd message never sinks
the batch it arrived in."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.meta import KNOWN_TYPES, decode_webhook
from whatsapp_core.errors import InvalidInput

pytestmark = pytest.mark.unit

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
TYPES = st.sampled_from(sorted(KNOWN_TYPES | {"unsupported", "poll", "call_permission_reply"}))
PAYLOAD_KEYS = st.sampled_from(
    sorted(KNOWN_TYPES | {"context", "referral", "errors", "poll", "identity", "x"})
)


def either(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(good, good, good, JSON)


def wrap(value: Any, field: Any = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}],
    }


HEADS = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=20),
        "type": TYPES,
        "timestamp": st.integers(0, 2**40) | st.integers(0, 2**40).map(str),
    },
    optional={"from": st.text(max_size=15), "from_user_id": st.text(max_size=20)},
)
MESSAGES = st.builds(
    lambda head, extra: {**extra, **head}, HEADS, st.dictionaries(PAYLOAD_KEYS, JSON)
)
METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
NEAR_ENVELOPES = st.builds(
    wrap,
    either(
        st.fixed_dictionaries(
            {"metadata": either(st.just(METADATA))},
            optional={
                "messages": either(st.lists(either(MESSAGES), max_size=3)),
                "statuses": either(st.lists(JSON, max_size=2)),
                "contacts": either(st.lists(JSON, max_size=2)),
            },
        )
    ),
    either(
        st.sampled_from(
            [
                "messages",
                "message_template_status_update",
                "message_template_quality_update",
                "template_category_update",
                "calls",
            ]
        )
    ),
)


def decodes_or_refuses(body: bytes) -> None:
    reason: str | None = None
    try:
        decode_webhook(body)
    except InvalidInput as exc:
        reason = str(exc)
    assert reason is None or reason.startswith("webhook body: ")
    assert reason is None or "\n" not in reason


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_invalid_input(body: bytes) -> None:
    decodes_or_refuses(body)


@given(JSON)
def test_arbitrary_json_only_ever_raises_invalid_input(value: Any) -> None:
    decodes_or_refuses(msgspec.json.encode(value))


@settings(max_examples=120)
@given(NEAR_ENVELOPES)
def test_nearly_right_envelopes_only_ever_raise_invalid_input(envelope: dict[str, Any]) -> None:
    decodes_or_refuses(msgspec.json.encode(envelope))


@settings(max_examples=60)
@given(st.lists(MESSAGES, min_size=1, max_size=4))
def test_any_message_with_a_sound_head_is_returned_with_its_raw_json(
    messages: list[dict[str, Any]],
) -> None:
    body = msgspec.json.encode(wrap({"metadata": METADATA, "messages": messages}))
    decoded = [m for _, _, m in decode_webhook(body).iter_messages()]
    assert [m.id for m in decoded] == [m["id"] for m in messages]
    for message, original in zip(decoded, messages, strict=True):
        assert message.raw in body
        assert json.loads(message.raw) == json.loads(msgspec.json.encode(original))
        assert message.timestamp == int(original["timestamp"])
        if message.type not in KNOWN_TYPES:
            assert not message.is_known
