"""Jobs: the outbox becomes the queue (state, availability, lease, errors, outcome).

The relay claims rows for every tenant, so it cannot run as ``wa_app`` (row-level
security keyed by ``app.tenant_id`` shows it one tenant at most), and the login user
does not bypass RLS either: 0003 FORCEs it on the table owner too. The relay instead
runs each of its transactions as the NOLOGIN role ``wa_relay`` (``SET LOCAL ROLE``),
which may read and update outbox rows of any tenant and nothing else.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RELAY_ROLE = "wa_relay"
STATE_CHECK = "state IN ('pending', 'running', 'done', 'dead')"
LIVE = "state IN ('pending', 'running')"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("state", sa.Text(), server_default="pending", nullable=False))
    op.add_column("outbox", sa.Column("available_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("locked_until", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("finished_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("last_error", sa.Text()))
    op.add_column("outbox", sa.Column("outcome", sa.Text()))
    op.create_check_constraint(op.f("ck_outbox_state"), "outbox", STATE_CHECK)
    op.drop_index("ix_outbox_undispatched", table_name="outbox")
    op.create_index(
        "ix_outbox_due",
        "outbox",
        [sa.literal_column("coalesce(available_at, created_at)")],
        postgresql_where=sa.text(LIVE),
    )
    op.create_index("ix_outbox_state", "outbox", ["state", sa.literal_column("created_at DESC")])

    # Roles are cluster-wide: another database may have created it already.
    op.execute(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wa_relay') THEN
            CREATE ROLE wa_relay NOLOGIN;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        """
    )
    # The user that migrates is the one the application logs in as: let it switch.
    op.execute(f"GRANT {RELAY_ROLE} TO CURRENT_USER")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {RELAY_ROLE}")
    op.execute(f"GRANT SELECT, UPDATE ON outbox TO {RELAY_ROLE}")
    op.execute(
        f"CREATE POLICY relay_all_tenants ON outbox TO {RELAY_ROLE} USING (true) WITH CHECK (true)"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS relay_all_tenants ON outbox")
    op.execute(f"REVOKE ALL ON outbox FROM {RELAY_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {RELAY_ROLE}")
    # The role itself stays: it is cluster-wide and other databases use it.
    op.drop_index("ix_outbox_state", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index(
        "ix_outbox_undispatched",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("dispatched_at IS NULL"),
    )
    op.drop_constraint(op.f("ck_outbox_state"), "outbox", type_="check")
    for column in ("outcome", "last_error", "finished_at", "locked_until", "available_at", "state"):
        op.drop_column("outbox", column)
