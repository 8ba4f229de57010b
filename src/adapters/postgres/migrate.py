"""Run Alembic migrations on an engine the application already owns.

A revision Alembic cannot reach (unknown, or not a valid target from where the schema
is) is the caller's mistake: ``InvalidInput`` naming the revisions there are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres.engine import translated_errors
from whatsapp_core.errors import InvalidInput

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    with _refused(revision):
        async with translated_errors(), engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    with _refused(revision):
        async with translated_errors(), engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def current(engine: AsyncEngine) -> str | None:
    """The schema's revision; ``None`` for an empty database (Alembic's ``base``)."""
    async with translated_errors(), engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def known_revisions() -> str:
    """``0001…0018, base, head or a step such as -1 / +2``: what a revision may be."""
    every = revisions()
    listed = f"{every[0]}…{every[-1]}, " if every else ""
    return f"{listed}base, head or a step such as -1 / +2"


@contextmanager
def _refused(revision: str) -> Iterator[None]:
    try:
        yield
    except CommandError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Can't locate revision" in reason or "No such revision" in reason:
            message = f"unknown revision {revision!r} (known: {known_revisions()})"
        else:
            message = f"cannot migrate to {revision!r}: {reason}"
        raise InvalidInput(message, field="revision") from exc
