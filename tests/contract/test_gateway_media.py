"""``WhatsAppGateway.upload_media``: the in-memory twin and the httpx adapter over the
simulator (real HTTP, multipart streamed) answer alike. Known differences are tested
per backend below the shared suite: the twin keeps the bytes in ``uploads`` and has no
``GET /{media_id}``; the simulator serves an upload back like Meta serves media."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError
from whatsapp_core.media import MB
from whatsapp_core.policies.meta_errors import Remedy, remedy_for

pytestmark = [pytest.mark.contract, pytest.mark.asyncio(loop_scope="module")]

TOKEN = "EAAG-media-contract-token"
VERSION = "v23.0"
PNID = "106540352242922"
PHONE = "5511999990001"
TENANT = Tenant(id=uuid.uuid4(), slug="acme", name="Acme", waba_id="1022901", phone_number_id=PNID)
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 1000


async def _token(_: Tenant) -> str:
    return TOKEN


async def chunks(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class MemoryBackend:
    def __init__(self) -> None:
        self.gateway = self.fake = MemoryWhatsAppGateway()

    async def customer_writes(self) -> None:
        """The twin has no service window."""

    async def fail_next(self, code: int, http_status: int) -> None:
        self.fake.fail_next(code, http_status=http_status)


class SimulatorBackend:
    def __init__(self, gateway: HttpxWhatsAppGateway, control: httpx.AsyncClient) -> None:
        self.gateway = gateway
        self.control = control

    async def customer_writes(self) -> None:
        body = {"phone_number_id": PNID, "from": PHONE, "text": "hi", "wait": True}
        (await self.control.post("/_sim/inbound", json=body)).raise_for_status()

    async def fail_next(self, code: int, http_status: int) -> None:
        fault = {"fail_next": [{"code": code, "http_status": http_status}]}
        (await self.control.post("/_sim/faults", json=fault)).raise_for_status()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulator_client() -> AsyncIterator[httpx.AsyncClient]:
    config = SimulatorConfig(access_token=TOKEN, app_secret="s", api_version=VERSION)
    async with (
        serving(create_simulator(config)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def simulator(simulator_client: httpx.AsyncClient) -> SimulatorBackend:
    (await simulator_client.post("/_sim/reset")).raise_for_status()
    gateway = HttpxWhatsAppGateway(
        base_url=str(simulator_client.base_url), api_version=VERSION, token_for=_token,
        client=simulator_client,
    )  # fmt: skip
    return SimulatorBackend(gateway, simulator_client)


@pytest.fixture(params=["memory", "simulator"])
def backend(request: pytest.FixtureRequest) -> MemoryBackend | SimulatorBackend:
    if request.param == "memory":
        return MemoryBackend()
    sim: SimulatorBackend = request.getfixturevalue("simulator")
    return sim


# ---------------------------------------------------------------- the shared suite


async def test_an_upload_returns_metas_media_id_each_time_a_new_one(
    backend: MemoryBackend | SimulatorBackend,
) -> None:
    ids = [
        await backend.gateway.upload_media(
            TENANT, chunks(PDF), mime_type="application/pdf", size=len(PDF), filename="a.pdf"
        )
        for _ in range(2)
    ]
    assert all(media_id.isdigit() for media_id in ids)
    assert ids[0] != ids[1]


async def test_an_uploaded_file_is_sent_by_its_id(
    backend: MemoryBackend | SimulatorBackend,
) -> None:
    await backend.customer_writes()
    media_id = await backend.gateway.upload_media(
        TENANT, chunks(PDF), mime_type="application/pdf", size=len(PDF), filename="invoice.pdf"
    )
    message = OutgoingMessage(
        type="document", media_id=media_id, filename="invoice.pdf", caption="Your invoice"
    )
    receipt = await backend.gateway.send(TENANT, Recipient(wa_id=PHONE), message)
    assert receipt.wamid.startswith("wamid.")


@pytest.mark.parametrize(("code", "http_status"), [(131053, 400), (131000, 500), (190, 401)])
async def test_a_refused_upload_raises_delivery_error_with_metas_code(
    backend: MemoryBackend | SimulatorBackend, code: int, http_status: int
) -> None:
    await backend.fail_next(code, http_status)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.upload_media(
            TENANT, chunks(PDF), mime_type="application/pdf", size=len(PDF)
        )
    assert (caught.value.meta_code, caught.value.http_status) == (code, http_status)
    assert await backend.gateway.upload_media(
        TENANT, chunks(PDF), mime_type="application/pdf", size=len(PDF)
    )


# ---------------------------------------------------------------- known differences


async def test_memory_twin_keeps_the_uploaded_bytes() -> None:
    twin = MemoryWhatsAppGateway()
    media_id = await twin.upload_media(
        TENANT, chunks(PDF), mime_type="application/pdf", size=len(PDF), filename="a.pdf"
    )
    upload = twin.uploads[media_id]
    assert (upload.data, upload.mime_type, upload.filename) == (PDF, "application/pdf", "a.pdf")
    assert upload.sha256 == hashlib.sha256(PDF).hexdigest()


async def test_simulator_serves_an_upload_back_under_its_media_id(
    simulator: SimulatorBackend,
) -> None:
    media_id = await simulator.gateway.upload_media(
        TENANT, chunks(PDF), mime_type="application/pdf", size=len(PDF), filename="Fatura março.pdf"
    )
    info = await simulator.gateway.get_media_url(TENANT, media_id)
    assert (info["id"], info["mime_type"], info["file_size"]) == (
        media_id, "application/pdf", len(PDF),
    )  # fmt: skip
    assert info["sha256"] == hashlib.sha256(PDF).hexdigest()
    served = b"".join([c async for c in simulator.gateway.stream_media(TENANT, info["url"])])
    assert served == PDF


async def test_simulator_refuses_uploads_like_meta(simulator: SimulatorBackend) -> None:
    async def upload(mime: str, data: bytes) -> DeliveryError:
        with pytest.raises(DeliveryError) as caught:
            await simulator.gateway.upload_media(
                TENANT, chunks(data), mime_type=mime, size=len(data)
            )
        return caught.value

    assert (await upload("image/gif", b"GIF89a")).meta_code == 100
    too_big = await upload("image/png", bytes(5 * MB + 1))
    assert too_big.meta_code == 131053
    assert remedy_for(too_big.meta_code, too_big.http_status) is Remedy.FAIL
    assert (await upload("application/pdf", b"")).meta_code == 131053

    url = f"/{VERSION}/{PNID}/media"
    form = {"messaging_product": "whatsapp", "type": "application/pdf"}
    files = {"file": ("a.pdf", PDF, "application/pdf")}
    unsigned = await simulator.control.post(url, data=form, files=files)
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, 190)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    no_file = await simulator.control.post(url, data=form, files={"x": b""}, headers=auth)
    assert no_file.json()["error"]["code"] == 100
    accepted = await simulator.control.post(url, data=form, files=files, headers=auth)
    assert accepted.status_code == 200
    assert set(accepted.json()) == {"id"}
