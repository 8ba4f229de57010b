"""The login the application connects with, and whether row-level security binds it.

Migrations run as the tables' owner. The application is safest logging in as a role
that is NOT the owner: a member of ``wa_app`` (migration 0003) with no superuser or
BYPASSRLS attribute. Row-level security then binds the session itself, so the unit of
work needs no ``SET LOCAL ROLE`` (one round trip less per transaction) and SQL that got
in through a bug cannot ``RESET ROLE`` its way out of the tenant wall, switch to the
owner or alter a table.

A login that does bypass RLS (a superuser or the owner: the tests, older deployments
with one URL) still works: the unit of work then drops to ``wa_app`` per transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import translated_errors
from adapters.postgres.scope import APP_ROLE

APP_LOGIN_ROLE = "wa_app_login"
RELAY_ROLE = "wa_relay"  # migration 0004: the outbox relay's every-tenant role
# One role per cluster: concurrent starts (``wa serve`` and ``wa worker`` on one data
# directory) take turns. Any constant shared by the callers will do.
_ROLES_LOCK = 0x77615F617070  # "wa_app"

_ENSURE_LOGIN = (
    """
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE "{role}" LOGIN;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$
    """,
    'ALTER ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION'
    " INHERIT",
    f'GRANT {APP_ROLE} TO "{{role}}"',
)
# PostgreSQL 16+: may SET ROLE wa_relay for the relay's transactions without holding its
# privileges (its policy shows every tenant's outbox rows) the rest of the time.
INHERIT_PER_GRANT = 160000  # server_version_num of PostgreSQL 16
_GRANT_RELAY = f'GRANT {RELAY_ROLE} TO "{{role}}" WITH INHERIT FALSE, SET TRUE'

_INSPECT = sa.text(
    """
    SELECT current_user AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypassrls,
      EXISTS (
        SELECT 1 FROM pg_roles m
        WHERE m.rolname = :app AND pg_has_role(current_user, m.oid, 'USAGE')
      ) AS app_member,
      EXISTS (
        SELECT 1 FROM pg_roles m
        WHERE m.rolname = :relay AND pg_has_role(current_user, m.oid, 'USAGE')
      ) AS relay_privileges,
      EXISTS (
        SELECT 1 FROM pg_class c
        WHERE c.relrowsecurity AND pg_has_role(current_user, c.relowner, 'USAGE')
      ) AS owns_tables
    FROM pg_roles r WHERE r.rolname = current_user
    """
)


class Login(Struct, frozen=True, kw_only=True):
    """What the session's login role may do, as far as row-level security cares."""

    name: str
    superuser: bool
    bypassrls: bool
    app_member: bool  # holds wa_app's privileges (member with INHERIT)
    relay_privileges: bool  # holds wa_relay's, whose outbox policy shows every tenant
    owns_tables: bool  # owns (or inherits the owner of) a table under RLS

    @property
    def bound_by_rls(self) -> bool:
        """Every statement of the session is subject to the tenant policies, with no
        ``SET ROLE`` and no way to lift them."""
        return self.app_member and not self.escapes_rls

    @property
    def escapes_rls(self) -> bool:
        return self.superuser or self.bypassrls or self.owns_tables or self.relay_privileges

    def problem(self) -> str | None:
        """Why this login cannot serve as the application's restricted login, if so."""
        if self.superuser:
            return f"{self.name} is a superuser"
        if self.bypassrls:
            return f"{self.name} has BYPASSRLS"
        if self.owns_tables:
            return f"{self.name} owns the tables (the migrating role)"
        if self.relay_privileges:
            return (
                f"{self.name} inherits {RELAY_ROLE}, whose policy shows every tenant's jobs "
                f"(grant it WITH INHERIT FALSE, PostgreSQL 16+)"
            )
        if not self.app_member:
            return f"{self.name} is not a member of {APP_ROLE} (GRANT {APP_ROLE} TO {self.name})"
        return None


async def inspect_login(engine: AsyncEngine) -> Login:
    """One query on a fresh connection of ``engine``: who it logs in as. Run it after
    migrations (``wa_app`` exists from 0003 on)."""
    async with translated_errors(), engine.connect() as conn:
        row = (await conn.execute(_INSPECT, {"app": APP_ROLE, "relay": RELAY_ROLE})).one()
    return Login(**{str(k): v for k, v in row._mapping.items()})


async def ensure_app_login(owner: AsyncEngine, role: str = APP_LOGIN_ROLE) -> None:
    """Create ``role`` (or correct its attributes): LOGIN, member of ``wa_app``, nothing
    more; on PostgreSQL 16+ also allowed to ``SET ROLE wa_relay`` without inheriting it.
    No password: for trust/peer authentication on a local socket (the embedded server);
    elsewhere an administrator creates the role with one (see docker-compose.yml).
    ``owner`` must log in as a role that may create roles (the embedded superuser)."""
    if not role.replace("_", "").isalnum():
        raise ValueError(f"not a plain role name: {role!r}")
    async with translated_errors(), owner.begin() as conn:
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROLES_LOCK})
        for statement in _ENSURE_LOGIN:
            await conn.exec_driver_sql(statement.format(role=role))
        version = (await conn.execute(sa.text("SHOW server_version_num"))).scalar_one()
        if int(version) >= INHERIT_PER_GRANT:
            await conn.exec_driver_sql(_GRANT_RELAY.format(role=role))
