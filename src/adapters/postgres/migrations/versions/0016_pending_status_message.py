"""A waiting status remembers the message our send named in its callback data.

Every send carries our message id in Meta's ``biz_opaque_callback_data``, which Meta
echoes in the send's status webhooks. A status whose wamid we do not know yet waits in
``pending_statuses``; with the message id beside it, a send job redelivered after its
worker died mid-send finds the wamid Meta gave the first attempt and does not send the
message a second time.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 05:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pending_statuses", sa.Column("message_id", UUID(as_uuid=True)))
    op.create_index(
        "ix_pending_statuses_message",
        "pending_statuses",
        ["tenant_id", "message_id"],
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_pending_statuses_message", table_name="pending_statuses")
    op.drop_column("pending_statuses", "message_id")
