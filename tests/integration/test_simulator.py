"""The Meta simulator over real HTTP: limits, windows, signed webhooks, templates, media.

Each test runs a simulator and a webhook receiver on free local ports (uvicorn in
this event loop). The receiver verifies ``X-Hub-Signature-256`` on the raw bytes and
keeps only what verifies, so a wrongly signed webhook is a missing webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
from msgspec.structs import replace

from adapters.memory.basics import FrozenClock
from adapters.meta import (
    DecodedWebhook,
    MessagesValue,
    TemplateStatusUpdate,
    decode_webhook,
    identity_of,
    sign,
    verify_signature,
)
from adapters.meta.gateway import HttpxWhatsAppGateway
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from whatsapp_core.domain.model import Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError
from whatsapp_core.policies.meta_errors import Remedy, remedy_for
from whatsapp_core.policies.template_content import TemplateCategory, TemplateComponents

pytestmark = pytest.mark.integration

TOKEN = "EAAG-integration-token"
SECRET = "integration-app-secret"
VERSION = "v23.0"
PNID = "106540352242922"
WABA = "102290129340398"
PHONE = "5511999990001"
BSUID = "US.13491208655302741918"
TENANT = Tenant(id=uuid.uuid4(), slug="acme", name="Acme", waba_id=WABA, phone_number_id=PNID)
TEXT = OutgoingMessage(type="text", text="Olá! Seu pedido saiu para entrega.")
TEMPLATE_SEND = OutgoingMessage(
    type="template", template_name="order_update", template_language="en_US", body_params=["Ann"]
)


class Receiver:
    """A raw ASGI webhook endpoint: verifies the signature, records the raw bodies."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.bodies: list[bytes] = []
        self.rejected = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        signature = dict(scope["headers"]).get(b"x-hub-signature-256", b"").decode()
        if verify_signature(self.secret, body, signature):
            self.bodies.append(body)
            status = 200
        else:
            self.rejected += 1
            status = 403
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def decoded(self) -> list[DecodedWebhook]:
        return [decode_webhook(body) for body in self.bodies]

    def statuses(self) -> list[tuple[str, str]]:
        return [(s.id, s.status) for d in self.decoded() for _, _, s in d.iter_statuses()]

    async def wait_for(self, done: Callable[[], bool], within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received {len(self.bodies)} webhooks")
            await asyncio.sleep(0.01)


class Sim:
    def __init__(
        self, url: str, control: httpx.AsyncClient, receiver: Receiver, clock: FrozenClock
    ) -> None:
        self.url = url
        self.control = control
        self.receiver = receiver
        self.clock = clock

    def gateway(self, token: str = TOKEN) -> HttpxWhatsAppGateway:
        async def token_for(_: Tenant) -> str:
            return token

        # The control client is reused (absolute urls ignore its base_url): a new
        # httpx client costs ~50 ms of TLS setup.
        return HttpxWhatsAppGateway(
            base_url=self.url, api_version=VERSION, token_for=token_for, client=self.control
        )

    async def inbound(self, **body: Any) -> dict[str, Any]:
        answer = await self.control.post(
            "/_sim/inbound", json={"phone_number_id": PNID, "wait": True, **body}
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def faults(self, **faults: Any) -> None:
        (await self.control.post("/_sim/faults", json=faults)).raise_for_status()


@pytest.fixture
async def gateway_sim() -> AsyncIterator[Callable[..., Awaitable[Sim]]]:
    """Start a simulator (with the given config overrides) wired to a fresh receiver."""
    servers: list[contextlib.AbstractAsyncContextManager[str]] = []
    clients: list[httpx.AsyncClient] = []

    async def serve(app: Any) -> str:
        server = serving(app)
        url = await server.__aenter__()
        servers.append(server)
        return url

    async def start(**overrides: Any) -> Sim:
        receiver = Receiver(SECRET)
        receiver_url = await serve(receiver)
        clock = FrozenClock()
        config = SimulatorConfig(
            access_token=TOKEN,
            app_secret=SECRET,
            callback_url=f"{receiver_url}/webhook",
            api_version=VERSION,
            waba_ids={PNID: WABA},
            status_delay_ms=5,
            template_decision_delay_s=0.05,
            **overrides,
        )
        url = await serve(create_simulator(config, clock=clock))
        clients.append(httpx.AsyncClient(base_url=url, timeout=5))
        return Sim(url, clients[-1], receiver, clock)

    try:
        yield start
    finally:
        for client in clients:
            await client.aclose()
        # Stopping a uvicorn server takes ~0.2 s of fixed sleeps: stop them together.
        await asyncio.gather(*(server.__aexit__(None, None, None) for server in servers))


@pytest.fixture
async def sim(gateway_sim: Callable[..., Awaitable[Sim]]) -> Sim:
    return await gateway_sim()


@contextlib.asynccontextmanager
async def gateway_of(sim: Sim, token: str = TOKEN) -> AsyncIterator[HttpxWhatsAppGateway]:
    gateway = sim.gateway(token)
    try:
        yield gateway
    finally:
        await gateway.aclose()


def _template(name: str) -> Template:
    now = FrozenClock().now()
    return Template(
        id=uuid.uuid4(),
        tenant_id=TENANT.id,
        name=name,
        language="en_US",
        category=TemplateCategory.MARKETING,
        components=TemplateComponents(body="Hi {{1}}, 20% off today."),
        created_at=now,
        updated_at=now,
    )


# ---------------------------------------------------------------- windows and limits


async def test_window_closes_24h_after_the_customers_last_message(sim: Sim) -> None:
    await sim.inbound(**{"from": PHONE, "from_user_id": BSUID, "text": "hi"})
    async with gateway_of(sim) as gateway:
        assert (await gateway.send(TENANT, Recipient(wa_id=PHONE), TEXT)).wamid
        sim.clock.advance(timedelta(hours=23, minutes=59))
        assert (await gateway.send(TENANT, Recipient(bsuid=BSUID), TEXT)).wamid
        sim.clock.advance(timedelta(minutes=2))
        for recipient in (Recipient(wa_id=PHONE), Recipient(bsuid=BSUID)):
            with pytest.raises(DeliveryError) as caught:
                await gateway.send(TENANT, recipient, TEXT)
            assert caught.value.meta_code == 131047
            assert caught.value.http_status == 400
        # A template may still be sent; a new customer message reopens the window.
        assert (await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)).wamid
        await sim.inbound(**{"from_user_id": BSUID, "text": "still there?"})
        assert (await gateway.send(TENANT, Recipient(wa_id=PHONE), TEXT)).wamid


async def test_control_clock_moves_the_window_too(sim: Sim) -> None:
    await sim.inbound(**{"from_user_id": BSUID, "text": "hi"})
    (await sim.control.post("/_sim/clock", json={"advance_s": 86_401})).raise_for_status()
    async with gateway_of(sim) as gateway:
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(bsuid=BSUID), TEXT)
    assert caught.value.meta_code == 131047


async def test_throughput_beyond_the_limit_is_refused_with_130429(
    gateway_sim: Callable[..., Awaitable[Sim]],
) -> None:
    sim = await gateway_sim(throughput_per_second=5, auto_statuses=False)
    async with gateway_of(sim) as gateway:
        results = await asyncio.gather(
            *(gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND) for _ in range(12)),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, DeliveryError)]
        assert 5 <= len(results) - len(refused) <= 6  # the burst, plus a token if slow
        assert refused
        assert all(e.meta_code == 130429 for e in refused)
        assert remedy_for(refused[0].meta_code, refused[0].http_status) is Remedy.RETRY
        log = (await sim.control.get("/_sim/log")).json()
        assert len(log) == len(results) - len(refused)
        await asyncio.sleep(0.25)  # a token refills every 0.2 s
        assert (await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)).wamid


async def test_pair_limit_when_enabled_refuses_only_that_customer(
    gateway_sim: Callable[..., Awaitable[Sim]],
) -> None:
    sim = await gateway_sim(pair_limit_enabled=True, pair_limit_interval_s=60, auto_statuses=False)
    async with gateway_of(sim) as gateway:
        assert await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
        assert caught.value.meta_code == 131056
        assert remedy_for(caught.value.meta_code, None) is Remedy.RETRY_RECIPIENT
        assert await gateway.send(TENANT, Recipient(bsuid=BSUID), TEMPLATE_SEND)


async def test_bad_token_is_190_and_never_echoed(sim: Sim) -> None:
    async with gateway_of(sim, token="EAAG-wrong-token") as gateway:
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    assert (caught.value.meta_code, caught.value.http_status) == (190, 401)
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.CREDENTIALS
    assert "EAAG" not in str(caught.value)
    assert (await sim.control.get("/_sim/log")).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"messaging_product": "whatsapp", "type": "text", "text": {"body": "no recipient"}},
        {"messaging_product": "whatsapp", "to": PHONE, "type": "text"},
        {"messaging_product": "whatsapp", "recipient": "not-a-bsuid", "type": "text"},
        {"messaging_product": "sms", "to": PHONE, "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": PHONE, "type": "image", "image": {}},
        {"messaging_product": "whatsapp", "to": PHONE, "type": "text", "text": {"body": 5}},
    ],
    ids=["no-recipient", "no-payload", "bad-bsuid", "product", "media-source", "wrong-type"],
)
async def test_bad_body_is_refused_with_code_100(sim: Sim, body: dict[str, Any]) -> None:
    await sim.inbound(**{"from": PHONE, "text": "hi"})
    answer = await sim.control.post(
        f"/{VERSION}/{PNID}/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100
    assert error["error_data"]["details"]
    assert error["fbtrace_id"]


async def test_to_wins_when_both_to_and_recipient_are_given(sim: Sim) -> None:
    answer = await sim.control.post(
        f"/{VERSION}/{PNID}/messages",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "messaging_product": "whatsapp",
            "to": PHONE,
            "recipient": BSUID,
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        },
    )
    assert answer.status_code == 200
    assert answer.json()["contacts"] == [{"input": PHONE, "wa_id": PHONE}]
    assert answer.json()["messages"][0]["message_status"] == "accepted"


# ---------------------------------------------------------------- webhooks out


async def test_statuses_echo_the_sends_callback_data(sim: Sim) -> None:
    """Our gateway puts the message id in ``biz_opaque_callback_data``; Meta returns it
    in every status of that send (how a lost wamid is found again)."""
    await sim.inbound(**{"from": PHONE, "from_user_id": BSUID, "text": "hi"})
    named = replace(TEXT, callback_data="0b5d6c3e-8f0a-4d55-9d1e-2f3a4b5c6d7e")
    async with gateway_of(sim) as gateway:
        await gateway.send(TENANT, Recipient(bsuid=BSUID), named)
        await gateway.send(TENANT, Recipient(bsuid=BSUID), TEXT)  # names nothing
    await sim.receiver.wait_for(lambda: len(sim.receiver.statuses()) == 6)
    echoed = Counter(
        status.biz_opaque_callback_data
        for webhook in sim.receiver.decoded()
        for _, _, status in webhook.iter_statuses()
    )
    assert echoed == {named.callback_data: 3, None: 3}


async def test_a_send_produces_signed_status_webhooks(sim: Sim) -> None:
    await sim.inbound(**{"from": PHONE, "from_user_id": BSUID, "text": "hi"})
    async with gateway_of(sim) as gateway:
        wamid = (await gateway.send(TENANT, Recipient(bsuid=BSUID), TEXT)).wamid
    await sim.receiver.wait_for(lambda: len(sim.receiver.statuses()) == 3)
    assert sim.receiver.statuses() == [(wamid, s) for s in ("sent", "delivered", "read")]
    assert sim.receiver.rejected == 0
    for webhook in sim.receiver.decoded():
        for waba_id, value, status in webhook.iter_statuses():
            assert waba_id == WABA
            assert value.metadata.phone_number_id == PNID
            assert status.recipient_user_id == BSUID
            assert status.recipient_id == PHONE  # the customer shared the phone
            assert status.pricing is not None
            assert status.pricing.pricing_model == "PMP"
            assert status.pricing.type == "free_customer_service"
    # The signature is over the raw bytes, and a different secret does not verify.
    raw = sim.receiver.bodies[-1]
    assert not verify_signature("another-secret", raw, sign(SECRET, raw))


async def test_status_faults_batch_and_duplicate(sim: Sim) -> None:
    await sim.faults(batch_statuses=True, duplicate_webhooks=True, shuffle_statuses=True)
    async with gateway_of(sim) as gateway:
        wamid = (await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)).wamid
    await sim.receiver.wait_for(lambda: len(sim.receiver.bodies) == 2)
    assert sim.receiver.bodies[0] == sim.receiver.bodies[1]
    (webhook, _) = sim.receiver.decoded()
    (change,) = webhook.changes
    assert isinstance(change.value, MessagesValue)
    assert sorted(s.status for s in change.value.statuses) == ["delivered", "read", "sent"]
    assert {s.id for s in change.value.statuses} == {wamid}
    assert all(s.pricing and s.pricing.type == "regular" for s in change.value.statuses)


async def test_an_async_failure_arrives_as_a_failed_status(sim: Sim) -> None:
    await sim.faults(fail_async_next=[{"code": 131026, "title": "Message undeliverable"}])
    async with gateway_of(sim) as gateway:
        wamid = (await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)).wamid
    await sim.receiver.wait_for(lambda: bool(sim.receiver.statuses()))
    ((_, _, status),) = list(sim.receiver.decoded()[0].iter_statuses())
    assert (status.id, status.status) == (wamid, "failed")
    assert status.errors[0].code == 131026
    assert status.recipient_user_id is None  # sent to a phone: Meta omits the BSUID here


async def test_inbound_from_a_username_user_without_phone(sim: Sim) -> None:
    answer = await sim.inbound(
        from_user_id=BSUID, name="Sheena Nelson", username="@realsheenanelson", text="Olá, €5?"
    )
    assert answer["callback_status"] == 200
    (raw,) = sim.receiver.bodies
    assert b"\\u00e1" in raw
    assert b"\\u20ac" in raw
    ((waba_id, value, message),) = list(decode_webhook(raw).iter_messages())
    assert waba_id == WABA
    assert value.metadata.phone_number_id == PNID
    assert message.id == answer["wamid"]
    assert message.text
    assert message.text.body == "Olá, €5?"
    assert message.from_ is None
    identity = identity_of(message, value.contacts)
    assert identity.bsuid == BSUID
    assert identity.wa_id is None
    assert identity.username == "@realsheenanelson"
    assert identity.name == "Sheena Nelson"


async def test_inbound_from_a_phone_user_gets_a_stable_bsuid(sim: Sim) -> None:
    first = await sim.inbound(**{"from": PHONE, "name": "Ana", "text": "oi"})
    second = await sim.inbound(
        **{"from": PHONE, "type": "reaction", "payload": {"message_id": "wamid.x", "emoji": "👍"}}
    )
    assert first["user_id"] == second["user_id"]
    assert first["wa_id"] == PHONE
    messages = [m for d in sim.receiver.decoded() for _, _, m in d.iter_messages()]
    assert [m.type for m in messages] == ["text", "reaction"]
    assert all(m.from_ == PHONE and m.from_user_id == first["user_id"] for m in messages)
    assert messages[1].reaction
    assert messages[1].reaction.emoji == "👍"


async def test_inbound_refuses_a_customer_without_ids(sim: Sim) -> None:
    answer = await sim.control.post("/_sim/inbound", json={"phone_number_id": PNID, "text": "x"})
    assert answer.status_code == 400
    assert sim.receiver.bodies == []


# ---------------------------------------------------------------- templates


async def test_template_submission_then_decision_webhooks(sim: Sim) -> None:
    async with gateway_of(sim) as gateway:
        approved_id = await gateway.submit_template(TENANT, _template("summer_sale"))
        rejected_id = await gateway.submit_template(TENANT, _template("reject_me"))
        with pytest.raises(DeliveryError) as caught:
            await gateway.submit_template(TENANT, _template("summer_sale"))
        assert caught.value.meta_code == 100  # same name and language
        with pytest.raises(DeliveryError) as caught:
            await gateway.submit_template(TENANT, _template("Bad Name"))
        assert caught.value.meta_code == 100
        await sim.receiver.wait_for(lambda: len(sim.receiver.bodies) == 2)
        updates = {
            c.value.template_id: c.value
            for d in sim.receiver.decoded()
            for c in d.changes
            if isinstance(c.value, TemplateStatusUpdate)
        }
        assert updates[approved_id].event == "APPROVED"
        assert updates[approved_id].message_template_name == "summer_sale"
        assert updates[rejected_id].event == "REJECTED"
        assert updates[rejected_id].reason == "INVALID_FORMAT"
        # The simulator now checks sends of templates it knows.
        sale = msgspec.structs.replace(TEMPLATE_SEND, template_name="summer_sale")
        assert (await gateway.send(TENANT, Recipient(wa_id=PHONE), sale)).wamid
        for message, code in (
            (msgspec.structs.replace(sale, body_params=[]), 132000),
            (msgspec.structs.replace(sale, template_name="reject_me"), 132001),
        ):
            with pytest.raises(DeliveryError) as caught:
                await gateway.send(TENANT, Recipient(wa_id=PHONE), message)
            assert caught.value.meta_code == code


# ---------------------------------------------------------------- media


async def test_media_info_and_download_need_the_token_and_expire(
    gateway_sim: Callable[..., Awaitable[Sim]],
) -> None:
    sim = await gateway_sim(media_url_ttl_s=300)
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    uploaded = await sim.control.post(
        "/_sim/media", content=picture, headers={"Content-Type": "image/png"}
    )
    media_id = uploaded.json()["id"]
    async with gateway_of(sim) as gateway:
        info = await gateway.get_media_url(TENANT, media_id)
        assert info["id"] == media_id
        assert info["mime_type"] == "image/png"
        assert info["file_size"] == len(picture)
        assert info["sha256"] == uploaded.json()["sha256"]
        assert await gateway.download_media(TENANT, info["url"]) == picture
        assert (await sim.control.get(info["url"])).status_code == 401  # no bearer
        sim.clock.advance(timedelta(seconds=301))
        with pytest.raises(DeliveryError) as caught:
            await gateway.download_media(TENANT, info["url"])
        assert caught.value.http_status == 404
        # A fresh url works again; an unknown media id is Meta's code 100.
        fresh = await gateway.get_media_url(TENANT, media_id)
        assert await gateway.download_media(TENANT, fresh["url"]) == picture
        with pytest.raises(DeliveryError) as caught:
            await gateway.get_media_url(TENANT, "999999")
        assert caught.value.meta_code == 100
    # An inbound image with that id carries its mime type and hash.
    await sim.inbound(**{"from": PHONE, "type": "image", "payload": {"id": media_id}})
    ((_, _, message),) = list(sim.receiver.decoded()[-1].iter_messages())
    assert message.image
    assert message.image.mime_type == "image/png"
    assert message.image.sha256 == info["sha256"]


async def test_mark_read_is_accepted(sim: Sim) -> None:
    inbound = await sim.inbound(**{"from": PHONE, "text": "hi"})
    async with gateway_of(sim) as gateway:
        await gateway.mark_read(TENANT, inbound["wamid"], typing=True)
    assert (await sim.control.get("/_sim/log")).json() == []


# ---------------------------------------------------------------- template delete


async def test_a_deleted_template_sends_a_deleted_webhook_and_stays_deleted(sim: Sim) -> None:
    async with gateway_of(sim) as gateway:
        meta_id = await gateway.submit_template(TENANT, _template("summer_sale"))
        await sim.receiver.wait_for(lambda: len(sim.receiver.bodies) == 1)  # APPROVED
        assert await gateway.delete_template(TENANT, name="summer_sale", meta_id=meta_id)
        await sim.receiver.wait_for(lambda: len(sim.receiver.bodies) == 2)
        (deleted,) = [
            c.value
            for d in sim.receiver.decoded()[1:]
            for c in d.changes
            if isinstance(c.value, TemplateStatusUpdate)
        ]
        assert (deleted.event, deleted.template_id) == ("DELETED", meta_id)
        assert await gateway.list_templates(TENANT) == []
        # Like Meta: not sendable any more, and the name cannot be made again at once.
        sale = msgspec.structs.replace(TEMPLATE_SEND, template_name="summer_sale")
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(wa_id=PHONE), sale)
        assert caught.value.meta_code == 132001
        with pytest.raises(DeliveryError) as caught:
            await gateway.submit_template(TENANT, _template("summer_sale"))
        assert caught.value.meta_code == 100
        assert "being deleted" in str(caught.value)
        assert not await gateway.delete_template(TENANT, name="summer_sale", meta_id=meta_id)


# ---------------------------------------------------------------- the phone number


async def test_the_number_is_described_with_the_fields_asked_for(sim: Sim) -> None:
    async with gateway_of(sim) as gateway:
        info = await gateway.phone_number_info(TENANT)
    assert info.phone_number_id == PNID
    assert (info.display_phone_number, info.verified_name) == ("15550001111", "Simulated Business")
    assert (info.quality_rating, info.name_status) == ("GREEN", "APPROVED")
    assert (info.code_verification_status, info.messaging_limit_tier) == ("VERIFIED", "TIER_2K")
    assert info.throughput_level == "STANDARD"
    raw = await sim.control.get(
        f"/{VERSION}/{PNID}",
        params={"fields": "verified_name,quality_rating"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert raw.json() == {
        "verified_name": "Simulated Business",
        "quality_rating": "GREEN",
        "id": PNID,
    }
    wrong = await sim.control.get(
        f"/{VERSION}/{PNID}", params={"fields": "colour"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, 100)


async def test_the_number_with_a_bad_token_is_metas_190(sim: Sim) -> None:
    async with gateway_of(sim, token="EAAG-revoked") as gateway:
        with pytest.raises(DeliveryError) as caught:
            await gateway.phone_number_info(TENANT)
    assert (caught.value.meta_code, caught.value.http_status) == (190, 401)
    assert "EAAG-revoked" not in str(caught.value)


async def test_an_unknown_number_is_metas_missing_object(sim: Sim) -> None:
    stranger = replace(TENANT, phone_number_id="106540352249999")
    async with gateway_of(sim) as gateway:
        with pytest.raises(DeliveryError) as caught:
            await gateway.phone_number_info(stranger)
    assert (caught.value.meta_code, caught.value.http_status) == (100, 400)
    assert "106540352249999" in str(caught.value)
    assert "does not exist" in str(caught.value)


async def test_a_media_lookup_for_a_number_is_still_a_media_lookup(sim: Sim) -> None:
    """With no numbers listed the simulator knows any number; a media id asked for with
    ``phone_number_id`` (as the gateway asks) is never mistaken for one."""
    (await sim.control.post("/_sim/settings", json={"waba_ids": {}})).raise_for_status()
    anyone = replace(TENANT, phone_number_id="106540352249999")
    async with gateway_of(sim) as gateway:
        assert (await gateway.phone_number_info(anyone)).phone_number_id == "106540352249999"
        with pytest.raises(DeliveryError) as caught:
            await gateway.get_media_url(anyone, "2100000000000999")
    assert caught.value.meta_code == 100
