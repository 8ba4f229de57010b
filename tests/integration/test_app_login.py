"""Which login the started application uses: never the tables' owner when it can help it.

The embedded default makes ``wa_app_login`` after its migrations and connects the units
of work with it; production takes ``WA_DATABASE_APP_URL`` and refuses to start when that
login would bypass row-level security."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from adapters.postgres.engine import create_engine, with_user
from adapters.postgres.roles import APP_LOGIN_ROLE, ensure_app_login
from adapters.postgres.uow import SqlaUnitOfWork
from entrypoints.bootstrap import Runtime, StartupError, build_runtime
from entrypoints.settings import load_settings
from tests.support.databases import fresh_database, run_sync

pytestmark = pytest.mark.integration
CURRENT_USER = sa.text("SELECT current_user")


async def login_of(runtime: Runtime) -> str:
    async with runtime.uow() as uow:
        conn = await cast(SqlaUnitOfWork, uow).connection()
        # RESET ROLE would undo a SET ROLE: the login itself is what is left.
        await conn.execute(sa.text("RESET ROLE"))
        who = str((await conn.execute(CURRENT_USER)).scalar())
        unscoped = (await conn.execute(sa.text("SELECT count(*) FROM conversations"))).scalar()
        assert unscoped == 0
    return who


async def test_the_embedded_default_runs_the_app_as_its_own_login(tmp_path: Path) -> None:
    settings = load_settings({"WA_PROFILE": "embedded", "WA_DATA_DIR": str(tmp_path / "data")})
    for _ in range(2):  # the second start finds the role made by the first
        runtime = build_runtime(settings)
        await runtime.start()
        try:
            assert await login_of(runtime) == APP_LOGIN_ROLE
            # The owner's URL stays the database's: `wa migrate` and reports use it.
            assert runtime.database_url is not None
            assert urlsplit(runtime.database_url).username == "postgres"
            assert (await runtime.readiness())["database"] == "ok"
        finally:
            await runtime.stop()


def production(tmp_path: Path, owner_url: str | None, app_url: str) -> dict[str, str]:
    env = {
        "WA_PROFILE": "production",
        "WA_DATABASE_APP_URL": app_url,
        "WA_REDIS_URL": "redis://127.0.0.1:6379/0",
        "WA_SECRET_KEY": "s" * 40,
        "WA_META_APP_SECRET": "app-secret",
        "WA_META_VERIFY_TOKEN": "verify-me",
        "WA_DATA_DIR": str(tmp_path / "data"),
    }
    if owner_url:
        env["WA_DATABASE_URL"] = owner_url
    return env


async def test_production_refuses_an_app_login_that_bypasses_rls(
    embedded_pg: str, tmp_path: Path
) -> None:
    async with fresh_database(embedded_pg) as url:
        runtime = build_runtime(load_settings(production(tmp_path, None, url)))
        with pytest.raises(StartupError) as refused:
            await runtime.start()
    message = str(refused.value)
    assert "is a superuser" in message
    assert "WA_DATABASE_APP_URL" in message


async def test_production_runs_the_app_as_the_app_login(embedded_pg: str, tmp_path: Path) -> None:
    role = f"wa_test_app_{uuid.uuid4().hex[:8]}"
    try:
        async with fresh_database(embedded_pg) as url:
            owner = create_engine(url, pool_size=1)
            try:
                await ensure_app_login(owner, role)
            finally:
                await owner.dispose()
            # Only the app's URL, as the API and worker containers get it.
            for owner_url in (None, url):
                env = production(tmp_path, owner_url, with_user(url, role))
                runtime = build_runtime(load_settings(env))
                await runtime.start()
                try:
                    assert await login_of(runtime) == role
                    assert runtime.database_url == (owner_url or with_user(url, role))
                finally:
                    await runtime.stop()
    finally:
        run_sync(_drop_role(embedded_pg, role))


async def _drop_role(admin_url: str, role: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await conn.close()
