from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.basics import UuidGenerator
from adapters.memory.uow import MemoryUnitOfWorkFactory
from whatsapp_core.domain.tenants import new_tenant
from whatsapp_core.errors import Conflict, InvalidInput
from whatsapp_core.services.tenants import create_tenant

pytestmark = pytest.mark.unit

GOOD_SLUG = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")


@given(GOOD_SLUG)
def test_every_well_formed_slug_is_accepted(slug: str) -> None:
    assert new_tenant(tenant_id=uuid.uuid4(), slug=slug, name="X").slug == slug


@given(st.text().filter(lambda s: not __import__("re").fullmatch(r"[a-z0-9][a-z0-9-]{1,62}", s)))
def test_every_malformed_slug_is_refused_naming_the_field(slug: str) -> None:
    with pytest.raises(InvalidInput) as info:
        new_tenant(tenant_id=uuid.uuid4(), slug=slug, name="X")
    assert info.value.details["field"] == "slug"


@pytest.mark.parametrize("field", ["waba_id", "phone_number_id"])
@pytest.mark.parametrize("value", ["", "abc", "12", "+15550001111"])
def test_meta_ids_must_be_numeric(field: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        new_tenant(tenant_id=uuid.uuid4(), slug="acme", name="Acme", **{field: value})


def test_blank_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="name"):
        new_tenant(tenant_id=uuid.uuid4(), slug="acme", name="   ")


async def test_create_tenant_stores_it_once() -> None:
    uow = MemoryUnitOfWorkFactory()
    created = await create_tenant(uow, UuidGenerator(), slug="acme", name=" Acme Ltd ")
    assert created.name == "Acme Ltd"
    async with uow() as tx:
        assert await tx.tenants.list() == [created]
    with pytest.raises(Conflict):
        await create_tenant(uow, UuidGenerator(), slug="acme", name="Again")
    async with uow() as tx:
        assert await tx.tenants.list() == [created]
