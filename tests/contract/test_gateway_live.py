"""The httpx gateway against the real Graph API: an optional run, by hand, never in CI.

Set all of these (a Meta test app's number and a recipient on its allowed list):

    WA_LIVE_META=1
    WA_LIVE_META_TOKEN=<a system user or temporary access token>
    WA_LIVE_META_PHONE_NUMBER_ID=<the test number's id>
    WA_LIVE_META_WABA_ID=<its WhatsApp Business Account id>
    WA_LIVE_META_TO=<the recipient's phone number, digits only>
    WA_LIVE_META_API_VERSION=v24.0   (optional)
    WA_LIVE_META_API_BASE=...        (optional; e.g. `wa simulator`'s URL for a dry run)

then ``.venv/bin/pytest tests/contract/test_gateway_live.py -s``. Without them every
test here is skipped with that reason (CI sets none: no real Meta call from tests).

It sends one ``hello_world`` template (every new WABA has it) to the recipient, uploads
a 68-byte PNG and reads it back, lists templates and reads the number's details; and
checks that a refused send is a ``DeliveryError`` carrying Meta's code. The same calls
run against the simulator in ``test_gateway.py``. A dry run of this file against
``wa simulator`` (WA_LIVE_META_API_BASE) passes; no run against Meta was possible
where it was written (no internet).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.meta.gateway import HttpxWhatsAppGateway
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError

pytestmark = pytest.mark.contract

_NEEDED = (
    "WA_LIVE_META_TOKEN",
    "WA_LIVE_META_PHONE_NUMBER_ID",
    "WA_LIVE_META_WABA_ID",
    "WA_LIVE_META_TO",
)
_MISSING = [name for name in _NEEDED if not os.environ.get(name)]
if os.environ.get("WA_LIVE_META") != "1" or _MISSING:
    pytest.skip(
        "live Graph API run not asked for (WA_LIVE_META=1 and "
        + ", ".join(_MISSING or _NEEDED)
        + " unset)",
        allow_module_level=True,
    )

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def tenant() -> Tenant:
    return Tenant(
        id=uuid.uuid4(),
        slug="live",
        name="Live check",
        waba_id=os.environ["WA_LIVE_META_WABA_ID"],
        phone_number_id=os.environ["WA_LIVE_META_PHONE_NUMBER_ID"],
    )


@pytest.fixture
async def gateway() -> AsyncIterator[HttpxWhatsAppGateway]:
    async def token(_: Tenant) -> str:
        return os.environ["WA_LIVE_META_TOKEN"]

    live = HttpxWhatsAppGateway(
        base_url=os.environ.get("WA_LIVE_META_API_BASE", "https://graph.facebook.com"),
        api_version=os.environ.get("WA_LIVE_META_API_VERSION", "v24.0"),
        token_for=token,
        timeout=20,
    )
    yield live
    await live.aclose()


async def test_the_number_is_described(gateway: HttpxWhatsAppGateway, tenant: Tenant) -> None:
    info = await gateway.phone_number_info(tenant)
    assert info.phone_number_id == tenant.phone_number_id
    assert info.display_phone_number
    print(f"\nlive number: {info}")


async def test_templates_are_listed(gateway: HttpxWhatsAppGateway, tenant: Tenant) -> None:
    templates = await gateway.list_templates(tenant)  # every page
    assert all(t.meta_id and t.name and t.language and t.status for t in templates)
    print(f"\nlive templates: {sorted((t.name, t.language, t.status) for t in templates)}")


async def test_a_template_send_returns_a_wamid(
    gateway: HttpxWhatsAppGateway, tenant: Tenant
) -> None:
    hello = OutgoingMessage(type="template", template_name="hello_world", template_language="en_US")
    receipt = await gateway.send(tenant, Recipient(wa_id=os.environ["WA_LIVE_META_TO"]), hello)
    assert receipt.wamid.startswith("wamid.")
    print(f"\nlive send: {receipt}")


async def test_uploaded_media_reads_back_the_same(
    gateway: HttpxWhatsAppGateway, tenant: Tenant
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield PNG

    media_id = await gateway.upload_media(
        tenant, chunks(), mime_type="image/png", size=len(PNG), filename="dot.png"
    )
    described = await gateway.get_media_url(tenant, media_id)
    assert described["mime_type"] == "image/png"
    assert int(described["file_size"]) == len(PNG)
    assert await gateway.download_media(tenant, described["url"]) == PNG


async def test_a_refused_send_carries_metas_code(
    gateway: HttpxWhatsAppGateway, tenant: Tenant
) -> None:
    text = OutgoingMessage(type="text", text="never delivered")
    with pytest.raises(DeliveryError) as caught:
        await gateway.send(tenant, Recipient(wa_id="0"), text)  # not a phone number
    assert caught.value.meta_code is not None
    assert caught.value.http_status == 400
    print(f"\nlive refusal: {caught.value}")
