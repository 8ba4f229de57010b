"""A tenant's own sealed access token is what reaches Meta (here: the simulator over
real HTTP, which accepts exactly one token)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from msgspec.structs import replace

from adapters.crypto import AesGcmSecretBox
from adapters.meta.credentials import TenantTokens
from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError
from whatsapp_core.services.tenants import ACCESS_TOKEN

pytestmark = pytest.mark.integration

OWN_TOKEN = "EAAG-tenant-own-token"
PLATFORM_TOKEN = "EAAG-platform-token"
BOX = AesGcmSecretBox({"k1": b"k" * 32}, "k1")
TENANT = Tenant(
    id=uuid.uuid4(), slug="acme", name="Acme", waba_id="102290129340398",
    phone_number_id="106540352242922",
)  # fmt: skip


async def test_the_tenants_own_token_is_sent_and_the_platform_one_is_the_fallback() -> None:
    config = SimulatorConfig(access_token=OWN_TOKEN, app_secret="s", api_version="v23.0")
    own = replace(
        TENANT,
        access_token_sealed=BOX.seal(OWN_TOKEN, context=TENANT.secret_context(ACCESS_TOKEN)),
    )
    message = OutgoingMessage(type="text", text="hi")
    to = Recipient(wa_id="5511999990001")
    async with serving(create_simulator(config)) as url, httpx.AsyncClient() as client:
        opened = await client.post(
            f"{url}/_sim/inbound",
            json={"phone_number_id": TENANT.phone_number_id, "from": to.wa_id, "text": "hi",
                  "wait": True},
        )  # fmt: skip
        opened.raise_for_status()
        gateway = HttpxWhatsAppGateway(
            base_url=url, api_version="v23.0", token_for=TenantTokens(lambda: BOX, PLATFORM_TOKEN)
        )
        try:
            receipt = await gateway.send(own, to, message)
            assert receipt.wamid.startswith("wamid.")
            with pytest.raises(DeliveryError) as refused:  # no own token: the platform's
                await gateway.send(TENANT, to, message)
            assert refused.value.meta_code == 190  # Meta: "access token invalid"
        finally:
            await gateway.aclose()
