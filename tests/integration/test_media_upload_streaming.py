"""A 100 MB document an agent sends passes through in chunks, both ways it travels:
the HTTP upload (``POST /api/conversations/{id}/media``, app served by uvicorn in this
process) into the local blob store, then the ``msg.send`` job's multipart upload from
the blob store to Meta (the simulator, in its own process so its copy of the file is
not counted). This process's memory must not grow by anything near the file's size.

Prints the figures (Python heap peak by tracemalloc for each leg, resident-set peak
from /proc/self/status). Bounded by an in-test deadline, not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import serving
from adapters.security.passwords import Argon2PasswordHasher
from adapters.storage.local import LocalBlobStore
from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker.runner import build_worker
from tests.integration.test_media_streaming import _proc_status, _reset_rss_peak
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.media import MB

pytestmark = pytest.mark.integration

TOKEN = "EAAG-upload-streaming-token"
SECRET = "upload-streaming-secret"
PNID = "106540352242922"
WABA = "102290129340398"
SIZE = 100 * MB
CHUNK = 64 * 1024
DEADLINE_S = 60.0
HEAP_LIMIT = 16 * MB  # a few buffers and parts, far below the 100 MB file
RSS_LIMIT = 48 * MB

_SIMULATOR = """
import asyncio, sys
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving

async def main():
    config = SimulatorConfig(access_token=sys.argv[1], app_secret=sys.argv[2],
                             api_version="v23.0", callback_url=sys.argv[3],
                             waba_ids={sys.argv[4]: sys.argv[5]}, auto_statuses=False)
    async with serving(create_simulator(config)) as url:
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def simulator_process(callback_url: str) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SIMULATOR, TOKEN, SECRET, callback_url, PNID, WABA,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert line.startswith(b"http://"), line
        yield line.decode().strip()
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


class Document:
    """SIZE bytes of a PDF, made chunk by chunk (never whole), digested as they go."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self._zeros = bytes(CHUNK)

    async def chunks(self) -> AsyncIterator[bytes]:
        head = b"%PDF-1.7\n"
        sent = 0
        while sent < SIZE:
            chunk = self._zeros[: min(CHUNK, SIZE - sent)]
            if sent == 0:
                chunk = head + chunk[len(head) :]
            self.digest.update(chunk)
            sent += len(chunk)
            yield chunk


async def test_a_100_mb_document_goes_out_with_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory", "WA_META_APP_SECRET": SECRET}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    started = time.perf_counter()
    async with (
        asyncio.timeout(DEADLINE_S),
        serving(create_app(runtime)) as app_url,
        simulator_process(f"{app_url}/api/webhooks/whatsapp") as sim_url,
        httpx.AsyncClient(base_url=app_url, timeout=30) as app,
        httpx.AsyncClient(base_url=sim_url, timeout=30) as sim,
    ):
        registered = await app.post(
            "/api/auth/register",
            json={"tenant_slug": "acme", "tenant_name": "Acme", "email": "ann@acme.test",
                  "name": "Ann", "password": "correct horse battery", "waba_id": WABA,
                  "phone_number_id": PNID},
        )  # fmt: skip
        # After start() (the memory profile's own store keeps files in memory):
        runtime.blobs = LocalBlobStore(tmp_path / "files")
        assert registered.status_code == 201, registered.text
        app.cookies.clear()
        auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        said = await sim.post(
            "/_sim/inbound",
            json={"phone_number_id": PNID, "from": "5511999999999", "text": "the catalogue?",
                  "wait": True},
        )  # fmt: skip
        assert said.json()["callback_status"] == 200, said.text
        (conversation,) = (await app.get("/api/conversations", headers=auth)).json()

        async def token_for(_: Tenant) -> str:
            return TOKEN

        meta = HttpxWhatsAppGateway(
            base_url=sim_url, api_version="v23.0", token_for=token_for, client=sim
        )
        worker = build_worker(runtime, meta)
        document = Document()
        ready_at = time.perf_counter()

        rss_before = _proc_status("VmRSS")
        rss_tracked = _reset_rss_peak()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            posted = await app.post(
                f"/api/conversations/{conversation['id']}/media?filename=catalogue.pdf",
                content=document.chunks(),
                headers={**auth, "Content-Type": "application/pdf", "Content-Length": str(SIZE)},
            )
            upload_peak = tracemalloc.get_traced_memory()[1] - base
            uploaded_at = time.perf_counter()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            await worker.drain()
            delivery_peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        rss_peak = _proc_status("VmHWM")
        delivered_at = time.perf_counter()

        assert posted.status_code == 202, posted.text
        media = posted.json()["content"]["media"]
        assert (media["size"], media["sha256"]) == (SIZE, document.digest.hexdigest())
        (sent,) = (await sim.get("/_sim/log")).json()
        assert (sent["type"], sent["body"]["document"]["filename"]) == ("document", "catalogue.pdf")
        info = await meta.get_media_url(await _tenant(runtime), sent["body"]["document"]["id"])
        assert (info["file_size"], info["sha256"]) == (SIZE, document.digest.hexdigest())

    rss_delta = rss_peak - rss_before if rss_tracked and rss_peak and rss_before else None
    with capsys.disabled():
        rss_text = f"{rss_delta / MB:.1f} MB" if rss_delta is not None else "n/a"
        print(
            f"\n[media] 100 MB document out: HTTP upload into the store "
            f"{uploaded_at - ready_at:.2f} s, Python heap peak +{upload_peak / MB:.2f} MB; "
            f"msg.send (multipart upload to Meta + send) {delivered_at - uploaded_at:.2f} s, "
            f"heap peak +{delivery_peak / MB:.2f} MB (tracemalloc); RSS peak +{rss_text} "
            f"over {(rss_before or 0) / MB:.0f} MB; whole test {delivered_at - started:.1f} s"
        )
    assert upload_peak < HEAP_LIMIT
    assert delivery_peak < HEAP_LIMIT
    if rss_delta is not None:
        assert rss_delta < RSS_LIMIT


async def _tenant(runtime: object) -> Tenant:
    services = runtime.services  # type: ignore[attr-defined]
    async with services.uow() as uow:
        (tenant,) = await uow.tenants.list()
    return tenant  # type: ignore[no-any-return]
