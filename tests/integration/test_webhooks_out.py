"""Flow 4 through the REST API and a running worker, to a real receiver on 127.0.0.1.

The app runs on the memory profile in this test's event loop (httpx ASGI transport);
the worker is the one ``wa serve`` runs in-process; the receiver is uvicorn.
Figures (delivery latency, ingest latency with and without a dead subscriber) are
printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from msgspec.structs import replace

from adapters.automation.httpx_sink import HttpxAutomationSink
from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.meta import sign
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker import Worker, build_worker
from tests.unit.automation.receiver import Answer, Receiver, running_receiver
from tests.unit.meta.payloads import PNID, WABA, envelope, messages_value, text_message
from whatsapp_core.automation import verify_signature
from whatsapp_core.policies.templates import TemplateStatus

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


class Api:
    def __init__(self, runtime: Runtime, http: httpx.AsyncClient) -> None:
        self.runtime, self.http = runtime, http
        self.admin: dict[str, str] = {}

    async def register(self) -> None:
        response = await self.http.post(
            "/api/auth/register",
            json={
                "tenant_slug": "acme", "tenant_name": "Acme", "email": "admin@acme.test",
                "name": "Admin", "password": PASSWORD, "waba_id": WABA, "phone_number_id": PNID,
            },
        )  # fmt: skip
        assert response.status_code == 201, response.text
        self.admin = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.http.cookies.clear()

    async def inbound(
        self, text: str = "Where is my order?", phone: str = "5511987654321"
    ) -> float:
        """POST a signed Meta webhook with one fresh text message; its latency in ms."""
        message = text_message(
            id=f"wamid.{uuid.uuid4().hex}", timestamp=str(int(time.time())), text={"body": text},
            **{"from": phone},
        )  # fmt: skip
        contact = {"profile": {"name": "Ana"}, "wa_id": phone}
        body = envelope(messages_value(message, contacts=[contact]))
        headers = {"X-Hub-Signature-256": sign(self.runtime.meta_app_secret, body)}
        started = time.perf_counter()
        response = await self.http.post("/api/webhooks/whatsapp", content=body, headers=headers)
        took = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        return took

    async def subscribe(self, url: str, *events: str) -> dict[str, Any]:
        response = await self.http.post(
            "/api/webhooks", headers=self.admin,
            json={"url": url, "events": list(events or ["message.received"]),
                  "allow_private": True, "description": "n8n"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory"}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    await runtime.start()
    try:
        app = create_app(runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wa.test") as http:
            client = Api(runtime, http)
            await client.register()
            yield client
    finally:
        await runtime.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def running(worker: Worker) -> asyncio.Task[None]:
    return asyncio.create_task(worker.run())


async def stop(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    await task


async def test_subscribe_receive_signed_events_inspect_and_redeliver_over_rest(
    api: Api, receiver: Receiver
) -> None:
    created = await api.subscribe(receiver.url, "message.received", "conversation.opened")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    listed = (await api.http.get("/api/webhooks", headers=api.admin)).json()
    assert [(s["id"], s["secret"]) for s in listed] == [(created["id"], None)]  # shown once
    catalogue = (await api.http.get("/api/webhooks/events")).json()
    assert len(catalogue["events"]) == 8
    for event in catalogue["events"]:  # each with its schema and a whole example body
        assert event["data_schema"]["$ref"]
        assert (event["example"]["type"], event["example"]["v"]) == (event["type"], 1)
        assert event["example"]["data"]
    assert "X-Signature-256" in catalogue["signature"]

    worker = build_worker(api.runtime, api.runtime.gateway)  # the defaults `wa serve` uses
    task = await running(worker)
    try:
        latencies = []
        for n in range(6):
            # The first message opens the conversation: two events; then one each.
            sent = time.perf_counter()
            await api.inbound(f"order {n}?")
            got = await receiver.wait_for(n + 2)
            latencies.append((got[-1].at - sent) * 1000)
    finally:
        await stop(worker, task)
    print(f"\ningest -> receiver (default worker, poll 0.25 s): {fmt(latencies)}")

    events = [json.loads(r.body) for r in receiver.received]
    assert sorted({e["type"] for e in events}) == ["conversation.opened", "message.received"]
    for r in receiver.received:
        assert verify_signature(
            secret, r.body, r.headers["x-signature-256"], r.headers["x-webhook-timestamp"],
            now=api.runtime.clock.now(),
        )  # fmt: skip
    log = (
        await api.http.get(f"/api/webhooks/{created['id']}/deliveries?limit=3", headers=api.admin)
    ).json()
    assert len(log) == 3
    assert {d["state"] for d in log} == {"delivered"}
    print(f"HTTP round trip to the receiver: {fmt([d['latency_ms'] for d in log])}")

    redone = await api.http.post(
        f"/api/webhook-deliveries/{log[0]['id']}/redeliver", headers=api.admin
    )
    assert redone.status_code == 202
    assert redone.json()["event_id"] == log[0]["event_id"]
    await build_worker(api.runtime, api.runtime.gateway).drain()
    assert receiver.received[-1].headers["x-event-id"] == log[0]["event_id"]

    off = await api.http.patch(
        f"/api/webhooks/{created['id']}", headers=api.admin, json={"active": False}
    )
    assert off.json()["active"] is False
    gone = await api.http.delete(f"/api/webhooks/{created['id']}", headers=api.admin)
    assert gone.status_code == 204
    missing = await api.http.get(f"/api/webhooks/{created['id']}/deliveries", headers=api.admin)
    assert missing.status_code == 404
    refused = await api.http.post(
        "/api/webhooks", headers=api.admin,
        json={"url": "http://127.0.0.1:5678/x", "events": ["message.received"]},
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["field"] == "url"


async def test_n8n_sends_a_template_with_an_api_key_once_per_idempotency_key(api: Api) -> None:
    created = await api.http.post(
        "/api/templates", headers=api.admin,
        json={"name": "order_status", "language": "en", "category": "utility",
              "body": "Hi {{1}}, order {{2}} is on its way"},
    )  # fmt: skip
    async with api.runtime.uow() as uow:  # Meta approved it (Flow 3 is tested elsewhere)
        (tenant,) = await uow.tenants.list()
        template = await uow.templates.get(tenant.id, uuid.UUID(created.json()["id"]))
        await uow.templates.update(replace(template, status=TemplateStatus.APPROVED))
        await uow.commit()
    key = (await api.http.post("/api/api-keys", headers=api.admin, json={"name": "n8n"})).json()
    n8n = {"X-API-Key": key["token"], "Idempotency-Key": "evt-6f1c"}
    send = {
        "name": "order_status", "language": "en", "to": {"phone": "+55 11 98765-4321"},
        "body_params": ["Ana", "#123"],
    }  # fmt: skip
    first = await api.http.post("/api/messages/send-template", headers=n8n, json=send)
    again = await api.http.post("/api/messages/send-template", headers=n8n, json=send)
    assert (first.status_code, again.status_code) == (202, 202), first.text
    assert first.json()["id"] == again.json()["id"]
    other = await api.http.post(
        "/api/messages/send-template", headers=n8n, json={**send, "body_params": ["Bo", "#9"]}
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"

    await build_worker(api.runtime, api.runtime.gateway).drain()
    gateway = api.runtime.gateway
    assert isinstance(gateway, MemoryWhatsAppGateway)
    assert [s.message.template_name for s in gateway.sent] == ["order_status"]  # sent once

    # The key's scope: sending, not administration; revoked, it opens nothing.
    scoped = {"X-API-Key": key["token"]}
    assert (await api.http.get("/api/webhooks", headers=scoped)).status_code == 403
    assert (
        await api.http.post("/api/webhooks", headers=scoped, json={"url": "https://x.example",
                            "events": ["message.received"]})
    ).status_code == 403  # fmt: skip
    await api.http.delete(f"/api/api-keys/{key['id']}", headers=api.admin)
    revoked = await api.http.post("/api/messages/send-template", headers=n8n, json=send)
    assert revoked.status_code == 401


async def test_a_dead_or_slow_receiver_does_not_slow_ingest(api: Api, receiver: Receiver) -> None:
    """Ingest latency with no subscriber, then with a receiver that hangs (5 s, sink
    timeout 1 s) and one that refuses connections, while the in-process worker runs."""
    n = 40

    async def measure() -> list[float]:
        worker = build_worker(
            api.runtime, api.runtime.gateway, sink=HttpxAutomationSink(timeout=1.0),
            stop_grace=0.2, poll_interval=0.05,
        )  # fmt: skip
        task = await running(worker)
        try:
            taken = []
            for i in range(n):
                taken.append(await api.inbound(f"m{i}"))
                await asyncio.sleep(0.01)  # ~100 messages/s while the worker runs
        finally:
            await stop(worker, task)
        return taken

    await measure()  # warm up
    baseline = await measure()
    receiver.default = Answer(200, delay=5.0)
    await api.subscribe(receiver.url, "message.received")
    await api.subscribe("http://127.0.0.1:9/dead", "message.received")
    burdened = await measure()
    assert receiver.received, "the slow receiver was being called during the measurement"
    print(f"\ningest, no subscriber:          {fmt(baseline)}")
    print(f"ingest, slow + dead subscriber: {fmt(burdened)}")
    assert p95(burdened) < max(3 * p95(baseline), p95(baseline) + 25)


def p95(values: list[float]) -> float:
    """Interpolated between samples, never beyond them (the default "exclusive" method
    extrapolates past the largest of a few samples: a p95 above the max)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def fmt(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"n={len(ordered)} p50={statistics.median(ordered):.1f} ms "
        f"p95={p95(ordered):.1f} ms max={ordered[-1]:.1f} ms"
    )
