"""A tenant's own webhook verify token, kept as a SHA-256 digest.

A tenant on its own Meta app configures that app's webhook with a verify token of its
choosing. Meta's handshake (``GET ?hub.verify_token=…``) names no tenant, so the token
is looked up by its digest, which is unique; the token itself is never stored.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("verify_token_digest", sa.Text()))
    op.create_unique_constraint(
        "uq_tenants_verify_token_digest", "tenants", ["verify_token_digest"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_tenants_verify_token_digest", "tenants", type_="unique")
    op.drop_column("tenants", "verify_token_digest")
