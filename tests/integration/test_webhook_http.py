"""Flow 1 through HTTP on real PostgreSQL: signed bodies land, bad ones store nothing."""

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
from entrypoints.bootstrap import Runtime
from tests.integration.webhook_app import SECRET, URL, webhook_app
from tests.support.databases import fresh_database
from tests.unit.meta.payloads import ALL_FIXTURES, PNID, body_of

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(embedded_pg: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with fresh_database(embedded_pg) as url, webhook_app(url, tmp_path) as (http, _):
        yield http


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def count(client: httpx.AsyncClient, table: sa.Table) -> int:
    from adapters.postgres.engine import create_engine

    runtime = runtime_of(client)
    assert runtime.database_url
    engine = create_engine(runtime.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            )
    finally:
        await engine.dispose()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}


async def test_verification_handshake(client: httpx.AsyncClient) -> None:
    ok = await client.get(
        URL,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me",
            "hub.challenge": "1158201444",
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = await client.get(
        URL, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert bad.status_code == 403


@pytest.mark.parametrize("name", ALL_FIXTURES)
async def test_every_real_shaped_payload_is_accepted_and_lands(
    client: httpx.AsyncClient,
    name: str,
) -> None:
    body = body_of(name)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    data = json.loads(body)
    expected = sum(
        len(change["value"].get("messages", []))
        for entry in data["entry"]
        for change in entry["changes"]
        if change["field"] == "messages" and change["value"]["metadata"]["phone_number_id"] == PNID
    )
    assert await count(client, tables.messages) == expected
    assert response.json()["stored"] == expected


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Hub-Signature-256": "sha256=00"}, signed(body_of("text"), "wrong-secret")],
)
async def test_a_bad_signature_stores_nothing(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(URL, content=body_of("text"), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(client, tables.messages) == 0
    assert await count(client, tables.contacts) == 0
    assert runtime_of(client).counters["webhook_bad_signature"] == 1


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"object": "whatsapp_business_account", "entry": {}}', b"[]"]
)
async def test_malformed_bodies_are_400_with_a_reason(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("webhook body:")


async def test_an_unknown_number_is_acknowledged_and_counted(client: httpx.AsyncClient) -> None:
    body = body_of("text").replace(PNID.encode(), b"999999999999999")
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert await count(client, tables.messages) == 0
    assert runtime_of(client).counters["webhook_unknown_number"] == 1


async def test_ten_concurrent_redeliveries_make_no_duplicates(client: httpx.AsyncClient) -> None:
    body = body_of("batch")
    responses = await asyncio.gather(
        *(client.post(URL, content=body, headers=signed(body)) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    stored = await count(client, tables.messages)
    assert sum(r.json()["stored"] for r in responses) == stored
    assert sum(r.json()["duplicates"] for r in responses) == 9 * stored


async def test_a_tenant_with_its_own_meta_app_is_verified_with_that_apps_secret(
    client: httpx.AsyncClient,
) -> None:
    import uuid

    from whatsapp_core.domain.model import Principal
    from whatsapp_core.domain.tenants import new_tenant
    from whatsapp_core.policies.access import Role
    from whatsapp_core.services.tenants import TenantSettings, update_tenant_settings

    runtime = runtime_of(client)
    assert runtime.secrets is not None
    async with runtime.uow() as uow:
        acme = await uow.tenants.by_phone_number_id(PNID)
        assert acme is not None
        other = new_tenant(
            tenant_id=uuid.uuid4(), slug="other", name="Other", phone_number_id="999000999"
        )
        await uow.tenants.add(other)
        await uow.commit()
    own = "acme-own-meta-app-secret"
    admin = Principal(tenant_id=acme.id, role=Role.ADMIN, user_id=uuid.uuid4())
    await update_tenant_settings(
        runtime.services, runtime.secrets, admin, TenantSettings(app_secret=own)
    )

    body = body_of("text")
    assert (await client.post(URL, content=body, headers=signed(body, own))).status_code == 200
    assert await count(client, tables.messages) == 1
    # The tenant's app cannot vouch for a delivery that also names another number.
    mixed = body.replace(b'"changes": [', b'"changes": [{"field": "messages", "value": '
                         b'{"metadata": {"phone_number_id": "999000999"}}}, ', 1)  # fmt: skip
    assert mixed != body
    refused = await client.post(URL, content=mixed, headers=signed(mixed, own))
    assert refused.status_code == 401
    wrong = await client.post(URL, content=body, headers=signed(body, "someone-else"))
    assert wrong.status_code == 401
    # The platform's secret still works for every tenant.
    again = body_of("image")
    assert (await client.post(URL, content=again, headers=signed(again))).status_code == 200


async def test_a_tenants_own_verify_token_passes_the_handshake(
    client: httpx.AsyncClient,
) -> None:
    import uuid

    from whatsapp_core.domain.model import Principal
    from whatsapp_core.policies.access import Role
    from whatsapp_core.services.tenants import TenantSettings, update_tenant_settings

    def handshake(token: str) -> dict[str, str]:
        return {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}

    runtime = runtime_of(client)
    assert runtime.secrets is not None
    async with runtime.uow() as uow:
        acme = await uow.tenants.by_phone_number_id(PNID)
    assert acme is not None
    assert (await client.get(URL, params=handshake("acme-own-token"))).status_code == 403
    admin = Principal(tenant_id=acme.id, role=Role.ADMIN, user_id=uuid.uuid4())
    await update_tenant_settings(
        runtime.services, runtime.secrets, admin, TenantSettings(verify_token="acme-own-token")
    )
    ok = await client.get(URL, params=handshake("acme-own-token"))
    assert (ok.status_code, ok.text) == (200, "42")
    assert (await client.get(URL, params=handshake("verify-me"))).status_code == 200  # platform's
    assert (await client.get(URL, params=handshake(""))).status_code == 403
    # Removed: refused again.
    await update_tenant_settings(
        runtime.services, runtime.secrets, admin, TenantSettings(verify_token="")
    )
    assert (await client.get(URL, params=handshake("acme-own-token"))).status_code == 403
