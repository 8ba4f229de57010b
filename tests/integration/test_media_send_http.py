"""End to end over real HTTP: a customer writes (simulator -> signed webhook -> app, memory
profile served by uvicorn), the agent posts a file to ``/api/conversations/{id}/media``,
the worker's ``msg.send`` uploads it to the simulator (multipart) and sends it by the
media id Meta gave; the simulator then serves that id with the very same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from adapters.security.passwords import Argon2PasswordHasher
from adapters.storage.local import LocalBlobStore
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker.runner import build_worker
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.media import MB

pytestmark = pytest.mark.integration

TOKEN = "EAAG-e2e-send-media-token"
SECRET = "e2e-send-media-app-secret"
VERSION = "v23.0"
PNID = "106540352242922"
WABA = "102290129340398"
CUSTOMER = "5511999999999"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 2000


class Stack:
    def __init__(
        self, runtime: Runtime, app: httpx.AsyncClient, sim: httpx.AsyncClient, files: Path
    ) -> None:
        self.runtime = runtime
        self.files = files
        self.app = app
        self.sim = sim

        async def token_for(_: Tenant) -> str:
            return TOKEN

        self.meta = HttpxWhatsAppGateway(
            base_url=str(sim.base_url), api_version=VERSION, token_for=token_for, client=sim
        )

    async def register(self, slug: str = "acme") -> dict[str, str]:
        answer = await self.app.post(
            "/api/auth/register",
            json={"tenant_slug": slug, "tenant_name": slug.title(), "email": f"ann@{slug}.test",
                  "name": "Ann", "password": "correct horse battery", "waba_id": WABA,
                  "phone_number_id": PNID},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        self.app.cookies.clear()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    async def viewer(self, admin: dict[str, str]) -> dict[str, str]:
        made = await self.app.post(
            "/api/users", headers=admin,
            json={"email": "vic@acme.test", "name": "Vic", "role": "viewer",
                  "password": "correct horse battery"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        login = await self.app.post(
            "/api/auth/login", json={"email": "vic@acme.test", "password": "correct horse battery"}
        )
        self.app.cookies.clear()
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def customer_writes(self) -> str:
        said = await self.sim.post(
            "/_sim/inbound",
            json={"phone_number_id": PNID, "from": CUSTOMER, "name": "Ana", "wait": True,
                  "text": "Can you send me the invoice?"},
        )  # fmt: skip
        assert said.json()["callback_status"] == 200, said.text
        return said.json()["wamid"]

    async def conversation_id(self, auth: dict[str, str]) -> str:
        (conversation,) = (await self.app.get("/api/conversations", headers=auth)).json()
        return str(conversation["id"])

    async def thread(self, auth: dict[str, str], conversation_id: str) -> list[dict[str, Any]]:
        answer = await self.app.get(f"/api/conversations/{conversation_id}", headers=auth)
        return list(answer.json()["messages"])

    async def run_jobs(self) -> None:
        worker = build_worker(self.runtime, self.meta)
        await worker.drain()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory", "WA_META_APP_SECRET": SECRET}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    files = tmp_path / "files"
    async with serving(create_app(runtime)) as app_url:
        runtime.blobs = LocalBlobStore(files)  # after start(), which sets the profile's own
        config = SimulatorConfig(
            access_token=TOKEN, app_secret=SECRET, api_version=VERSION,
            callback_url=f"{app_url}/api/webhooks/whatsapp", waba_ids={PNID: WABA},
            auto_statuses=False,
        )  # fmt: skip
        async with (
            serving(create_simulator(config)) as sim_url,
            httpx.AsyncClient(base_url=app_url, timeout=30) as app,
            httpx.AsyncClient(base_url=sim_url, timeout=30) as sim,
        ):
            yield Stack(runtime, app, sim, files)


async def _body(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


async def test_an_agents_document_reaches_the_customer_as_the_same_bytes(stack: Stack) -> None:
    auth = await stack.register()
    await stack.customer_writes()
    conversation_id = await stack.conversation_id(auth)

    posted = await stack.app.post(
        f"/api/conversations/{conversation_id}/media",
        params={"caption": "Your invoice"},
        content=_body(PDF),  # streamed, chunked: no Content-Length
        headers={
            **auth,
            "Content-Type": "application/pdf",
            "X-Filename": "Fatura%20mar%C3%A7o.pdf",
        },
    )
    assert posted.status_code == 202, posted.text
    queued = posted.json()
    assert (queued["type"], queued["status"], queued["text"]) == (
        "document", "accepted", "Your invoice",
    )  # fmt: skip
    assert queued["content"]["document"]["filename"] == "Fatura março.pdf"
    assert queued["content"]["media"]["size"] == len(PDF)

    await stack.run_jobs()

    (sent,) = (await stack.sim.get("/_sim/log")).json()
    assert sent["type"] == "document"
    assert sent["body"]["to"] == CUSTOMER
    document = sent["body"]["document"]
    assert (document["caption"], document["filename"]) == ("Your invoice", "Fatura março.pdf")
    assert "link" not in document
    tenant = await _tenant(stack)
    info = await stack.meta.get_media_url(tenant, document["id"])
    assert (info["mime_type"], info["file_size"]) == ("application/pdf", len(PDF))
    assert info["sha256"] == hashlib.sha256(PDF).hexdigest()
    served = b"".join([chunk async for chunk in stack.meta.stream_media(tenant, info["url"])])
    assert served == PDF

    (message,) = [m for m in await stack.thread(auth, conversation_id) if m["type"] == "document"]
    assert message["wamid"] == sent["wamid"]  # "sent" follows with Meta's status webhook
    own_copy = await stack.app.get(f"/api/messages/{message['id']}/media", headers=auth)
    assert own_copy.status_code == 200
    assert own_copy.content == PDF
    assert own_copy.headers["content-disposition"].startswith("attachment;")

    await stack.run_jobs()  # nothing left to do: one upload, one send
    assert len((await stack.sim.get("/_sim/log")).json()) == 1


async def _tenant(stack: Stack) -> Tenant:
    async with stack.runtime.services.uow() as uow:
        (tenant,) = await uow.tenants.list()
    return tenant


async def head_only(stack: Stack, path: str, headers: dict[str, str], length: int) -> Any:
    """POST a request head announcing ``length`` bytes, send none, and read the answer:
    it can only come from a server that decided without reading the body."""
    base = httpx.URL(str(stack.app.base_url))
    assert base.port is not None
    lines = [f"POST {path} HTTP/1.1", f"Host: {base.host}:{base.port}",
             f"Content-Length: {length}", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection(base.host, base.port)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?im)^content-length: *(\d+)", head)
            assert found is not None, head
            body = await reader.readexactly(int(found.group(1)))
        finally:
            writer.close()
    assert b"application/problem+json" in head
    return json.loads(body)


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


async def test_refusals_are_problem_details_and_keep_nothing(stack: Stack) -> None:
    auth = await stack.register()
    await stack.customer_writes()
    url = f"/api/conversations/{await stack.conversation_id(auth)}/media"

    # Refused on the declared length alone: only the request's head is ever sent.
    too_big = await head_only(stack, url, {**auth, "Content-Type": "image/png"}, 6 * MB)
    assert (too_big["status"], too_big["code"], too_big["reason"]) == (
        422, "media_rejected", "too_large",
    )  # fmt: skip
    assert "an image may be at most 5.0 MB (this one is 6.0 MB)" in too_big["detail"]
    over_all = await head_only(stack, url, {**auth, "Content-Type": "application/pdf"}, 101 * MB)
    assert over_all["status"] == 422
    assert "a document may be at most 100.0 MB" in over_all["detail"]
    # Undeclared (chunked): cut off as soon as the stream passes the biggest limit.
    endless = _body(b"%PDF" + bytes(101 * MB), 4 * MB)
    cut_off = await stack.app.post(
        url, content=endless, headers={**auth, "Content-Type": "application/pdf"}
    )
    assert _problem(cut_off, 413)["status"] == 413
    gif = _problem(
        await stack.app.post(url, content=b"GIF89a", headers={**auth, "Content-Type": "image/gif"}),
        422,
    )
    assert gif["reason"] == "mime_not_allowed"
    empty = _problem(
        await stack.app.post(url, content=b"", headers={**auth, "Content-Type": "application/pdf"}),
        422,
    )
    assert empty["reason"] == "empty"
    viewer = await stack.viewer(auth)
    forbidden = await stack.app.post(
        url, content=PDF, headers={**viewer, "Content-Type": "application/pdf"}
    )
    assert _problem(forbidden, 403)["code"] == "forbidden"

    assert len(await stack.thread(auth, url.split("/")[3])) == 1  # the customer's message only
    assert [p for p in stack.files.rglob("*") if p.is_file()] == []
    await stack.run_jobs()
    assert (await stack.sim.get("/_sim/log")).json() == []
