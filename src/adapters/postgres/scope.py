"""The role and tenant a transaction runs under, as row-level security sees them.

Migration 0003 gives every tenant table a policy that only shows and accepts rows whose
``tenant_id`` equals the transaction-local setting ``app.tenant_id``. Unless the login is
bound by it already (a non-owner member of ``wa_app``), the unit of work runs each
transaction as the role ``wa_app`` so that even a superuser or owner login is subject to
it, and stores call :meth:`TenantScope.enter` before each statement (every
statement of a unit of work goes through it): the role and the tenant go together in
the transaction's first statement, and the tenant again only when it changes, so a
single-tenant use case pays one round trip for both.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

APP_ROLE = "wa_app"
_SET_APP_ROLE = sa.text(f"SET LOCAL ROLE {APP_ROLE}")
_SET_TENANT = sa.text("SELECT set_config('app.tenant_id', :tenant_id, true)")
# Both in one round trip (``set_config('role', …, true)`` is ``SET LOCAL ROLE``).
_SET_APP_ROLE_AND_TENANT = sa.text(
    f"SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant_id', :tenant_id, true)"
)


class TenantScope:
    """Shared by the stores of one unit of work. Both settings are transaction-local, so
    :meth:`transaction_ended` forgets them and the next statement sets them again.
    Callers run these methods inside their ``translated_errors()`` block."""

    def __init__(self, conn: AsyncConnection, *, enforce_rls: bool) -> None:
        self._conn = conn
        self._role_pending = enforce_rls
        self._enforce_rls = enforce_rls
        self.current: uuid.UUID | None = None

    async def enter(self, tenant_id: uuid.UUID | None) -> None:
        """Make sure the role is set and, unless ``tenant_id`` is ``None`` (a table without
        RLS), that the transaction is scoped to that tenant."""
        if tenant_id is None or tenant_id == self.current:
            if self._role_pending:
                await self._conn.execute(_SET_APP_ROLE)
                self._role_pending = False
            return
        # Forget the old scope first: if the statement fails, the next call must resend.
        self.current = None
        params = {"tenant_id": str(tenant_id)}
        if self._role_pending:
            await self._conn.execute(_SET_APP_ROLE_AND_TENANT, params)
            self._role_pending = False
        else:
            await self._conn.execute(_SET_TENANT, params)
        self.current = tenant_id

    def transaction_ended(self) -> None:
        self._role_pending = self._enforce_rls
        self.current = None
