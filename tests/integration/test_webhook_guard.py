"""Flow 1, step 4 through HTTP on real PostgreSQL and Redis: redeliveries are absorbed
by the Redis guard, and a Redis outage only sends them to the database instead."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from redis import asyncio as aioredis

from adapters.meta import sign
from adapters.postgres import tables
from adapters.redis.idempotency import UNAVAILABLE, RedisIdempotencyGuard
from entrypoints.bootstrap import Runtime
from tests.integration.webhook_app import SECRET, URL, webhook_app
from tests.support.databases import fresh_database
from tests.unit.meta.payloads import body_of, envelope, messages_value, text_message
from whatsapp_core.errors import UpstreamUnavailable

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(embedded_pg: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with fresh_database(embedded_pg) as url, webhook_app(url, tmp_path) as served:
        yield served


async def stored_messages(runtime: Runtime) -> int:
    from adapters.postgres.engine import create_engine

    assert runtime.database_url
    engine = create_engine(runtime.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(tables.messages)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"}


class NoDatabase:
    def __call__(self) -> object:
        raise UpstreamUnavailable("database unavailable: the test took it away")


async def test_a_redelivery_storm_stores_once_and_the_repeat_is_absorbed(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = app
    assert isinstance(runtime.guard, RedisIdempotencyGuard)
    body = body_of("text")  # one message

    storm = await asyncio.gather(
        *(http.post(URL, content=body, headers=signed(body)) for _ in range(10))
    )

    assert [r.status_code for r in storm] == [200] * 10
    assert sum(r.json()["stored"] for r in storm) == 1
    assert sum(r.json()["duplicates"] for r in storm) == 9
    assert await stored_messages(runtime) == 1

    # The repeat is answered from Redis alone: take the database away to prove it.
    runtime._uow = NoDatabase()  # type: ignore[assignment]
    repeat = await http.post(URL, content=body, headers=signed(body))

    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == {
        "stored": 0,
        "duplicates": 1,
        "statuses": 0,
        "templates": 0,
        "absorbed": True,
    }
    absorbed_in_storm = sum(r.json()["absorbed"] for r in storm)
    assert runtime.counters["webhook_duplicates_absorbed"] == absorbed_in_storm + 1
    metrics = (await http.get("/metrics")).text
    assert 'wa_events_total{kind="webhook_duplicates_absorbed"}' in metrics


async def test_a_batch_with_one_new_message_goes_to_the_database_whole(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = app
    old = envelope(messages_value(text_message(id="wamid.OLD")))
    await http.post(URL, content=old, headers=signed(old))
    mixed = envelope(messages_value(text_message(id="wamid.OLD"), text_message(id="wamid.NEW")))

    response = await http.post(URL, content=mixed, headers=signed(mixed))
    again = await http.post(URL, content=mixed, headers=signed(mixed))

    assert response.status_code == 200
    assert (response.json()["stored"], response.json()["duplicates"]) == (1, 1)
    assert response.json()["absorbed"] is False
    assert (again.json()["absorbed"], again.json()["duplicates"]) == (True, 2)
    assert await stored_messages(runtime) == 2


async def test_a_redelivered_status_is_absorbed(app: tuple[httpx.AsyncClient, Runtime]) -> None:
    http, _ = app
    body = body_of("status_delivered")
    first = await http.post(URL, content=body, headers=signed(body))
    again = await http.post(URL, content=body, headers=signed(body))
    assert (first.json()["absorbed"], again.json()["absorbed"]) == (False, True)


async def test_template_status_updates_are_never_absorbed(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = app
    body = body_of("template_status_approved")
    first = await http.post(URL, content=body, headers=signed(body))
    again = await http.post(URL, content=body, headers=signed(body))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["absorbed"] is False
    assert runtime.counters["webhook_duplicates_absorbed"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_redis_outage_leaves_deduplication_to_the_database(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    http, runtime = app
    dead = aioredis.from_url(f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=1)
    runtime.guard = RedisIdempotencyGuard(dead, counters=runtime.counters)
    body = body_of("text")
    try:
        first = await http.post(URL, content=body, headers=signed(body))
        again = await http.post(URL, content=body, headers=signed(body))
    finally:
        await dead.aclose()

    assert (first.status_code, first.json()["stored"]) == (200, 1)
    assert (again.status_code, again.json()["duplicates"], again.json()["absorbed"]) == (
        200,
        1,
        False,
    )
    assert await stored_messages(runtime) == 1
    assert runtime.counters[UNAVAILABLE] == 4  # seen + remember, twice
    assert runtime.counters["webhook_duplicates_absorbed"] == 0
