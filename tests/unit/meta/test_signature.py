from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.meta import sign, verify_signature

pytestmark = pytest.mark.unit

SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_a_good_signature_passes_for_str_and_bytes_secrets() -> None:
    header = sign(SECRET, BODY)
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert verify_signature(SECRET, BODY, header)
    assert verify_signature(SECRET.encode(), BODY, header)
    assert verify_signature(SECRET, BODY, header.upper().replace("SHA256=", "sha256="))


@given(st.binary(min_size=1, max_size=300), st.data())
def test_one_flipped_byte_in_the_body_fails(body: bytes, data: st.DataObject) -> None:
    header = sign(SECRET, body)
    at = data.draw(st.integers(0, len(body) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = body[:at] + bytes([body[at] ^ (1 << bit)]) + body[at + 1 :]
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, tampered, header)


def test_a_wrong_secret_fails() -> None:
    assert not verify_signature("another-secret", BODY, sign(SECRET, BODY))
    # An empty secret would let anyone sign, so it never verifies.
    assert not verify_signature("", BODY, sign("", BODY))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "sha1=" + "0" * 40,
        "sha256=" + "0" * 63,
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,
        "md5=" + "0" * 64,
        "sha256:" + "0" * 64,
        12345,
        b"sha256=abc",
    ],
)
def test_missing_or_garbled_headers_are_false_never_an_error(header: object) -> None:
    assert verify_signature(SECRET, BODY, header) is False  # type: ignore[arg-type]


@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=80)))
def test_verify_never_raises(secret: str, header: str | None) -> None:
    assert verify_signature(secret, BODY, header) in (True, False)


def test_non_ascii_body_is_verified_over_the_raw_escaped_bytes() -> None:
    # Meta escapes non-ASCII as \uXXXX; re-serialising changes the bytes and the HMAC.
    raw = b'{"text":{"body":"Ol\\u00e1, caf\\u00e9 \\ud83d\\ude9a"}}'
    header = sign(SECRET, raw)
    assert verify_signature(SECRET, raw, header)
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    assert json.loads(reserialised) == json.loads(raw)
    assert not verify_signature(SECRET, reserialised, header)
