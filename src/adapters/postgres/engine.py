"""Engine creation and translation of driver failures into domain errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from whatsapp_core.errors import Conflict, DomainError, Forbidden, InvalidInput, StorageError

# SQLSTATE of a refused privilege, which includes a row-level security policy's refusal.
INSUFFICIENT_PRIVILEGE = "42501"
# SQLSTATE class of a value the database cannot take (a NUL character in text, a number
# or date out of range): the caller's input, never an outage.
DATA_EXCEPTION_CLASS = "22"


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


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def create_engine(url: str, *, pool_size: int = 10, pool_timeout: float = 30) -> AsyncEngine:
    """``pool_size`` connections, as many again under load; a caller that finds none
    free within ``pool_timeout`` s gets ``StorageError`` (a 503), never a hang.

    Every checkout pings (``pool_pre_ping``): one round trip per transaction, kept on
    purpose. Pinging only connections idle for a second was tried: a connection whose
    server had just stopped then failed its first statement with asyncpg's internal
    "another operation is in progress" instead of being replaced, for no measurable
    gain (the send bench moved within its noise)."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args={"timeout": 5, "command_timeout": 30},
    )


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
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if sqlstate.startswith(DATA_EXCEPTION_CLASS):
        return InvalidInput(f"the database refused a value sent: {_first_line(exc)}")
    if sqlstate == INSUFFICIENT_PRIVILEGE:
        # e.g. a row outside the transaction's tenant (RLS WITH CHECK): a bug or an attack,
        # never something to retry.
        return Forbidden(f"the database refused it: {_first_line(exc)}")
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict(_integrity_message(exc))
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return StorageError(f"database unavailable: {_first_line(exc)}")
    return StorageError(f"database error: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def _integrity_message(exc: sa_exc.IntegrityError) -> str:
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return f"already exists ({constraint})" if constraint else "already exists"


class DatabaseProbe:
    name = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with translated_errors(), self._engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
