"""The generic layer under every store: row <-> Struct mapping, statements built once
per shape, and execution inside the transaction's tenant scope with errors translated.

Every statement on a tenant table first scopes the transaction to the tenant it is about
(``TenantScope``), so row-level security agrees with the ``tenant_id`` filters."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.engine import translated_errors
from adapters.postgres.scope import TenantScope
from whatsapp_core.errors import NotFound

E = TypeVar("E", bound=msgspec.Struct)


def to_row(entity: msgspec.Struct, table: sa.Table) -> dict[str, Any]:
    row = msgspec.structs.asdict(entity)
    arrays = _array_columns(table)
    for name, value in row.items():
        if isinstance(value, msgspec.Struct):
            row[name] = msgspec.to_builtins(value)
        elif name in arrays and isinstance(value, tuple):
            row[name] = list(value)
    return row


@functools.cache
def _array_columns(table: sa.Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, sa.ARRAY))


def from_row(row: Any, kind: type[E]) -> E:
    # Column keys are str subclasses (quoted_name); msgspec wants plain str.
    return msgspec.convert({str(k): v for k, v in row._mapping.items()}, kind)


def from_rows(result: CursorResult[Any], kind: type[E]) -> list[E]:
    """``from_row`` for every row of ``result``, naming the columns once."""
    columns = result.keys()  # not ``result``: iterating that yields the rows
    keys = [str(k) for k in columns]
    return [msgspec.convert(dict(zip(keys, row, strict=True)), kind) for row in result]


# Statements are built once per shape and executed with parameters: building and
# cache-keying a fresh ``.values(**row)`` per call costs more than the round trip.
@functools.cache
def _select_where_equal(table: sa.Table, columns: tuple[str, ...]) -> sa.Select[Any]:
    return sa.select(table).where(*(table.c[c] == sa.bindparam(f"w_{c}") for c in columns))


@functools.cache
def insert_row(table: sa.Table) -> sa.Insert:
    return sa.insert(table)


def rows_as_arrays(table: sa.Table, columns: tuple[str, ...]) -> sa.TableValuedAlias:
    """``unnest(:a_column::type[], ...) AS anon(column, ...)``: many rows passed as one
    array parameter per column (see ``as_arrays``). A statement over it is the same
    whatever the row count, so SQLAlchemy caches it and asyncpg prepares it once (a
    multi-row ``VALUES`` is neither), and PostgreSQL runs it once (``executemany`` runs
    it once per row, about twice the time for 50-100 rows). Not for array columns:
    ``unnest`` would flatten them."""
    if any(isinstance(table.c[name].type, sa.ARRAY) for name in columns):
        raise TypeError(f"{table.name}: unnest cannot carry array columns")
    arrays = sa.func.unnest(
        *(sa.bindparam(f"a_{name}", type_=sa.ARRAY(table.c[name].type)) for name in columns)
    )
    return arrays.table_valued(*columns).render_derived()


@functools.cache
def insert_from_arrays(table: sa.Table, columns: tuple[str, ...]) -> postgresql.Insert:
    """``INSERT INTO table (columns) SELECT * FROM unnest(...)`` (``rows_as_arrays``)."""
    source = rows_as_arrays(table, columns)
    return postgresql.insert(table).from_select(
        [table.c[name] for name in columns], sa.select(*(source.c[name] for name in columns))
    )


def as_arrays(rows: Sequence[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    """The parameters of a statement over ``rows_as_arrays(table, columns)``."""
    return {f"a_{name}": [row[name] for row in rows] for name in columns}


@functools.cache
def update_by_id(table: sa.Table) -> sa.Update:
    return sa.update(table).where(
        table.c.tenant_id == sa.bindparam("w_tenant_id"), table.c.id == sa.bindparam("w_id")
    )


class SqlaStore:
    table: sa.Table
    entity: type[msgspec.Struct]
    not_found = "not found"

    def __init__(self, conn: AsyncConnection, scope: TenantScope) -> None:
        self._conn = conn
        self._scope = scope

    async def _execute(
        self,
        tenant_id: uuid.UUID | None,
        statement: sa.Executable,
        params: dict[str, Any] | None = None,
    ) -> CursorResult[Any]:
        """Run ``statement`` in ``tenant_id``'s scope (``None``: a table without RLS)."""
        async with translated_errors():
            await self._scope.enter(tenant_id)
            return await self._conn.execute(statement, params)

    async def _execute_many(
        self, tenant_id: uuid.UUID, statement: sa.Executable, rows: list[dict[str, Any]]
    ) -> CursorResult[Any]:
        async with translated_errors():
            await self._scope.enter(tenant_id)
            return await self._conn.execute(statement, rows)

    async def _one(self, scope: uuid.UUID | None, /, **equal: Any) -> Any:
        """The row whose columns equal ``equal`` (name=value), or ``None``."""
        query = _select_where_equal(self.table, tuple(equal))
        params = {f"w_{name}": value for name, value in equal.items()}
        row = (await self._execute(scope, query, params)).first()
        return None if row is None else from_row(row, self.entity)

    async def _all(self, tenant_id: uuid.UUID | None, query: sa.Select[Any]) -> list[Any]:
        return from_rows(await self._execute(tenant_id, query), self.entity)

    async def _get(self, tenant_id: uuid.UUID, entity_id: uuid.UUID) -> Any:
        found = await self._one(tenant_id, tenant_id=tenant_id, id=entity_id)
        if found is None:
            raise NotFound(self.not_found)
        return found

    async def _insert(self, entity: Any) -> None:
        await self._execute(entity.tenant_id, insert_row(self.table), to_row(entity, self.table))

    async def _insert_many(self, entities: Sequence[Any]) -> None:
        """One executemany per tenant (asyncpg pipelines it: one round trip)."""
        for tenant_id in dict.fromkeys(e.tenant_id for e in entities):
            rows = [to_row(e, self.table) for e in entities if e.tenant_id == tenant_id]
            await self._execute_many(tenant_id, insert_row(self.table), rows)

    async def _replace(self, entity: Any) -> None:
        await self._replace_in(entity.tenant_id, entity)

    async def _replace_in(self, scope: uuid.UUID | None, entity: Any) -> None:
        params = to_row(entity, self.table) | {"w_tenant_id": entity.tenant_id, "w_id": entity.id}
        result = await self._execute(scope, update_by_id(self.table), params)
        if result.rowcount == 0:
            raise NotFound(self.not_found)

    async def _delete(self, tenant_id: uuid.UUID, entity_id: uuid.UUID) -> None:
        t = self.table
        statement = sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.id == entity_id)
        if (await self._execute(tenant_id, statement)).rowcount == 0:
            raise NotFound(self.not_found)

    async def _move(self, tenant_id: uuid.UUID, from_conversation: uuid.UUID, **values: Any) -> int:
        """Re-point this table's rows of one conversation (contact merge)."""
        t = self.table
        statement = (
            sa.update(t)
            .where(t.c.tenant_id == tenant_id, t.c.conversation_id == from_conversation)
            .values(**values)
        )
        return (await self._execute(tenant_id, statement)).rowcount

    # Tables without row-level security (looked up before a tenant is known): the same
    # operations, still filtered by tenant_id, without entering a tenant scope.
    async def _insert_unscoped(self, entity: Any) -> None:
        await self._execute(None, insert_row(self.table), to_row(entity, self.table))

    async def _replace_unscoped(self, entity: Any) -> None:
        await self._replace_in(None, entity)

    async def _get_unscoped(self, tenant_id: uuid.UUID, entity_id: uuid.UUID) -> Any:
        found = await self._one(None, tenant_id=tenant_id, id=entity_id)
        if found is None:
            raise NotFound(self.not_found)
        return found
