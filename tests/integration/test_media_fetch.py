"""``media.fetch`` against the Meta simulator over real HTTP, into a local blob store.

The core runs on memory adapters (a message is ingested as Flow 1 would store it);
Meta's side is the simulator served by uvicorn, reached by ``HttpxWhatsAppGateway``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.memory.basics import FrozenClock
from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from adapters.storage.local import LocalBlobStore
from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness, wamid
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Message
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.domain.webhook import InboundMessage
from whatsapp_core.errors import UpstreamUnavailable
from whatsapp_core.media import MB, MediaRef, MediaState
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.media import fetch_inbound_media

pytestmark = pytest.mark.integration

TOKEN = "EAAG-media-token"
VERSION = "v23.0"


def png(size: int) -> bytes:
    head = b"\x89PNG\r\n\x1a\n"
    return (
        head
        + bytes(range(256)) * ((size - len(head)) // 256)
        + b"\x00" * ((size - len(head)) % 256)
    )


class Rig:
    def __init__(self, url: str, sim_app: Any, clock: FrozenClock, root: Path) -> None:
        self.url = url
        self.sim = sim_app.state.simulator
        self.clock = clock
        self.h = Harness()
        self.blobs = LocalBlobStore(root)
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

        async def token_for(_: Tenant) -> str:
            return self.token

        self.token = TOKEN
        self.gateway = HttpxWhatsAppGateway(
            base_url=url, api_version=VERSION, token_for=token_for, client=self.http
        )

    async def upload(self, data: bytes, mime: str) -> dict[str, Any]:
        answer = await self.http.post("/_sim/media", content=data, headers={"Content-Type": mime})
        answer.raise_for_status()
        uploaded: dict[str, Any] = answer.json()
        return uploaded

    async def message(
        self, media_id: str, mime: str, *, type: str = "image", **extra: Any
    ) -> Message:
        inbound = InboundMessage(
            wamid=wamid(),
            customer=CustomerIdentity(bsuid=ANA_BSUID, wa_id=ANA_PHONE, name="Ana"),
            sent_at=self.h.clock.now() - timedelta(seconds=1),
            type=type,
            content={type: {"id": media_id, "mime_type": mime, **extra}},
            media_id=media_id,
        )
        await ingest_webhook(self.h.svc, self.h.batch(inbound))
        return next(m for m in self.h.uow.db.state.messages.values() if m.wamid == inbound.wamid)

    async def fetch(self, message: Message, fetcher: Any = None, **options: Any) -> str:
        return await fetch_inbound_media(
            self.h.svc, fetcher or self.gateway, self.blobs, message.tenant_id, message.id,
            **options,
        )  # fmt: skip

    async def ref(self, message: Message) -> MediaRef:
        async with self.h.uow() as uow:
            ref = MediaRef.of((await uow.messages.get(message.tenant_id, message.id)).content)
        assert ref is not None
        return ref


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = FrozenClock()
    config = SimulatorConfig(access_token=TOKEN, app_secret="s", api_version=VERSION)
    app = create_simulator(config, clock=clock)
    async with serving(app) as url:
        made = Rig(url, app, clock, tmp_path / "files")
        await made.h.add_tenant()
        try:
            yield made
        finally:
            await made.http.aclose()


async def test_an_image_is_fetched_verified_and_stored(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = png(5 * MB - 1024)
    uploaded = await rig.upload(picture, "image/png")
    said = base64.b64encode(hashlib.sha256(picture).digest()).decode()  # as Meta's webhook
    message = await rig.message(uploaded["id"], "image/png", sha256=said)
    started = time.perf_counter()
    outcome = await rig.fetch(message)
    elapsed = time.perf_counter() - started
    assert outcome == f"stored {len(picture)} bytes (image/png)"
    ref = await rig.ref(message)
    assert ref.state is MediaState.AVAILABLE
    assert ref.sha256 == uploaded["sha256"]
    assert ref.key is not None
    stored = b"".join([c async for c in rig.blobs.open(ref.key)])
    assert stored == picture
    with capsys.disabled():
        print(f"\n[media] 5 MB image fetched, verified and stored in {elapsed * 1000:.0f} ms")
    assert await rig.fetch(message) == "already stored"


class ExpiresFirstUrl:
    """The first url Meta hands out has expired by the time it is used (the job ran late)."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.info_calls = 0

    async def get_media_url(self, tenant: Tenant, media_id: str) -> Mapping[str, Any]:
        self.info_calls += 1
        info = await self.rig.gateway.get_media_url(tenant, media_id)
        if self.info_calls == 1:
            self.rig.clock.advance(timedelta(seconds=301))
        return info

    def stream_media(self, tenant: Tenant, url: str, *, chunk_size: int = 65536) -> Any:
        return self.rig.gateway.stream_media(tenant, url, chunk_size=chunk_size)


async def test_an_expired_url_is_refreshed_once_by_media_id(rig: Rig) -> None:
    picture = png(200_000)
    message = await rig.message((await rig.upload(picture, "image/png"))["id"], "image/png")
    late = ExpiresFirstUrl(rig)
    assert (await rig.fetch(message, late)).startswith("stored")
    assert late.info_calls == 2


async def test_an_url_that_keeps_expiring_is_retried_later(rig: Rig) -> None:
    picture = png(10_000)
    message = await rig.message((await rig.upload(picture, "image/png"))["id"], "image/png")
    await rig.http.post("/_sim/settings", json={"media_url_ttl_s": 0})
    with pytest.raises(UpstreamUnavailable):
        await rig.fetch(message)
    assert not list((rig.blobs.root / "tmp").iterdir())


async def test_a_wrong_sha256_marks_the_media_unavailable(rig: Rig) -> None:
    picture = png(50_000)
    media_id = (await rig.upload(picture, "image/png"))["id"]
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    from_webhook = await rig.message(media_id, "image/png", sha256=wrong)
    assert (await rig.fetch(from_webhook)).startswith("unavailable (sha256_mismatch)")
    rig.sim.state.media[media_id].sha256 = hashlib.sha256(b"else").hexdigest()
    from_endpoint = await rig.message(media_id, "image/png")
    assert (await rig.fetch(from_endpoint)).startswith("unavailable (sha256_mismatch)")
    ref = await rig.ref(from_endpoint)
    assert ref.state is MediaState.UNAVAILABLE
    assert ref.key is None
    assert not await rig.blobs.exists(f"tenants/{from_endpoint.tenant_id}/media/{from_endpoint.id}")


@pytest.mark.parametrize(
    ("data", "mime", "type", "code"),
    [
        (png(5 * MB + 1), "image/png", "image", "too_large"),
        (b"GIF89a" + b"\x00" * 100, "image/gif", "image", "mime_not_allowed"),
        (b"MZ\x90\x00" + b"\x00" * 100, "application/x-msdownload", "document", "mime_not_allowed"),
        (b"<html>hi</html>" + b" " * 100, "image/jpeg", "image", "content_mismatch"),
    ],
    ids=["oversize", "gif", "exe", "html-as-jpeg"],
)
async def test_media_outside_the_policy_is_unavailable(
    rig: Rig, data: bytes, mime: str, type: str, code: str
) -> None:
    message = await rig.message((await rig.upload(data, mime))["id"], mime, type=type)
    outcome = await rig.fetch(message)
    assert outcome.startswith(f"unavailable ({code})"), outcome
    ref = await rig.ref(message)
    assert ref.reason
    assert ref.reason_code == code


async def test_media_meta_does_not_have_is_unavailable(rig: Rig) -> None:
    message = await rig.message("2000000000000999", "image/png")
    outcome = await rig.fetch(message)
    assert outcome.startswith("unavailable (gone)"), outcome


async def test_a_refused_token_is_retried_not_recorded(rig: Rig) -> None:
    message = await rig.message((await rig.upload(png(1000), "image/png"))["id"], "image/png")
    rig.token = "wrong"
    with pytest.raises(UpstreamUnavailable):
        await rig.fetch(message)
    async with rig.h.uow() as uow:
        assert "media" not in (await uow.messages.get(message.tenant_id, message.id)).content
    rig.token = TOKEN
    assert (await rig.fetch(message)).startswith("stored")
