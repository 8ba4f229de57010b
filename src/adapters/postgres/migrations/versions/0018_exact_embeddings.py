"""Embeddings everywhere: ``real[]`` columns searched exactly where pgvector is not usable.

Before this, a server without pgvector (the machines' PostgreSQL 15), or the embedded
server on a CPU its bundled pgvector cannot run on (see ``adapters.postgres.
vector_support``), had no semantic search at all. Now each ``embedding`` column is
``vector(384)`` with its HNSW index where pgvector works, and ``real[]`` elsewhere, which
``adapters.postgres.ai`` searches with an exact cosine scan in SQL.

On a server whose pgvector would crash, the (necessarily empty) vector columns and their
indexes are dropped first: nothing could ever be written to them there. The downgrade
removes the ``real[]`` columns only, back to the shape before (no vector columns).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from adapters.postgres.vector_support import bundled_pgvector_would_crash

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLES = {"message_embeddings": False, "knowledge_snippets": True}  # table: nullable
_COLUMN_TYPE = sa.text(
    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
    " WHERE attrelid = to_regclass(:table) AND attname = 'embedding' AND NOT attisdropped"
)
_PGVECTOR = sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")


def _column_type(table: str) -> str | None:
    found = op.get_bind().execute(_COLUMN_TYPE, {"table": table}).scalar()
    return None if found is None else str(found)


def upgrade() -> None:
    bind = op.get_bind()
    crashes = bundled_pgvector_would_crash(bind.engine, bind.execute(_PGVECTOR).scalar())
    for table, nullable in TABLES.items():
        kind = _column_type(table)
        if kind is not None and kind.startswith("vector") and crashes:
            op.drop_index(f"ix_{table}_hnsw", table_name=table, if_exists=True)
            op.drop_column(table, "embedding")
            kind = None
        if kind is None:
            op.add_column(table, sa.Column("embedding", ARRAY(sa.REAL), nullable=nullable))


def downgrade() -> None:
    for table in TABLES:
        if _column_type(table) == "real[]":
            op.drop_column(table, "embedding")
