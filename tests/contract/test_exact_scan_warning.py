"""The exact-scan fallback of vector search is not silent: the first time a process finds a
database searched that way, it logs why and the bound (each tenant's newest
``EXACT_SCAN_ROWS`` rows), once; a database with working pgvector logs nothing."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.postgres import ai
from adapters.postgres.ai import EXACT_SCAN_ROWS, Search, SqlaEmbeddingStore
from adapters.postgres.uow import SqlaUnitOfWorkFactory

pytestmark = pytest.mark.contract


async def test_the_exact_scan_is_announced_once_with_its_reason_and_bound(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ai, "_exact_scan_announced", False)  # as in a fresh process
    caplog.set_level(logging.WARNING, logger=ai.__name__)
    searches = []
    for _ in range(2):  # a second unit of work, same process: nothing more
        async with SqlaUnitOfWorkFactory(engine)() as uow:
            assert isinstance(uow.embeddings, SqlaEmbeddingStore)
            searches.append(await uow.embeddings.search())
            await uow.knowledge.search()
    warnings = [r.getMessage() for r in caplog.records if r.name == ai.__name__]
    if searches[0] is not Search.EXACT:
        assert warnings == []
        return
    (warning,) = warnings
    assert "exact scan" in warning
    assert f"newest {EXACT_SCAN_ROWS} embedded rows" in warning
    assert "pgvector" in warning  # the reason: missing, or unusable on this CPU
