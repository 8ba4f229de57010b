"""Unit of work over one connection and transaction; nothing is kept without ``commit``.

Row-level security applies to every transaction and the stores scope it to the tenant
of each call (``TenantScope``). The application logs in as a role RLS binds by itself
(``adapters.postgres.roles``); a login that would bypass it (a superuser, the tables'
owner) runs each transaction as the role ``wa_app`` instead (``SET LOCAL ROLE``)."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.postgres.accounts import (
    SqlaApiKeyStore,
    SqlaInvitationStore,
    SqlaNoteStore,
    SqlaRefreshTokenStore,
    SqlaUserStore,
)
from adapters.postgres.ai import SqlaAiUsageStore, SqlaEmbeddingStore, SqlaKnowledgeStore
from adapters.postgres.ai_settings import SqlaAiSettingsStore, SqlaAutoReplyLog
from adapters.postgres.automation import (
    SqlaDeliveryLog,
    SqlaIdempotencyStore,
    SqlaSubscriptionStore,
)
from adapters.postgres.engine import translated_errors
from adapters.postgres.media import SqlaMediaObjectStore
from adapters.postgres.scope import TenantScope
from adapters.postgres.statistics import SqlaInboxStatistics
from adapters.postgres.stores import (
    SqlaAuditStore,
    SqlaContactStore,
    SqlaConversationStore,
    SqlaMessageStore,
    SqlaOutboxStore,
    SqlaTemplateStore,
    SqlaTenantStore,
)


class SqlaUnitOfWork:
    """``enforce_rls=True`` (the default, safe for any login) runs each transaction as
    ``wa_app`` (``SET LOCAL ROLE``, sent with the transaction's first statement).
    ``enforce_rls=False`` skips it: right when the login itself is bound by RLS (see
    ``roles.inspect_login``; ``bootstrap`` decides so at start), and the way a superuser
    login reads across tenants on purpose."""

    def __init__(self, engine: AsyncEngine, *, enforce_rls: bool = True) -> None:
        self._engine = engine
        self._enforce_rls = enforce_rls
        self._conn: AsyncConnection | None = None
        self._scope: TenantScope | None = None

    async def __aenter__(self) -> Self:
        async with translated_errors():
            conn = self._conn = await self._engine.connect()
            scope = self._scope = TenantScope(conn, enforce_rls=self._enforce_rls)
            try:
                # The role is set with the first statement (TenantScope.enter), which
                # every store statement goes through.
                await conn.begin()
            except BaseException:
                self._conn = self._scope = None
                await conn.close()
                raise
        self.tenants = SqlaTenantStore(conn, scope)
        self.contacts = SqlaContactStore(conn, scope)
        self.conversations = SqlaConversationStore(conn, scope)
        self.messages = SqlaMessageStore(conn, scope)
        self.templates = SqlaTemplateStore(conn, scope)
        self.outbox = SqlaOutboxStore(conn, scope)
        self.audit = SqlaAuditStore(conn, scope)
        self.users = SqlaUserStore(conn, scope)
        self.api_keys = SqlaApiKeyStore(conn, scope)
        self.notes = SqlaNoteStore(conn, scope)
        self.refresh_tokens = SqlaRefreshTokenStore(conn, scope)
        self.invitations = SqlaInvitationStore(conn, scope)
        self.media_objects = SqlaMediaObjectStore(conn, scope)
        self.statistics = SqlaInboxStatistics(conn, scope)
        self.knowledge = SqlaKnowledgeStore(conn, scope)
        self.embeddings = SqlaEmbeddingStore(conn, scope)
        self.ai_usage = SqlaAiUsageStore(conn, scope)
        self.ai_settings = SqlaAiSettingsStore(conn, scope)
        self.auto_replies = SqlaAutoReplyLog(conn, scope)
        self.webhooks = SqlaSubscriptionStore(conn, scope)
        self.webhook_deliveries = SqlaDeliveryLog(conn, scope)
        self.idempotency = SqlaIdempotencyStore(conn, scope)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        self._conn = self._scope = None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        except Exception:
            # A broken connection cannot roll back; the server discards the transaction.
            # Re-raise only when nothing else is already propagating.
            if exc is None:
                raise
        finally:
            await conn.close()

    async def commit(self) -> None:
        if self._conn is None or self._scope is None:
            raise RuntimeError("commit() outside 'async with'")
        await self.outbox.flush()
        async with translated_errors():
            await self._conn.commit()
        # Statements after a commit run in a new transaction: role and scope are set again.
        self._scope.transaction_ended()

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, for raw SQL (tests, reports) under the same RLS:
        the role is set first, so raw SQL that forgets its tenant sees no tenant's rows."""
        if self._conn is None or self._scope is None:
            raise RuntimeError("connection outside 'async with'")
        async with translated_errors():
            await self._scope.enter(None)
        return self._conn

    async def scope_to(self, tenant_id: uuid.UUID) -> None:
        """Scope the transaction to a tenant before raw SQL (stores do this themselves)."""
        if self._scope is None:
            raise RuntimeError("scope_to() outside 'async with'")
        async with translated_errors():
            await self._scope.enter(tenant_id)


class SqlaUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, *, enforce_rls: bool = True) -> None:
        self._engine = engine
        self._enforce_rls = enforce_rls

    def __call__(self) -> SqlaUnitOfWork:
        return SqlaUnitOfWork(self._engine, enforce_rls=self._enforce_rls)
