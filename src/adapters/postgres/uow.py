"""Unit of work over one SQLAlchemy connection and transaction; explicit commit only."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from adapters.postgres import tables
from adapters.postgres.engine import translated_errors
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Conflict, NotFound

_TENANT_COLUMNS = (
    "id",
    "slug",
    "name",
    "waba_id",
    "phone_number_id",
    "display_phone_number",
    "throughput_per_second",
)


def _tenant(row: sa.Row[tuple[object, ...]]) -> Tenant:
    return Tenant(**{name: getattr(row, name) for name in _TENANT_COLUMNS})


class SqlaTenantStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, tenant: Tenant) -> None:
        values = {name: getattr(tenant, name) for name in _TENANT_COLUMNS}
        async with translated_errors():
            result = await self._conn.execute(
                sa.dialects.postgresql.insert(tables.tenants)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(tables.tenants.c.id)
            )
        if result.first() is None:
            raise Conflict(
                f"a tenant with slug {tenant.slug!r} or this phone number id exists",
                field="slug",
            )

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        async with translated_errors():
            row = (
                await self._conn.execute(
                    sa.select(tables.tenants).where(tables.tenants.c.id == tenant_id)
                )
            ).first()
        if row is None:
            raise NotFound("tenant not found")
        return _tenant(row)

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None:
        async with translated_errors():
            row = (
                await self._conn.execute(
                    sa.select(tables.tenants).where(
                        tables.tenants.c.phone_number_id == phone_number_id
                    )
                )
            ).first()
        return None if row is None else _tenant(row)

    async def list(self) -> list[Tenant]:
        async with translated_errors():
            rows = await self._conn.execute(
                sa.select(tables.tenants).order_by(tables.tenants.c.slug)
            )
        return [_tenant(row) for row in rows]


class SqlaUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        async with translated_errors():
            self._conn = await self._engine.connect()
            self._tx = await self._conn.begin()
        self.tenants = SqlaTenantStore(self._conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        assert self._tx is not None
        try:
            if self._tx.is_active:
                await self._tx.rollback()
        finally:
            await self._conn.close()
            self._conn = self._tx = None

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
