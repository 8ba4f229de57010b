"""The web inbox in a real browser (Debian's chromium driven by Playwright) against
`wa serve` on the embedded default: the simulated Meta plays the customers.

Screenshots of every page land in test-artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_serve import Server

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PNID = "106540352242922"
ADMIN = {"email": "ann@acme.test", "password": "correct horse battery"}
VIEWER = {"email": "vic@acme.test", "password": "viewer password 123"}
TIMEOUT_MS = 10_000
PAGE_ERRORS: dict[int, list[str]] = {}  # uncaught script errors and CSP refusals, per page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    srv = Server({**clean, "WA_DATA_DIR": str(tmp_path_factory.mktemp("inbox") / "data")})
    srv.wait_healthy()
    http = httpx.Client(base_url=srv.url, timeout=10)
    registered = http.post(
        "/api/auth/register",
        json={"tenant_slug": "acme", "tenant_name": "Acme Store", "name": "Ann Admin",
              "waba_id": "100000000000001", "phone_number_id": PNID,
              "display_phone_number": "+1 555 000 1111", **ADMIN},
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    token = registered.json()["access_token"]
    viewer = http.post(
        "/api/users",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "Vic Viewer", "role": "viewer", **VIEWER},
    )
    assert viewer.status_code == 201, viewer.text
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("needs Debian's chromium: apt-get install -y chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_page(browser: Any, server: Server, who: dict[str, str] | None = ADMIN) -> Page:
    """A fresh browser profile, signed in as `who` through the API (None: signed out)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors = PAGE_ERRORS.setdefault(id(page), [])
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    if who is not None:
        signed_in = context.request.post("/api/auth/login", data=who)
        assert signed_in.ok, signed_in.text()
    return page


def finish(page: Page, shot: str | None = None) -> None:
    if shot:
        page.screenshot(path=str(SHOTS / f"{shot}.png"))
    errors = PAGE_ERRORS.pop(id(page), [])
    page.context.close()
    assert not errors, errors  # no script error and nothing the CSP had to block


def sim(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/meta-sim/_sim/{path}", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def customer_writes(server: Server, phone: str, name: str, text: str = "", **fields: Any) -> str:
    """The simulated customer sends one message (text, or `type` + `payload`); its wamid."""
    body = {"phone_number_id": PNID, "from": phone, "name": name, "wait": True, **fields}
    if text:
        body["text"] = text
    said = sim(server, "inbound", body)
    assert said["callback_status"] == 200, said
    return str(said["wamid"])


@contextmanager
def simulated_time(server: Server, offset_s: float) -> Iterator[Callable[[float], None]]:
    """Meta's clock moved by `offset_s` (its messages carry that timestamp); yields a way to
    move it on, and puts it back afterwards."""
    sim(server, "clock", {"advance_s": offset_s})

    def advance(seconds: float) -> None:
        sim(server, "clock", {"advance_s": seconds})

    try:
        yield advance
    finally:
        now = sim(server, "clock", {"advance_s": 0})
        sim(server, "clock", {"advance_s": -now["offset_s"]})


def test_sign_in_bounces_back_to_the_page_asked_for(browser: Any, server: Server) -> None:
    page = new_page(browser, server, who=None)
    page.goto("/contacts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcontacts$"))
    page.fill("#email", ADMIN["email"])
    page.fill("#password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("That email and password don't match.")
    page.screenshot(path=str(SHOTS / "login.png"))
    page.fill("#password", ADMIN["password"])
    page.press("#password", "Enter")
    expect(page).to_have_url(re.compile(r"/contacts$"))
    expect(page.locator("h1")).to_have_text("Contacts")
    finish(page)


def test_live_inbound_reply_and_ticks_to_read(browser: Any, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/inbox")
    expect(page.locator("#live")).to_have_text("Live")
    page.evaluate("window.__sameDocument = true")

    customer_writes(server, "5511999999999", "Ana Souza", "Hi! Where is my order #4411?")
    row = page.locator(".conv", has_text="Ana Souza")
    expect(row).to_be_visible()  # pushed over the WebSocket: no reload
    expect(row.locator("[data-unread]")).to_have_text("1")
    expect(row.locator("[data-window=open]")).to_have_text(re.compile(r"^2[34]h \d\dm$"))
    assert page.evaluate("window.__sameDocument") is True

    row.click()
    expect(page.locator("#thread-name")).to_have_text("Ana Souza")
    expect(page.locator(".msg.in .text")).to_have_text("Hi! Where is my order #4411?")
    expect(row.locator("[data-unread]")).to_have_count(0)  # opening it marks it read

    composer = page.locator("#composer-input")
    composer.type("It ships today.")
    composer.press("Shift+Enter")
    composer.type("Tracking: BR123")
    assert composer.input_value() == "It ships today.\nTracking: BR123"
    composer.press("Enter")
    expect(composer).to_have_value("")
    sent = page.locator(".msg.out", has_text="Tracking: BR123")
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "read")

    customer_writes(server, "5511999999999", "Ana Souza", "Perfect, thank you!")
    expect(page.locator(".msg.in .text").last).to_have_text("Perfect, thank you!")

    page.click("#assign-me")
    expect(page.locator("#assignee")).to_have_text("Assigned to you")
    page.click("[data-side=notes]")
    page.fill("#note-input", "Customer is VIP; ship express.")
    page.click("#note-add")
    expect(page.locator("#notes-list .note")).to_have_text(re.compile("ship express"))
    page.click("[data-side=contact]")
    expect(page.locator("#contact-facts")).to_contain_text("+5511999999999")
    expect(page.locator("#contact-facts")).to_contain_text("Opted in")
    finish(page, "inbox")


def test_template_approved_then_sent_outside_the_window(browser: Any, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/templates")
    expect(page.locator("#templates-empty")).to_contain_text("No templates yet")
    page.click("#new-template")
    page.fill("#t-name", "order_update")
    page.fill("#t-body", "Hi {{1}}, your order {{3}} is on its way.")
    expect(page.locator("#t-problems")).to_contain_text("1 to 2 without gaps")
    expect(page.locator("#t-save-submit")).to_be_disabled()
    page.fill("#t-body", "Hi {{1}}, your order {{2}} is on its way.")
    page.fill("#t-footer", "Acme Store")
    expect(page.locator("#t-problems li")).to_have_count(0)
    page.locator("#samples input").first.fill("Oliver")
    expect(page.locator("#preview")).to_contain_text("Hi Oliver, your order {{2}} is on its way.")
    page.screenshot(path=str(SHOTS / "template-editor.png"))
    page.click("#t-save-submit")
    template_row = page.locator("tr[data-template=order_update]")
    # The simulator approves it and posts the status webhook; the page hears it live.
    expect(template_row).to_have_attribute("data-status", "APPROVED")
    expect(template_row.locator(".status")).to_have_text("approved")
    finish(page)

    with simulated_time(server, -27 * 3600):  # 27 h ago: the 24 h window is closed
        customer_writes(server, "447700900123", "Oliver Smith", "Is the jacket back?")
    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator(".conv", has_text="Oliver Smith").click()
    expect(page.locator("#window-closed")).to_contain_text("only allows approved templates")
    expect(page.locator("#composer-input")).to_have_count(0)
    page.select_option("#template-select", label="order_update · en_US")
    expect(page.locator("#send-template")).to_be_disabled()
    page.get_by_label("body {{1}}").fill("Oliver")
    page.get_by_label("body {{2}}").fill("#7788")
    expect(page.locator("#template-preview")).to_contain_text("Hi Oliver, your order #7788")
    page.screenshot(path=str(SHOTS / "inbox-window-closed.png"))
    page.click("#send-template")
    sent = page.locator(".msg.out", has_text="your order #7788")
    expect(sent.locator(".label")).to_contain_text("Template · order_update")
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "read")
    page.goto("/templates")  # the template's delivery figures count the send
    template_row = page.locator("tr[data-template=order_update]")
    expect(template_row.locator("td.num").nth(2)).to_have_text("1")
    expect(template_row.locator(".rate")).to_have_text("100%")
    finish(page, "templates")


def test_thread_shows_every_message_type_and_a_failed_reply(browser: Any, server: Server) -> None:
    phone, name = "5511955554444", "Rita Gomes"
    kinds: list[dict[str, Any]] = [
        {"type": "image",
         "payload": {"id": "7001", "mime_type": "image/jpeg", "caption": "The box"}},
        {"type": "document",
         "payload": {"id": "7002", "mime_type": "application/pdf", "filename": "invoice-4411.pdf"}},
        {"type": "location", "payload": {"latitude": -23.55, "longitude": -46.63, "name": "Home",
                                         "address": "Rua Augusta 100, São Paulo"}},
        {"type": "interactive",
         "payload": {"type": "button_reply", "button_reply": {"id": "t", "title": "Track order"}}},
        {"type": "button", "payload": {"payload": "STOP", "text": "Stop promotions"}},
        {"type": "contacts", "payload": [{"name": {"formatted_name": "Carlos Gomes"},
                                          "phones": [{"phone": "+55 11 90000-1111"}]}]},
        {"type": "hologram", "payload": {"x": 1}},
    ]  # fmt: skip
    with simulated_time(server, -60 * (len(kinds) + 2)) as advance:  # a minute apart
        first = customer_writes(server, phone, name, "Hi, a few things for you")
        for fields in kinds:
            advance(60)
            customer_writes(server, phone, name, **fields)
        advance(60)
        customer_writes(server, phone, name, type="reaction",
                        payload={"message_id": first, "emoji": "+1"})  # fmt: skip

    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator(".conv", has_text=name).click()
    expect(page.locator(".msg[data-type=image] .media")).to_contain_text("Photo")
    expect(page.locator(".msg[data-type=image] .text")).to_have_text("The box")
    expect(page.locator(".msg[data-type=document]")).to_contain_text("invoice-4411.pdf")
    maps = page.locator(".msg[data-type=location] a")
    expect(maps).to_have_attribute("href", re.compile(r"query=-23\.55,-46\.63$"))
    expect(page.locator(".msg[data-type=interactive]")).to_contain_text("Tapped a button")
    expect(page.locator(".msg[data-type=interactive] .choice")).to_have_text("Track order")
    expect(page.locator(".msg[data-type=button] .choice")).to_have_text("Stop promotions")
    expect(page.locator(".msg[data-type=contacts]")).to_contain_text("Carlos Gomes")
    expect(page.locator(".msg[data-type=unsupported]")).to_contain_text("(hologram)")
    expect(page.locator(".msg", has_text="a few things").locator(".reactions")).to_have_text("+1")

    sim(server, "faults", {"fail_async_next": [
        {"code": 131026, "details": "The recipient is not on WhatsApp"}]})  # fmt: skip
    page.fill("#composer-input", "Can you hear me?")
    page.press("#composer-input", "Enter")
    failed = page.locator(".msg.out", has_text="Can you hear me?")
    expect(failed.locator(".ticks")).to_have_attribute("data-status", "failed")
    expect(failed.locator(".failure")).to_contain_text("(131026)")
    expect(failed.locator(".failure")).to_contain_text("not on WhatsApp")
    page.screenshot(path=str(SHOTS / "inbox-message-types.png"))

    # Retry: the same words go out again as a new message, and this one gets through.
    failed.locator("button.retry").click()
    expect(page.locator(".toast").last).to_contain_text("Sending again")
    expect(failed.locator(".failure")).to_contain_text("Sent again")
    expect(failed.locator("button.retry")).to_have_count(0)
    again = page.locator(".msg.out", has_text="Can you hear me?").last
    expect(again.locator(".ticks")).to_have_attribute(
        "data-status", re.compile("sent|delivered|read")
    )
    expect(page.locator(".msg.out", has_text="Can you hear me?")).to_have_count(2)
    finish(page)


def test_contacts_csv_import_reports_each_row(browser: Any, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/contacts")
    csv = (
        "name,phone,tags,city\n"
        "Maria Lima,+55 21 98888-7777,vip;newsletter,Rio\n"
        "Tom Baker,+44 7700 900456,,London\n"
        "Nobody,not-a-number,,\n"
        "Maria again,+5521988887777,,\n"
    )
    page.set_input_files(
        "#import-file",
        files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": csv.encode()}],
    )
    counts = page.locator("#import-counts")
    expect(counts).to_contain_text("2 created")
    expect(counts).to_contain_text("2 rejected")
    rejected = page.locator("#import-rejected tbody tr")
    expect(rejected).to_have_count(2)
    expect(rejected.nth(1)).to_contain_text("earlier in the file")
    expect(page.locator("#contacts-body")).to_contain_text("Maria Lima")
    page.fill("#contact-search", "maria")
    expect(page.locator("#contacts-body tr")).to_have_count(1)
    expect(page.locator("#export-link")).to_have_attribute("href", "/api/contacts/export")
    page.fill("#contact-search", "")
    expect(page.locator("#contacts-body tr")).not_to_have_count(1)

    page.click("#new-contact")
    page.fill("#c-name", "Zoe Park")
    page.fill("#c-phone", "+1 415 555 0199")
    page.fill("#c-tags", "Wholesale")
    page.click("#contact-save")
    expect(page.locator("tr", has_text="Zoe Park")).to_contain_text("wholesale")
    finish(page, "contacts")


def test_settings_api_key_shown_once_audit_and_sign_out(browser: Any, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/settings")
    expect(page.locator("#users-body")).to_contain_text("vic@acme.test")
    page.fill("#k-name", "n8n production")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#new-token")).to_have_text(re.compile(r"^wak_"))
    expect(page.locator("tr[data-key='n8n production']")).to_contain_text("active")
    expect(page.locator("#audit-body")).to_contain_text("user.create")
    page.screenshot(path=str(SHOTS / "settings.png"))
    page.click("a[data-section=audit]")
    page.screenshot(path=str(SHOTS / "settings-audit.png"))
    page.click("#signout")
    expect(page).to_have_url(re.compile(r"/login\?signed_out=1$"))
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Finbox$"))
    finish(page)


def test_viewer_sees_no_mutation_controls(browser: Any, server: Server) -> None:
    customer_writes(server, "5511988887777", "Bea Costa", "Hello?")
    page = new_page(browser, server, who=VIEWER)
    page.goto("/inbox")
    page.locator(".conv", has_text="Bea Costa").click()
    expect(page.locator(".composer .readonly")).to_contain_text("view-only")
    for control in ("#assign-me", "#resolve", "#reopen", "#composer-input"):
        expect(page.locator(control)).to_have_count(0)
    page.goto("/templates")
    expect(page.locator("#new-template")).to_be_hidden()
    page.goto("/contacts")
    expect(page.locator("#new-contact")).to_be_hidden()
    expect(page.locator("#import-label")).to_be_hidden()
    page.goto("/settings")
    expect(page.locator("#users")).to_be_hidden()
    expect(page.locator("#team-hint")).to_be_visible()
    finish(page)


def test_expired_session_returns_to_sign_in(browser: Any, server: Server) -> None:
    customer_writes(server, "5511977776666", "Caio Reis", "Anyone there?")
    page = new_page(browser, server)
    page.goto("/inbox")
    expect(page.locator(".conv").first).to_be_visible()
    # The short access token lapses: the refresh cookie renews it without a word.
    page.context.clear_cookies(name="wa_access")
    page.select_option("#status-filter", "resolved")
    page.select_option("#status-filter", "open")
    expect(page.locator(".conv", has_text="Caio Reis")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/inbox"))
    # The whole session is gone: back to sign in, saying why. (Let the renewal's answer
    # land first, or it would set the cookies again after they are cleared.)
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies(name="wa_access")
    page.context.clear_cookies(name="wa_refresh")
    page.select_option("#status-filter", "resolved")  # the next API call answers 401
    expect(page).to_have_url(re.compile(r"/login\?expired=1&next="))
    expect(page.locator("#expired")).to_contain_text("session expired")
    finish(page)


def test_pages_send_security_headers(server: Server) -> None:
    for path in ("/login", "/static/app.css"):
        response = httpx.get(server.url + path, timeout=5)
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(server.url + "/", timeout=5).headers["location"] == "/login"
    api = httpx.get(server.url + "/api/health", timeout=5)
    assert "content-security-policy" not in api.headers  # /api/* is untouched


def tiny_png(size: int = 8) -> bytes:
    """A real (decodable) PNG: `size` x `size` pixels of one blue."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x10\x60\xd0" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_agent_sends_a_picture_from_the_composer(browser: Any, server: Server) -> None:
    customer_writes(server, "5511944443333", "Lia Prado", "Can I see the blue one?")
    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator(".conv", has_text="Lia Prado").click()
    page.fill("#composer-input", "Here it is")
    picture = {"name": "blue.png", "mimeType": "image/png", "buffer": tiny_png()}
    page.set_input_files("#attach-input", files=[picture])

    sent = page.locator(".msg.out[data-type=image]")
    expect(sent.locator(".text")).to_have_text("Here it is")  # the typed text is the caption
    expect(page.locator("#composer-input")).to_have_value("")
    thumb = sent.locator("img.thumb")
    expect(thumb).to_have_attribute("src", re.compile(r"^/api/messages/[0-9a-f-]+/media$"))
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "read")
    # The thread may re-render (a status, an AI event) and replace the bubble: look the
    # picture up afresh on each poll until it has loaded as the 8-pixel PNG sent.
    page.wait_for_function(
        """() => {
            const img = document.querySelector('.msg.out[data-type=image] img.thumb');
            if (!img) return false;
            img.scrollIntoView();  // it loads lazily
            return img.complete && img.naturalWidth === 8;
        }"""
    )
    log = httpx.get(f"{server.url}/meta-sim/_sim/log", timeout=10).json()
    (record,) = [r for r in log if r["type"] == "image"]
    assert record["body"]["image"]["caption"] == "Here it is"
    assert record["body"]["image"]["id"].isdigit()  # uploaded first, sent by Meta's media id

    gif = {"name": "dance.gif", "mimeType": "image/gif", "buffer": b"GIF89a\x01\x00\x01\x00"}
    page.set_input_files("#attach-input", files=[gif])
    expect(page.locator(".toast.error")).to_contain_text("image/gif cannot be sent on WhatsApp")
    expect(page.locator(".msg.out[data-type=image]")).to_have_count(1)
    finish(page, "inbox-send-picture")
