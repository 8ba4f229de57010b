"""The media policy and blob keys: pure functions, with properties where they have laws."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import InvalidInput
from whatsapp_core.media import (
    KB,
    MB,
    MediaRef,
    MediaRejected,
    MediaState,
    StoredBlob,
    check_key,
    check_upload,
    content_matches,
    media_key,
    normalise_mime,
    sha256_bytes,
    upload_key,
)

pytestmark = pytest.mark.unit

LIMITS = [
    ("image", "image/jpeg", 5 * MB),
    ("image", "image/png", 5 * MB),
    ("audio", "audio/ogg", 16 * MB),
    ("video", "video/mp4", 16 * MB),
    ("document", "application/pdf", 100 * MB),
    ("sticker", "image/webp", 500 * KB),
]


@pytest.mark.parametrize(("kind", "mime", "limit"), LIMITS)
def test_each_type_takes_up_to_its_limit_and_not_a_byte_more(
    kind: str, mime: str, limit: int
) -> None:
    assert check_upload(kind, mime, limit).max_bytes == limit
    with pytest.raises(MediaRejected) as refused:
        check_upload(kind, mime, limit + 1)
    assert refused.value.reason == "too_large"
    assert "at most" in refused.value.message


@pytest.mark.parametrize(
    ("kind", "mime"),
    [
        ("image", "image/gif"),
        ("image", "image/svg+xml"),
        ("document", "text/html"),
        ("document", "application/x-msdownload"),
        ("sticker", "image/png"),
        ("video", "video/quicktime"),
    ],
)
def test_types_outside_the_list_are_refused(kind: str, mime: str) -> None:
    with pytest.raises(MediaRejected) as refused:
        check_upload(kind, mime, 10)
    assert refused.value.reason == "mime_not_allowed"


def test_unknown_kind_and_empty_file() -> None:
    with pytest.raises(MediaRejected) as unknown:
        check_upload("location", "image/png", 10)
    assert unknown.value.reason == "unknown_kind"
    with pytest.raises(MediaRejected) as empty:
        check_upload("image", "image/png", 0)
    assert empty.value.reason == "empty"
    assert isinstance(empty.value, InvalidInput)  # the HTTP layer answers 422


def test_mime_parameters_and_case_are_ignored() -> None:
    assert normalise_mime("Audio/OGG; codecs=opus") == "audio/ogg"
    assert check_upload("audio", "audio/ogg; codecs=opus", 1000).kind == "audio"


def test_content_sniffing_for_types_a_browser_renders() -> None:
    assert content_matches("image/png", b"\x89PNG\r\n\x1a\n....")
    assert content_matches("image/jpeg", b"\xff\xd8\xff\xe0")
    assert content_matches("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert not content_matches("image/png", b"<html><script>")
    assert not content_matches("image/webp", b"RIFF\x00\x00\x00\x00AVI ")
    assert content_matches("audio/ogg", b"anything")  # not sniffed


def test_sha256_as_meta_writes_it() -> None:
    digest = hashlib.sha256(b"photo").digest()
    assert sha256_bytes(digest.hex()) == digest  # media endpoint / simulator: hex
    assert sha256_bytes(digest.hex().upper()) == digest
    assert sha256_bytes(base64.b64encode(digest).decode()) == digest  # webhooks: base64
    assert sha256_bytes(base64.urlsafe_b64encode(digest).decode().rstrip("=")) == digest
    for junk in (None, "", "not a hash", "abcd", base64.b64encode(b"short").decode()):
        assert sha256_bytes(junk) is None


def test_keys_of_the_core_start_with_their_tenant() -> None:
    tenant, item = uuid.uuid4(), uuid.uuid4()
    assert check_key(media_key(tenant, item)) == f"tenants/{tenant}/media/{item}"
    assert check_key(upload_key(tenant, item)).startswith(f"tenants/{tenant}/uploads/")


@given(st.text(max_size=60))
def test_an_accepted_key_can_never_climb_or_be_absolute(key: str) -> None:
    try:
        check_key(key)
    except InvalidInput:
        return
    segments = key.split("/")
    assert not key.startswith("/")
    assert "\\" not in key
    assert "\x00" not in key
    assert all(segment and not segment.startswith(".") for segment in segments)


@given(st.lists(st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}", fullmatch=True), min_size=1,
                max_size=8))  # fmt: skip
def test_ordinary_keys_are_accepted(segments: list[str]) -> None:
    key = "/".join(segments)
    assert check_key(key) == key


def test_media_ref_round_trips_through_message_content() -> None:
    blob = StoredBlob(key="tenants/t/media/m", size=3, content_type="image/png", sha256="ab")
    ref = MediaRef.available(blob, filename="a.png")
    content = {"image": {"id": "1"}, "media": ref.to_content()}
    assert content["media"] == {
        "state": "available", "key": "tenants/t/media/m", "mime_type": "image/png",
        "size": 3, "sha256": "ab", "filename": "a.png",
    }  # fmt: skip
    assert MediaRef.of(content) == ref
    gone = MediaRef.unavailable("too big", code="too_large")
    assert MediaRef.of({"media": gone.to_content()}) == gone
    assert gone.state is MediaState.UNAVAILABLE
    assert MediaRef.of({}) is None
    assert MediaRef.of({"media": {"state": "weird"}}) is None
