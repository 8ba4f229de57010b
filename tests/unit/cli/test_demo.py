"""`wa demo`'s data: an inbox a team has worked in, built through the use cases (here on
the memory profile; tests/integration/test_cli_harness.py runs the command itself)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.cli.demo import build_demo, demo_numbers
from entrypoints.cli.main import browser_url, main
from entrypoints.settings import Settings
from entrypoints.worker.runner import build_worker
from whatsapp_core.domain.model import Direction
from whatsapp_core.errors import Conflict
from whatsapp_core.jobs import JobState

pytestmark = pytest.mark.unit


@pytest_asyncio.fixture
async def runtime() -> AsyncIterator[Runtime]:
    built = build_runtime(Settings(profile="memory"))
    built.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    await built.start()
    yield built
    await built.stop()


async def test_the_demo_looks_like_a_worked_inbox(runtime: Runtime) -> None:
    progress: list[int] = []
    result = await build_demo(runtime, conversations=120, on_progress=progress.append)
    assert sum(progress) == 120
    assert len(progress) == 3  # a step of the bar per webhook batch of 50
    tenant = next(t for t in await _tenants(runtime) if t.slug == "demo")
    assert tenant.phone_number_id == demo_numbers("demo")[1]
    async with runtime.uow() as uow:
        threads = await uow.conversations.list(tenant.id, limit=1000)
        messages = [
            m
            for c in threads
            for m in await uow.messages.history(tenant.id, c.id, after=None, limit=100)
        ]
        notes = [n for c in threads for n in await uow.notes.for_conversation(tenant.id, c.id)]
    assert len(threads) == 120
    statuses = Counter(str(m.status) for m in messages if m.direction is Direction.OUTBOUND)
    assert statuses["read"] > 0
    assert statuses["delivered"] > 0
    assert set(statuses) <= {"sent", "delivered", "read", "failed"}  # none left "accepted"
    assert sum(statuses.values()) == result.counts["replies"] > 40
    assert all(m.author_id is not None for m in messages if m.direction is Direction.OUTBOUND)
    assert Counter(c.status.value for c in threads)["resolved"] == result.counts["resolved"] > 0
    assert sum(c.assignee_id is not None for c in threads) == result.counts["assigned"] > 0
    assert sum(bool(c.labels) for c in threads) == result.counts["labelled"] > 0
    assert len(notes) == result.counts["notes"] >= 1
    assert any(c.unread_count for c in threads)  # some customers are still waiting
    inbound = sum(m.direction is Direction.INBOUND for m in messages)
    assert result.messages == inbound + result.counts["replies"] == len(messages)


async def test_the_workers_do_not_send_the_demo_replies_again(runtime: Runtime) -> None:
    """The replies reached "Meta" while the demo was built; their msg.send jobs find a
    wamid when `wa serve` runs them, and send nothing."""
    await build_demo(runtime, conversations=30)
    gateway = MemoryWhatsAppGateway()
    worker = build_worker(runtime, gateway)
    await worker.drain()
    assert gateway.sent == []
    jobs = await worker.relay.list_jobs(limit=10_000)
    sends = [j for j in jobs if j.kind == "msg.send"]
    assert sends
    assert {(j.state, j.outcome) for j in sends} == {(JobState.DONE, "already_sent")}


async def test_a_second_demo_needs_its_own_slug(runtime: Runtime) -> None:
    await build_demo(runtime, conversations=2)
    with pytest.raises(Conflict, match="a tenant 'demo' already exists here"):
        await build_demo(runtime, conversations=2)
    shop = await build_demo(runtime, slug="shop", conversations=2)
    assert shop.phone_number_id == demo_numbers("shop")[1] != demo_numbers("demo")[1]
    assert {t.slug for t in await _tenants(runtime)} == {"demo", "shop"}


def test_demo_numbers_are_meta_shaped_and_stable() -> None:
    waba_id, phone_number_id, display = demo_numbers("demo")
    assert demo_numbers("demo") == (waba_id, phone_number_id, display)
    assert len(waba_id) == len(phone_number_id) == 15
    assert waba_id.isdigit()
    assert phone_number_id.isdigit()
    assert display.startswith("1555")
    assert len(display) == 11


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8000, "http://127.0.0.1:8000"),
        ("0.0.0.0", 9123, "http://127.0.0.1:9123"),  # noqa: S104 (a setting, not a bind)
        ("inbox.local", 8080, "http://inbox.local:8080"),
        ("::1", 8000, "http://[::1]:8000"),
    ],
)
def test_the_sign_in_url_follows_the_settings(host: str, port: int, url: str) -> None:
    assert browser_url(Settings(host=host, port=port)) == url


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["worker", "--concurrency", "0"], "Invalid value for '--concurrency'"),
        (["worker", "--concurrency", "-3"], "Invalid value for '--concurrency'"),
        (["serve", "--port", "0"], "Invalid value for '--port'"),
        (["serve", "--port", "70000"], "Invalid value for '--port'"),
        (["serve", "--jobs", "-1"], "Invalid value for '--jobs'"),
        (["demo", "--conversations", "0"], "Invalid value for '--conversations'"),
        (["simulator", "--port", "0"], "Invalid value for '--port'"),
    ],
)
def test_numeric_options_out_of_range_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    needle: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["wa", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wa: error: {needle}")
    assert len(err.strip().splitlines()) == 1


def test_the_memory_profile_makes_no_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in os.environ if n.startswith("WA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(sys, "argv", ["wa", "demo", "--profile", "memory"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert "the memory profile keeps nothing" in capsys.readouterr().err


async def _tenants(runtime: Runtime) -> list[Any]:
    async with runtime.uow() as uow:
        return list(await uow.tenants.list())
