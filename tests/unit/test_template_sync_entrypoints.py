"""The template sync's entry points on memory adapters: the ``template.sync`` job and
``POST /api/templates/sync``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.memory.jobs import MemoryOutboxRelay, MemoryRateLimiter
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker import Worker
from tests.unit.services.harness import Harness
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.jobs import TEMPLATE_SYNC, JobState

pytestmark = pytest.mark.unit
PASSWORD = "correct horse battery"
WABA = "102290129340398"


def remote(name: str, status: str = "APPROVED", meta_id: str = "7001") -> RemoteTemplate:
    return RemoteTemplate(
        meta_id=meta_id, name=name, language="en", status=status, category="UTILITY",
        components=[{"type": "BODY", "text": "Hi {{1}}"}],
    )  # fmt: skip


async def test_the_template_sync_job_syncs_its_tenant_as_the_system() -> None:
    h = Harness()
    tenant = await h.add_tenant()
    await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    h.gateway.put_remote(tenant.waba_id or "", remote("order_update"))
    async with h.uow() as uow:
        await h.svc.enqueue(uow, tenant.id, TEMPLATE_SYNC, {}, "cron-1")
        await uow.commit()
    relay = MemoryOutboxRelay(h.uow.db)
    worker = Worker(
        relay=relay, limiter=MemoryRateLimiter(), gateway=h.gateway,
        services=lambda: h.svc, clock=h.clock,
    )  # fmt: skip
    await worker.drain()

    (job,) = [j for j in await relay.list_jobs() if j.kind == TEMPLATE_SYNC]
    assert (job.state, job.outcome) == (
        JobState.DONE,
        "templates: 1 created, 0 updated, 0 unchanged, 0 skipped",
    )
    (template,) = h.uow.db.state.templates.values()
    assert (template.tenant_id, template.name) == (tenant.id, "order_update")
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "template.import"]
    assert (entry.actor, entry.correlation_id) == ("system", "cron-1")


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory"}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    with TestClient(app=create_app(runtime)) as test_client:
        test_client.app.state.runtime = runtime
        yield test_client


def session(client: TestClient, role: str = "admin") -> dict[str, str]:  # type: ignore[type-arg]
    if role == "admin":
        registered = client.post(
            "/api/auth/register",
            json={
                "tenant_slug": "acme", "tenant_name": "Acme", "email": "admin@acme.test",
                "name": "Admin", "password": PASSWORD, "waba_id": WABA,
                "phone_number_id": "106540352242922",
            },
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        client.cookies.clear()
        return {"Authorization": f"Bearer {registered.json()['access_token']}"}
    admin = session(client)
    created = client.post(
        "/api/users", headers=admin,
        json={"email": f"{role}@acme.test", "name": role, "role": role, "password": PASSWORD},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    login = client.post(
        "/api/auth/login", json={"email": f"{role}@acme.test", "password": PASSWORD}
    )
    client.cookies.clear()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def gateway_of(client: TestClient) -> MemoryWhatsAppGateway:  # type: ignore[type-arg]
    gateway = client.app.state.runtime.gateway
    assert isinstance(gateway, MemoryWhatsAppGateway)
    return gateway


def test_a_manager_syncs_over_http_and_gets_the_report(client: TestClient) -> None:  # type: ignore[type-arg]
    manager = session(client, "manager")
    created = client.post(
        "/api/templates", headers=manager,
        json={"name": "welcome", "language": "en", "category": "marketing", "body": "Hi {{1}}"},
    )  # fmt: skip
    template_id = created.json()["id"]
    submitted = client.post(f"/api/templates/{template_id}/submit", headers=manager).json()
    gateway_of(client).decide(submitted["meta_id"], "REJECTED", "INVALID_FORMAT")
    gateway_of(client).put_remote(WABA, remote("order_update"))

    response = client.post("/api/templates/sync", headers=manager)

    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (1, 1, 0)
    assert report["skipped"] == []
    listed = {t["name"]: t for t in client.get("/api/templates", headers=manager).json()}
    assert (listed["welcome"]["status"], listed["order_update"]["status"]) == (
        "REJECTED",
        "APPROVED",
    )
    again = client.post("/api/templates/sync", headers=manager).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_an_agent_may_not_sync_over_http(client: TestClient) -> None:  # type: ignore[type-arg]
    agent = session(client, "agent")
    gateway_of(client).put_remote(WABA, remote("order_update"))
    response = client.post("/api/templates/sync", headers=agent)
    assert response.status_code == 403
    assert client.get("/api/templates", headers=agent).json() == []
