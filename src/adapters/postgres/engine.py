"""Engine creation and translation of driver failures into domain errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from whatsapp_core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageError,
)

# SQLSTATE of a refused privilege, which includes a row-level security policy's refusal.
INSUFFICIENT_PRIVILEGE = "42501"
# SQLSTATE class of a value the database cannot take (a NUL character in text, a number
# or date out of range): the caller's input, never an outage.
DATA_EXCEPTION_CLASS = "22"
INTEGRITY_CLASS = "23"
UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
RESTRICT_VIOLATION = "23001"
NOT_NULL_VIOLATION = "23502"
CHECK_VIOLATION = "23514"
EXCLUSION_VIOLATION = "23P01"
# What each data exception means to the person who sent the value; never the value.
_DATA_ERRORS = {
    # asyncpg's own refusal to encode a parameter (wrong Python type, an int beyond
    # int8) before the server sees it: its message quotes the value.
    "22000": "a value does not fit its field's type",
    "22001": "a value is too long for its field",
    "22003": "a number is out of range",
    "22007": "a date or time is not valid",
    "22008": "a date or time is out of range",
    "22021": "a text contains a character that cannot be stored (e.g. a NUL character)",
    "22P05": "a text contains a character that cannot be stored (e.g. a NUL character)",
    "22P02": "a value is not in the format its field expects",
    "22004": "a required value is missing",
    "22012": "a computation divided by zero",
}
PING_TIMEOUT_S = 5.0
_FRESH = "wa_fresh"  # connection_record.info key: connected for this checkout, no ping


def sqlalchemy_url(url: str) -> str:
    """Turn ``postgresql://`` (what pgserver and most tools print) into the asyncpg dialect."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, logged in as ``user`` (no password unless given:
    right for trust or peer authentication over a unix socket)."""
    parts = urlsplit(url)
    login = quote(user, safe="")
    if password is not None:
        login += ":" + quote(password, safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{login}@{host}", parts.path, parts.query, parts.fragment))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def create_engine(url: str, *, pool_size: int = 20, pool_timeout: float = 30) -> AsyncEngine:
    """``pool_size`` connections, as many again under load; a caller that finds none
    free within ``pool_timeout`` s gets ``StorageError`` (a 503), never a hang.

    The pool keeps ``pool_size`` connections open; one above that is closed when it is
    returned while ``pool_size`` wait idle, and a later burst connects again (connect,
    type lookups, prepares: several ms each). 20 kept open covers 20 agents' requests at
    once without that churn: bench/inbox_query.py with 20 callers made 444 calls/s on
    10 (+10) and 755 on 20.

    Every checkout of a pooled connection pings it first (:func:`ping_on_checkout`), so
    a connection whose server side is gone (restart, idle kill) is replaced before a
    unit of work uses it."""
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        connect_args={
            "timeout": 5,
            "command_timeout": 30,
            # Every statement planned with its values. asyncpg prepares each statement,
            # and after five runs PostgreSQL may switch to a generic plan made without
            # the tenant or the arrays: with row-level security and tables that grew
            # since their statistics, that plan probed the known-wamids check by a scan
            # of the tenant's messages (1 ms became 25-50 ms a webhook, growing with the
            # table). Planning costs about 0.1-0.2 ms a statement; bench/ingest_db.py
            # measured 0.25-0.30 of raw asyncpg before, 0.57-0.58 after.
            "server_settings": {"plan_cache_mode": "force_custom_plan"},
        },
    )
    ping_on_checkout(engine)
    return engine


def ping_on_checkout(engine: AsyncEngine) -> None:
    """Check a pooled connection with ONE round trip before it is handed out.

    SQLAlchemy's ``pool_pre_ping`` does the same job in three with asyncpg (``BEGIN``,
    ``;``, ``ROLLBACK``: 2.1 wraps the ping in a transaction for pgbouncer's transaction
    mode, sqlalchemy issue 10226). Here the ping is one simple-protocol ``SELECT 1``
    outside any transaction: no prepared statement, so nothing a pgbouncer could route
    to another server. A connection that fails it, for whatever reason (closed socket,
    terminated backend, an operation left in progress, no answer in time), is discarded
    and SQLAlchemy's pool connects a new one (the documented pessimistic-disconnect
    pattern: ``DisconnectionError`` from a ``checkout`` handler). A connection made for
    this very checkout is not pinged: connecting proved it alive."""

    @event.listens_for(engine.sync_engine, "connect")
    def _fresh(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        if record.info.pop(_FRESH, False):
            return
        try:
            dbapi_connection.run_async(
                lambda conn: conn.execute("SELECT 1", timeout=PING_TIMEOUT_S)
            )
        except Exception as exc:  # any failure: this connection cannot be trusted
            raise sa_exc.DisconnectionError(f"pooled connection failed its ping: {exc!r}") from exc


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Map SQLAlchemy/asyncpg failures to the core's errors, keeping the cause."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise _domain_error(exc) from exc
    except sa_exc.TimeoutError as exc:  # the pool had no connection free in time
        raise StorageError(
            "the database is busy: no connection came free in time; retry shortly"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise StorageError(f"database unavailable: {_first_line(exc)}") from exc


def _domain_error(exc: sa_exc.DBAPIError) -> DomainError:
    """Messages name the constraint, table or column, never a value: they reach users
    and logs, and a value may be a customer's personal data."""
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if sqlstate.startswith(DATA_EXCEPTION_CLASS):
        return InvalidInput(_data_message(exc, sqlstate))
    if sqlstate == INSUFFICIENT_PRIVILEGE:
        # e.g. a row outside the transaction's tenant (RLS WITH CHECK): a bug or an attack,
        # never something to retry.
        return Forbidden(f"the database refused it: {_first_line(exc)}")
    if sqlstate.startswith(INTEGRITY_CLASS) or isinstance(exc, sa_exc.IntegrityError):
        return _integrity_error(exc, sqlstate)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return StorageError(f"database unavailable: {_first_line(exc)}")
    return StorageError(f"database error: {_first_line(exc)}")


def _integrity_error(exc: sa_exc.DBAPIError, sqlstate: str) -> DomainError:
    constraint = _detail(exc, "constraint_name")
    table = _detail(exc, "table_name")
    named = f" ({constraint})" if constraint else ""
    if sqlstate == UNIQUE_VIOLATION:
        return Conflict(
            f"already exists: another record has the same values{named}; "
            "change them or update the existing record",
        )
    if sqlstate == FOREIGN_KEY_VIOLATION and not _is_delete(exc):
        return NotFound(
            f"a record it refers to does not exist{named}; create that first or fix the id",
        )
    if sqlstate in (FOREIGN_KEY_VIOLATION, RESTRICT_VIOLATION):
        return Conflict(
            f"still in use: other records refer to it{named}; remove or move them first",
        )
    if sqlstate == NOT_NULL_VIOLATION:
        column = _detail(exc, "column_name")
        where = f"{table}.{column}" if table and column else column or "a field"
        return InvalidInput(f"a required value is missing: {where} cannot be empty")
    if sqlstate == CHECK_VIOLATION:
        return InvalidInput(
            f"a value is not allowed{named}; send one of the values that field accepts"
        )
    if sqlstate == EXCLUSION_VIOLATION:
        return Conflict(f"overlaps an existing record{named}")
    return Conflict(f"conflicts with stored data{named}")


def _data_message(exc: sa_exc.DBAPIError, sqlstate: str) -> str:
    column = _detail(exc, "column_name")
    what = _DATA_ERRORS.get(sqlstate, f"a value is not valid (SQLSTATE {sqlstate})")
    return f"the database refused a value sent: {what}" + (f" ({column})" if column else "")


def _detail(exc: sa_exc.DBAPIError, field: str) -> str | None:
    """A field of the PostgreSQL error (asyncpg's exception is the adapted error's cause)."""
    driver_error = getattr(exc.orig, "__cause__", None)
    value = getattr(driver_error, field, None)
    return str(value) if value else None


def _is_delete(exc: sa_exc.DBAPIError) -> bool:
    """A foreign key refuses a DELETE because rows still refer to the deleted one; it
    refuses an INSERT or UPDATE because the row refers to one that does not exist."""
    statement = (exc.statement or "").lstrip().upper()
    return statement.startswith("DELETE") or "update or delete on" in str(exc.orig)


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


class DatabaseProbe:
    name = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with translated_errors(), self._engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
