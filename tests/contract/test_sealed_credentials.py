"""Encryption at rest: a tenant's own Meta credentials reach PostgreSQL only sealed.

Written the way an admin sets them (the settings use case and the tenant store), then read
back with raw SQL from the columns: what is stored is a ``v1.<key id>.<data>`` token, not
the secret; the verify token is only a digest. Re-sealing after a key rotation stores
tokens of the new key, still never the secret. Nothing else in the database (the tenant
row as a whole, the audit entry) holds it either."""

from __future__ import annotations

import os
import re
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.secretbox import AesGcmSecretBox
from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from whatsapp_core.domain.model import Principal
from whatsapp_core.policies.access import Role
from whatsapp_core.services.context import Services
from whatsapp_core.services.tenants import (
    ACCESS_TOKEN,
    APP_SECRET,
    TenantSettings,
    create_tenant,
    reseal_credentials,
    update_tenant_settings,
)

pytestmark = pytest.mark.contract

ACCESS = "EAAGm0PX4ZCpsBAKZClear-access-token-0123456789"
SECRET = "f3c1a9e5d7b2clear-app-secret-0011"
VERIFY = "clear-verify-token-98765"
TOKEN = re.compile(r"^v1\.(?P<key_id>[A-Za-z0-9_-]{1,32})\.[A-Za-z0-9_-]+$")
STORED = sa.text(
    "SELECT access_token_sealed, app_secret_sealed, verify_token_digest, t::text AS whole"
    " FROM tenants t WHERE id = :id"
)


def box(*key_ids: str, keys: dict[str, bytes]) -> AesGcmSecretBox:
    """A box with ``key_ids`` (the first one active), each a random 32-byte key kept in
    ``keys`` so that a later box knows the earlier ones."""
    for key_id in key_ids:
        keys.setdefault(key_id, os.urandom(32))
    return AesGcmSecretBox({k: keys[k] for k in key_ids}, active_key_id=key_ids[0])


def assert_sealed(stored: str | None, key_id: str) -> None:
    assert stored is not None
    shape = TOKEN.match(stored)
    assert shape is not None, stored
    assert shape["key_id"] == key_id
    for clear in (ACCESS, SECRET, VERIFY):
        assert clear not in stored


async def test_credentials_are_ciphertext_in_the_database(engine: AsyncEngine) -> None:
    uow_factory = SqlaUnitOfWorkFactory(engine)
    svc = Services(uow=uow_factory, clock=SystemClock(), ids=UuidGenerator())
    keys: dict[str, bytes] = {}
    first = box("k1", keys=keys)
    tenant = await create_tenant(uow_factory, UuidGenerator(), slug="acme", name="Acme")
    admin = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=uuid.uuid4())
    changes = TenantSettings(access_token=ACCESS, app_secret=SECRET, verify_token=VERIFY)
    await update_tenant_settings(svc, first, admin, changes)

    async with engine.connect() as conn:  # the superuser login: every row, as stored
        access, secret, digest, whole = (await conn.execute(STORED, {"id": tenant.id})).one()
        audit = (await conn.execute(sa.text("SELECT a::text FROM audit_log a"))).scalars().all()
    assert_sealed(access, "k1")
    assert_sealed(secret, "k1")
    assert access != secret
    assert digest is not None
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert audit  # the settings change is audited ...
    for text in (whole, *audit):  # ... and no secret is anywhere in clear
        for clear in (ACCESS, SECRET, VERIFY):
            assert clear not in text
    # Each opens only as what it is: bound to this tenant and this field.
    assert first.open(access, context=tenant.secret_context(ACCESS_TOKEN)) == ACCESS
    assert first.open(secret, context=tenant.secret_context(APP_SECRET)) == SECRET

    rotated = box("k2", "k1", keys=keys)
    assert await reseal_credentials(uow_factory, rotated) == 1
    async with engine.connect() as conn:
        access, secret, _, whole = (await conn.execute(STORED, {"id": tenant.id})).one()
    assert_sealed(access, "k2")
    assert_sealed(secret, "k2")
    for clear in (ACCESS, SECRET, VERIFY):
        assert clear not in whole
    assert rotated.open(access, context=tenant.secret_context(ACCESS_TOKEN)) == ACCESS
