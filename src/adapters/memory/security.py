"""In-process twins of the security ports, standard library only: FOR TESTS AND THE CLI
HARNESS, NEVER FOR PRODUCTION.

- ``MemoryPasswordHasher``: one salted SHA-256 round, fast on purpose so a test suite
  can create hundreds of users. A leaked table of these hashes is cracked in minutes;
  real deployments use ``adapters.security.passwords.Argon2PasswordHasher``.
- ``MemorySecretBox``: an HMAC-SHA256 keystream with an HMAC tag over key id, context,
  nonce and ciphertext. Hand-rolled, unaudited crypto; real deployments use
  ``adapters.crypto.AesGcmSecretBox``. Same constructor, same key rotation rules, and
  its tokens (``m1.``) never open in the real box nor the other way round.
- ``MemoryTokenIssuer``: opaque random tokens remembered in a dict, expiring by the
  clock it is given (a ``FrozenClock`` in tests); real deployments use
  ``adapters.security.tokens.JwtTokenIssuer``. Like the JWT, a token carries only the
  user, tenant and role (no API-key scopes).

Each is held to the contract of its port with the real adapter
(``tests/contract/test_security_ports.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from adapters.memory.basics import SystemClock
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import InvalidInput, Unauthenticated
from whatsapp_core.ports import Clock

__all__ = ["MemoryPasswordHasher", "MemorySecretBox", "MemoryTokenIssuer"]

_HASH_SCHEME = "memory-sha256"


class MemoryPasswordHasher:
    """Fast and weak on purpose (see the module docstring): tests only."""

    def hash(self, password: str) -> str:
        salt = secrets.token_hex(8)
        return f"{_HASH_SCHEME}${salt}${_digest(salt, password)}"

    def verify(self, password_hash: str, password: str) -> bool:
        scheme, _, rest = password_hash.partition("$")
        salt, _, digest = rest.partition("$")
        if scheme != _HASH_SCHEME or not salt or not digest:
            return False
        return hmac.compare_digest(digest, _digest(salt, password))


def _digest(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


_VERSION = "m1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_NONCE_BYTES = 16
_TAG_BYTES = 32


class MemorySecretBox:
    """``SecretBox`` over the standard library; tests only (see the module docstring)."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise InvalidInput(f"the active key id {active_key_id!r} is not among the keys")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise InvalidInput(f"key id {key_id!r} must be 1-32 of A-Z a-z 0-9 _ -")
            if len(key) < 16:
                raise InvalidInput(f"key {key_id!r} must be at least 16 bytes")
        self._keys = {key_id: bytes(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def for_tests(cls) -> MemorySecretBox:
        """A box with one fixed key, ``k1``."""
        return cls({"k1": b"memory-secret-box-key-k1-32bytes"}, "k1")

    def __repr__(self) -> str:
        keys = sorted(self._keys)
        return f"MemorySecretBox(active_key_id={self.active_key_id!r}, key_ids={keys!r})"

    def seal(self, plaintext: str, *, context: str) -> str:
        key_id = self.active_key_id
        key = self._keys[key_id]
        nonce = os.urandom(_NONCE_BYTES)
        data = plaintext.encode()
        sealed = bytes(a ^ b for a, b in zip(data, _stream(key, nonce, len(data)), strict=True))
        tag = _tag(key, key_id, context, nonce, sealed)
        body = base64.urlsafe_b64encode(nonce + tag + sealed).decode().rstrip("=")
        return f"{_VERSION}.{key_id}.{body}"

    def open(self, token: str, *, context: str) -> str:
        key_id, blob = self._parse(token)
        key = self._keys.get(key_id)
        if key is None:
            raise InvalidInput(
                f"the secret was sealed with key {key_id!r}, which is not configured"
            )
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise InvalidInput("the sealed secret is truncated")
        nonce, tag = blob[:_NONCE_BYTES], blob[_NONCE_BYTES : _NONCE_BYTES + _TAG_BYTES]
        sealed = blob[_NONCE_BYTES + _TAG_BYTES :]
        if not hmac.compare_digest(tag, _tag(key, key_id, context, nonce, sealed)):
            raise InvalidInput(
                "the sealed secret does not open: it was altered, or sealed for another "
                "context (tenant or field)"
            )
        data = bytes(a ^ b for a, b in zip(sealed, _stream(key, nonce, len(sealed)), strict=True))
        try:
            return data.decode()
        except UnicodeDecodeError:  # only a forged tag could get here
            raise InvalidInput("the sealed secret does not open") from None

    def needs_rotation(self, token: str) -> bool:
        key_id, _ = self._parse(token)
        return key_id != self.active_key_id

    @staticmethod
    def _parse(token: str) -> tuple[str, bytes]:
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidInput(f"not a sealed secret (expected {_VERSION}.<key id>.<data>)")
        version, key_id, body = parts
        if version != _VERSION:
            raise InvalidInput(f"unknown sealed secret version {version[:8]!r}")
        if not _KEY_ID.match(key_id):
            raise InvalidInput("not a sealed secret (malformed key id)")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise InvalidInput("not a sealed secret (malformed data)") from None
        return key_id, blob


def _stream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.digest(key, b"stream" + nonce + counter.to_bytes(4, "big"), "sha256")
        for counter in range(length // 32 + 1)
    )
    return b"".join(blocks)[:length]


def _tag(key: bytes, key_id: str, context: str, nonce: bytes, sealed: bytes) -> bytes:
    header = f"{_VERSION}\0{key_id}\0{context}\0".encode()
    return hmac.digest(key, b"tag" + header + nonce + sealed, "sha256")


class MemoryTokenIssuer:
    """``TokenIssuer`` keeping its tokens in a dict; tests only (see the module docstring)."""

    def __init__(self, *, ttl: timedelta = timedelta(minutes=15), clock: Clock | None = None):
        self.ttl = ttl
        self._clock = clock or SystemClock()
        self._issued: dict[str, tuple[Principal, datetime]] = {}

    def issue(self, principal: Principal, now: datetime) -> str:
        assert principal.user_id is not None, "only a signed-in user gets an access token"
        token = "mem_" + secrets.token_urlsafe(24)
        carried = Principal(
            tenant_id=principal.tenant_id, role=principal.role, user_id=principal.user_id
        )
        self._issued[token] = (carried, now + self.ttl)
        return token

    def principal(self, token: str) -> Principal:
        found = self._issued.get(token)
        if found is None:
            raise Unauthenticated("invalid access token")
        principal, expires_at = found
        if self._clock.now() >= expires_at:
            raise Unauthenticated("the session expired; sign in again")
        return principal
