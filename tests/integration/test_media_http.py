"""End to end over real HTTP: a simulated customer sends an image, the signed webhook
reaches the app (memory profile, served by uvicorn), the worker's ``media.fetch`` copies
it from the simulator, and the agent downloads it from ``/api/messages/{id}/media``:
streamed from the memory store, or redirected to a presigned S3 (moto) link.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from adapters.security.passwords import Argon2PasswordHasher
from adapters.storage.s3 import S3BlobStore
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker.handlers import media_fetch
from entrypoints.worker.runner import build_worker
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.jobs import MEDIA_FETCH

pytestmark = pytest.mark.integration

TOKEN = "EAAG-e2e-media-token"
SECRET = "e2e-media-app-secret"
VERSION = "v23.0"
PNID = "106540352242922"
WABA = "102290129340398"
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400


class Stack:
    def __init__(self, runtime: Runtime, app: httpx.AsyncClient, sim: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.app = app
        self.sim = sim

        async def token_for(_: Tenant) -> str:
            return TOKEN

        self.meta = HttpxWhatsAppGateway(
            base_url=str(sim.base_url), api_version=VERSION, token_for=token_for, client=sim
        )

    async def register(self, slug: str, pnid: str) -> dict[str, str]:
        answer = await self.app.post(
            "/api/auth/register",
            json={"tenant_slug": slug, "tenant_name": slug.title(), "email": f"ann@{slug}.test",
                  "name": "Ann", "password": "correct horse battery", "waba_id": WABA,
                  "phone_number_id": pnid},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        self.app.cookies.clear()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    async def customer_sends_image(self) -> None:
        uploaded = await self.sim.post(
            "/_sim/media", content=PICTURE, headers={"Content-Type": "image/png"}
        )
        said = await self.sim.post(
            "/_sim/inbound",
            json={"phone_number_id": PNID, "from": "5511999999999", "name": "Ana", "wait": True,
                  "type": "image", "payload": {"id": uploaded.json()["id"], "caption": "this one"}},
        )  # fmt: skip
        assert said.json()["callback_status"] == 200, said.text

    async def run_jobs(self) -> None:
        assert self.runtime.blobs is not None
        handler = media_fetch(lambda: self.runtime.services, self.meta, self.runtime.blobs)
        assert self.runtime.gateway is not None
        worker = build_worker(self.runtime, self.runtime.gateway, handlers={MEDIA_FETCH: handler})
        await worker.drain()

    async def image_message(self, auth: dict[str, str]) -> dict[str, Any]:
        (conversation,) = (await self.app.get("/api/conversations", headers=auth)).json()
        thread = (
            await self.app.get(f"/api/conversations/{conversation['id']}", headers=auth)
        ).json()
        (message,) = [m for m in thread["messages"] if m["type"] == "image"]
        return dict(message)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory", "WA_META_APP_SECRET": SECRET}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    async with serving(create_app(runtime)) as app_url:
        config = SimulatorConfig(
            access_token=TOKEN, app_secret=SECRET, api_version=VERSION,
            callback_url=f"{app_url}/api/webhooks/whatsapp", waba_ids={PNID: WABA},
            auto_statuses=False,
        )  # fmt: skip
        async with (
            serving(create_simulator(config)) as sim_url,
            httpx.AsyncClient(base_url=app_url, timeout=10) as app,
            httpx.AsyncClient(base_url=sim_url, timeout=10) as sim,
        ):
            yield Stack(runtime, app, sim)


async def test_an_image_from_the_customer_is_downloadable_by_the_agent(stack: Stack) -> None:
    auth = await stack.register("acme", PNID)
    await stack.customer_sends_image()
    pending = await stack.image_message(auth)
    early = await stack.app.get(f"/api/messages/{pending['id']}/media", headers=auth)
    assert early.status_code == 404
    assert early.json()["code"] == "media_pending"

    await stack.run_jobs()
    message = await stack.image_message(auth)
    assert message["content"]["media"]["state"] == "available"
    assert message["content"]["image"]["caption"] == "this one"
    url = f"/api/messages/{message['id']}/media"
    got = await stack.app.get(url, headers=auth)
    assert got.status_code == 200, got.text
    assert got.content == PICTURE
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-length"] == str(len(PICTURE))
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("inline;")
    assert "no-store" in got.headers["cache-control"]

    assert (await stack.app.get(url)).status_code == 401
    other = await stack.register("globex", "106540352242999")
    foreign = await stack.app.get(url, headers=other)
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "not_found"


@contextlib.contextmanager
def moto() -> Any:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_with_s3_the_agent_is_sent_to_a_short_lived_link(stack: Stack) -> None:
    session = aioboto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    with moto() as endpoint:
        async with S3BlobStore("wa-media", endpoint_url=endpoint, session=session) as s3:
            await s3.client.create_bucket(Bucket="wa-media")
            stack.runtime.blobs = s3
            auth = await stack.register("acme", PNID)
            await stack.customer_sends_image()
            await stack.run_jobs()
            message = await stack.image_message(auth)
            key = message["content"]["media"]["key"]
            assert key.startswith("tenants/")
            assert await s3.exists(key)
            got = await stack.app.get(f"/api/messages/{message['id']}/media", headers=auth)
            assert got.status_code == 302
            link = got.headers["location"]
            assert link.startswith(endpoint)
            assert "X-Amz-Expires=300" in link
            async with httpx.AsyncClient() as browser:
                fetched = await browser.get(link)
            assert fetched.status_code == 200
            assert fetched.content == PICTURE
