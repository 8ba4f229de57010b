"""The WhatsApp number settings in a real browser against `wa serve` on the embedded
default: an admin sets the send rate and the credentials of the tenant's own Meta app;
they are write-only (the page shows only whether each is set), a bad rate is refused
naming the field, the change is audited, and Meta's webhook handshake then accepts the
tenant's own verify token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import test_inbox_browser as inbox
from tests.e2e.test_inbox_browser import SHOTS, expect, finish, new_page
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
