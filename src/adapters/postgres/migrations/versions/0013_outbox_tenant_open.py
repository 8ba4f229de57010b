"""Job monitor: a tenant's open jobs (not done) without scanning the done ones.

The outbox keeps every finished job, so it grows without end, while a tenant's open
jobs (queued, running, waiting for a retry, dead) stay few. The monitor reads exactly
those, per tenant, every few seconds; a partial index on them keeps that cheap however
many done rows pile up (``state <> 'done'`` is the predicate the queries repeat).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_tenant_open",
        "outbox",
        ["tenant_id", sa.literal_column("created_at DESC")],
        postgresql_where=sa.text("state <> 'done'"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_tenant_open", table_name="outbox")
