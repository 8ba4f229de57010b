"""SecretBox: sealed tenant secrets open only unaltered, in their own context, with a
configured key; rotation keeps old tokens readable."""

from __future__ import annotations

import base64
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.crypto import AesGcmSecretBox, build_secret_box, from_secret, parse_keys
from whatsapp_core.errors import InvalidInput

pytestmark = pytest.mark.unit

K1, K2 = os.urandom(32), os.urandom(32)
BOX = AesGcmSecretBox({"k1": K1}, "k1")
SECRET_KEY = "s" * 40
CONTEXT = "tenant:0b9d…:access_token"
contexts = st.text(min_size=1, max_size=40)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@given(plaintext=st.text(max_size=300), context=contexts)
def test_what_is_sealed_opens_in_its_context(plaintext: str, context: str) -> None:
    token = BOX.seal(plaintext, context=context)
    assert re.fullmatch(r"v1\.k1\.[A-Za-z0-9_-]+", token)
    assert BOX.open(token, context=context) == plaintext
    assert BOX.seal(plaintext, context=context) != token  # a fresh nonce every time


@given(
    plaintext=st.text(max_size=60),
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_flipped_byte_is_refused(plaintext: str, position: int, flip: int) -> None:
    raw = bytearray(BOX.seal(plaintext, context=CONTEXT).encode())
    raw[position % len(raw)] ^= flip
    with pytest.raises(InvalidInput):
        BOX.open(raw.decode("latin-1"), context=CONTEXT)


@given(plaintext=st.text(max_size=60), cut=st.integers(min_value=1, max_value=20))
def test_a_truncated_token_is_refused(plaintext: str, cut: int) -> None:
    token = BOX.seal(plaintext, context=CONTEXT)
    with pytest.raises(InvalidInput):
        BOX.open(token[:-cut], context=CONTEXT)


@given(plaintext=st.text(max_size=60), sealed_for=contexts, opened_as=contexts)
def test_another_context_does_not_open(plaintext: str, sealed_for: str, opened_as: str) -> None:
    token = BOX.seal(plaintext, context=sealed_for)
    if opened_as == sealed_for:
        assert BOX.open(token, context=opened_as) == plaintext
        return
    with pytest.raises(InvalidInput, match="another context"):
        BOX.open(token, context=opened_as)


@pytest.mark.parametrize("garbage", ["", "v1", "v1.k1", "v2.k1.AAAA", "v1.k1.!!!!", "a.b.c.d"])
def test_garbage_is_invalid_input(garbage: str) -> None:
    with pytest.raises(InvalidInput):
        BOX.open(garbage, context=CONTEXT)


def test_rotation_keeps_old_tokens_open_and_seals_with_the_active_key() -> None:
    old_token = BOX.seal("EAAG-old", context=CONTEXT)
    rotated = AesGcmSecretBox({"k2": K2, "k1": K1}, "k2")
    assert rotated.open(old_token, context=CONTEXT) == "EAAG-old"
    assert rotated.needs_rotation(old_token)
    new_token = rotated.seal("EAAG-old", context=CONTEXT)
    assert new_token.startswith("v1.k2.")
    assert not rotated.needs_rotation(new_token)
    with pytest.raises(InvalidInput, match="'k2', which is not configured"):
        BOX.open(new_token, context=CONTEXT)
    retired = AesGcmSecretBox({"k2": K2}, "k2")
    with pytest.raises(InvalidInput, match="'k1', which is not configured"):
        retired.open(old_token, context=CONTEXT)


def test_a_key_id_swapped_in_the_token_does_not_open() -> None:
    both = AesGcmSecretBox({"k1": K1, "k2": K2}, "k1")
    token = both.seal("secret", context=CONTEXT)
    with pytest.raises(InvalidInput, match="altered"):
        both.open(token.replace("v1.k1.", "v1.k2.", 1), context=CONTEXT)


def test_the_derived_key_is_stable_and_secret_specific() -> None:
    token = from_secret(SECRET_KEY).seal("app-secret", context=CONTEXT)
    assert token.startswith("v1.k1.")
    assert from_secret(SECRET_KEY).open(token, context=CONTEXT) == "app-secret"
    with pytest.raises(InvalidInput):
        from_secret("t" * 40).open(token, context=CONTEXT)
    with pytest.raises(InvalidInput, match="at least 32"):
        from_secret("short")


def test_keys_spec_first_is_active_in_either_base64_alphabet() -> None:
    urlsafe_k1 = base64.urlsafe_b64encode(K1).decode().rstrip("=")
    keys, active = parse_keys(f" k2:{b64(K2)} , k1:{urlsafe_k1}")
    assert (keys, active) == ({"k2": K2, "k1": K1}, "k2")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("", "entry 1"),
        ("k2", "entry 1"),
        (f"k2:{b64(K2)},bad id:{b64(K1)}", "entry 2"),
        (f"k2:{b64(K2)},k2:{b64(K1)}", "twice"),
        (f"k2:{b64(K2)[:-8]}", "32 bytes"),
        ("k2:not base64!", "32 bytes"),
    ],
)
def test_a_bad_keys_spec_says_why_without_echoing_keys(spec: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as caught:
        parse_keys(spec)
    assert b64(K1) not in str(caught.value)
    assert b64(K2) not in str(caught.value)


def test_rotating_away_from_the_derived_key() -> None:
    old_token = build_secret_box(SECRET_KEY).seal("token", context=CONTEXT)
    box = build_secret_box(SECRET_KEY, f"k2:{b64(K2)}")
    assert (box.active_key_id, box.key_ids) == ("k2", ["k1", "k2"])
    assert box.open(old_token, context=CONTEXT) == "token"
    assert box.needs_rotation(old_token)
    with pytest.raises(InvalidInput, match="no secret key"):
        build_secret_box(None, "  ")


def test_bad_keys_are_refused_and_never_shown() -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        AesGcmSecretBox({"k1": b"short"}, "k1")
    with pytest.raises(InvalidInput, match="active key id"):
        AesGcmSecretBox({"k1": K1}, "k2")
    with pytest.raises(InvalidInput, match="key id"):
        AesGcmSecretBox({"k.1": K1}, "k.1")
    shown = repr(AesGcmSecretBox({"k1": K1, "k2": K2}, "k2"))
    assert shown == "AesGcmSecretBox(active_key_id='k2', key_ids=['k1', 'k2'])"
    assert b64(K1) not in shown
    assert "EAAG secret" not in BOX.seal("EAAG secret", context=CONTEXT)
