"""One suite per port, run against the in-memory twin and every real backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.postgres.engine import create_engine
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from tests.support.databases import fresh_database
from whatsapp_core.ports import UnitOfWorkFactory

BACKENDS = ["memory", "embedded_pg", "machine_pg"]
# The vector suites add a PostgreSQL whose pgvector runs on this CPU (tests/conftest.py).
VECTOR_BACKENDS = [*BACKENDS, "pgvector_pg"]


@pytest.fixture(params=BACKENDS)
async def uow_factory(request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    admin_url = request.getfixturevalue(request.param)
    async with fresh_database(admin_url) as url:
        engine = create_engine(url, pool_size=4)
        try:
            yield SqlaUnitOfWorkFactory(engine)
        finally:
            await engine.dispose()


@pytest.fixture(params=["embedded_pg", "machine_pg"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database of each PostgreSQL server, for the suites that
    check what only PostgreSQL does (row-level security, plans, error codes)."""
    admin_url = request.getfixturevalue(request.param)
    async with fresh_database(admin_url) as url:
        engine = create_engine(url, pool_size=2)
        try:
            yield engine
        finally:
            await engine.dispose()
