"""``AutomationSink`` contract: the memory twin (``RecordingAutomationSink``: records,
answers from a script) and the HTTP sink (``HttpxAutomationSink`` POSTing to a real
receiver on 127.0.0.1) deliver, report and refuse alike. A receiver's failure is a
result, never an exception; a target the subscription may not reach is refused before
anything is sent.

Known difference: the twin resolves no names (a name other than ``localhost`` counts as
public), so DNS-rebinding checks are the HTTP sink's own tests (tests/unit/automation).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import pytest

from adapters.automation.httpx_sink import HttpxAutomationSink
from adapters.memory.automation import RecordingAutomationSink
from tests.unit.automation.receiver import Receiver, running_receiver
from whatsapp_core.automation import AutomationSink

pytestmark = pytest.mark.contract
BODY = b'{"id":"7f1c","type":"message.received","v":1,"data":{"text":"hi"}}'
HEADERS = {"Content-Type": "application/json", "X-Inbox-Signature": "t=1,v1=abc"}


class Target(Protocol):
    """The far end of a delivery, as a test sees it."""

    url: str

    def answer(self, status: int) -> None: ...

    def received(self) -> list[tuple[bytes, dict[str, str]]]: ...

    def go_away(self) -> None:
        """From now on nothing answers at ``url``."""


@dataclass
class World:
    make_sink: Callable[..., AutomationSink]
    target: Target

    def sink(self, *, platform_allows_private: bool = True) -> AutomationSink:
        return self.make_sink(platform_allows_private=platform_allows_private)


class HttpTarget:
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self.url = receiver.url

    def answer(self, status: int) -> None:
        self._receiver.answer(status)

    def received(self) -> list[tuple[bytes, dict[str, str]]]:
        return [(r.body, r.headers) for r in self._receiver.received]

    def go_away(self) -> None:
        with socket.socket() as free:  # a port nothing listens on
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"


class RecordingTarget:
    """The twin's far end is the twin itself: every sink made shares this one."""

    url = "http://127.0.0.1:8080/hook"

    def __init__(self) -> None:
        self.shared = RecordingAutomationSink()

    def make(self, *, platform_allows_private: bool = True) -> RecordingAutomationSink:
        self.shared.platform_allows_private = platform_allows_private
        return self.shared

    def answer(self, status: int) -> None:
        self.shared.answer(status, body='{"ok": true}')

    def received(self) -> list[tuple[bytes, dict[str, str]]]:
        """The POSTs that reached a receiver (an answer came)."""
        return [
            (c.body, {k.lower(): v for k, v in c.headers.items()})
            for c in self.shared.calls
            if c.result.status_code is not None
        ]

    def go_away(self) -> None:
        self.shared.answer(None, error="ConnectError: connection refused")


@pytest.fixture(params=["memory", "httpx"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        recording = RecordingTarget()
        yield World(make_sink=recording.make, target=recording)
        return
    async with running_receiver() as receiver:
        yield World(make_sink=HttpxAutomationSink, target=HttpTarget(receiver))


async def test_a_delivery_arrives_as_sent_and_its_answer_is_reported(world: World) -> None:
    world.target.answer(200)
    result = await world.sink().deliver(world.target.url, BODY, HEADERS, allow_private=True)
    assert (result.status_code, result.error, result.refused) == (200, None, False)
    assert result.latency_ms >= 0
    ((body, headers),) = world.target.received()
    assert body == BODY
    assert {k: headers[k.lower()] for k in HEADERS} == HEADERS


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
async def test_a_receivers_failure_is_a_result_not_an_exception(world: World, status: int) -> None:
    world.target.answer(status)
    result = await world.sink().deliver(world.target.url, BODY, HEADERS, allow_private=True)
    assert (result.status_code, result.refused) == (status, False)
    assert len(world.target.received()) == 1


async def test_nothing_listening_is_a_result_with_the_reason(world: World) -> None:
    world.target.go_away()
    result = await world.sink().deliver(world.target.url, BODY, HEADERS, allow_private=True)
    assert (result.status_code, result.refused) == (None, False)
    assert result.error
    assert world.target.received() == []


async def test_a_private_target_is_refused_unless_allowed(world: World) -> None:
    result = await world.sink().deliver(world.target.url, BODY, HEADERS, allow_private=False)
    assert (result.status_code, result.refused) == (None, True)
    assert result.error
    assert "private" in result.error
    assert world.target.received() == []


async def test_the_platform_ceiling_overrides_the_subscription(world: World) -> None:
    sink = world.sink(platform_allows_private=False)
    result = await sink.deliver(world.target.url, BODY, HEADERS, allow_private=True)
    assert result.refused
    assert world.target.received() == []


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "not a url", "http://169.254.169.254/latest/meta-data"]
)
async def test_a_target_no_subscription_may_reach_is_refused(world: World, url: str) -> None:
    result = await world.sink().deliver(url, BODY, HEADERS, allow_private=True)
    assert (result.status_code, result.refused) == (None, True)
    assert world.target.received() == []
