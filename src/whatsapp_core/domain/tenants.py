"""Tenants: one WhatsApp Business Account each, isolated by ``tenant_id``."""

from __future__ import annotations

import hashlib
import re
import uuid

import msgspec

from whatsapp_core.errors import InvalidInput

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_META_ID = re.compile(r"^[0-9]{5,32}$")


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """A customer organisation of the platform and its one WhatsApp number."""

    id: uuid.UUID
    slug: str
    name: str
    waba_id: str | None = None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    throughput_per_second: int = 80
    # The tenant's own Meta credentials, sealed by a ``SecretBox`` (never plaintext at
    # rest, never returned by the API). ``None``: the platform's system-user token and
    # app secret apply (Tech Provider model).
    access_token_sealed: str | None = None
    app_secret_sealed: str | None = None
    # The webhook handshake token of the tenant's own Meta app, as a SHA-256 digest:
    # the handshake names no tenant, so it is found by this (see ``verify_token_digest``).
    verify_token_digest: str | None = None

    def secret_context(self, name: str) -> str:
        """What a sealed credential is bound to: this tenant and this field."""
        return f"{self.id}:{name}"


MAX_THROUGHPUT = 1000  # Meta's highest per-number tier (messages per second)


def verify_token_digest(token: str) -> str:
    """How a tenant's webhook verify token is kept and looked up (never in clear)."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_throughput(value: int) -> None:
    if not 1 <= value <= MAX_THROUGHPUT:
        raise InvalidInput(
            f"throughput_per_second must be 1-{MAX_THROUGHPUT} (Meta's default tier is 80)",
            field="throughput_per_second",
        )


def check_meta_id(field: str, value: str | None) -> None:
    if value is not None and not _META_ID.match(value):
        raise InvalidInput(f"{field} must be Meta's numeric id", field=field)


def new_tenant(
    *,
    tenant_id: uuid.UUID,
    slug: str,
    name: str,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
    display_phone_number: str | None = None,
) -> Tenant:
    """Validate and build a tenant; raises ``InvalidInput`` naming the bad field."""
    if not _SLUG.match(slug):
        raise InvalidInput("slug must be 2-63 lowercase letters, digits or dashes", field="slug")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    check_meta_id("waba_id", waba_id)
    check_meta_id("phone_number_id", phone_number_id)
    return Tenant(
        id=tenant_id,
        slug=slug,
        name=name.strip(),
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )
