"""Labels and the AI helpers of the inbox in a real browser against `wa serve` on the
embedded default: an agent labels a conversation and filters the list by it, asks for a
reply suggestion and sends it after editing, reads a summary, and sees a suggestion pushed
over the WebSocket when auto-suggest is on. The simulated Meta plays the customers; the
offline provider answers (deterministic, no key is set)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
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
    simulated_time,
)
from tests.integration.test_serve import Server

# The inbox suite's fixtures (a served app on the embedded default, a chromium).
server = inbox.server
browser = inbox.browser

pytestmark = pytest.mark.e2e


def admin_api(server: Server) -> httpx.Client:
    """The REST API as the admin, with a bearer token (no cookies, so no CSRF header)."""
    token = httpx.post(f"{server.url}/api/auth/login", json=ADMIN, timeout=10).json()
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )


@contextmanager
def ai_settings(server: Server, **changes: Any) -> Iterator[None]:
    """The workspace's AI settings changed for the block, and put back after it."""
    with admin_api(server) as http:
        before = http.get("/api/ai/settings").json()
        changed = http.put("/api/ai/settings", json=changes)
        assert changed.status_code == 200, changed.text
        try:
            yield
        finally:
            restored = http.put("/api/ai/settings", json={k: before[k] for k in changes})
            assert restored.status_code == 200, restored.text


def open_conversation(page: Any, name: str) -> None:
    page.goto("/inbox")
    page.locator(".conv", has_text=name).click()
    expect(page.locator("#thread-name")).to_have_text(name)


def test_an_agent_labels_a_conversation_filters_by_it_and_removes_it(
    browser: Any, server: Server
) -> None:
    customer_writes(server, "5511933332222", "Duda Rocha", "My parcel arrived damaged")
    customer_writes(server, "5511933331111", "Enzo Melo", "Hello there")
    page = new_page(browser, server)
    open_conversation(page, "Duda Rocha")
    duda = page.locator(".conv", has_text="Duda Rocha")
    enzo = page.locator(".conv", has_text="Enzo Melo")
    chips = page.locator("#thread-labels .label-chip")
    expect(chips).to_have_count(0)

    page.click("#add-label")
    expect(page.locator("#label-input")).to_be_focused()
    page.fill("#label-input", "Refund")
    page.press("#label-input", "Enter")
    expect(chips).to_have_text(["refund"])  # the server keeps labels lower-case
    expect(duda.locator(".tag")).to_have_text(["refund"])  # the list row shows it too
    expect(page.locator("#label-input")).to_be_focused()  # ready for another one
    page.press("#label-input", "Escape")
    expect(page.locator("#label-input")).to_be_hidden()

    # From the keyboard: L opens the input; labels already in use are suggested.
    page.locator("#thread-name").click()
    page.keyboard.press("l")
    expect(page.locator("#label-input")).to_be_focused()
    page.keyboard.type("priority")
    page.keyboard.press("Enter")
    expect(chips).to_have_text(["priority", "refund"])
    page.keyboard.press("Escape")
    enzo.click()
    expect(page.locator("#thread-name")).to_have_text("Enzo Melo")
    page.click("#add-label")
    suggested = page.locator("#label-suggestions option")
    expect(suggested).to_have_count(2)
    assert sorted(o.get_attribute("value") for o in suggested.all()) == ["priority", "refund"]
    page.press("#label-input", "Escape")
    duda.click()

    # The list filters by label on the server (label=), and by unread / open window.
    expect(page.locator("#label-filter option")).to_have_text(["Any label", "priority", "refund"])
    page.select_option("#label-filter", "refund")
    expect(enzo).to_have_count(0)
    expect(page.locator(".conv")).to_have_count(1)
    expect(duda).to_be_visible()
    page.screenshot(path=str(SHOTS / "inbox-labels.png"))

    page.locator("#thread-labels .label-chip[data-label=refund] button.remove").click()
    expect(chips).to_have_text(["priority"])
    expect(page.locator("#list-empty")).to_contain_text("labelled “refund”")
    page.click("#clear-filters")
    expect(enzo).to_be_visible()
    expect(page.locator("#label-filter")).to_have_value("")

    customer_writes(server, "5511933331111", "Enzo Melo", "Anyone there?")
    expect(enzo.locator("[data-unread]")).to_have_text("1")
    page.click("#filter-unread")  # Duda's conversation is open, so read; Enzo's is not
    expect(page.locator("#filter-unread")).to_have_attribute("aria-pressed", "true")
    expect(duda).to_have_count(0)
    expect(enzo).to_be_visible()
    page.click("#filter-unread")
    page.click("#filter-window")
    expect(duda).to_be_visible()  # both customers wrote just now
    expect(enzo).to_be_visible()
    with admin_api(server) as http:
        labelled = http.get("/api/conversations", params={"label": "priority"}).json()
    assert [c["contact"]["display_name"] for c in labelled] == ["Duda Rocha"]
    finish(page)


def test_an_agent_inserts_a_suggested_reply_edits_it_and_sends_it(
    browser: Any, server: Server
) -> None:
    customer_writes(server, "5511922221111", "Gabi Nunes", "Hi, where is my order #5512?")
    page = new_page(browser, server)
    open_conversation(page, "Gabi Nunes")
    expect(page.locator("#suggest-slot")).to_be_hidden()  # nothing reserved until asked

    page.click("#suggest-button")
    text = page.locator("#suggest-text")
    expect(text).to_have_text(
        "Hi Gabi! I'm checking order 5512 now and I'll update you in a moment."
    )
    expect(page.locator("#suggest-provider")).to_have_text("offline")
    expect(page.locator("#suggest-insert")).to_be_focused()
    page.screenshot(path=str(SHOTS / "inbox-suggest.png"))
    expect(page.locator(".msg.out")).to_have_count(0)  # a suggestion is never sent by itself

    page.keyboard.press("Enter")  # Insert
    composer = page.locator("#composer-input")
    expect(composer).to_have_value(re.compile(r"^Hi Gabi! I'm checking order 5512 now"))
    expect(composer).to_be_focused()
    expect(page.locator("#suggest-slot .suggestion")).to_have_count(0)
    expect(page.locator(".msg.out")).to_have_count(0)
    composer.press("End")
    composer.type(" Thanks for waiting!")
    composer.press("Enter")
    sent = page.locator(".msg.out", has_text="checking order 5512")
    expect(sent).to_contain_text("Thanks for waiting!")
    expect(sent.locator(".ticks")).to_have_attribute("data-status", "read")
    expect(composer).to_have_value("")

    # Alt+S asks again from the keyboard; Escape dismisses without touching the draft.
    composer.fill("draft kept")
    composer.press("Alt+s")
    expect(text).to_contain_text("order 5512")
    page.keyboard.press("Escape")
    expect(page.locator("#suggest-slot .suggestion")).to_have_count(0)
    expect(composer).to_be_focused()
    expect(composer).to_have_value("draft kept")
    finish(page)


def test_the_summary_loads_on_demand_in_the_side_panel(browser: Any, server: Server) -> None:
    customer_writes(server, "5511911110000", "Hugo Dias", "I want to buy two blue shirts.")
    page = new_page(browser, server)
    open_conversation(page, "Hugo Dias")
    page.click("[data-side=summary]")
    expect(page.locator("#summary-text")).to_have_count(0)  # nothing is spent until asked
    page.click("#summary-load")
    summary = page.locator("#summary-text")
    expect(summary).to_contain_text("Hugo Dias sent 1 message; the team replied 0 times.")
    expect(summary).to_contain_text("two blue shirts")
    expect(page.locator("#summary-provider")).to_contain_text("offline")
    expect(page.locator("#summary-load")).to_have_text("Summarize again")
    page.click("[data-side=contact]")
    page.click("[data-side=summary]")
    expect(summary).to_contain_text("Hugo Dias sent 1 message")  # kept while the page lives
    finish(page, "inbox-summary")


def test_with_ai_off_the_inbox_says_why_there_is_no_suggestion(
    browser: Any, server: Server
) -> None:
    customer_writes(server, "5511900009999", "Iris Moura", "Do you ship to Porto?")
    page = new_page(browser, server)
    open_conversation(page, "Iris Moura")
    with ai_settings(server, enabled=False):
        page.click("#suggest-button")
        expect(page.locator("#suggest-notice")).to_contain_text("AI is turned off")
        page.click("#suggest-dismiss")
        expect(page.locator("#suggest-slot .suggestion")).to_have_count(0)
        page.click("[data-side=summary]")
        page.click("#summary-load")
        expect(page.locator("#summary-refused")).to_contain_text("AI is turned off")
    finish(page)


def test_with_auto_suggest_on_a_new_message_brings_its_suggestion(
    browser: Any, server: Server
) -> None:
    phone, name = "5511988880000", "Joana Reis"
    customer_writes(server, phone, name, "Hello!")
    page = new_page(browser, server)
    open_conversation(page, name)
    expect(page.locator("#live")).to_have_text("Live")
    # "Hello!" classified first: with auto-suggest still off, it brings no suggestion
    # (its job running after the switch would, and race the one below).
    expect(page.locator(".msg.in .chip-intent")).to_have_count(1)
    with ai_settings(server, auto_suggest=True):
        customer_writes(server, phone, name, "Where is my order #7781?")
        # Pushed as ai.suggested over the WebSocket: nobody pressed the suggest button.
        pushed = page.locator("#suggest-slot .suggestion[data-auto=yes]")
        expect(pushed.locator("#suggest-text")).to_contain_text("I'm checking order 7781 now")
        expect(pushed.locator("#suggest-provider")).to_have_text("offline")
        expect(page.locator(".msg.in .text").last).to_have_text("Where is my order #7781?")
        page.click("#suggest-insert")
        expect(page.locator("#composer-input")).to_have_value(re.compile("order 7781"))
    finish(page, "inbox-auto-suggest")


def test_no_suggest_button_once_the_window_has_closed(browser: Any, server: Server) -> None:
    with simulated_time(server, -27 * 3600):  # 27 h ago: free-form replies are not allowed
        customer_writes(server, "5511966660000", "Lara Pinto", "Is the blue one back?")
    page = new_page(browser, server)
    open_conversation(page, "Lara Pinto")
    expect(page.locator("#window-closed")).to_be_visible()
    expect(page.locator("#suggest-button")).to_have_count(0)
    expect(page.locator("#add-label")).to_be_visible()  # labels do not depend on the window
    finish(page)


def test_a_viewer_sees_labels_but_no_label_or_suggest_controls(
    browser: Any, server: Server
) -> None:
    customer_writes(server, "5511977770000", "Kika Lopes", "Hi")
    with admin_api(server) as http:
        (found,) = [
            c
            for c in http.get("/api/conversations").json()
            if c["contact"]["display_name"] == "Kika Lopes"
        ]
        added = http.post(f"/api/conversations/{found['id']}/labels", json={"label": "vip"})
        assert added.status_code == 200, added.text
    page = new_page(browser, server, who=VIEWER)
    open_conversation(page, "Kika Lopes")
    expect(page.locator("#thread-labels .label-chip")).to_have_text(["vip"])
    for control in ("#add-label", "#label-input", "button.remove", "#suggest-button"):
        expect(page.locator(control)).to_have_count(0)
    page.keyboard.press("l")  # the shortcut opens nothing either
    expect(page.locator("#label-input")).to_have_count(0)
    expect(page.locator("#label-filter")).to_be_visible()  # filtering is reading
    finish(page)
