"""Row-level security on the account tables; indexes for the label filter and contact search.

``users``, ``api_keys``, ``refresh_tokens`` and ``invitations`` get the same
``tenant_isolation`` policy as every other tenant table (0003). Four lookups happen
before any tenant is known (sign-in by e-mail, an API key by its prefix, a refresh
token and an invitation link by their hash); each is a ``SECURITY DEFINER`` function
that returns only the row with that key. Two more answer "whose tenant?" for the
refresh-token port's ``revoke_family`` / ``revoke_user``, which are not given one.

The functions are owned by the NOLOGIN role ``wa_auth``, not by the migrating user:
that user owns the tables, whose RLS is FORCEd, so as the functions' owner it would see
no row (short of being a superuser, as in the tests, where a missing policy would go
unnoticed), and a policy letting it see them would also show them to the application's
login whenever it does not run as ``wa_app``. ``wa_auth`` may only SELECT these four
tables, through the ``auth_lookup`` policy; the functions pin ``search_path`` and only
``wa_app`` may execute them.

Indexes: GIN on ``conversations.labels`` (the label filter is ``labels @> ARRAY[...]``)
and trigram GIN indexes on exactly the expressions the contact search compares,
``lower(name | username | wa_id | bsuid) LIKE '%...%'`` (an ``OR`` can only use indexes
when every arm has one). ``ix_contacts_name_trgm`` on the raw ``name`` served none.
Under RLS as ``wa_app`` the planner may not use any of them yet: ``LIKE``, ``lower``
and ``@>`` are not LEAKPROOF, so it evaluates them after the policy, never in an index
scan; they serve sessions RLS does not restrict (``tests/contract/test_search_indexes``).
What it may use there is ``tenant_id =`` (leakproof): ``ix_contacts_tenant`` keeps such a
search to the tenant's own contacts, where it read every tenant's before.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 15:40:00
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ACCOUNT_TABLES = ("users", "api_keys", "refresh_tokens", "invitations")
CURRENT_TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
APP_ROLE = "wa_app"
LOOKUP_ROLE = "wa_auth"

# name(arguments): (returns, body). Each key is unique, so each returns one row at most.
FUNCTIONS = {
    "wa_auth_user_by_email(p_email text)": (
        "SETOF public.users",
        "SELECT * FROM public.users WHERE email = p_email",
    ),
    "wa_auth_api_key(p_prefix text)": (
        "SETOF public.api_keys",
        "SELECT * FROM public.api_keys WHERE prefix = p_prefix",
    ),
    "wa_auth_refresh_token(p_token_hash text)": (
        "SETOF public.refresh_tokens",
        "SELECT * FROM public.refresh_tokens WHERE token_hash = p_token_hash",
    ),
    "wa_auth_invitation(p_token_hash text)": (
        "SETOF public.invitations",
        "SELECT * FROM public.invitations WHERE token_hash = p_token_hash",
    ),
    "wa_auth_refresh_family_tenant(p_family_id uuid)": (
        "uuid",
        "SELECT tenant_id FROM public.refresh_tokens WHERE family_id = p_family_id LIMIT 1",
    ),
    "wa_auth_user_tenant(p_user_id uuid)": (
        "uuid",
        "SELECT tenant_id FROM public.users WHERE id = p_user_id",
    ),
}
# (name, expression); the contact search's arms, see SqlaContactStore.search.
CONTACT_SEARCH_INDEXES = (
    ("ix_contacts_name_search", "lower(name)"),
    ("ix_contacts_username_search", "lower(username)"),
    ("ix_contacts_wa_id_search", "lower(wa_id)"),
    ("ix_contacts_bsuid_search", "lower(bsuid)"),
)


def upgrade() -> None:
    for table in ACCOUNT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {CURRENT_TENANT}) "
            f"WITH CHECK (tenant_id = {CURRENT_TENANT})"
        )
    _create_lookups()

    op.create_index("ix_conversations_labels", "conversations", ["labels"], postgresql_using="gin")
    op.drop_index("ix_contacts_name_trgm", table_name="contacts")
    for name, expression in CONTACT_SEARCH_INDEXES:
        op.execute(f"CREATE INDEX {name} ON contacts USING gin ({expression} gin_trgm_ops)")
    op.create_index("ix_contacts_tenant", "contacts", ["tenant_id"])


def _create_lookups() -> None:
    # Roles are cluster-wide: another database (or a concurrent migration of one) may
    # have created it already.
    op.execute(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wa_auth') THEN
            CREATE ROLE wa_auth NOLOGIN;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {LOOKUP_ROLE}")
    for table in ACCOUNT_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {LOOKUP_ROLE}")
        op.execute(f"CREATE POLICY auth_lookup ON {table} FOR SELECT TO {LOOKUP_ROLE} USING (true)")
    # wa_auth may own them while it may create in the schema, for the transfer only.
    op.execute(f"GRANT CREATE ON SCHEMA public TO {LOOKUP_ROLE}")
    with _acting_for_lookup_role("SET"):
        for signature, (returns, body) in FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION public.{signature} RETURNS {returns}"
                " LANGUAGE sql STABLE SECURITY DEFINER"
                " SET search_path = pg_catalog, pg_temp"
                f" AS $$ {body} $$"
            )
            op.execute(f"REVOKE ALL ON FUNCTION public.{signature} FROM PUBLIC")
            op.execute(f"GRANT EXECUTE ON FUNCTION public.{signature} TO {APP_ROLE}")
            op.execute(f"ALTER FUNCTION public.{signature} OWNER TO {LOOKUP_ROLE}")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {LOOKUP_ROLE}")


@contextmanager
def _acting_for_lookup_role(need: str) -> Iterator[None]:
    """Giving objects to wa_auth takes the right to ``SET ROLE`` to it, dropping them its
    privileges (``USAGE``). A superuser has both; another migrating user gets membership
    for the duration only: as a member it would also see every account row through
    ``auth_lookup`` whenever it is not running as ``wa_app``."""
    bind = op.get_bind()
    if need == "SET" and (bind.dialect.server_version_info or (0,)) < (16,):
        need = "MEMBER"  # before PostgreSQL 16 membership is the right to SET ROLE
    has = bind.execute(
        sa.text("SELECT pg_has_role(current_user, :role, :need)"),
        {"role": LOOKUP_ROLE, "need": need},
    ).scalar()
    if not has:
        op.execute(f"GRANT {LOOKUP_ROLE} TO CURRENT_USER")
    yield
    if not has:
        op.execute(f"REVOKE {LOOKUP_ROLE} FROM CURRENT_USER")


def downgrade() -> None:
    op.drop_index("ix_contacts_tenant", table_name="contacts")
    for name, _ in CONTACT_SEARCH_INDEXES:
        op.drop_index(name, table_name="contacts")
    op.create_index(
        "ix_contacts_name_trgm",
        "contacts",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_conversations_labels", table_name="conversations")

    with _acting_for_lookup_role("USAGE"):
        for signature in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS public.{signature}")
    for table in ACCOUNT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS auth_lookup ON {table}")
        op.execute(f"REVOKE ALL ON {table} FROM {LOOKUP_ROLE}")
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {LOOKUP_ROLE}")
    # The role itself stays: it is cluster-wide and other databases use it.
