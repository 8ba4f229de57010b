"""Flow 1 under concurrent load on real PostgreSQL: one-message deliveries arriving
together share transactions, and each is still answered for itself."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from adapters.meta import sign
from adapters.postgres import tables
from adapters.postgres.engine import create_engine
from entrypoints.bootstrap import Runtime
from tests.integration.webhook_app import SECRET, URL, webhook_app
from tests.support.databases import fresh_database
from tests.unit.meta.payloads import body_of, envelope, messages_value, text_message

pytestmark = pytest.mark.integration


@pytest.fixture
async def served(embedded_pg: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with fresh_database(embedded_pg) as url, webhook_app(url, tmp_path) as (http, _):
        yield http, url


def signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"}


def one_message(i: int) -> bytes:
    sender = f"55119{i:08d}"
    return envelope(
        messages_value(
            text_message(id=f"wamid.COALESCE{i:04d}", **{"from": sender, "from_user_id": None}),
            contacts=[{"profile": {"name": f"Customer {i}"}, "wa_id": sender}],
        )
    )


async def stored_wamids(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(tables.messages.c.wamid))
            return {row.wamid for row in rows}
    finally:
        await engine.dispose()


async def test_concurrent_one_message_deliveries_are_each_stored_and_answered(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    http, url = served
    bodies = [one_message(i) for i in range(24)] + [one_message(3)]  # and a racing retry
    responses = await asyncio.gather(
        *(http.post(URL, content=body, headers=signed(body)) for body in bodies)
    )
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert sum(r.json()["stored"] for r in responses) == 24
    assert sum(r.json()["duplicates"] for r in responses) == 1
    assert all(r.json()["stored"] + r.json()["duplicates"] == 1 for r in responses)
    assert await stored_wamids(url) == {f"wamid.COALESCE{i:04d}" for i in range(24)}


async def test_a_delivery_the_database_refuses_never_fails_the_others(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    http, url = served
    status = json.loads(body_of("status_failed"))
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]["code"] = 10**12
    bad = json.dumps(status).encode()  # an error code PostgreSQL's integer cannot hold
    alone = await http.post(URL, content=bad, headers=signed(bad))
    assert alone.status_code == 422, alone.text

    goods = [one_message(i) for i in range(8)]
    bodies = [*goods[:4], bad, *goods[4:]]
    responses = await asyncio.gather(
        *(http.post(URL, content=body, headers=signed(body)) for body in bodies)
    )
    assert [r.status_code for r in responses] == [200] * 4 + [422] + [200] * 4
    assert await stored_wamids(url) == {f"wamid.COALESCE{i:04d}" for i in range(8)}


async def test_concurrent_deliveries_during_an_outage_are_each_503(
    embedded_pg: str, tmp_path: Path
) -> None:
    async with (
        fresh_database(embedded_pg) as url,
        webhook_app(url, tmp_path, raise_app_exceptions=False) as (http, runtime),
    ):
        await _break_database(runtime)
        bodies = [one_message(i) for i in range(6)]
        responses = await asyncio.gather(
            *(http.post(URL, content=body, headers=signed(body)) for body in bodies)
        )
    assert [r.status_code for r in responses] == [503] * 6
    assert all(r.json()["detail"].startswith("database unavailable") for r in responses)


async def _break_database(runtime: Runtime) -> None:
    from adapters.postgres.uow import SqlaUnitOfWorkFactory

    nowhere = create_engine("postgresql://postgres@127.0.0.1:9/wa", pool_size=1)
    runtime.on_stop(nowhere.dispose)
    runtime._uow = SqlaUnitOfWorkFactory(nowhere)
