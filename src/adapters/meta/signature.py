"""X-Hub-Signature-256: HMAC-SHA256 of the app secret over the RAW body bytes.

Always verify the bytes as received: Meta escapes non-ASCII as ``\\uXXXX``, so decoding
and re-serialising the JSON would change the bytes and break the signature.
"""

from __future__ import annotations

import hashlib
import hmac

import msgspec

_PREFIX = "sha256="


def _key(app_secret: bytes | str) -> bytes:
    return app_secret.encode("utf-8") if isinstance(app_secret, str) else app_secret


def sign(app_secret: bytes | str, body: bytes) -> str:
    """The header value Meta would send for `body` (used by the simulator and tests)."""
    return _PREFIX + hmac.new(_key(app_secret), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: bytes | str, body: bytes, header: str | None) -> bool:
    """True only when `header` is ``sha256=<hex>`` of `body` under `app_secret`; never raises."""
    if not isinstance(header, str) or not app_secret:
        # An empty secret would let anyone sign: treat it as "cannot verify".
        return False
    scheme, sep, digest = header.strip().partition("=")
    if not sep or scheme.lower() != "sha256" or len(digest) != 64 or not digest.isascii():
        return False
    # compare_digest on two ASCII str of equal length runs in constant time.
    return hmac.compare_digest(sign(app_secret, body)[len(_PREFIX) :], digest.lower())


class _Metadata(msgspec.Struct):
    phone_number_id: str | None = None


class _Value(msgspec.Struct):
    metadata: _Metadata | None = None


class _Change(msgspec.Struct):
    value: _Value | None = None


class _Entry(msgspec.Struct):
    changes: list[_Change] = []


class _Routing(msgspec.Struct):
    entry: list[_Entry] = []


_ROUTING = msgspec.json.Decoder(_Routing)


def phone_number_ids(body: bytes) -> set[str]:
    """The numbers an (unverified) delivery is addressed to, to find whose app secret
    may have signed it; an unreadable body names none."""
    try:
        routing = _ROUTING.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return set()
    return {
        change.value.metadata.phone_number_id
        for entry in routing.entry
        for change in entry.changes
        if change.value and change.value.metadata and change.value.metadata.phone_number_id
    }
