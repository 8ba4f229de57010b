"""A picture the simulated customer sends, in a real browser against `wa serve` on the
embedded default: the media job fetches it from the simulated Meta and the thread shows it,
also when the thread is already open while the file is still on its way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.e2e import test_inbox_browser as inbox
from tests.e2e.test_inbox_browser import customer_writes, expect, finish, new_page, sim, tiny_png
from tests.integration.test_serve import Server

# The inbox suite's fixtures (a served app on the embedded default, a chromium), by
# their own names.
server = inbox.server
browser = inbox.browser

pytestmark = pytest.mark.e2e

WIDTH = 48  # pixels of the PNG the customer sends; the browser must decode exactly that
LOADED = """(width) => {
    // The thread re-renders on events and replaces the bubble: look the picture up afresh.
    const img = document.querySelector('.msg.in[data-type=image] img.thumb');
    if (!img) return false;
    img.scrollIntoView();  // it loads lazily
    return img.complete && img.naturalWidth === width;
}"""


def upload_to_meta(server: Server, data: bytes, mime_type: str) -> str:
    """The file as the customer's phone puts it on Meta's servers; its media id."""
    answer = httpx.post(
        f"{server.url}/meta-sim/_sim/media",
        content=data,
        headers={"Content-Type": mime_type},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


@contextmanager
def slow_meta(server: Server, delay_ms: int) -> Iterator[None]:
    """Every Graph API answer (the media lookup, the download) leaves `delay_ms` late."""
    sim(server, "faults", {"slow_ms": delay_ms})
    try:
        yield
    finally:
        httpx.delete(f"{server.url}/meta-sim/_sim/faults", timeout=10).raise_for_status()


def test_a_picture_the_customer_sent_shows_in_the_thread(browser: Any, server: Server) -> None:
    media_id = upload_to_meta(server, tiny_png(WIDTH), "image/png")
    customer_writes(
        server, "5511933332222", "Duda Reis",
        type="image", payload={"id": media_id, "caption": "This one, please"},
    )  # fmt: skip

    page = new_page(browser, server)
    page.goto("/inbox")
    # Live first: the file is either stored before the thread loads or announced after.
    expect(page.locator("#live")).to_have_text("Live")
    page.locator(".conv", has_text="Duda Reis").click()
    bubble = page.locator(".msg.in[data-type=image]")
    expect(bubble.locator(".text")).to_have_text("This one, please")
    page.wait_for_function(LOADED, arg=WIDTH)
    expect(bubble.locator(".media")).to_contain_text("image/png")
    finish(page)


def test_a_picture_arriving_in_the_open_thread_appears_without_a_reload(
    browser: Any, server: Server
) -> None:
    phone, name = "5511922221111", "Caio Nunes"
    customer_writes(server, phone, name, "Sending you a photo of the damage")
    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator(".conv", has_text=name).click()
    expect(page.locator(".msg.in", has_text="photo of the damage")).to_be_visible()
    expect(page.locator("#live")).to_have_text("Live")  # the page hears the events from now
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads

    media_id = upload_to_meta(server, tiny_png(WIDTH), "image/png")
    # Meta answers slowly, so the message is in the open thread seconds before its file
    # is: only the job's `message.media` event can then bring the picture in.
    with slow_meta(server, 1500):
        customer_writes(server, phone, name, type="image", payload={"id": media_id})
        bubble = page.locator(".msg.in[data-type=image]")
        expect(bubble.locator(".media")).to_contain_text("preview not available yet")
        expect(bubble.locator("img.thumb")).to_have_count(0)
        page.wait_for_function(LOADED, arg=WIDTH)

    assert page.evaluate("() => window.sameDocument === true")
    expect(bubble.locator(".media")).to_contain_text("image/png")
    finish(page, "inbox-inbound-picture")
