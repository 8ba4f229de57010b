"""The dashboard's period: a tenant's messages by creation time.

Its figures count a tenant's messages created in a period (``tenant_id = :t AND
created_at BETWEEN :since AND :until``). Without this index that is a scan of all the
tenant's messages through ``ix_messages_thread``: about a second at a million.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 06:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_tenant_created", "messages", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_tenant_created", table_name="messages")
