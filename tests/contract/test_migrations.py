"""Alembic migrations are the only way the schema is made: they run up, down and up
again on an empty database, and what they make is exactly what ``tables.py`` describes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres import migrate
from adapters.postgres.ai import Search, SqlaEmbeddingStore
from adapters.postgres.engine import create_engine
from adapters.postgres.tables import EMBEDDING_DIMENSIONS, VECTOR_COLUMNS, metadata
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from tests.support.databases import fresh_database
from whatsapp_core.domain.accounts import User
from whatsapp_core.domain.tenants import new_tenant
from whatsapp_core.errors import UpstreamUnavailable
from whatsapp_core.policies.access import Role

pytestmark = pytest.mark.contract

# Under RLS since 0019; looked up before a tenant is known through AUTH_FUNCTIONS.
ACCOUNT_TABLES = {"users", "api_keys", "refresh_tokens", "invitations"}
RLS_TABLES = {
    "contacts",
    "conversations",
    "messages",
    "pending_statuses",
    "templates",
    "outbox",
    "audit_log",
    "notes",
    "message_embeddings",
    "knowledge_snippets",
    "ai_usage",
    "ai_settings",
    "ai_auto_replies",
    "webhook_subscriptions",
    "webhook_deliveries",
    "idempotency_keys",
    "media_objects",
    *ACCOUNT_TABLES,
}
# Webhooks find their tenant by phone number id before any scope: no RLS.
PLATFORM_TABLES = {"tenants"}
# The pre-tenant lookups of the account tables (migration 0019), all SECURITY DEFINER.
AUTH_FUNCTIONS = {
    "wa_auth_user_by_email",
    "wa_auth_api_key",
    "wa_auth_refresh_token",
    "wa_auth_invitation",
    "wa_auth_refresh_family_tenant",
    "wa_auth_user_tenant",
}


@pytest.fixture(params=["embedded_pg", "machine_pg", "pgvector_pg"])
async def empty_engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """An engine on a brand-new database that no migration has touched."""
    admin_url = request.getfixturevalue(request.param)
    async with fresh_database(admin_url, migrated=False) as url:
        engine = create_engine(url, pool_size=1)
        try:
            yield engine
        finally:
            await engine.dispose()


async def user_tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        return set(rows.scalars()) - {"alembic_version"}


async def forced_rls_tables(engine: AsyncEngine) -> set[str]:
    """Tables with RLS enabled AND forced AND a ``tenant_isolation`` policy."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_policies p"
                " ON p.tablename = c.relname AND p.schemaname = 'public'"
                " WHERE c.relrowsecurity AND c.relforcerowsecurity"
                " AND p.policyname = 'tenant_isolation'"
            )
        )
        return set(rows.scalars())


async def auth_functions(engine: AsyncEngine) -> dict[str, tuple[str, bool, str, bool]]:
    """``{name: (owner, security definer, config, PUBLIC may execute)}`` of the
    ``wa_auth_*`` functions."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT p.proname, p.proowner::regrole::text, p.prosecdef,"
                " array_to_string(p.proconfig, ','),"
                " has_function_privilege('public', p.oid, 'EXECUTE')"
                " FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace"
                " AND p.proname LIKE 'wa_auth%'"
            )
        )
        return {name: tuple(rest) for name, *rest in rows}


def schema_diff(engine_conn: Connection, target: sa.MetaData = metadata) -> list[Any]:
    context = MigrationContext.configure(
        engine_conn,
        # Types and server defaults too, not only tables, columns and indexes. No
        # include_object filter is needed: Alembic reflects the expression indexes
        # (``last_message_at DESC``, ``gin_trgm_ops``) and compares them exactly.
        opts={"compare_type": True, "compare_server_default": True},
    )
    return compare_metadata(context, target)


async def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_engine: AsyncEngine) -> None:
    assert await migrate.current(empty_engine) is None
    assert await user_tables(empty_engine) == set()

    await migrate.upgrade(empty_engine, "head")
    assert await migrate.current(empty_engine) == migrate.head()
    assert await user_tables(empty_engine) == set(metadata.tables)
    assert await forced_rls_tables(empty_engine) == RLS_TABLES
    assert set(metadata.tables) == RLS_TABLES | PLATFORM_TABLES
    assert await auth_functions(empty_engine) == {
        name: ("wa_auth", True, "search_path=pg_catalog, pg_temp", False) for name in AUTH_FUNCTIONS
    }

    await migrate.downgrade(empty_engine, "0018")  # the state before: no RLS, no functions
    assert await forced_rls_tables(empty_engine) == RLS_TABLES - ACCOUNT_TABLES
    assert await auth_functions(empty_engine) == {}
    async with empty_engine.connect() as conn:
        rls_or_policy = await conn.execute(
            sa.text(
                "SELECT relname FROM pg_class WHERE relname = ANY(:t)"
                " AND (relrowsecurity OR relforcerowsecurity OR EXISTS"
                " (SELECT 1 FROM pg_policy WHERE polrelid = pg_class.oid))"
            ),
            {"t": sorted(ACCOUNT_TABLES)},
        )
        assert rls_or_policy.scalars().all() == []

    await migrate.downgrade(empty_engine, "0002")
    assert await forced_rls_tables(empty_engine) == set()

    await migrate.downgrade(empty_engine, "base")
    assert await migrate.current(empty_engine) is None
    assert await user_tables(empty_engine) == set()

    await migrate.upgrade(empty_engine, "head")
    assert await migrate.current(empty_engine) == migrate.head()
    assert await user_tables(empty_engine) == set(metadata.tables)
    assert await forced_rls_tables(empty_engine) == RLS_TABLES
    assert set(await auth_functions(empty_engine)) == AUTH_FUNCTIONS


def exact_search_diff() -> set[tuple[str, str]]:
    """Where pgvector is missing or unusable, migration 0018 makes the vector columns
    ``real[]`` and leaves out their HNSW indexes, on purpose. Nothing else may differ."""
    expected = {("modify_type", f"{table}.{column}") for table, column in VECTOR_COLUMNS}
    for table, column in VECTOR_COLUMNS:
        for index in metadata.tables[table].indexes:
            if column in index.columns:
                expected.add(("add_index", f"{table}.{index.name}"))
    return expected


def diff_names(diff: list[Any]) -> set[tuple[str, str]]:
    """``(kind, "table.name")`` of each change in an Alembic diff (a column's changes come
    grouped in a list)."""
    names = set()
    for d in diff:
        if isinstance(d, list):
            names |= {(change[0], f"{change[2]}.{change[3]}") for change in d}
        elif d[0] == "add_column":
            names.add((d[0], f"{d[2]}.{d[3].name}"))
        else:
            names.add((d[0], f"{d[1].table.name}.{d[1].name}"))
    return names


async def test_models_and_migrations_agree(empty_engine: AsyncEngine) -> None:
    await migrate.upgrade(empty_engine, "head")
    async with empty_engine.connect() as conn:
        embedding = sa.text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'message_embeddings'::regclass AND attname = 'embedding'"
        )
        has_vector = str((await conn.execute(embedding)).scalar()).startswith("vector")
        diff = await conn.run_sync(schema_diff)
        if has_vector:
            assert diff == []
        else:
            assert diff_names(diff) == exact_search_diff()
            assert len(diff) == len(exact_search_diff())

        # The comparison is not vacuous: a model the migrations do not know shows up.
        drifted = sa.MetaData()
        for table in metadata.tables.values():
            table.to_metadata(drifted)
        drifted.tables["contacts"].append_column(sa.Column("nickname", sa.Text))
        sa.Index("ix_messages_intent", drifted.tables["messages"].c.intent)
        diff = await conn.run_sync(lambda c: schema_diff(c, drifted))
    assert diff_names(diff) - exact_search_diff() == {
        ("add_column", "contacts.nickname"),
        ("add_index", "messages.ix_messages_intent"),
    }


async def test_before_0018_semantic_search_says_to_migrate(empty_engine: AsyncEngine) -> None:
    """A server without usable pgvector had no embedding column before 0018: search there
    is a clear refusal that names the fix, and the upgrade makes it work."""
    await migrate.upgrade(empty_engine, "0017")
    embedding = [1.0] + [0.0] * (EMBEDDING_DIMENSIONS - 1)
    tenant = uuid.uuid4()
    async with SqlaUnitOfWorkFactory(empty_engine)() as uow:
        if await uow.embeddings.supported():  # this server's pgvector works: nothing to do
            assert isinstance(uow.embeddings, SqlaEmbeddingStore)
            assert await uow.embeddings.search() in {Search.PGVECTOR, Search.PGVECTOR_ITERATIVE}
            return
        with pytest.raises(UpstreamUnavailable, match="wa migrate upgrade") as refused:
            await uow.embeddings.similar(tenant, embedding)
        assert refused.value.code == "vector_search_unavailable"

    await migrate.upgrade(empty_engine, "head")  # while the application runs
    async with SqlaUnitOfWorkFactory(empty_engine)() as uow:
        assert await uow.embeddings.similar(tenant, embedding) == []


def as_login(url: str, user: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}:@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def test_0019_as_a_migrating_user_who_is_not_a_superuser(embedded_pg: str) -> None:
    """Production migrates as the tables' owner, not a superuser (the tests' login, which
    every policy lets through). The account lookups must find their rows there too, and
    the owner must not keep a way around the wall. On the session's own embedded server:
    its roles go with it."""
    owner = f"wa_owner_{uuid.uuid4().hex[:8]}"
    async with fresh_database(embedded_pg, migrated=False) as url:
        admin = create_engine(url, pool_size=1)
        try:
            await migrate.upgrade(admin, "0018")
            async with admin.begin() as conn:
                await conn.execute(sa.text(f"CREATE ROLE {owner} LOGIN"))
                # As if it had created wa_auth itself (PostgreSQL 16+: ADMIN only).
                await conn.execute(
                    sa.text(f"GRANT wa_auth TO {owner} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE")
                )
                await conn.execute(sa.text(f"GRANT wa_app TO {owner}"))
                database = urlsplit(url).path.lstrip("/")
                await conn.execute(sa.text(f'ALTER DATABASE "{database}" OWNER TO {owner}'))
                for table in await conn.run_sync(lambda c: sa.inspect(c).get_table_names()):
                    await conn.execute(sa.text(f"ALTER TABLE {table} OWNER TO {owner}"))
            engine = create_engine(as_login(url, owner), pool_size=1)
            try:
                await migrate.upgrade(engine, "head")
                await migrate.downgrade(engine, "0018")
                await migrate.upgrade(engine, "head")
                tenant = new_tenant(tenant_id=uuid.uuid4(), slug="acme", name="Acme")
                ann = User(
                    id=uuid.uuid4(), tenant_id=tenant.id, email="ann@acme.test", name="Ann",
                    role=Role.ADMIN, password_hash="x", created_at=datetime.now(UTC),
                )  # fmt: skip
                async with SqlaUnitOfWorkFactory(engine)() as uow:
                    await uow.tenants.add(tenant)
                    await uow.users.add(ann)
                    await uow.commit()
                async with SqlaUnitOfWorkFactory(engine)() as uow:
                    assert await uow.users.by_email("ann@acme.test") == ann
                async with engine.connect() as conn:  # the owner login, not as wa_app
                    count = sa.text("SELECT count(*) FROM users")
                    assert (await conn.execute(count)).scalar_one() == 0
            finally:
                await engine.dispose()
            async with admin.connect() as conn:
                assert (await auth_functions(admin)).keys() == AUTH_FUNCTIONS
                kept = await conn.execute(
                    sa.text(
                        "SELECT admin_option, inherit_option, set_option FROM pg_auth_members"
                        " WHERE roleid = 'wa_auth'::regrole AND member = CAST(:m AS regrole)"
                    ),
                    {"m": owner},
                )
                assert kept.all() == [(True, False, False)]  # as before: no membership kept
        finally:
            await admin.dispose()
    async with fresh_database(embedded_pg, migrated=False) as url:  # any database will do
        admin = create_engine(url, pool_size=1)
        try:
            async with admin.begin() as conn:
                await conn.execute(sa.text(f"DROP ROLE {owner}"))
        finally:
            await admin.dispose()
