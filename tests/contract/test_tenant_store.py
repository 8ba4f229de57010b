"""TenantStore + UnitOfWork contract: the same behaviour on memory and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from msgspec.structs import replace

from whatsapp_core.domain.tenants import new_tenant
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract


def tenant(slug: str, phone_number_id: str | None = None):  # type: ignore[no-untyped-def]
    return new_tenant(
        tenant_id=uuid.uuid4(), slug=slug, name=slug.title(), phone_number_id=phone_number_id
    )


async def test_committed_tenant_is_read_back(uow_factory: UnitOfWorkFactory) -> None:
    acme = tenant("acme", "100200300")
    async with uow_factory() as uow:
        await uow.tenants.add(acme)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tenants.get(acme.id) == acme
        assert await uow.tenants.by_phone_number_id("100200300") == acme
        assert await uow.tenants.by_phone_number_id("999999999") is None
        assert [t.slug for t in await uow.tenants.list()] == ["acme"]


async def test_nothing_is_kept_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    acme = tenant("acme")
    async with uow_factory() as uow:
        await uow.tenants.add(acme)
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.tenants.get(acme.id)


async def test_failure_inside_the_block_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    async def add_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.tenants.add(tenant("acme"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail()
    async with uow_factory() as uow:
        assert await uow.tenants.list() == []


async def test_duplicate_slug_is_a_conflict_and_keeps_the_first(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = tenant("acme", "111111111")
    async with uow_factory() as uow:
        await uow.tenants.add(first)
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.tenants.add(tenant("acme", "222222222"))
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.tenants.add(tenant("other", "111111111"))
    async with uow_factory() as uow:
        assert await uow.tenants.list() == [first]


async def test_unknown_id_is_not_found(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.tenants.get(uuid.uuid4())


async def test_a_tenant_is_updated_in_place_and_keeps_numbers_unique(
    uow_factory: UnitOfWorkFactory,
) -> None:
    from msgspec.structs import replace

    acme, beta = tenant("acme", "100200300"), tenant("beta", "400500600")
    async with uow_factory() as uow:
        await uow.tenants.add(acme)
        await uow.tenants.add(beta)
        await uow.commit()
    sealed = replace(acme, name="Acme Ltd", access_token_sealed="v1.k1.c2VhbGVk")
    async with uow_factory() as uow:
        await uow.tenants.update(sealed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.tenants.get(acme.id) == sealed
        with pytest.raises(Conflict):
            await uow.tenants.update(replace(beta, phone_number_id="100200300"))
    async with uow_factory() as uow:
        assert await uow.tenants.by_phone_number_id("400500600") == beta
        with pytest.raises(NotFound):
            await uow.tenants.update(tenant("ghost"))


@pytest.mark.parametrize("server", ["embedded_pg", "machine_pg"])
async def test_a_connection_lost_mid_transaction_keeps_nothing_and_says_so(
    server: str, request: pytest.FixtureRequest
) -> None:
    import asyncpg
    import sqlalchemy as sa

    from adapters.postgres.engine import create_engine
    from adapters.postgres.uow import SqlaUnitOfWorkFactory
    from tests.support.databases import fresh_database
    from whatsapp_core.errors import UpstreamUnavailable

    async with fresh_database(request.getfixturevalue(server)) as url:
        engine = create_engine(url, pool_size=2)
        uow_factory = SqlaUnitOfWorkFactory(engine)
        try:
            lost = tenant("lost", "700800900")

            async def lose_the_connection_midway() -> None:
                async with uow_factory() as uow:
                    await uow.tenants.add(lost)
                    conn = uow._conn  # type: ignore[attr-defined]
                    pid = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar()
                    admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
                    try:  # the server goes away under the open transaction
                        await admin.execute("SELECT pg_terminate_backend($1)", pid)
                    finally:
                        await admin.close()
                    await uow.tenants.add(tenant("after", "100100100"))
                    await uow.commit()

            with pytest.raises(UpstreamUnavailable):
                await lose_the_connection_midway()
            async with uow_factory() as uow:  # the pool recovers; nothing was kept
                assert await uow.tenants.list() == []
                await uow.tenants.add(lost)
                await uow.commit()
            async with uow_factory() as uow:
                assert [t.slug for t in await uow.tenants.list()] == ["lost"]
        finally:
            await engine.dispose()


async def test_a_verify_token_digest_finds_its_tenant_and_is_unique(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, globex = tenant("acme", "111111111"), tenant("globex", "222222222")
    async with uow_factory() as uow:
        await uow.tenants.add(acme)
        await uow.tenants.add(globex)
        await uow.tenants.update(replace(acme, verify_token_digest="d" * 64))
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.tenants.by_verify_token_digest("d" * 64)
        assert found is not None
        assert found.id == acme.id
        assert await uow.tenants.by_verify_token_digest("e" * 64) is None
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.tenants.update(replace(globex, verify_token_digest="d" * 64))
    async with uow_factory() as uow:
        assert (await uow.tenants.get(globex.id)).verify_token_digest is None
