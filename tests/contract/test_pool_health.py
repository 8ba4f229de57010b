"""A pooled connection whose server side is gone is replaced before use: no request
pays for it (pool_pre_ping)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import create_engine
from tests.support.databases import fresh_database

pytestmark = pytest.mark.contract
PID = sa.text("SELECT pg_backend_pid()")


@pytest.fixture(params=["embedded_pg", "machine_pg"])
async def urls(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    admin_url = request.getfixturevalue(request.param)
    async with fresh_database(admin_url) as url:
        yield admin_url, url


async def pooled_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(PID)).scalar_one())


async def test_a_dead_pooled_connection_is_replaced_before_use(urls: tuple[str, str]) -> None:
    admin_url, url = urls
    engine = create_engine(url, pool_size=1)
    try:
        first = await pooled_pid(engine)
        admin = await asyncpg.connect(admin_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        assert await pooled_pid(engine) != first  # no error at all
    finally:
        await engine.dispose()
