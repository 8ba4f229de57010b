"""Deliveries over real HTTP: the worker, the httpx sink and a receiver on 127.0.0.1.

The clock is frozen and moved by hand, so backoff schedules are exact; the HTTP is real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from adapters.automation.httpx_sink import HttpxAutomationSink
from adapters.memory.jobs import MemoryOutboxRelay, MemoryRateLimiter
from entrypoints.worker import Worker
from tests.unit.automation.receiver import Answer, Receiver, running_receiver
from tests.unit.services.harness import Harness
from whatsapp_core.automation import EXCERPT_CHARS, DeliveryState, verify_signature
from whatsapp_core.errors import InvalidInput
from whatsapp_core.jobs import WEBHOOK_OUT, JobRecord, JobState, RetryPolicy
from whatsapp_core.policies.access import Role
from whatsapp_core.services import automation as auto
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.unit


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


@pytest.fixture
async def sink() -> AsyncIterator[HttpxAutomationSink]:
    s = HttpxAutomationSink(timeout=2.0)
    yield s
    await s.aclose()


def worker(h: Harness, sink: HttpxAutomationSink, max_attempts: int = 8) -> Worker:
    # rng=1.0: every backoff is its ceiling (1 s, 2 s, 4 s...), so schedules are exact.
    policy = RetryPolicy(rng=lambda: 1.0, max_attempts=max_attempts)
    return Worker(
        relay=MemoryOutboxRelay(h.uow.db), limiter=MemoryRateLimiter(), gateway=h.gateway,
        services=lambda: h.svc, clock=h.clock, policy=policy, sink=sink,
    )  # fmt: skip


async def subscribe(h: Harness, url: str) -> tuple[uuid.UUID, str]:
    sub, secret = await auto.create_subscription(
        h.svc, h.as_(Role.ADMIN), url=url, events=["message.received"], allow_private=True
    )
    return sub.id, secret


async def webhook_jobs(h: Harness) -> list[JobRecord]:
    jobs = await MemoryOutboxRelay(h.uow.db).list_jobs()
    return [j for j in jobs if j.kind == WEBHOOK_OUT]


async def test_the_receiver_verifies_each_event_with_the_subscription_secret(
    h: Harness, receiver: Receiver, sink: HttpxAutomationSink
) -> None:
    sid, secret = await subscribe(h, receiver.url)
    await ingest_webhook(h.svc, h.batch(h.text("Where is my order?")))
    await worker(h, sink).drain()

    (got,) = receiver.received
    assert got.path == "/hook"
    assert verify_signature(
        secret, got.body, got.headers["x-signature-256"], got.headers["x-webhook-timestamp"],
        now=h.clock.now(),
    )  # fmt: skip
    assert not verify_signature(
        "whsec_wrong", got.body, got.headers["x-signature-256"],
        got.headers["x-webhook-timestamp"], now=h.clock.now(),
    )  # fmt: skip
    event = json.loads(got.body)
    assert (event["type"], event["v"], event["data"]["text"]) == (
        "message.received", 1, "Where is my order?",
    )  # fmt: skip
    assert got.headers["x-event-id"] == event["id"]
    assert got.headers["x-event-type"] == "message.received"
    assert got.headers["content-type"] == "application/json"
    (logged,) = await auto.list_deliveries(h.svc, h.as_(Role.ADMIN), sid)
    assert (logged.state, logged.status_code, logged.response_excerpt) == (
        DeliveryState.DELIVERED, 200, '{"ok": true}',
    )  # fmt: skip
    assert logged.latency_ms is not None
    assert 0 < logged.latency_ms < 1000


async def test_500_is_retried_with_exponential_backoff_and_400_is_not(
    h: Harness, receiver: Receiver, sink: HttpxAutomationSink
) -> None:
    sid, _ = await subscribe(h, receiver.url)
    w = worker(h, sink)
    receiver.answer(500, 502, 200)
    await ingest_webhook(h.svc, h.batch(h.text("one")))
    await w.drain()
    delays = []
    for _ in range(2):
        (job,) = await webhook_jobs(h)
        assert job.state is JobState.PENDING
        assert job.available_at is not None
        delays.append((job.available_at - h.clock.now()).total_seconds())
        assert await w.drain() == 0  # not due yet
        h.clock.advance(job.available_at - h.clock.now())
        await w.drain()
    assert delays == [1.0, 2.0]  # base 1 s, doubled per attempt
    (job,) = await webhook_jobs(h)
    assert (job.state, job.attempts) == (JobState.DONE, 3)
    assert job.outcome
    assert job.outcome.startswith("delivered: HTTP 200")
    assert len({r.headers["x-event-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1  # the same bytes on every retry

    receiver.answer(400)
    h.clock.advance(timedelta(seconds=1))
    await ingest_webhook(h.svc, h.batch(h.text("two")))
    await w.drain()
    h.clock.advance(timedelta(hours=1))
    await w.drain()
    assert len(receiver.received) == 4  # one attempt, never retried
    failed = [j for j in await webhook_jobs(h) if j.attempts == 1]
    assert failed[0].state is JobState.DONE
    assert failed[0].outcome
    assert failed[0].outcome.startswith("failed: HTTP 400")
    log = await auto.list_deliveries(h.svc, h.as_(Role.ADMIN), sid)
    assert [(d.attempt, d.status_code, d.state.value) for d in log] == [
        (1, 400, "failed"), (3, 200, "delivered"), (2, 502, "retrying"), (1, 500, "retrying"),
    ]  # fmt: skip


async def test_429_retry_after_is_honoured(
    h: Harness, receiver: Receiver, sink: HttpxAutomationSink
) -> None:
    await subscribe(h, receiver.url)
    receiver.answer(Answer(429, headers=(("retry-after", "30"),)))
    await ingest_webhook(h.svc, h.batch(h.text("hi")))
    await worker(h, sink).drain()
    (job,) = await webhook_jobs(h)
    assert job.available_at is not None
    assert (job.available_at - h.clock.now()).total_seconds() == 30


async def test_a_logged_delivery_can_be_redelivered_by_hand(
    h: Harness, receiver: Receiver, sink: HttpxAutomationSink
) -> None:
    sid, secret = await subscribe(h, receiver.url)
    receiver.answer(400)
    await ingest_webhook(h.svc, h.batch(h.text("hi")))
    w = worker(h, sink)
    await w.drain()
    admin = h.as_(Role.ADMIN)
    (failed,) = await auto.list_deliveries(h.svc, admin, sid)
    await auto.redeliver(h.svc, admin, failed.id)
    h.clock.advance(timedelta(seconds=1))
    await w.drain()
    first, second = receiver.received
    assert (first.body, first.headers["x-event-id"]) == (second.body, second.headers["x-event-id"])
    assert verify_signature(
        secret, second.body, second.headers["x-signature-256"],
        second.headers["x-webhook-timestamp"], now=h.clock.now(),
    )  # fmt: skip
    newest = (await auto.list_deliveries(h.svc, admin, sid))[0]
    assert (newest.manual, newest.state, newest.status_code) == (True, DeliveryState.DELIVERED, 200)


async def test_a_receiver_that_keeps_failing_gets_its_subscription_disabled(
    h: Harness, receiver: Receiver, sink: HttpxAutomationSink
) -> None:
    sid, _ = await subscribe(h, receiver.url)
    receiver.default = Answer(503)
    w = worker(h, sink, max_attempts=2)
    for n in range(auto.DeliveryPolicy().disable_after + 2):
        await ingest_webhook(h.svc, h.batch(h.text(f"message {n}")))
        await w.drain()
        h.clock.advance(timedelta(seconds=2))
        await w.drain()
    # 10 failed deliveries (2 attempts each) disabled it; later events were not sent.
    assert len(receiver.received) == 2 * auto.DeliveryPolicy().disable_after
    (sub,) = await auto.list_subscriptions(h.svc, h.as_(Role.ADMIN))
    assert not sub.active
    assert "10 consecutive failed deliveries" in (sub.disabled_reason or "")
    audit = [e for e in h.uow.db.state.audit.values() if e.action == "webhook.auto_disable"]
    assert [(e.actor, e.entity_id) for e in audit] == [("system", str(sid))]


async def test_private_targets_are_refused_at_subscription_and_at_delivery(
    h: Harness, receiver: Receiver
) -> None:
    with pytest.raises(InvalidInput, match="private, loopback"):
        await auto.create_subscription(
            h.svc, h.as_(Role.ADMIN), url=receiver.url, events=["message.received"]
        )
    body, headers = b"{}", {"X-Event-Id": str(uuid.uuid4())}

    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # a public-looking name that resolves to this machine

    rebinding = HttpxAutomationSink(resolver=loopback)
    port = httpx.URL(receiver.url).port
    result = await rebinding.deliver(f"http://hooks.example.com:{port}/hook", body, headers)
    assert result.refused
    assert "127.0.0.1 is a private" in (result.error or "")
    # The operator's ceiling wins over a tenant admin's opt-in.
    locked = HttpxAutomationSink(platform_allows_private=False)
    result = await locked.deliver(receiver.url, body, headers, allow_private=True)
    assert result.refused
    assert receiver.received == []
    await rebinding.aclose()


@pytest.mark.parametrize("answer", ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1"])
async def test_a_name_resolving_to_the_never_list_is_refused_even_when_private_is_allowed(
    answer: str,
) -> None:
    """Allowing private targets (self-hosted n8n) still resolves the name: one that
    points at the metadata service or any link-local address is refused, never sent."""
    seen: list[httpx.Request] = []
    asked: list[tuple[str, int]] = []

    async def metadata(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["10.0.0.7", answer]  # one allowed answer does not excuse the other

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    sink = HttpxAutomationSink(resolver=metadata, transport=httpx.MockTransport(handler))
    for url in ("http://n8n:5678/webhook/x", "http://hooks.example.com/x"):
        result = await sink.deliver(url, b"{}", {}, allow_private=True)
        assert result.refused
        assert "metadata" in (result.error or "") or "link-local" in (result.error or "")
    assert asked == [("n8n", 5678), ("hooks.example.com", 80)]
    assert seen == []
    await sink.aclose()


async def test_an_allowed_private_name_is_pinned_and_each_address_tried_in_order() -> None:
    seen: list[str] = []

    async def two(host: str, port: int) -> list[str]:
        return ["::1", "10.0.0.7"]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "::1":
            raise httpx.ConnectError("connection refused")
        return httpx.Response(204)

    sink = HttpxAutomationSink(resolver=two, transport=httpx.MockTransport(handler))
    result = await sink.deliver("http://n8n:5678/webhook/x", b"{}", {}, allow_private=True)
    assert result.status_code == 204
    assert seen == ["::1", "10.0.0.7"]  # the checked addresses, never the name again
    refused = await sink.deliver("http://n8n:5678/webhook/x", b"{}", {})
    assert refused.refused  # without the opt-in, the private answers are refused
    assert len(seen) == 2
    await sink.aclose()


async def test_the_checked_address_is_the_one_connected_to() -> None:
    """DNS is resolved once; the request goes to that address with the name kept in the
    Host header and as the TLS server name (no second lookup to rebind)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    sink = HttpxAutomationSink(resolver=public, transport=httpx.MockTransport(handler))
    result = await sink.deliver("https://hooks.example.com:8443/n8n/x?a=1", b"{}", {})
    assert result.status_code == 204
    (request,) = seen
    assert (request.url.host, request.url.port) == ("93.184.215.14", 8443)
    assert request.url.path == "/n8n/x"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    await sink.aclose()


async def test_redirects_are_not_followed_and_bodies_are_cut_to_an_excerpt(
    receiver: Receiver, sink: HttpxAutomationSink
) -> None:
    receiver.answer(
        Answer(302, headers=(("location", "http://169.254.169.254/latest/meta-data"),)),
        Answer(400, body=b"e" * 10_000),
    )
    redirected = await sink.deliver(receiver.url, b"{}", {}, allow_private=True)
    assert redirected.status_code == 302
    assert len(receiver.received) == 1
    long = await sink.deliver(receiver.url, b"{}", {}, allow_private=True)
    assert long.status_code == 400
    assert long.response_excerpt is not None
    assert len(long.response_excerpt) == EXCERPT_CHARS


async def test_a_slow_receiver_times_out_and_a_dead_one_is_a_connection_error(
    receiver: Receiver,
) -> None:
    receiver.answer(Answer(200, delay=0.8))
    sink = HttpxAutomationSink(timeout=0.3)
    slow = await sink.deliver(receiver.url, b"{}", {}, allow_private=True)
    assert slow.status_code is None
    assert slow.error == "timed out after 0.3 s"
    assert 250 < slow.latency_ms < 1500
    dead = await sink.deliver("http://127.0.0.1:9/hook", b"{}", {}, allow_private=True)
    assert dead.status_code is None
    assert dead.error
    assert "ConnectError" in dead.error
    assert not dead.refused
    await sink.aclose()
