"""The dashboard in a real browser against `wa serve` on the embedded default: a brand-new
tenant reads as zeros with words, then two customers write through the simulated Meta,
the admin answers both (Meta refuses one) and the page shows those very numbers, the
response times included. A
viewer has neither the link nor the figures."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.e2e import test_inbox_browser as inbox
from tests.e2e.test_inbox_browser import (
    ADMIN,
    SHOTS,
    VIEWER,
    customer_writes,
    expect,
    finish,
    new_page,
    sim,
)
from tests.integration.test_serve import Server

# The inbox suite's fixtures (a served app on the embedded default, a chromium).
server = inbox.server
browser = inbox.browser

pytestmark = pytest.mark.e2e


def kpi(page: Any, name: str) -> Any:
    return page.locator(f'.dash-tile[data-kpi="{name}"] .dash-n')


def settled(http: httpx.Client, token: str, deadline_s: float = 30) -> dict[str, Any]:
    """The dashboard once both replies have a final status and both messages an intent
    (delivery and classification run in the background worker)."""
    headers = {"Authorization": f"Bearer {token}"}
    board: dict[str, Any] = {}
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        board = http.get("/api/dashboard?days=7", headers=headers).json()
        statuses = board["messages"]["by_status"]
        classified = sum(i["count"] for i in board["intents"])
        if statuses["read"] + statuses["failed"] == 2 and classified == 2:
            return board
        time.sleep(0.3)
    raise AssertionError(f"the traffic did not settle: {board}")


def test_a_brand_new_tenant_reads_as_zeros(browser: Any, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator('a[data-nav="dashboard"]').click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("#dash-updated")).to_contain_text("Updated")
    expect(page.locator('#dash-period button[data-days="7"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    for name in ("open", "pending", "unassigned_open", "closing_open", "inbound", "outbound"):
        expect(kpi(page, name)).to_have_text("0")
    expect(kpi(page, "delivery_rate")).to_have_text("—")
    for name in ("median_response", "p90_response", "median_first_response"):
        expect(kpi(page, name)).to_have_text("—")
    expect(kpi(page, "answered")).to_have_text("0")
    expect(kpi(page, "unanswered")).to_have_text("0")
    expect(page.locator("#dash-days")).to_contain_text("No messages in this period yet")
    expect(page.locator("#dash-statuses")).to_contain_text("Nothing sent in this period yet")
    expect(page.locator("#dash-failures tbody")).to_have_text("No message failed in this period.")
    expect(page.locator("#dash-templates tbody")).to_contain_text("No template was sent")
    expect(page.locator("#dash-intents")).to_contain_text("No customer message has an AI intent")
    admin_row = page.locator("#dash-agents tbody tr")
    expect(admin_row).to_have_count(1)  # the admin answers; the viewer does not
    expect(admin_row).to_contain_text("Ann Admin")
    finish(page, "dashboard-empty")


def test_the_dashboard_counts_what_customers_and_the_team_did(browser: Any, server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        session = http.post("/api/auth/login", json=ADMIN).json()
        token, me = session["access_token"], session["user"]["id"]
        auth = {"Authorization": f"Bearer {token}"}
        customer_writes(server, "5511977770001", "Carla Dias", "Where is my order #7001?")
        customer_writes(server, "5511977770002", "Davi Reis", "Hello, good morning!")
        conversations = http.get("/api/conversations", headers=auth).json()
        by_name = {c["contact"]["name"]: c["id"] for c in conversations}
        carla, davi = by_name["Carla Dias"], by_name["Davi Reis"]
        assigned = http.post(
            f"/api/conversations/{carla}/assign", json={"assignee_id": me}, headers=auth
        )
        assert assigned.status_code == 200, assigned.text
        replied = http.post(
            f"/api/conversations/{carla}/messages", json={"text": "It ships today."}, headers=auth
        )
        assert replied.status_code == 202, replied.text
        sim(server, "faults", {"fail_async_next": [
            {"code": 131026, "details": "The recipient is not on WhatsApp"}]})  # fmt: skip
        refused = http.post(
            f"/api/conversations/{davi}/messages", json={"text": "Hi Davi!"}, headers=auth
        )
        assert refused.status_code == 202, refused.text
        board = settled(http, token)

    page = new_page(browser, server)
    page.goto("/dashboard")
    expect(page.locator("#dash-updated")).to_contain_text("Updated")
    expect(kpi(page, "open")).to_have_text("2")
    expect(kpi(page, "unassigned_open")).to_have_text("1")  # Davi's
    expect(kpi(page, "closing_open")).to_have_text("0")  # both wrote just now
    expect(kpi(page, "inbound")).to_have_text("2")
    expect(kpi(page, "outbound")).to_have_text("2")
    expect(page.locator('#dash-statuses [data-status="read"] strong')).to_have_text("1")
    expect(page.locator('#dash-statuses [data-status="failed"] strong')).to_have_text("1")
    expect(kpi(page, "delivery_rate")).to_have_text(re.compile(r"^50\s?%$"))
    expect(kpi(page, "read_rate")).to_have_text(re.compile(r"^100\s?%$"))
    # The admin answered both customers within seconds (a refused reply is an answer too).
    responses = board["responses"]
    assert (responses["answered"], responses["unanswered"]) == (2, 0), responses
    expect(kpi(page, "answered")).to_have_text("2")
    expect(kpi(page, "unanswered")).to_have_text("0")
    for name, field in (
        ("median_response", "median_seconds"),
        ("p90_response", "p90_seconds"),
        ("median_first_response", "first_median_seconds"),
    ):
        assert 0 <= responses[field] < 60, responses
        expect(kpi(page, name)).to_have_text(re.compile(r"^\d{1,2} s$"))
        shown = page.locator(f'.dash-tile[data-kpi="{name}"]').get_attribute("data-value")
        assert float(shown or "nan") == responses[field]
    failure = page.locator('#dash-failures tr[data-code="131026"]')
    expect(failure).to_contain_text("131026")
    expect(failure.locator("td.num")).to_have_text("1")

    today = page.locator("#dash-days .dash-day").last
    expect(page.locator("#dash-days .dash-day")).to_have_count(7)
    expect(today).to_have_attribute("data-inbound", "2")
    expect(today).to_have_attribute("data-outbound", "2")
    agent = page.locator(f'#dash-agents tr[data-agent="{me}"]')
    expect(agent.locator('[data-col="open"]')).to_have_text("1")
    expect(agent.locator('[data-col="replies"]')).to_have_text("2")
    for intent in board["intents"]:
        expect(
            page.locator(f'#dash-intents li[data-intent="{intent["intent"]}"] strong')
        ).to_have_text(str(intent["count"]))
    expect(page.locator('#dash-intents li[data-intent="order_status"]')).to_contain_text(
        "order status"
    )
    page.set_viewport_size({"width": 1440, "height": 1500})  # the page scrolls inside .page
    page.screenshot(path=str(SHOTS / "dashboard.png"))

    page.click('#dash-period button[data-days="30"]')
    expect(page).to_have_url(re.compile(r"/dashboard\?days=30$"))
    expect(page.locator("#dash-days .dash-day")).to_have_count(30)
    expect(page.locator("#dash-msg-title [data-period-label]")).to_have_text("in the last 30 days")
    page.click('#dash-period button[data-days="1"]')
    expect(page.locator("#dash-days .dash-day")).to_have_count(1)
    expect(kpi(page, "inbound")).to_have_text("2")
    finish(page)


def test_a_viewer_has_no_dashboard(browser: Any, server: Server) -> None:
    page = new_page(browser, server, who=VIEWER)
    page.goto("/inbox")
    expect(page.locator('a[data-nav="inbox"]')).to_be_visible()
    expect(page.locator('a[data-nav="dashboard"]')).to_have_count(0)
    page.goto("/dashboard")
    expect(page.locator(".page .hint")).to_contain_text("managers and admins")
    expect(page.locator(".dash-tile")).to_have_count(0)
    refused = page.request.get("/api/dashboard")
    assert refused.status == 403, refused.text()
    finish(page)
