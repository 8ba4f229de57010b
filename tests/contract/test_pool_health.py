"""A pooled connection whose server side is gone: replaced before use when it sat idle,
and at worst one failed statement (a StorageError, a 503) when it was in steady use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres import engine as engine_module
from adapters.postgres.engine import create_engine
from tests.support.databases import fresh_database
from whatsapp_core.errors import StorageError

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


async def terminate(admin_url: str, pid: int) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_an_idle_connection_is_checked_and_replaced(
    urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_url, url = urls
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # idle = any time
    engine = create_engine(url, pool_size=1)
    try:
        first = await pooled_pid(engine)
        await terminate(admin_url, first)
        # The ping finds the dead connection; the pool opens another: no error at all.
        assert await pooled_pid(engine) != first
    finally:
        await engine.dispose()


async def test_a_busy_connection_fails_once_then_the_pool_recovers(
    urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_url, url = urls
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)  # never idle
    engine = create_engine(url, pool_size=1)
    try:
        first = await pooled_pid(engine)
        await terminate(admin_url, first)
        with pytest.raises(StorageError):
            async with engine_module.translated_errors(), engine.connect() as conn:
                await conn.execute(PID)
        assert await pooled_pid(engine) != first
    finally:
        await engine.dispose()
