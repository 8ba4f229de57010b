"""AI: message embeddings, a per-tenant knowledge base and token usage (all under RLS).

The ``embedding vector(384)`` columns and their HNSW indexes are made only where the
``vector`` extension is installed (migration 0001 installs it when the server offers
it: the embedded server and production do, the Debian PostgreSQL 15 of the dev and CI
machines does not). Without it the tables are made without those columns, so every
server migrates to the same head; semantic search there answers with a clear
``UpstreamUnavailable`` (``adapters.postgres.ai``). ``tables.py`` declares the full
shape; ``tables.VECTOR_COLUMNS`` names what a server without pgvector lacks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
DIMENSIONS = 384
TABLES = ("message_embeddings", "knowledge_snippets", "ai_usage")


def _has_vector() -> bool:
    found = op.get_bind().execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
    return found.first() is not None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    vector = _has_vector()
    op.create_table(
        "message_embeddings",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        *([sa.Column("embedding", Vector(DIMENSIONS), nullable=False)] if vector else []),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_message_embeddings_message_id_messages",
            ondelete="CASCADE",
        ),
        _tenant_fk("message_embeddings"),
        sa.PrimaryKeyConstraint("message_id", name="pk_message_embeddings"),
    )
    op.create_index(
        "ix_message_embeddings_tenant", "message_embeddings", ["tenant_id"], unique=False
    )
    op.create_table(
        "knowledge_snippets",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *([sa.Column("embedding", Vector(DIMENSIONS), nullable=True)] if vector else []),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("knowledge_snippets"),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_snippets"),
    )
    op.create_index(
        "ix_knowledge_snippets_tenant",
        "knowledge_snippets",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "ai_usage",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("operation", sa.Text(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("ai_usage"),
        sa.PrimaryKeyConstraint("seq", name="pk_ai_usage"),
    )
    op.create_index("ix_ai_usage_tenant_at", "ai_usage", ["tenant_id", "at"], unique=False)
    if vector:
        for table in ("message_embeddings", "knowledge_snippets"):
            op.create_index(
                f"ix_{table}_hnsw",
                table,
                ["embedding"],
                unique=False,
                postgresql_using="hnsw",
                postgresql_ops={"embedding": "vector_cosine_ops"},
            )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.drop_table(table)  # its indexes go with it
