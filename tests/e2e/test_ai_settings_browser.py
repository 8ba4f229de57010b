"""AI settings in a real browser against `wa serve` on the embedded default: an admin
fixes a refused intent list, turns auto-reply on, and the AI's own answer to the next
customer message shows in the thread as sent by the AI (the simulated Meta plays the
customer; the offline provider answers, no key is set)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e import test_inbox_browser as inbox
from tests.e2e.test_inbox_browser import SHOTS, customer_writes, expect, finish, new_page
from tests.integration.test_serve import Server

# The inbox suite's fixtures (a served app on the embedded default, a chromium).
server = inbox.server
browser = inbox.browser

pytestmark = pytest.mark.e2e
INTENTS = "greeting, question, order_status, complaint, purchase_intent, support, spam, other"


def test_an_admin_turns_on_auto_reply_and_the_thread_shows_the_ai_answer(
    browser: Any, server: Server
) -> None:
    page = new_page(browser, server)
    page.goto("/settings#ai")
    expect(page.locator("#ai-providers [data-provider=offline]")).to_be_visible()
    expect(page.locator("#ai-providers [data-provider=anthropic]")).to_contain_text("no key")
    expect(page.locator("#ai-intents")).to_have_value(re.compile("order_status"))
    expect(page.locator("#ai-usage")).to_contain_text("0 tokens used this month")

    page.fill("#ai-intents", "greeting, Order Status, other")
    page.click("#ai-form button[type=submit]")
    expect(page.locator("#ai-error")).to_contain_text("intents: intent 'Order Status'")

    page.fill("#ai-intents", INTENTS)
    page.check("#ar-enabled")
    page.click("#ai-form button[type=submit]")
    expect(page.locator("#ai-error")).to_be_hidden()
    expect(page.locator("#audit-body")).to_contain_text("ai.settings.update")
    page.locator("#ai").screenshot(path=str(SHOTS / "settings-ai.png"))

    customer_writes(server, "5511966665555", "Rui Alves", "Where is my order #4521?")
    page.goto("/inbox")
    page.locator(".conv", has_text="Rui Alves").click()
    answer = page.locator(".msg.out", has=page.locator(".chip-ai"))
    expect(answer).to_contain_text("I'm checking order 4521 now")
    expect(answer.locator(".chip-ai")).to_have_text("Sent by AI")
    expect(page.locator(".msg.in .chip-intent")).to_have_text("order status")
    finish(page, "inbox-ai-auto-reply")
