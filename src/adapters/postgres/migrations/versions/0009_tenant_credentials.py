"""Tenants' own Meta credentials, sealed at rest.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("access_token_sealed", sa.Text(), nullable=True))
    op.add_column("tenants", sa.Column("app_secret_sealed", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "app_secret_sealed")
    op.drop_column("tenants", "access_token_sealed")
