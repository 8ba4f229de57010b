"""People and keys that act in a tenant: users (with a role) and API keys (automation)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import msgspec

from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.access import Role

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
MIN_PASSWORD = 10


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: Role
    password_hash: str
    active: bool = True
    created_at: datetime


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """Shown once at creation; only a hash of the secret is kept."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str  # the first characters, to recognise a key in lists and logs
    secret_hash: str
    scopes: tuple[str, ...]  # Action values from policies.access.API_KEY_ACTIONS
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    """An admin's invitation for someone to join the tenant with a role. The link's
    token is shown once; only its hash is kept. Used once, within its lifetime."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: Role
    token_hash: str
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


class Note(msgspec.Struct, frozen=True, kw_only=True):
    """An internal note on a conversation; never sent to the customer."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    created_at: datetime


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput(f"{value!r} is not an email address", field="email")
    return email


def validate_password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password needs at least {MIN_PASSWORD} characters", field="password"
        )
    if len(value) > 256:
        raise InvalidInput("the password is longer than 256 characters", field="password")
    return value


class RefreshToken(msgspec.Struct, frozen=True, kw_only=True):
    """One link of a rotating refresh-token chain; only a hash of the token is kept.

    Every refresh uses the token up and issues the next one in the same family. A used
    token presented again means it was stolen (or replayed): the whole family is revoked.
    """

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    family_id: uuid.UUID
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
