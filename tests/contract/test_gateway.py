"""The WhatsAppGateway contract: the in-memory twin and the httpx adapter over the
simulator (real HTTP, real uvicorn) answer the same calls the same way.

Known differences are tested per backend below the shared suite, never skipped:
the twin has no 24 h window, no limits and no wire body to inspect.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.meta.gateway import TEMPLATE_FIELDS, HttpxWhatsAppGateway, build_template_body
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from whatsapp_core.domain.model import Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.domain.remote_templates import components_from_meta
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError
from whatsapp_core.policies.interactive import (
    InteractiveContent,
    InteractiveKind,
    ListRow,
    ListSection,
    ReplyButton,
)
from whatsapp_core.policies.meta_errors import Remedy, remedy_for
from whatsapp_core.policies.template_content import (
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
)
from whatsapp_core.ports import WhatsAppGateway

# One event loop for the module, so that one simulator server serves every test.
pytestmark = [pytest.mark.contract, pytest.mark.asyncio(loop_scope="module")]

TOKEN = "EAAG-contract-token"
SECRET = "contract-app-secret"
VERSION = "v23.0"
PNID = "106540352242922"
WABA = "102290129340398"
PHONE = "5511999990001"
BSUID = "US.13491208655302741918"

TENANT = Tenant(id=uuid.uuid4(), slug="acme", name="Acme", waba_id=WABA, phone_number_id=PNID)
TEXT = OutgoingMessage(type="text", text="Hello from the inbox")
TEMPLATE_SEND = OutgoingMessage(
    type="template",
    template_name="order_update",
    template_language="en_US",
    body_params=["Ann", "#123"],
)


async def _token(_: Tenant) -> str:
    return TOKEN


def _template(name: str = "order_update") -> Template:
    now = datetime.now(UTC)
    return Template(
        id=uuid.uuid4(),
        tenant_id=TENANT.id,
        name=name,
        language="en_US",
        category=TemplateCategory.UTILITY,
        components=TemplateComponents(
            body="Hi {{1}}, order {{2}} has shipped.",
            header_text="Order {{1}}",
            footer="Acme Inc.",
            buttons=(TemplateButton(type="URL", text="Track", url="https://acme.test/{{1}}"),),
        ),
        created_at=now,
        updated_at=now,
    )


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.fake = MemoryWhatsAppGateway()
        self.gateway: WhatsAppGateway = self.fake

    async def customer_writes(self, recipient: Recipient) -> None:
        """The twin has no service window: nothing to open."""

    async def fail_next(self, code: int, http_status: int) -> None:
        self.fake.fail_next(code, http_status=http_status)


class SimulatorBackend:
    name = "simulator"

    def __init__(self, gateway: HttpxWhatsAppGateway, control: httpx.AsyncClient) -> None:
        self.gateway: WhatsAppGateway = gateway
        self.http = gateway
        self.control = control

    async def customer_writes(self, recipient: Recipient) -> None:
        body: dict[str, Any] = {"phone_number_id": PNID, "text": "hi", "wait": True}
        if recipient.wa_id:
            body["from"] = recipient.wa_id
        if recipient.bsuid:
            body["from_user_id"] = recipient.bsuid
        (await self.control.post("/_sim/inbound", json=body)).raise_for_status()

    async def fail_next(self, code: int, http_status: int) -> None:
        fault = {"fail_next": [{"code": code, "http_status": http_status}]}
        (await self.control.post("/_sim/faults", json=fault)).raise_for_status()

    async def log(self) -> list[dict[str, Any]]:
        answer = await self.control.get("/_sim/log")
        log: list[dict[str, Any]] = answer.json()
        return log


Backend = MemoryBackend | SimulatorBackend


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulator_client() -> AsyncIterator[httpx.AsyncClient]:
    """One simulator for the module (starting one costs ~0.2 s, a client ~0.05 s),
    reset before each test; the client's base_url is the simulator."""
    config = SimulatorConfig(access_token=TOKEN, app_secret=SECRET, api_version=VERSION)
    async with (
        serving(create_simulator(config)) as url,
        httpx.AsyncClient(base_url=url, timeout=5) as client,
    ):
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def simulator(simulator_client: httpx.AsyncClient) -> AsyncIterator[SimulatorBackend]:
    (await simulator_client.post("/_sim/reset")).raise_for_status()
    gateway = HttpxWhatsAppGateway(
        base_url=str(simulator_client.base_url),
        api_version=VERSION,
        token_for=_token,
        client=simulator_client,
    )
    yield SimulatorBackend(gateway, simulator_client)
    await gateway.aclose()


@pytest.fixture(params=["memory", "simulator"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return MemoryBackend()
    # A sync fixture: pytest-asyncio cannot resolve an async fixture lazily from an async one.
    sim: SimulatorBackend = request.getfixturevalue("simulator")
    return sim


# ---------------------------------------------------------------- the shared suite


@pytest.mark.parametrize(
    "recipient",
    [
        pytest.param(Recipient(wa_id=PHONE), id="phone"),
        pytest.param(Recipient(bsuid=BSUID), id="bsuid-only"),
        pytest.param(Recipient(wa_id=PHONE, bsuid=BSUID), id="both"),
    ],
)
async def test_send_text_returns_a_wamid(backend: Backend, recipient: Recipient) -> None:
    await backend.customer_writes(recipient)
    receipt = await backend.gateway.send(TENANT, recipient, TEXT)
    assert receipt.wamid.startswith("wamid.")
    assert not receipt.held_for_quality


@pytest.mark.parametrize(
    "recipient", [Recipient(wa_id=PHONE), Recipient(bsuid=BSUID)], ids=["phone", "bsuid-only"]
)
async def test_send_template_returns_a_wamid_without_an_open_window(
    backend: Backend, recipient: Recipient
) -> None:
    receipt = await backend.gateway.send(TENANT, recipient, TEMPLATE_SEND)
    assert receipt.wamid.startswith("wamid.")


@pytest.mark.parametrize(
    "message",
    [
        OutgoingMessage(type="image", media_link="https://acme.test/a.png", caption="Look"),
        OutgoingMessage(type="document", media_id="1234567890", filename="invoice.pdf"),
        OutgoingMessage(type="text", text="About that", reply_to_wamid="wamid.HBgLcustomer"),
        OutgoingMessage(type="reaction", text="👍", reply_to_wamid="wamid.HBgLcustomer"),
    ],
    ids=["image-link", "document-id", "reply", "reaction"],
)
async def test_send_other_types_returns_a_wamid(backend: Backend, message: OutgoingMessage) -> None:
    recipient = Recipient(wa_id=PHONE, bsuid=BSUID)
    await backend.customer_writes(recipient)
    receipt = await backend.gateway.send(TENANT, recipient, message)
    assert receipt.wamid.startswith("wamid.")


async def test_every_send_gets_its_own_wamid(backend: Backend) -> None:
    receipts = [
        await backend.gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND) for _ in range(3)
    ]
    assert len({r.wamid for r in receipts}) == 3


@pytest.mark.parametrize(
    ("code", "http_status"),
    [(131047, 400), (130429, 400), (190, 401), (131000, 500)],
)
async def test_a_refused_send_raises_delivery_error_with_metas_code_once(
    backend: Backend, code: int, http_status: int
) -> None:
    await backend.fail_next(code, http_status)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    assert caught.value.meta_code == code
    assert caught.value.http_status == http_status
    # The failure was for one call only.
    assert (await backend.gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)).wamid


async def test_submit_template_returns_metas_id(backend: Backend) -> None:
    first = await backend.gateway.submit_template(TENANT, _template("order_update"))
    second = await backend.gateway.submit_template(TENANT, _template("order_cancelled"))
    assert first
    assert second
    assert first != second
    assert first.isdigit()


async def test_a_refused_template_raises_delivery_error(backend: Backend) -> None:
    await backend.fail_next(100, 400)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.submit_template(TENANT, _template())
    assert caught.value.meta_code == 100
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.FAIL


async def test_submitted_templates_are_listed_with_their_definition(backend: Backend) -> None:
    submitted = {
        await backend.gateway.submit_template(TENANT, _template(name)): name
        for name in ("order_update", "order_cancelled")
    }
    listed = await backend.gateway.list_templates(TENANT)
    assert {t.meta_id: t.name for t in listed} == submitted
    for remote in listed:
        assert (remote.language, remote.category) == ("en_US", "UTILITY")
        # Under review; the simulator may have decided already (after 0.2 s).
        assert remote.status in ("PENDING", "APPROVED")
        assert remote.rejected_reason is None
        # What was submitted comes back as the same components: a sync can import it.
        assert components_from_meta(remote) == _template(remote.name).components


async def test_another_wabas_templates_are_not_listed(backend: Backend) -> None:
    await backend.gateway.submit_template(TENANT, _template())
    other = msgspec.structs.replace(TENANT, id=uuid.uuid4(), waba_id="102290129340399")
    assert await backend.gateway.list_templates(other) == []


async def test_a_refused_listing_raises_delivery_error(backend: Backend) -> None:
    await backend.fail_next(190, 401)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.list_templates(TENANT)
    assert (caught.value.meta_code, caught.value.http_status) == (190, 401)
    assert await backend.gateway.list_templates(TENANT) == []


async def test_phone_number_info_describes_the_tenants_number(backend: Backend) -> None:
    info = await backend.gateway.phone_number_info(TENANT)
    assert info.phone_number_id == PNID
    assert info.verified_name
    assert info.quality_rating in {"GREEN", "YELLOW", "RED", "UNKNOWN"}


async def test_a_refused_phone_number_lookup_raises_delivery_error(backend: Backend) -> None:
    await backend.fail_next(190, 401)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.phone_number_info(TENANT)
    assert (caught.value.meta_code, caught.value.http_status) == (190, 401)
    assert (await backend.gateway.phone_number_info(TENANT)).phone_number_id == PNID


# ---------------------------------------------------------------- known differences


async def test_memory_twin_has_no_service_window() -> None:
    # The twin accepts free-form text to someone who never wrote; the simulator
    # refuses it (next test). Services check the window themselves before sending.
    receipt = await MemoryWhatsAppGateway().send(TENANT, Recipient(wa_id=PHONE), TEXT)
    assert receipt.wamid


async def test_simulator_refuses_free_form_text_outside_the_window(
    simulator: SimulatorBackend,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await simulator.gateway.send(TENANT, Recipient(bsuid=BSUID), TEXT)
    assert caught.value.meta_code == 131047
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.FAIL


async def test_simulator_sees_the_graph_api_body(simulator: SimulatorBackend) -> None:
    both = Recipient(wa_id=PHONE, bsuid=BSUID)
    await simulator.customer_writes(both)
    await simulator.gateway.send(TENANT, both, TEXT)
    await simulator.gateway.send(
        TENANT,
        Recipient(bsuid=BSUID),
        msgspec.structs.replace(
            TEMPLATE_SEND, body_params={"first_name": "Ann"}, header_params=["X1"]
        ),
    )
    reply = OutgoingMessage(type="text", text="ok", reply_to_wamid="wamid.HBgLabc")
    await simulator.gateway.send(TENANT, both, reply)
    text, template, replied = [entry["body"] for entry in await simulator.log()]
    assert text["to"] == PHONE
    assert "recipient" not in text
    assert text["messaging_product"] == "whatsapp"
    assert text["recipient_type"] == "individual"
    assert text["text"] == {"body": TEXT.text, "preview_url": False}
    assert "context" not in text
    assert template["recipient"] == BSUID
    assert "to" not in template
    assert template["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "X1"}]},
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ann", "parameter_name": "first_name"}],
            },
        ],
    }
    assert replied["context"] == {"message_id": "wamid.HBgLabc"}


async def test_simulator_template_definition_carries_examples(
    simulator: SimulatorBackend,
) -> None:
    # The definition is checked by the simulator (name, category, one BODY) and
    # listed back exactly as submitted.
    meta_id = await simulator.gateway.submit_template(TENANT, _template())
    listed = await simulator.control.get(
        f"/{VERSION}/{WABA}/message_templates", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    (item,) = listed.json()["data"]
    assert item["id"] == meta_id
    header, body, footer, buttons = item["components"]
    assert header["example"] == {"header_text": ["sample_1"]}
    assert body["example"] == {"body_text": [["sample_1", "sample_2"]]}
    assert footer["text"] == "Acme Inc."
    assert buttons["buttons"][0]["example"] == ["sample_url"]


async def test_simulator_can_hold_a_marketing_send_for_quality(
    simulator: SimulatorBackend,
) -> None:
    (
        await simulator.control.post("/_sim/faults", json={"hold_for_quality": True})
    ).raise_for_status()
    receipt = await simulator.gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    assert receipt.held_for_quality


async def test_simulator_retry_after_reaches_the_error(simulator: SimulatorBackend) -> None:
    fault = {"fail_next": [{"code": 130429, "http_status": 429, "retry_after": 2.5}]}
    (await simulator.control.post("/_sim/faults", json=fault)).raise_for_status()
    with pytest.raises(DeliveryError) as caught:
        await simulator.gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    assert caught.value.retry_after == 2.5
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.RETRY


async def test_http_gateway_times_out_as_a_retryable_delivery_error(
    simulator: SimulatorBackend,
) -> None:
    (await simulator.control.post("/_sim/faults", json={"slow_ms": 400})).raise_for_status()
    base = str(simulator.control.base_url)
    gateway = HttpxWhatsAppGateway(
        base_url=base, api_version=VERSION, token_for=_token, timeout=0.1
    )
    try:
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    finally:
        await gateway.aclose()
    assert (caught.value.meta_code, caught.value.http_status) == (None, None)
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.RETRY
    # A timeout is ambiguous: the simulator, like Meta, still accepts the send after
    # the client gave up. (Waiting for it also keeps it out of the next test.)
    for _ in range(100):
        if await simulator.log():
            break
        await asyncio.sleep(0.02)
    assert len(await simulator.log()) == 1


def _answering(status: int, content: bytes) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "content", "meta_code"),
    [
        (502, b"<html>Bad gateway</html>", None),
        (503, b"", None),
        (200, b"not json", None),
        (400, b'{"error": {"message": "(#100) Invalid parameter", "code": 100}}', 100),
    ],
)
async def test_http_gateway_maps_odd_answers(
    status: int, content: bytes, meta_code: int | None
) -> None:
    async with _answering(status, content) as client:
        gateway = HttpxWhatsAppGateway(
            base_url="https://graph.test", api_version=VERSION, token_for=_token, client=client
        )
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    assert caught.value.meta_code == meta_code
    assert caught.value.http_status == status
    assert TOKEN not in str(caught.value)
    if meta_code is not None:
        assert str(caught.value) == "(100) Invalid parameter"


async def test_http_gateway_unreachable_is_retryable() -> None:
    gateway = HttpxWhatsAppGateway(
        base_url="http://127.0.0.1:9", api_version=VERSION, token_for=_token, timeout=1
    )
    try:
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(wa_id=PHONE), TEMPLATE_SEND)
    finally:
        await gateway.aclose()
    assert (caught.value.meta_code, caught.value.http_status) == (None, None)


async def test_http_gateway_refuses_a_recipient_without_ids_locally() -> None:
    async with _answering(200, b"{}") as client:
        gateway = HttpxWhatsAppGateway(
            base_url="https://graph.test", api_version=VERSION, token_for=_token, client=client
        )
        with pytest.raises(DeliveryError) as caught:
            await gateway.send(TENANT, Recipient(), TEXT)
    assert caught.value.meta_code == 100
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.FAIL


async def test_named_template_definition_uses_named_examples() -> None:
    named = msgspec.structs.replace(
        _template(),
        components=TemplateComponents(body="Hi {{first_name}}, order {{order_id}} shipped."),
    )
    body = build_template_body(named)
    assert body["parameter_format"] == "NAMED"
    assert body["components"] == [
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, order {{order_id}} shipped.",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "sample_first_name"},
                    {"param_name": "order_id", "example": "sample_order_id"},
                ]
            },
        }
    ]


# ---------------------------------------------------------------- the template list's pages
# The twin answers with one list (no pages to follow): paging is the HTTP adapter's job,
# checked against the simulator and against odd answers a stand-in transport gives.


async def test_simulator_pages_the_template_list_like_meta(simulator: SimulatorBackend) -> None:
    names = [f"template_{i}" for i in range(5)]
    for name in names:
        await simulator.gateway.submit_template(TENANT, _template(name))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"/{VERSION}/{WABA}/message_templates"

    first = (await simulator.control.get(url, params={"limit": 2}, headers=auth)).json()
    assert [t["name"] for t in first["data"]] == names[:2]
    second = (await simulator.control.get(first["paging"]["next"], headers=auth)).json()
    assert [t["name"] for t in second["data"]] == names[2:4]
    after = second["paging"]["cursors"]["after"]
    last = (
        await simulator.control.get(url, params={"limit": 2, "after": after}, headers=auth)
    ).json()
    assert [t["name"] for t in last["data"]] == names[4:]
    assert "next" not in last["paging"]  # Meta's sign of the last page

    chosen = await simulator.control.get(
        url, params={"fields": "name,status,rejected_reason"}, headers=auth
    )
    assert set(chosen.json()["data"][0]) == {"id", "name", "status", "rejected_reason"}
    assert chosen.json()["data"][0]["rejected_reason"] == "NONE"
    for params in ({"after": "bm90LWEtY3Vyc29y"}, {"fields": "name,colour"}, {"limit": 0}):
        refused = await simulator.control.get(url, params=params, headers=auth)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, 100)


async def test_http_gateway_lists_every_page(simulator: SimulatorBackend) -> None:
    names = [f"template_{i}" for i in range(5)]
    for name in names:
        await simulator.gateway.submit_template(TENANT, _template(name))
    requests: list[httpx.URL] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request.url)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        gateway = HttpxWhatsAppGateway(
            base_url=str(simulator.control.base_url), api_version=VERSION, token_for=_token,
            client=client, template_page_size=2,
        )  # fmt: skip
        listed = await gateway.list_templates(TENANT)
    assert [t.name for t in listed] == names
    assert len(requests) == 3
    assert [u.params.get("limit") for u in requests] == ["2", "2", "2"]
    assert ["after" in u.params for u in requests] == [False, True, True]
    assert {u.params.get("fields") for u in requests} == {TEMPLATE_FIELDS}


def _pages(pages: dict[str | None, tuple[int, dict[str, Any]]], seen: list[httpx.Request]) -> Any:
    """A Graph API stand-in answering by the ``after`` cursor of each request."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = pages[request.url.params.get("after")]
        return httpx.Response(status, json=body)

    return handler


def _listed(name: str, **extra: Any) -> dict[str, Any]:
    body = [{"type": "BODY", "text": "x"}]
    return {"id": 1234, "name": name, "language": "en", "status": "APPROVED",
            "category": "UTILITY", "components": body, **extra}  # fmt: skip


async def test_http_gateway_follows_the_cursor_never_the_next_url() -> None:
    seen: list[httpx.Request] = []
    pages = {
        # `next` without cursors: the cursor is read from it, the host is not used.
        None: (200, {"data": [_listed("first", rejected_reason="NONE")],
                     "paging": {"next": "https://elsewhere.test/v23.0/1/message_templates?after=C1"}}),
        "C1": (200, {"data": [_listed("second", status="rejected", rejected_reason="SCAM",
                                      quality_score={"score": "RED"})],
                     "paging": {"cursors": {"before": "C1", "after": "C2"}}}),
    }  # fmt: skip
    transport = httpx.MockTransport(_pages(pages, seen))
    async with httpx.AsyncClient(transport=transport) as client:
        gateway = HttpxWhatsAppGateway(
            base_url="https://graph.test", api_version=VERSION, token_for=_token, client=client
        )
        first, second = await gateway.list_templates(TENANT)
    assert {r.url.host for r in seen} == {"graph.test"}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)
    assert (first.meta_id, first.rejected_reason, first.quality) == ("1234", None, None)
    assert (second.status, second.rejected_reason, second.quality) == ("REJECTED", "SCAM", "RED")


@pytest.mark.parametrize(
    ("second_page", "meta_code"),
    [
        ((200, {"data": [], "paging": {"cursors": {"after": "C1"}, "next": "https://g/x"}}), None),
        ((400, {"error": {"message": "(#100) Invalid cursor", "code": 100}}), 100),
        ((200, {"data": "not a list"}), None),
    ],
    ids=["cursor-repeats", "refused", "odd-body"],
)
async def test_http_gateway_stops_on_a_bad_second_page(
    second_page: tuple[int, dict[str, Any]], meta_code: int | None
) -> None:
    seen: list[httpx.Request] = []
    first = (200, {"data": [_listed("a")], "paging": {"cursors": {"after": "C1"}, "next": "n"}})
    transport = httpx.MockTransport(_pages({None: first, "C1": second_page}, seen))
    async with httpx.AsyncClient(transport=transport) as client:
        gateway = HttpxWhatsAppGateway(
            base_url="https://graph.test", api_version=VERSION, token_for=_token, client=client
        )
        with pytest.raises(DeliveryError) as caught:
            await gateway.list_templates(TENANT)
    assert caught.value.meta_code == meta_code
    assert len(seen) == 2


# ---------------------------------------------------------------- interactive messages

BUTTONS_SEND = OutgoingMessage(
    type="interactive",
    interactive=InteractiveContent(
        kind=InteractiveKind.BUTTON, body="Keep your booking for Friday?", footer="Acme",
        buttons=(ReplyButton("keep", "Keep it"), ReplyButton("cancel", "Cancel")),
    ),
)  # fmt: skip
LIST_SEND = OutgoingMessage(
    type="interactive",
    interactive=InteractiveContent(
        kind=InteractiveKind.LIST, body="Which shipping option?", header="Shipping",
        button="Options",
        sections=(
            ListSection(title="Fast", rows=(ListRow("express", "Express", "Next day"),)),
            ListSection(title="Cheap", rows=(ListRow("ground", "Ground"),)),
        ),
    ),
)  # fmt: skip


@pytest.mark.parametrize("message", [BUTTONS_SEND, LIST_SEND], ids=["buttons", "list"])
async def test_send_interactive_returns_a_wamid(backend: Backend, message: OutgoingMessage) -> None:
    recipient = Recipient(wa_id=PHONE, bsuid=BSUID)
    await backend.customer_writes(recipient)
    receipt = await backend.gateway.send(TENANT, recipient, message)
    assert receipt.wamid.startswith("wamid.")


@pytest.mark.parametrize(
    "message",
    [
        OutgoingMessage(type="interactive"),
        msgspec.structs.replace(
            BUTTONS_SEND,
            interactive=msgspec.structs.replace(
                BUTTONS_SEND.interactive, buttons=(ReplyButton("a", "A title over twenty chars"),)
            ),
        ),
    ],
    ids=["no-content", "title-too-long"],
)
async def test_an_interactive_message_over_metas_limits_is_refused_with_code_100(
    backend: Backend, message: OutgoingMessage
) -> None:
    recipient = Recipient(wa_id=PHONE)
    await backend.customer_writes(recipient)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.send(TENANT, recipient, message)
    assert caught.value.meta_code == 100
    assert remedy_for(caught.value.meta_code, caught.value.http_status) is Remedy.FAIL


async def test_simulator_logs_the_interactive_body(simulator: SimulatorBackend) -> None:
    recipient = Recipient(wa_id=PHONE)
    await simulator.customer_writes(recipient)
    await simulator.gateway.send(TENANT, recipient, BUTTONS_SEND)
    await simulator.gateway.send(
        TENANT, recipient, msgspec.structs.replace(LIST_SEND, reply_to_wamid="wamid.HBgLq")
    )
    buttons, listed = [entry["body"] for entry in await simulator.log()]
    assert buttons["type"] == "interactive"
    assert buttons["interactive"]["type"] == "button"
    assert buttons["interactive"]["action"]["buttons"][1] == {
        "type": "reply", "reply": {"id": "cancel", "title": "Cancel"},
    }  # fmt: skip
    assert listed["interactive"]["action"]["sections"][0]["rows"] == [
        {"id": "express", "title": "Express", "description": "Next day"}
    ]
    assert listed["interactive"]["header"] == {"type": "text", "text": "Shipping"}
    assert listed["context"] == {"message_id": "wamid.HBgLq"}


async def test_simulator_refuses_interactive_outside_the_window(
    simulator: SimulatorBackend,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await simulator.gateway.send(TENANT, Recipient(wa_id=PHONE), BUTTONS_SEND)
    assert caught.value.meta_code == 131047


@pytest.mark.parametrize(
    ("interactive", "words"),
    [
        ({"type": "button", "body": {"text": "Pick"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)]}},
         "1 to 3"),
        ({"type": "button", "body": {"text": "Pick"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]}}, "at most 20"),
        ({"type": "list", "body": {"text": "Pick"}, "action": {"button": "Open", "sections": [
            {"title": "S", "rows": [{"id": f"r{i}", "title": "t"} for i in range(11)]}]}},
         "Total row count"),
        ({"type": "list", "body": {"text": "Pick"}, "action": {"button": "Open", "sections": [
            {"rows": [{"id": "a", "title": "t", "description": "d" * 73}]}]}}, "at most 72"),
    ],
    ids=["four-buttons", "long-title", "eleven-rows", "long-description"],
)  # fmt: skip
async def test_simulator_refuses_a_bad_interactive_body_like_meta(
    simulator: SimulatorBackend, interactive: dict[str, Any], words: str
) -> None:
    await simulator.customer_writes(Recipient(wa_id=PHONE))
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": PHONE,
            "type": "interactive", "interactive": interactive}  # fmt: skip
    answer = await simulator.control.post(
        f"/{VERSION}/{PNID}/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100
    assert words in error["error_data"]["details"]
    assert await simulator.log() == []


# ---------------------------------------------------------------- template delete


async def test_delete_template_removes_only_that_language(backend: Backend) -> None:
    english = await backend.gateway.submit_template(TENANT, _template("order_update"))
    spanish_template = msgspec.structs.replace(_template("order_update"), language="es")
    spanish = await backend.gateway.submit_template(TENANT, spanish_template)
    assert (
        await backend.gateway.delete_template(TENANT, name="order_update", meta_id=english) is True
    )
    assert [t.meta_id for t in await backend.gateway.list_templates(TENANT)] == [spanish]
    # Already gone: False, not an error (a retried delete, or deleted in WhatsApp Manager).
    assert (
        await backend.gateway.delete_template(TENANT, name="order_update", meta_id=english) is False
    )


async def test_delete_template_by_name_removes_every_language(backend: Backend) -> None:
    await backend.gateway.submit_template(TENANT, _template("order_update"))
    await backend.gateway.submit_template(
        TENANT, msgspec.structs.replace(_template("order_update"), language="es")
    )
    kept = await backend.gateway.submit_template(TENANT, _template("order_cancelled"))
    assert await backend.gateway.delete_template(TENANT, name="order_update") is True
    assert [t.meta_id for t in await backend.gateway.list_templates(TENANT)] == [kept]
    assert await backend.gateway.delete_template(TENANT, name="never_made") is False


async def test_a_refused_delete_raises_delivery_error(backend: Backend) -> None:
    meta_id = await backend.gateway.submit_template(TENANT, _template())
    await backend.fail_next(190, 401)
    with pytest.raises(DeliveryError) as caught:
        await backend.gateway.delete_template(TENANT, name="order_update", meta_id=meta_id)
    assert (caught.value.meta_code, caught.value.http_status) == (190, 401)
    assert [t.meta_id for t in await backend.gateway.list_templates(TENANT)] == [meta_id]


async def test_simulator_delete_is_metas_wire(simulator: SimulatorBackend) -> None:
    meta_id = await simulator.gateway.submit_template(TENANT, _template())
    requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        gateway = HttpxWhatsAppGateway(
            base_url=str(simulator.control.base_url), api_version=VERSION, token_for=_token,
            client=client,
        )  # fmt: skip
        assert await gateway.delete_template(TENANT, name="order_update", meta_id=meta_id)
        assert not await gateway.delete_template(TENANT, name="order_update", meta_id=meta_id)
    first = requests[0]
    assert (first.method, first.url.path) == ("DELETE", f"/{VERSION}/{WABA}/message_templates")
    assert dict(first.url.params) == {"name": "order_update", "hsm_id": meta_id}
    missing = await simulator.control.delete(
        f"/{VERSION}/{WABA}/message_templates", params={"name": "order_update"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert missing.status_code == 400
    assert (missing.json()["error"]["code"], missing.json()["error"]["error_subcode"]) == (
        100, 2593002,
    )  # fmt: skip
    no_name = await simulator.control.delete(
        f"/{VERSION}/{WABA}/message_templates", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert (no_name.status_code, no_name.json()["error"]["code"]) == (400, 100)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"success": True}, True),
        (400, {"error": {"message": "Invalid parameter", "code": 100, "error_subcode": 2593002,
                         "error_user_title": "Message template not found"}}, False),
        (400, {"error": {"message": "Invalid parameter", "code": 100,
                         "error_user_title": "Message template not found"}}, False),
        (400, {"error": {"message": "(#100) Invalid parameter", "code": 100}}, 100),
        (200, {"success": False}, None),
        (500, {"error": {"message": "Service unavailable", "code": 2}}, 2),
    ],
    ids=["deleted", "not-found-subcode", "not-found-title", "other-100", "unconfirmed", "5xx"],
)  # fmt: skip
async def test_http_gateway_maps_delete_answers(
    status: int, body: dict[str, Any], outcome: bool | int | None
) -> None:
    async with _answering(status, msgspec.json.encode(body)) as client:
        gateway = HttpxWhatsAppGateway(
            base_url="https://graph.test", api_version=VERSION, token_for=_token, client=client
        )
        if isinstance(outcome, bool):
            assert await gateway.delete_template(TENANT, name="x", meta_id="1") is outcome
            return
        with pytest.raises(DeliveryError) as caught:
            await gateway.delete_template(TENANT, name="x", meta_id="1")
    assert caught.value.meta_code == outcome
