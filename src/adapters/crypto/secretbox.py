"""AES-256-GCM sealing of short secrets into compact text tokens, with key rotation.

A token is ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``. The caller's ``context``
(e.g. ``"<tenant id>:access_token"``) is authenticated with it, so a token copied into
another tenant's row or another field does not open. Tokens sealed with an older key
keep opening while new ones use the active key; ``needs_rotation`` tells which to re-seal.

Keys come from the environment only: ``WA_SECRET_KEY`` (the app secret; key ``k1`` is
derived from it with HKDF-SHA256) and optionally ``WA_SECRET_KEYS="k2:<base64>,k1:<base64>"``
(explicit 32-byte keys, the first one active). Nothing here logs or repeats key material
or plaintext, not even in error messages.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from whatsapp_core.errors import InvalidInput

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
DERIVED_KEY_ID = "k1"
MIN_SECRET_CHARS = 32
_HKDF_INFO = b"whatsapp-inbox/secretbox/v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_BODY = re.compile(r"^[A-Za-z0-9_-]+$")


class AesGcmSecretBox:
    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise InvalidInput(f"the active key id {active_key_id!r} is not among the keys")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise InvalidInput(f"key id {key_id!r} must be 1-32 of A-Z a-z 0-9 _ -")
            if len(key) != KEY_BYTES:
                raise InvalidInput(f"key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
        self._ciphers = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    def __repr__(self) -> str:
        return f"AesGcmSecretBox(active_key_id={self.active_key_id!r}, key_ids={self.key_ids!r})"

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    def seal(self, plaintext: str, *, context: str) -> str:
        key_id = self.active_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, plaintext.encode(), _associated_data(key_id, context)
        )
        return f"{VERSION}.{key_id}.{_b64encode(nonce + sealed)}"

    def open(self, token: str, *, context: str) -> str:
        key_id, blob = self._parse(token)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise InvalidInput(
                f"the secret was sealed with key {key_id!r}, which is not configured"
            )
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise InvalidInput("the sealed secret is truncated")
        nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            plaintext = cipher.decrypt(nonce, sealed, _associated_data(key_id, context))
        except InvalidTag:
            raise InvalidInput(
                "the sealed secret does not open: it was altered, or sealed for another "
                "context (tenant or field)"
            ) from None
        return plaintext.decode()

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` was sealed with another key than the active one."""
        key_id, _ = self._parse(token)
        return key_id != self.active_key_id

    @staticmethod
    def _parse(token: str) -> tuple[str, bytes]:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidInput("not a sealed secret (expected v1.<key id>.<data>)")
        version, key_id, body = parts
        if version != VERSION:
            raise InvalidInput(f"unknown sealed secret version {version[:8]!r}")
        if not _KEY_ID.match(key_id):
            raise InvalidInput("not a sealed secret (malformed key id)")
        blob = _b64decode(body)
        if blob is None:
            raise InvalidInput("not a sealed secret (malformed data)")
        return key_id, blob


def from_secret(secret_key: str) -> AesGcmSecretBox:
    """A box whose only key, ``k1``, is derived from the app's ``WA_SECRET_KEY``."""
    return AesGcmSecretBox({DERIVED_KEY_ID: derive_key(secret_key)}, DERIVED_KEY_ID)


def derive_key(secret_key: str) -> bytes:
    if len(secret_key) < MIN_SECRET_CHARS:
        raise InvalidInput(f"the secret key must be at least {MIN_SECRET_CHARS} characters")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_HKDF_INFO)
    return hkdf.derive(secret_key.encode())


def parse_keys(spec: str) -> tuple[dict[str, bytes], str]:
    """``"k2:<base64>,k1:<base64>"`` -> (keys by id, active id = the first one).

    Standard or URL-safe base64, padded or not, of exactly 32 bytes each."""
    keys: dict[str, bytes] = {}
    for position, item in enumerate(spec.split(","), start=1):
        key_id, sep, encoded = item.strip().partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.match(key_id):
            raise InvalidInput(f"secret keys: entry {position} is not <key id>:<base64 key>")
        if key_id in keys:
            raise InvalidInput(f"secret keys: key id {key_id!r} appears twice")
        key = _b64decode_lenient(encoded.strip())
        if key is None or len(key) != KEY_BYTES:
            raise InvalidInput(f"secret keys: key {key_id!r} must be {KEY_BYTES} bytes in base64")
        keys[key_id] = key
    return keys, next(iter(keys))


def build_secret_box(secret_key: str | None, keys_spec: str | None = None) -> AesGcmSecretBox:
    """The box the application uses, from ``WA_SECRET_KEY`` and optional ``WA_SECRET_KEYS``.

    With both, the explicit keys lead (the first is active) and ``k1`` is still derived
    from the secret key unless the spec names its own ``k1``: rotating away from the
    derived key is adding ``WA_SECRET_KEYS="k2:..."`` and re-sealing what
    ``needs_rotation``."""
    if keys_spec and keys_spec.strip():
        keys, active = parse_keys(keys_spec)
        if secret_key and DERIVED_KEY_ID not in keys:
            keys[DERIVED_KEY_ID] = derive_key(secret_key)
        return AesGcmSecretBox(keys, active)
    if not secret_key:
        raise InvalidInput("no secret key configured (WA_SECRET_KEY or WA_SECRET_KEYS)")
    return from_secret(secret_key)


def _associated_data(key_id: str, context: str) -> bytes:
    # The key id cannot contain ".", so the prefix is unambiguous.
    return f"{VERSION}.{key_id}.".encode() + context.encode()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(body: str) -> bytes | None:
    """Canonical unpadded base64url only: any other spelling of the same bytes is refused,
    so every change to a token's text is detected."""
    if not _BODY.match(body) or len(body) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return data if _b64encode(data) == body else None


def _b64decode_lenient(text: str) -> bytes | None:
    try:
        return base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        return None
