"""Template sync end to end: the REST API (memory profile) and the worker talk to the
Meta simulator over real HTTP (uvicorn in this event loop), with webhooks switched off
so every review decision is a missed webhook that only the sync can repair.

The gateway asks for 2 templates a page, so the sync has to follow Meta's cursors.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker import build_worker
from whatsapp_core.domain.tenants import Tenant

pytestmark = pytest.mark.integration

TOKEN = "EAAG-sync-token"
SECRET = "sync-app-secret"
VERSION = "v23.0"
PNID = "106540352242922"
WABA = "102290129340398"
PASSWORD = "correct horse battery"
LIST_PATH = f"/{VERSION}/{WABA}/message_templates"


@dataclass
class Stack:
    api: httpx.AsyncClient  # the product's REST API
    meta: httpx.AsyncClient  # the simulator (Graph API and /_sim control)
    runtime: Runtime
    list_requests: list[httpx.URL]

    @property
    def graph_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    async def made_in_whatsapp_manager(self, name: str, components: list[dict[str, Any]]) -> str:
        """A template created at Meta without this product."""
        body = {"name": name, "language": "en", "category": "UTILITY", "components": components}
        answer = await self.meta.post(LIST_PATH, json=body, headers=self.graph_auth)
        assert answer.status_code == 200, answer.text
        meta_id: str = answer.json()["id"]
        return meta_id

    async def reviews_done(self, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while True:
            page = await self.meta.get(
                LIST_PATH, params={"limit": 100, "fields": "status"}, headers=self.graph_auth
            )
            if all(t["status"] != "PENDING" for t in page.json()["data"]):
                return
            assert time.monotonic() < deadline, "the simulator did not decide in time"
            await asyncio.sleep(0.02)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    config = SimulatorConfig(
        access_token=TOKEN, app_secret=SECRET, api_version=VERSION, callback_url=None,
        waba_ids={PNID: WABA}, template_decision_delay_s=0.01,
    )  # fmt: skip
    list_requests: list[httpx.URL] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path == LIST_PATH:
            list_requests.append(request.url)

    async def token_for(_: Tenant) -> str:
        return TOKEN

    runtime = build_runtime(load_settings({"WA_PROFILE": "memory"}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    async with (
        serving(create_simulator(config)) as meta_url,
        httpx.AsyncClient(base_url=meta_url, timeout=5) as meta,
        httpx.AsyncClient(timeout=5, event_hooks={"request": [record]}) as gateway_http,
    ):
        await runtime.start()
        runtime.gateway = HttpxWhatsAppGateway(
            base_url=meta_url, api_version=VERSION, token_for=token_for, client=gateway_http,
            template_page_size=2,
        )  # fmt: skip
        try:
            transport = httpx.ASGITransport(app=create_app(runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://wa.test") as api:
                yield Stack(api=api, meta=meta, runtime=runtime, list_requests=list_requests)
        finally:
            await runtime.stop()


async def sign_in(api: httpx.AsyncClient) -> dict[str, str]:
    registered = await api.post(
        "/api/auth/register",
        json={
            "tenant_slug": "acme", "tenant_name": "Acme", "email": "admin@acme.test",
            "name": "Admin", "password": PASSWORD, "waba_id": WABA, "phone_number_id": PNID,
        },
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    admin = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    created = await api.post(
        "/api/users", headers=admin,
        json={"email": "lead@acme.test", "name": "Lead", "role": "manager", "password": PASSWORD},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    login = await api.post(
        "/api/auth/login", json={"email": "lead@acme.test", "password": PASSWORD}
    )
    api.cookies.clear()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def draft_and_submit(api: httpx.AsyncClient, manager: dict[str, str], name: str) -> str:
    created = await api.post(
        "/api/templates", headers=manager,
        json={"name": name, "language": "en", "category": "marketing", "body": "Hi {{1}}!"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    submitted = await api.post(f"/api/templates/{created.json()['id']}/submit", headers=manager)
    assert submitted.json()["status"] == "PENDING", submitted.text
    template_id: str = created.json()["id"]
    return template_id


async def test_sync_repairs_missed_decisions_and_imports_across_pages(stack: Stack) -> None:
    api = stack.api
    manager = await sign_in(api)
    await draft_and_submit(api, manager, "welcome")
    await draft_and_submit(api, manager, "reject_promo")  # the simulator rejects reject_*
    await stack.made_in_whatsapp_manager(
        "order_update",
        [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped."},
            {"type": "FOOTER", "text": "Acme Inc."},
        ],
    )
    await stack.made_in_whatsapp_manager("shipping_notice", [{"type": "BODY", "text": "Soon!"}])
    await stack.made_in_whatsapp_manager("reject_old", [{"type": "BODY", "text": "Old one"}])
    await stack.reviews_done()
    drafted = await api.post(
        "/api/templates", headers=manager,
        json={"name": "draft_only", "language": "en", "category": "utility", "body": "Later"},
    )  # fmt: skip
    assert drafted.status_code == 201

    synced = await api.post("/api/templates/sync", headers=manager)

    assert synced.status_code == 200, synced.text
    report = synced.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (3, 2, 0)
    assert (report["drafts_kept"], report["repaired"], report["skipped"]) == (0, 0, [])
    # 5 templates at Meta, 2 a page: three requests, the later ones with Meta's cursor.
    assert len(stack.list_requests) == 3
    assert ["after" in url.params for url in stack.list_requests] == [False, True, True]

    listed = {t["name"]: t for t in (await api.get("/api/templates", headers=manager)).json()}
    assert {name: (t["status"], t["rejection_reason"]) for name, t in listed.items()} == {
        "welcome": ("APPROVED", None),
        "reject_promo": ("REJECTED", "INVALID_FORMAT"),
        "order_update": ("APPROVED", None),
        "shipping_notice": ("APPROVED", None),
        "reject_old": ("REJECTED", "INVALID_FORMAT"),
        "draft_only": ("DRAFT", None),
    }
    order = listed["order_update"]
    assert (order["header_text"], order["body"], order["footer"]) == (
        "Order {{1}}",
        "Hi {{1}}, order {{2}} has shipped.",
        "Acme Inc.",
    )

    # The imported template is sendable: the simulator checks name, status and the
    # number of parameters against what it holds.
    sent = await api.post(
        "/api/messages/send-template", headers=manager,
        json={"name": "order_update", "language": "en", "to": {"phone": "+5511999990001"},
              "body_params": ["Ann", "#7"], "header_params": ["#7"]},
    )  # fmt: skip
    assert sent.status_code == 202, sent.text
    assert stack.runtime.gateway is not None
    worker = build_worker(stack.runtime, stack.runtime.gateway)
    await worker.drain()
    (delivery,) = (await stack.meta.get("/_sim/log")).json()
    assert delivery["body"]["template"]["name"] == "order_update"

    again = (await api.post("/api/templates/sync", headers=manager)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5)


async def test_the_template_sync_job_runs_against_meta(stack: Stack) -> None:
    api = stack.api
    manager = await sign_in(api)
    await stack.made_in_whatsapp_manager("shipping_notice", [{"type": "BODY", "text": "Soon!"}])
    await stack.reviews_done()
    me = (await api.get("/api/auth/me", headers=manager)).json()
    async with stack.runtime.uow() as uow:
        tenant_id = uuid.UUID(me["tenant_id"])
        await stack.runtime.services.enqueue(uow, tenant_id, "template.sync", {})
        await uow.commit()
    assert stack.runtime.gateway is not None
    await build_worker(stack.runtime, stack.runtime.gateway).drain()
    (template,) = (await api.get("/api/templates", headers=manager)).json()
    assert (template["name"], template["status"]) == ("shipping_notice", "APPROVED")


async def test_a_refused_listing_is_a_problem_and_changes_nothing(stack: Stack) -> None:
    manager = await sign_in(stack.api)
    await stack.made_in_whatsapp_manager("shipping_notice", [{"type": "BODY", "text": "Soon!"}])
    fault = {"fail_next": [{"code": 190, "http_status": 401}]}
    (await stack.meta.post("/_sim/faults", json=fault)).raise_for_status()
    refused = await stack.api.post("/api/templates/sync", headers=manager)
    assert refused.status_code == 503, refused.text
    assert (refused.json()["code"], refused.json()["meta_code"]) == ("delivery_failed", 190)
    assert TOKEN not in refused.text
    assert (await stack.api.get("/api/templates", headers=manager)).json() == []
