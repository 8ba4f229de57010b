"""Unit of work over one connection and transaction; nothing is kept without ``commit``."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from adapters.postgres.engine import translated_errors
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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        async with translated_errors():
            conn = self._conn = await self._engine.connect()
            self._tx = await conn.begin()
        self.tenants = SqlaTenantStore(conn)
        self.contacts = SqlaContactStore(conn)
        self.conversations = SqlaConversationStore(conn)
        self.messages = SqlaMessageStore(conn)
        self.templates = SqlaTemplateStore(conn)
        self.outbox = SqlaOutboxStore(conn)
        self.audit = SqlaAuditStore(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None or tx is None:
            return
        try:
            if tx.is_active:
                await tx.rollback()
        except Exception:
            # A broken connection cannot roll back; the server discards the transaction.
            # Re-raise only when nothing else is already propagating.
            if exc is None:
                raise
        finally:
            await conn.close()

    async def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("commit() outside 'async with'")
        async with translated_errors():
            await self._tx.commit()


class SqlaUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def __call__(self) -> SqlaUnitOfWork:
        return SqlaUnitOfWork(self._engine)
