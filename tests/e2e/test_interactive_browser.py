"""Reply buttons from the composer and template delete, in a real browser against
`wa serve` on the embedded default (the simulated Meta plays the customer)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e import test_inbox_browser as inbox
from tests.e2e.test_inbox_browser import customer_writes, expect, finish, new_page
from tests.integration.test_serve import Server

# The inbox suite's fixtures (a served app on the embedded default, a chromium), by
# their own names.
server = inbox.server
browser = inbox.browser

pytestmark = pytest.mark.e2e


def last_sent_wamid(server: Server) -> str:
    log = httpx.get(f"{server.url}/meta-sim/_sim/log", timeout=10).json()
    assert log, "the simulator has sent nothing"
    return str(log[-1]["wamid"])


def test_an_agent_sends_reply_buttons_and_sees_the_choice(browser: Any, server: Server) -> None:
    phone, name = "5511977776666", "Bia Lima"
    customer_writes(server, phone, name, "Can you deliver on Friday?")
    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator(".conv", has_text=name).click()

    page.click("#buttons-button")
    page.get_by_label("Button 1 title").fill("Yes, Friday")
    page.get_by_label("Button 2 title").fill("No, Monday")
    page.fill("#composer-input", "Shall we deliver on Friday?")
    page.press("#composer-input", "Enter")
    sent = page.locator(".msg.out[data-type=interactive]")
    expect(sent.locator(".label")).to_contain_text("Reply buttons")
    expect(sent.locator(".option")).to_have_text(["Yes, Friday", "No, Monday"])
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "read")
    expect(page.locator("#quick-replies")).to_be_hidden()
    body = httpx.get(f"{server.url}/meta-sim/_sim/log", timeout=10).json()[-1]["body"]
    assert body["interactive"]["action"]["buttons"][0]["reply"] == {
        "id": "option-1", "title": "Yes, Friday",
    }  # fmt: skip

    wamid = last_sent_wamid(server)
    tap = {"type": "button_reply", "button_reply": {"id": "option-1", "title": "Yes, Friday"}}
    customer_writes(server, phone, name, type="interactive", reply_to=wamid, payload=tap)
    tapped = page.locator(".msg.in[data-type=interactive]")
    expect(tapped).to_contain_text("Tapped a button")
    expect(tapped.locator(".choice")).to_have_text("Yes, Friday")
    finish(page, "inbox-reply-buttons")


def test_a_manager_deletes_a_draft_after_confirming(browser: Any, server: Server) -> None:
    page = new_page(browser, server)
    page.goto("/templates")
    page.click("#new-template")
    page.fill("#t-name", "winter_sale_draft")
    page.fill("#t-body", "Hi {{1}}, the winter sale starts today.")
    page.click("#t-save")
    row = page.locator("tr[data-template=winter_sale_draft]")
    expect(row).to_have_attribute("data-status", "DRAFT")

    questions: list[str] = []

    def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        if len(questions) == 1:
            dialog.dismiss()  # first time: the agent changes their mind
        else:
            dialog.accept()

    page.on("dialog", answer)
    row.locator("[data-delete]").click()
    expect(row).to_be_visible()
    row.locator("[data-delete]").click()
    expect(row).to_have_count(0)
    assert "never sent to Meta" in questions[0]
    finish(page, "templates-deleted")
