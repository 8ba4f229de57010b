"""The WhatsApp number settings in a real browser against `wa serve` on the embedded
default: an admin sets the send rate and the credentials of the tenant's own Meta app;
they are write-only (the page shows only whether each is set), a bad rate is refused
naming the field, the change is audited, and Meta's webhook handshake then accepts the
tenant's own verify token.

Then the rest of the page: an admin invites a colleague, whose one-time link lets them
join and sign in (a revoked link does not); subscribes a local stand-in for n8n to
messages, sees the signing secret once and each delivery, signed, in the log, and sends
one again; and keeps the AI's knowledge base."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.e2e import test_inbox_browser as inbox
from tests.e2e.test_inbox_browser import (
    ADMIN,
    SHOTS,
    VIEWER,
    Page,
    customer_writes,
    expect,
    finish,
    new_page,
)
from tests.integration.test_serve import Server

server = inbox.server
browser = inbox.browser

pytestmark = pytest.mark.e2e


def handshake(server: Server, token: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/api/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "8472"},
        timeout=10,
    )


def test_an_admin_connects_the_tenants_own_meta_app(browser: Any, server: Server) -> None:
    assert handshake(server, "acme-hook-2026").status_code == 403
    page = new_page(browser, server)
    page.goto("/settings#whatsapp")
    expect(page.locator("#wa-rate")).to_have_value("80")
    expect(page.locator("#wa-token-state")).to_have_text("not set")
    expect(page.locator("#wa-callback")).to_have_text(f"{server.url}/api/webhooks/whatsapp")

    page.fill("#wa-rate", "5000")
    page.click("#wa-form button[type=submit]")
    expect(page.locator("#wa-error")).to_contain_text("throughput_per_second: ")
    expect(page.locator("#wa-error")).to_contain_text("1-1000")

    page.fill("#wa-rate", "250")
    page.fill("#wa-token", "EAAGacmeOwnToken")
    page.fill("#wa-verify", "acme-hook-2026")
    page.click("#wa-form button[type=submit]")
    expect(page.locator("#wa-error")).to_be_hidden()
    expect(page.locator("#wa-token-state")).to_have_text("set")
    expect(page.locator("#wa-verify-state")).to_have_text("set")
    expect(page.locator("#wa-secret-state")).to_have_text("not set")
    expect(page.locator("#wa-token")).to_have_value("")  # never echoed back
    expect(page.locator("#audit-body")).to_contain_text("tenant.update")
    assert "EAAGacmeOwnToken" not in page.content()
    page.locator("#whatsapp").screenshot(path=str(SHOTS / "settings-whatsapp.png"))

    ok = handshake(server, "acme-hook-2026")
    assert (ok.status_code, ok.text) == (200, "8472")

    page.reload()
    expect(page.locator("#wa-rate")).to_have_value("250")
    page.check("input[name=wa-remove][value=verify_token]")
    page.check("input[name=wa-remove][value=access_token]")
    page.click("#wa-form button[type=submit]")
    expect(page.locator("#wa-verify-state")).to_have_text("not set")
    expect(page.locator("#wa-token-state")).to_have_text("not set")
    assert handshake(server, "acme-hook-2026").status_code == 403
    finish(page)


# -- invitations, webhooks for n8n, the knowledge base ---------------------------------


def accept_next_dialog(page: Page, accept: bool = True) -> None:
    """Answer the next confirm() the page shows (they guard every destructive action)."""
    page.once("dialog", lambda dialog: dialog.accept() if accept else dialog.dismiss())


def test_an_admin_invites_a_colleague_who_joins_through_the_link(
    browser: Any, server: Server
) -> None:
    page = new_page(browser, server)
    page.goto("/settings#invitations")
    expect(page.locator("a[data-section=invitations]")).to_have_class(re.compile(r"\bon\b"))
    expect(page.locator("#invites-body")).to_contain_text("No pending invitations")

    page.fill("#inv-email", "vic@acme.test")  # already a member: refused, next to the form
    page.click("#inv-submit")
    expect(page.locator("#invite-error")).to_have_text(
        "email: vic@acme.test already has an account"
    )
    expect(page.locator("#inv-email")).to_have_attribute("aria-invalid", "true")

    page.fill("#inv-email", "carla@acme.test")
    page.select_option("#inv-role", "manager")
    page.click("#inv-submit")
    expect(page.locator("#invite-error")).to_be_hidden()
    link = page.locator("#invite-link")
    expect(link).to_have_text(re.compile(rf"^{re.escape(server.url)}/accept#\S+$"))
    carla_link = link.inner_text()
    expect(page.locator("#invite-once")).to_contain_text("shown only this once")

    page.fill("#inv-email", "wrong.person@acme.test")
    page.click("#inv-submit")
    expect(page.locator("#invite-link")).not_to_have_text(carla_link)
    wrong_link = page.locator("#invite-link").inner_text()
    carla = page.locator("tr[data-invite='carla@acme.test']")
    wrong = page.locator("tr[data-invite='wrong.person@acme.test']")
    expect(carla).to_contain_text("manager")
    expect(carla).to_contain_text("in 7 days")
    expect(wrong).to_contain_text("agent")
    page.locator("#users").screenshot(path=str(SHOTS / "settings-invitations.png"))

    accept_next_dialog(page, accept=False)  # thought better of it: nothing happens
    wrong.get_by_role("button", name="Revoke").click()
    expect(wrong).to_be_visible()
    accept_next_dialog(page)
    wrong.get_by_role("button", name="Revoke").click()
    expect(wrong).to_have_count(0)
    expect(carla).to_be_visible()
    expect(page.locator("#audit-body")).to_contain_text("user.invite")

    # The colleague opens the link in a browser of their own.
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(10_000)
    errors: list[str] = []
    dead = context.new_page()
    dead.on("pageerror", lambda exc: errors.append(str(exc)))
    dead.goto(wrong_link)  # the revoked link is dead
    dead.fill("#name", "Wrong Person")
    dead.fill("#password", "a long enough password")
    dead.click("#accept-submit")
    expect(dead.locator("#accept-error")).to_contain_text("not valid any more")

    # The right link opened in the same tab changes only the fragment (no page load):
    # the page must use the token now in the address bar.
    guest = dead
    guest.goto(carla_link)
    expect(guest.locator("#accept-error")).to_be_hidden()
    guest.fill("#name", "Carla Manager")
    guest.fill("#password", "carla's own password 2026")
    guest.click("#accept-submit")
    expect(guest).to_have_url(re.compile(r"/inbox$"))
    expect(guest.locator("[data-testid=role]")).to_have_text("manager")
    expect(guest.locator("#live")).to_have_text("Live")  # the page's script is running
    guest.click("#signout")
    expect(guest).to_have_url(re.compile(r"/login\?signed_out=1$"))
    guest.wait_for_load_state()  # its script fills in the last e-mail used: let it run first
    guest.fill("#email", "carla@acme.test")
    guest.fill("#password", "carla's own password 2026")
    guest.click("#login-submit")
    expect(guest).to_have_url(re.compile(r"/inbox$"))
    expect(guest.locator(".rail .me .avatar")).to_have_attribute(
        "title", re.compile("^Carla Manager · carla@acme.test")
    )
    guest.goto("/settings")  # a manager: none of the admin's sections, in the page or its menu
    expect(guest.locator("#profile")).to_be_visible()
    for section in ("users", "invitations", "webhooks", "knowledge"):
        expect(guest.locator(f"a[data-section={section}]")).to_be_hidden()
    for section in ("#users", "#webhooks", "#knowledge"):
        expect(guest.locator(section)).to_be_hidden()
    context.close()
    assert not errors, errors

    page.reload()
    expect(page.locator("tr[data-email='carla@acme.test']")).to_contain_text("manager")
    expect(page.locator("#invites-body")).to_contain_text("No pending invitations")
    finish(page)


class Receiver:
    """A stand-in for a self-hosted n8n: records each POST and answers 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        calls, receiver = self.calls, self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                calls.append((dict(self.headers.items()), body))
                answer = b'{"received": true, "workflow": "lead intake"}'
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/webhook/lead-intake"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.calls) >= count, self.calls


def test_an_admin_subscribes_n8n_to_messages_and_follows_the_deliveries(
    browser: Any, server: Server
) -> None:
    page = new_page(browser, server)
    page.goto("/settings#webhooks")
    expect(page.locator("#wh-list")).to_contain_text("No webhook subscriptions yet")
    expect(page.locator("#wh-verify")).to_contain_text("X-Signature-256")
    expect(page.locator("#wh-events input[value='message.received']")).to_be_checked()
    expect(page.locator("#wh-events input[value='template.status']")).not_to_be_checked()

    with Receiver() as n8n:
        page.fill("#wh-url", n8n.url)
        page.fill("#wh-desc", "n8n on the office server")
        page.click("#wh-submit")  # a loopback target needs the admin's opt-in
        expect(page.locator("#wh-error")).to_contain_text("url: webhook target refused")
        expect(page.locator("#wh-secret-once")).to_be_hidden()

        page.check("#wh-private")
        page.click("#wh-submit")
        expect(page.locator("#wh-error")).to_be_hidden()
        expect(page.locator("#wh-secret")).to_have_text(re.compile(r"^whsec_\S{20,}$"))
        secret = page.locator("#wh-secret").inner_text()
        item = page.locator(".wh-item", has_text=n8n.url)
        expect(item.locator("[data-state=active]")).to_have_text("Active")
        expect(item).to_contain_text("private network")
        item.get_by_role("button", name="Delivery log").click()
        expect(item.locator(".wh-log")).to_contain_text("No deliveries yet")

        customer_writes(server, "5511955554444", "Lia Prado", "Is the blue one in stock?")
        delivered = item.locator("tr[data-state=delivered]")
        expect(delivered).to_have_count(1, timeout=20_000)  # the open log refreshes by itself
        expect(delivered).to_contain_text("message.received")
        expect(delivered).to_contain_text("#1")
        expect(delivered).to_contain_text("200")
        expect(delivered).to_contain_text("lead intake")
        expect(delivered).to_contain_text(re.compile(r"\d+ ms"))

        n8n.wait_for(1)
        headers, body = n8n.calls[0]
        signed = f"{headers['X-Webhook-Timestamp']}.".encode() + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["X-Signature-256"] == f"sha256={expected}"
        assert json.loads(body)["data"]["text"] == "Is the blue one in stock?"

        delivered.get_by_role("button", name="Redeliver").click()
        expect(item.locator("tr[data-state=delivered]")).to_have_count(2, timeout=20_000)
        expect(item.locator("tr[data-state=delivered]").first).to_contain_text("manual")
        n8n.wait_for(2)
        assert n8n.calls[1][0]["X-Event-Id"] == headers["X-Event-Id"]  # the same event again
        expect(page.locator("#audit-body")).to_contain_text("webhook.redeliver")
        page.set_viewport_size({"width": 1440, "height": 1700})  # the whole section
        expect(page.locator(".toast")).to_have_count(0, timeout=8_000)
        page.locator("#webhooks").screenshot(path=str(SHOTS / "settings-webhooks.png"))

        # The receiver breaks: ten refusals in a row turn the subscription off by itself.
        # (The redeliveries go through the API: ten clicks would only take longer.)
        n8n.status = 410
        first = item.locator("tr[data-delivery]").last.get_attribute("data-delivery")
        csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "wa_csrf")
        for _ in range(10):
            queued = page.request.post(
                f"/api/webhook-deliveries/{first}/redeliver", headers={"X-CSRF-Token": csrf}
            )
            assert queued.status == 202, queued.text()
        off = item.locator("[data-state=auto-disabled]")
        expect(off).to_have_text("Disabled automatically", timeout=30_000)
        expect(item.locator(".wh-disabled")).to_contain_text(
            "Disabled after 10 consecutive failed deliveries (last: failed: HTTP 410"
        )
        expect(item.locator("tr[data-state=failed]").first).to_contain_text("410")
        expect(item.get_by_role("button", name="Redeliver").first).to_be_disabled()
        expect(page.locator("#audit-body")).to_contain_text("webhook.auto_disable")
        item.screenshot(path=str(SHOTS / "settings-webhooks-disabled.png"))
        n8n.status = 200
        item.get_by_role("button", name="Activate").click()  # fixed: the count starts over
        expect(item.locator("[data-state=active]")).to_have_text("Active")
        expect(item.locator(".wh-disabled")).to_have_count(0)

    page.reload()  # the secret was shown once and is gone
    expect(item).to_be_visible()
    expect(page.locator("#wh-secret-once")).to_be_hidden()
    assert secret not in page.content()

    accept_next_dialog(page)
    item.get_by_role("button", name="Deactivate").click()
    expect(item.locator("[data-state=paused]")).to_have_text("Paused")
    expect(item).to_contain_text("Paused by Ann Admin")
    item.get_by_role("button", name="Delivery log").click()
    expect(item.get_by_role("button", name="Redeliver").first).to_be_disabled()

    accept_next_dialog(page)
    item.get_by_role("button", name="Delete").click()
    expect(page.locator(".wh-item")).to_have_count(0)
    expect(page.locator("#wh-list")).to_contain_text("No webhook subscriptions yet")
    finish(page)


KIM = {"email": "kim@acme.test", "password": "kim's knowledge password"}


@pytest.fixture(scope="module", autouse=True)
def second_admin(server: Server) -> None:
    """Another admin, made before the module's first test: the webhook test's API calls
    spend the first admin's 100 requests a minute, and the limit is per user."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        token = http.post("/api/auth/login", json=ADMIN).json()["access_token"]
        made = http.post(
            "/api/users",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "Kim Admin", "role": "admin", **KIM},
        )
        assert made.status_code == 201, made.text


def test_an_admin_adds_a_knowledge_snippet_and_deletes_it(browser: Any, server: Server) -> None:
    page = new_page(browser, server, KIM)
    page.goto("/settings#knowledge")
    expect(page.locator("#kb-list")).to_contain_text("No snippets yet")

    page.fill("#kb-title", "Returns")
    page.click("#kb-submit")
    expect(page.locator("#kb-error")).to_have_text("A snippet needs a title and the answer itself.")
    expect(page.locator("#kb-body")).to_have_attribute("aria-invalid", "true")

    page.fill("#kb-title", "Returns and refunds")
    answer = "Returns are free within 30 days.\nRefunds reach the card in 5 working days."
    page.fill("#kb-body", answer)
    page.click("#kb-submit")
    expect(page.locator("#kb-error")).to_be_hidden()
    snippet = page.locator("details[data-snippet='Returns and refunds']")
    expect(snippet).to_be_visible()
    expect(page.locator("#kb-count")).to_have_text("1 snippet")
    expect(page.locator("#kb-title")).to_have_value("")
    snippet.locator("summary").click()
    expect(snippet.locator(".kb-body")).to_have_text(answer)
    expect(page.locator("#audit-body")).to_contain_text("knowledge.create")
    expect(page.locator(".toast")).to_have_count(0, timeout=8_000)
    page.locator("#knowledge").screenshot(path=str(SHOTS / "settings-knowledge.png"))

    accept_next_dialog(page, accept=False)
    snippet.get_by_role("button", name="Delete").click()
    expect(snippet).to_be_visible()
    accept_next_dialog(page)
    snippet.get_by_role("button", name="Delete").click()
    expect(snippet).to_have_count(0)
    expect(page.locator("#kb-list")).to_contain_text("No snippets yet")
    assert page.request.get("/api/knowledge").json() == []
    finish(page)


# -- test connection --------------------------------------------------------------------


def test_an_admin_tests_the_numbers_connection_to_meta(browser: Any, server: Server) -> None:
    """The embedded default's simulated Meta knows the number: green, with its name,
    number and quality; a token Meta refuses turns it red, saying what to fix."""
    page = new_page(browser, server, KIM)  # the first admin's quota is spent: see second_admin
    page.goto("/settings#whatsapp")
    result = page.locator("#wa-test-result")
    expect(result).to_be_hidden()
    page.click("#wa-test")
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_have_class(re.compile(r"\bok\b"))
    expect(result).to_contain_text("Connected: Simulated Business")
    expect(result).to_contain_text("Number: 15550001111")
    expect(result).to_contain_text("Messaging limit: 2K customers / 24 h")
    expect(page.locator("#wa-quality")).to_have_text("Quality green")
    expect(page.locator("#wa-quality")).to_have_class(re.compile(r"\bgreen\b"))
    expect(page.locator("#audit-body")).to_contain_text("tenant.test_connection")
    page.locator("#whatsapp").screenshot(path=str(SHOTS / "settings-test-connection.png"))

    page.fill("#wa-token", "EAAGrevokedToken")  # the tenant's own token, which Meta refuses
    page.click("#wa-form button[type=submit]")
    expect(page.locator("#wa-token-state")).to_have_text("set")
    page.click("#wa-test")
    expect(result).to_have_attribute("data-ok", "false")
    expect(result).to_have_class(re.compile(r"\berror\b"))
    expect(result).to_contain_text("Meta error 190")
    expect(result).to_contain_text("Paste a current system-user token")
    assert "EAAGrevokedToken" not in page.content()

    page.reload()  # back to the platform's token, from a freshly drawn form
    expect(page.locator("#wa-token-state")).to_have_text("set")
    page.check("input[name=wa-remove][value=access_token]")
    page.click("#wa-form button[type=submit]")
    expect(page.locator("#wa-error")).to_be_hidden()
    expect(page.locator("#wa-token-state")).to_have_text("not set")
    page.click("#wa-test")
    expect(result).to_have_attribute("data-ok", "true")
    finish(page)


def test_an_admin_changes_a_role_then_deactivates_and_reactivates_a_teammate(
    browser: Any, server: Server
) -> None:
    def sign_in(who: dict[str, str]) -> int:
        return httpx.post(f"{server.url}/api/auth/login", json=who, timeout=10).status_code

    page = new_page(browser, server, KIM)
    page.goto("/settings#users")
    vic = page.locator("tr[data-email='vic@acme.test']")
    expect(vic).to_contain_text("Active")
    vic.locator("select").select_option("agent")
    expect(page.locator(".toast").last).to_contain_text("is now agent")
    expect(vic.locator("select")).to_have_value("agent")

    accept_next_dialog(page)
    vic.get_by_role("button", name="Deactivate").click()
    expect(vic).to_contain_text("Deactivated")
    expect(vic.locator("select")).to_be_disabled()
    assert sign_in(VIEWER) == 401
    expect(page.locator("#audit-body")).to_contain_text("user.update")
    page.screenshot(path=str(SHOTS / "settings-team.png"))

    vic.get_by_role("button", name="Reactivate").click()
    expect(vic).to_contain_text("Active")
    assert sign_in(VIEWER) == 200
    vic.locator("select").select_option("viewer")  # as the other tests expect vic
    expect(page.locator(".toast").last).to_contain_text("is now viewer")
    finish(page, "settings-team")
