"""A 100 MB document passes from Meta (the simulator, in its own process so its copy of
the file is not counted) through ``media.fetch`` into the local blob store in chunks:
this process's memory must not grow by anything near the file's size.

Prints the figures (Python heap peak by tracemalloc, resident-set peak from
/proc/self/status). Bounded by an in-test deadline of 20 s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.storage.local import LocalBlobStore
from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness, wamid
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.domain.webhook import InboundMessage
from whatsapp_core.media import MB, MediaRef, MediaState
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.media import fetch_inbound_media

pytestmark = pytest.mark.integration

TOKEN = "EAAG-streaming-token"
SIZE = 100 * MB
DEADLINE_S = 20.0
# What "bounded" means here: a few parts and buffers, far below the 100 MB file.
HEAP_LIMIT = 16 * MB
RSS_LIMIT = 48 * MB

# The simulator process uploads the document to itself, so this process never holds it.
_SIMULATOR = """
import asyncio, sys, httpx
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving

async def main():
    config = SimulatorConfig(access_token=sys.argv[1], app_secret="s", api_version="v23.0")
    async with serving(create_simulator(config)) as url:
        document = bytearray(b"%PDF-1.7\\n")
        document += bytes(int(sys.argv[2]) - len(document))
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            answer = await http.post("/_sim/media", content=bytes(document),
                                     headers={"Content-Type": "application/pdf"})
        del document
        print(url, answer.json()["id"], answer.json()["sha256"], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def simulator_process() -> AsyncIterator[tuple[str, str, str]]:
    """(url, media id, sha256 hex) of a simulator holding a SIZE-byte PDF."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SIMULATOR, TOKEN, str(SIZE),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert line.startswith(b"http://"), line
        url, media_id, sha256 = line.decode().split()
        yield url, media_id, sha256
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def _proc_status(field: str) -> int | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in bytes (None off Linux)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


async def test_a_100_mb_document_streams_through_with_bounded_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    async with (
        asyncio.timeout(DEADLINE_S),
        simulator_process() as (url, media_id, sha256),
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        said = base64.b64encode(bytes.fromhex(sha256)).decode()  # as Meta's webhook writes it
        h = Harness()
        await h.add_tenant()
        inbound = InboundMessage(
            wamid=wamid(),
            customer=CustomerIdentity(bsuid=ANA_BSUID, wa_id=ANA_PHONE),
            sent_at=h.clock.now() - timedelta(seconds=1),
            type="document",
            content={"document": {"id": media_id, "mime_type": "application/pdf",
                                  "sha256": said, "filename": "catalogue.pdf"}},
            media_id=media_id,
        )  # fmt: skip
        await ingest_webhook(h.svc, h.batch(inbound))
        (message,) = h.uow.db.state.messages.values()

        async def token_for(_: Tenant) -> str:
            return TOKEN

        gateway = HttpxWhatsAppGateway(
            base_url=url, api_version="v23.0", token_for=token_for, client=http
        )
        blobs = LocalBlobStore(tmp_path / "files")
        ready_at = time.perf_counter()

        rss_before = _proc_status("VmRSS")
        rss_tracked = _reset_rss_peak()
        tracemalloc.start()
        heap_before = tracemalloc.get_traced_memory()[0]
        try:
            outcome = await fetch_inbound_media(
                h.svc, gateway, blobs, message.tenant_id, message.id
            )
            heap_peak = tracemalloc.get_traced_memory()[1] - heap_before
        finally:
            tracemalloc.stop()
        rss_peak = _proc_status("VmHWM")
        fetched_at = time.perf_counter()

    assert outcome == f"stored {SIZE} bytes (application/pdf)", outcome
    async with h.uow() as uow:
        ref = MediaRef.of((await uow.messages.get(message.tenant_id, message.id)).content)
    assert ref is not None
    assert ref.state is MediaState.AVAILABLE
    assert ref.size == SIZE
    assert ref.filename == "catalogue.pdf"
    assert ref.key is not None
    assert (await blobs.stat(ref.key)) is not None

    rss_delta = rss_peak - rss_before if rss_tracked and rss_peak and rss_before else None
    with capsys.disabled():
        rss_text = f"{rss_delta / MB:.1f} MB" if rss_delta is not None else "n/a"
        print(
            f"\n[media] 100 MB document: fetch+verify+store {fetched_at - ready_at:.2f} s; "
            f"Python heap peak +{heap_peak / MB:.2f} MB (tracemalloc); "
            f"RSS peak +{rss_text} over {(rss_before or 0) / MB:.0f} MB; "
            f"whole test {fetched_at - started:.1f} s (simulator start and upload included)"
        )
    assert heap_peak < HEAP_LIMIT
    if rss_delta is not None:
        assert rss_delta < RSS_LIMIT
