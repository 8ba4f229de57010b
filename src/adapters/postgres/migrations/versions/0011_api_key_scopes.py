"""API keys carry scopes (what an automation may do with them).

Keys made before scopes keep exactly what every key could do then: send templates and
read templates.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BEFORE_SCOPES = "{message.send_template_api,template.read}"


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text(f"'{BEFORE_SCOPES}'::text[]"),
        ),
    )
    op.alter_column("api_keys", "scopes", server_default=None)


def downgrade() -> None:
    op.drop_column("api_keys", "scopes")
