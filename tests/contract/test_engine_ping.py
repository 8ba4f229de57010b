"""The liveness check on each checkout costs one round trip, and still replaces a pooled
connection whose server side is gone before any unit of work uses it.

SQLAlchemy 2.1's own ``pool_pre_ping`` with asyncpg sends ``BEGIN``, ``;`` and
``ROLLBACK``; ``create_engine`` pings with one ``SELECT 1`` outside any transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import create_engine
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from tests.support.databases import fresh_database
from whatsapp_core.domain.tenants import new_tenant

pytestmark = pytest.mark.contract
PID = sa.text("SELECT pg_backend_pid()")
PING = ("SELECT 1", ())


@pytest.fixture(params=["embedded_pg", "machine_pg"])
async def urls(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    admin_url = request.getfixturevalue(request.param)
    async with fresh_database(admin_url) as url:
        yield admin_url, url


def statement_log(engine: AsyncEngine) -> list[tuple[str, tuple[Any, ...]]]:
    """Every simple-protocol statement asyncpg sends on the engine's connections (the
    ping, ``BEGIN``, ``COMMIT``...; not prepared ones), with its arguments, in order.
    asyncpg logs with ``loop.call_soon``: read it after :func:`settled`."""
    log: list[tuple[str, tuple[Any, ...]]] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _log(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda q: log.append((q.query.strip(), tuple(q.args)))
        )

    return log


async def settled() -> None:
    await asyncio.sleep(0)  # the query loggers' callbacks run
    await asyncio.sleep(0)


async def terminate(admin_url: str, pids: list[int]) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        for pid in pids:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        # pg_terminate_backend only signals: wait until the backends are really gone.
        for _ in range(100):
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
            )
            if alive == 0:
                return
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    raise AssertionError(f"backends {pids} still alive")


async def test_a_checkout_pings_with_one_statement_outside_a_transaction(
    urls: tuple[str, str],
) -> None:
    _, url = urls
    engine = create_engine(url, pool_size=1)
    log = statement_log(engine)
    try:
        async with engine.connect():
            pass
        await settled()
        assert log == [], "a connection made for this checkout is not pinged"
        for _ in range(3):
            async with engine.connect():
                pass
        await settled()
        assert log == [PING] * 3

        log.clear()
        uow = SqlaUnitOfWorkFactory(engine)
        for _ in range(5):
            async with uow() as u:
                await u.tenants.list()
        await settled()
        pings = [i for i, entry in enumerate(log) if entry == PING]
        assert len(pings) == 5, log
        # Each ping comes first, before its unit of work's BEGIN: never in a transaction.
        for i in pings:
            assert log[i + 1][0].upper().startswith("BEGIN"), log
        assert all(q != ";" for q, _ in log), "SQLAlchemy's own 3-round-trip ping ran too"
    finally:
        await engine.dispose()


async def test_terminated_pooled_connections_are_replaced_before_use(
    urls: tuple[str, str],
) -> None:
    admin_url, url = urls
    engine = create_engine(url, pool_size=2)
    uow = SqlaUnitOfWorkFactory(engine)
    try:
        # Two connections in the pool, both idle.
        async with engine.connect() as a, engine.connect() as b:
            pids = [int((await c.execute(PID)).scalar_one()) for c in (a, b)]
        await terminate(admin_url, pids)

        tenant = new_tenant(tenant_id=uuid.uuid4(), slug="after-kill", name="after kill")
        async with uow() as u:  # no error at all: the dead connection never reaches it
            await u.tenants.add(tenant)
            await u.commit()
        async with uow() as u, uow() as v:  # the second dead one is replaced as well
            assert [t.id for t in await u.tenants.list()] == [tenant.id]
            assert [t.id for t in await v.tenants.list()] == [tenant.id]
        async with engine.connect() as a, engine.connect() as b:
            now = {int((await c.execute(PID)).scalar_one()) for c in (a, b)}
        assert not now & set(pids)
    finally:
        await engine.dispose()


async def test_a_connection_closed_on_the_client_side_is_replaced(
    urls: tuple[str, str],
) -> None:
    """The ping fails without a round trip when asyncpg already knows the socket is
    gone; the pool connects a new one all the same."""
    _, url = urls
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            first = int((await conn.execute(PID)).scalar_one())
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
        assert driver is not None
        driver.terminate()  # closed under the pool's feet
        async with engine.connect() as conn:
            assert int((await conn.execute(PID)).scalar_one()) != first
    finally:
        await engine.dispose()
