"""Alembic environment.

The application runs migrations on a connection it already holds
(``config.attributes["connection"]``); the ``alembic`` command line gets its URL from
``WA_DATABASE_URL`` instead.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from adapters.postgres.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    from adapters.postgres.engine import create_engine

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("WA_DATABASE_URL")
    if not url:
        raise SystemExit("alembic: set WA_DATABASE_URL to the database to migrate")
    asyncio.run(_run_from_url(url))
