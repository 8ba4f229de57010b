"""Row-level security: the second wall behind the service layer's tenant filters.

The application runs every transaction as the NOLOGIN role ``wa_app`` (``SET LOCAL ROLE``),
and each tenant table only shows and accepts rows of the tenant named by the
per-transaction setting ``app.tenant_id``. No setting, no rows. ``tenants`` stays
readable: webhooks look a tenant up by phone number id before any scope is known.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "contacts",
    "conversations",
    "messages",
    "pending_statuses",
    "templates",
    "outbox",
    "audit_log",
)
# An unset or empty setting compares as NULL, so it matches no row at all.
CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def upgrade() -> None:
    # Roles are cluster-wide: another database (or a concurrent migration of one) may
    # have created it already.
    op.execute(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wa_app') THEN
            CREATE ROLE wa_app NOLOGIN;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        """
    )
    op.execute("GRANT USAGE ON SCHEMA public TO wa_app")
    op.execute(f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO wa_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO wa_app")
    # Tables later migrations create (as this same migrating role) get the same grants;
    # their RLS policies are still each migration's job.
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {TABLE_PRIVILEGES} ON TABLES TO wa_app"
    )
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO wa_app"
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) "
            f"WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM wa_app"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE {TABLE_PRIVILEGES} ON TABLES FROM wa_app"
    )
    op.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM wa_app")
    op.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM wa_app")
    op.execute("REVOKE USAGE ON SCHEMA public FROM wa_app")
    # The role itself stays: it is cluster-wide and other databases use it.
