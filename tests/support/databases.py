"""Real PostgreSQL servers for tests: the embedded pgserver one and the machine's PG15.

Each test gets its own database cloned from a migrated template, and drops it after.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from adapters.postgres.engine import create_engine, with_database
from adapters.postgres.migrate import upgrade

T = TypeVar("T")

MACHINE_PG_URL = os.environ.get("WA_TEST_PG15_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEMPLATE = "wa_template"


def start_embedded(data_dir: Path) -> tuple[object, str]:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return server, str(server.get_uri())


async def reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def prepare_template(admin_url: str) -> None:
    """(Re)create the migrated template database on a server."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await conn.close()
    engine = create_engine(with_database(admin_url, TEMPLATE), pool_size=1)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_database(admin_url: str, *, migrated: bool = True) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        template = f' TEMPLATE "{TEMPLATE}"' if migrated else ""
        await conn.execute(f'CREATE DATABASE "{name}"{template}')
    finally:
        await conn.close()
    try:
        yield with_database(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
