"""Flow 1 when PostgreSQL is down: a signed delivery is answered 503 with problem
details (so Meta retries), never 200 (which would lose it)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.meta import sign
from adapters.postgres.engine import create_engine
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from entrypoints.bootstrap import Runtime
from tests.integration.webhook_app import SECRET, URL, webhook_app
from tests.support.databases import start_embedded
from tests.unit.meta.payloads import envelope, messages_value, text_message

pytestmark = pytest.mark.integration


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, Any]]:
    """The app on its own embedded server, which a test may stop."""
    server, url = start_embedded(tmp_path / "pg")
    try:
        async with webhook_app(
            url, tmp_path / "data", first_starter=_migrate, raise_app_exceptions=False
        ) as (http, runtime):
            yield http, runtime, server
    finally:
        server.cleanup()  # type: ignore[attr-defined]


async def _migrate(runtime: Runtime) -> None:
    from adapters.postgres.migrate import upgrade

    assert runtime.database_url
    engine = create_engine(runtime.database_url, pool_size=1)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def signed_delivery(wamid: str) -> tuple[bytes, dict[str, str]]:
    body = envelope(messages_value(text_message(id=wamid)))
    return body, {"X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_503_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"]
    problem = response.json()
    assert problem["status"] == 503
    assert problem["detail"].startswith("database unavailable")


async def test_a_stopped_database_answers_503_never_200(
    served: tuple[httpx.AsyncClient, Runtime, Any],
) -> None:
    http, _, server = served
    body, headers = signed_delivery("wamid.BEFORE")
    assert (await http.post(URL, content=body, headers=headers)).status_code == 200

    server.cleanup()  # stops the postmaster under the open pool

    body, headers = signed_delivery("wamid.WHILE_DOWN")
    assert_503_problem(await http.post(URL, content=body, headers=headers))


async def test_an_unreachable_database_answers_503_never_200(
    served: tuple[httpx.AsyncClient, Runtime, Any],
) -> None:
    http, runtime, _ = served
    nowhere = create_engine(f"postgresql://postgres@127.0.0.1:{_closed_port()}/wa", pool_size=1)
    runtime._uow = SqlaUnitOfWorkFactory(nowhere)
    try:
        body, headers = signed_delivery("wamid.NOWHERE")
        assert_503_problem(await http.post(URL, content=body, headers=headers))
    finally:
        await nowhere.dispose()
