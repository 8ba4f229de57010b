"""Alembic migrations are the only way the schema is made: they run up, down and up
again on an empty database, and what they make is exactly what ``tables.py`` describes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

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
from whatsapp_core.errors import UpstreamUnavailable

pytestmark = pytest.mark.contract

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
}
# Looked up before a tenant is known (sign-in, refresh, invitation links): no RLS.
PLATFORM_TABLES = {"tenants", "users", "api_keys", "refresh_tokens", "invitations"}


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

    await migrate.downgrade(empty_engine, "0002")
    assert await forced_rls_tables(empty_engine) == set()

    await migrate.downgrade(empty_engine, "base")
    assert await migrate.current(empty_engine) is None
    assert await user_tables(empty_engine) == set()

    await migrate.upgrade(empty_engine, "head")
    assert await migrate.current(empty_engine) == migrate.head()
    assert await user_tables(empty_engine) == set(metadata.tables)
    assert await forced_rls_tables(empty_engine) == RLS_TABLES


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
