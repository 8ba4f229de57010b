"""The job monitor page in a real browser against `wa serve` (embedded default, whose
worker runs in-process): the manager's nav has it, the queues render and refresh, and a
contact export started there ends with a download of the whole list."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_inbox_browser import (
    ADMIN,
    TIMEOUT_MS,
    VIEWER,
    browser,
    finish,
    new_page,
    server,
)
from tests.integration.test_serve import Server

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
__all__ = ["browser", "server"]  # the module-scoped fixtures this module shares


def test_jobs_page_exports_contacts_and_shows_the_queues(browser: Any, server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        token = http.post("/api/auth/login", json=ADMIN).json()["access_token"]
        rows = "\n".join(f"Jobs Person {i},55119777{i:05d}" for i in range(40))
        imported = http.post(
            "/api/contacts/import", content=f"name,phone\n{rows}\n".encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        )  # fmt: skip
        assert imported.status_code == 200, imported.text
        total = len(http.get("/api/contacts?limit=500",
                             headers={"Authorization": f"Bearer {token}"}).json())  # fmt: skip

    page = new_page(browser, server)
    page.goto("/inbox")
    page.locator('a[data-nav="jobs"]').click()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.locator("#jobs-updated")).to_contain_text("Updated")
    expect(page.locator("#depths-body tr").first).to_be_visible()

    page.locator("#export-contacts").click()
    link = page.locator("#export-status a")
    expect(link).to_be_visible(timeout=TIMEOUT_MS * 2)
    expect(page.locator("#export-status")).to_contain_text(f"{total} of {total} rows")
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    assert path is not None
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "name,phone,bsuid,username,tags,opted_in"
    assert len(lines) == total + 1
    assert any(line.startswith("Jobs Person 7,") for line in lines)
    finish(page, "jobs")


def test_jobs_page_is_not_in_a_viewers_nav(browser: Any, server: Server) -> None:
    page = new_page(browser, server, who=VIEWER)
    page.goto("/inbox")
    expect(page.locator('a[data-nav="inbox"]')).to_be_visible()
    expect(page.locator('a[data-nav="jobs"]')).to_have_count(0)
    page.goto("/jobs")
    expect(page.locator(".page .hint")).to_contain_text("managers and admins")
    finish(page)
