"""Extensions and tenants.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # pgvector is optional: the embedded server and production images have it, a stock
    # Debian PostgreSQL does not. Vector features check for it and say so when missing.
    op.execute(
        """
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
            CREATE EXTENSION IF NOT EXISTS vector;
          END IF;
        END $$;
        """
    )
    op.create_table(
        "tenants",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("waba_id", sa.Text(), nullable=True),
        sa.Column("phone_number_id", sa.Text(), nullable=True),
        sa.Column("display_phone_number", sa.Text(), nullable=True),
        sa.Column("throughput_per_second", sa.Integer(), server_default="80", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
        sa.UniqueConstraint("phone_number_id", name="uq_tenants_phone_number_id"),
    )


def downgrade() -> None:
    op.drop_table("tenants")
