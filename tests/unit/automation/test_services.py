"""Flow 4's use cases on memory adapters with a scripted sink."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from msgspec.structs import replace

from tests.unit.automation.fakes import FakeSink, approved_template, triggers, webhook_jobs
from tests.unit.services.harness import Harness
from whatsapp_core.automation import (
    DeliveryState,
    WebhookDeliveryFailed,
    WebhookJob,
    verify_signature,
)
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.webhook import TemplateUpdate
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from whatsapp_core.policies.access import Role
from whatsapp_core.services import automation as auto
from whatsapp_core.services import conversations as conv
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_template

pytestmark = pytest.mark.unit
URL = "https://hooks.example.com/n8n/webhook/wa"


async def subscribe(h: Harness, *events: str, **kw: object) -> tuple[uuid.UUID, str]:
    sub, secret = await auto.create_subscription(
        h.svc, h.as_(Role.ADMIN), url=str(kw.pop("url", URL)),
        events=list(events or ("message.received",)), **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return sub.id, secret


async def fan_out_all(h: Harness) -> list[str]:
    return [
        await auto.fan_out(h.svc, h.t.id, payload, trigger_id=job_id)
        for job_id, payload in triggers(h)
    ]


async def deliver(
    h: Harness, sink: FakeSink, job: WebhookJob, attempt: int = 1, **kw: object
) -> str:
    h.clock.advance(timedelta(seconds=1))  # log entries are ordered by time
    return await auto.deliver_event(
        h.svc, sink, h.t.id, job, attempt=attempt, final=bool(kw.pop("final", False)),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_only_admins_manage_webhooks_and_the_secret_is_shown_once(h: Harness) -> None:
    for role in (Role.VIEWER, Role.AGENT, Role.MANAGER):
        with pytest.raises(Forbidden):
            await subscribe_as(h, h.as_(role))
    api_key = h.as_key()
    with pytest.raises(Forbidden, match="API keys may not"):
        await subscribe_as(h, api_key)

    sid, secret = await subscribe(h, "message.received", "ai.classified", description="n8n")
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    (listed,) = await auto.list_subscriptions(h.svc, h.as_(Role.ADMIN))
    assert (listed.id, listed.events, listed.active) == (
        sid, ("message.received", "ai.classified"), True,
    )  # fmt: skip
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "webhook.create"]
    assert secret not in json.dumps(entry.after)


async def subscribe_as(h: Harness, principal: Principal) -> None:
    await auto.create_subscription(h.svc, principal, url=URL, events=["message.received"])


async def test_private_targets_need_the_admin_flag(h: Harness) -> None:
    with pytest.raises(InvalidInput, match="private network name"):
        await subscribe(h, url="http://n8n:5678/webhook/wa")
    sid, _ = await subscribe(h, url="http://n8n:5678/webhook/wa", allow_private=True)
    admin = h.as_(Role.ADMIN)
    with pytest.raises(InvalidInput, match="private network name"):
        await auto.update_subscription(h.svc, admin, sid, allow_private=False)
    moved = await auto.update_subscription(h.svc, admin, sid, url=URL, allow_private=False)
    assert (moved.url, moved.allow_private) == (URL, False)


async def test_update_and_delete_are_audited_and_scoped_to_the_tenant(h: Harness) -> None:
    sid, _ = await subscribe(h)
    admin = h.as_(Role.ADMIN)
    off = await auto.update_subscription(h.svc, admin, sid, active=False)
    assert not off.active
    assert off.disabled_reason == f"disabled by {admin.actor}"
    other = await h.add_tenant("beta", phone_number_id="2000000001")
    with pytest.raises(NotFound):
        await auto.update_subscription(h.svc, h.as_(Role.ADMIN, other), sid, active=True)
    with pytest.raises(NotFound):
        await auto.delete_subscription(h.svc, h.as_(Role.ADMIN, other), sid)
    await auto.delete_subscription(h.svc, admin, sid)
    assert await auto.list_subscriptions(h.svc, admin) == []
    actions = sorted(e.action for e in h.uow.db.state.audit.values() if "webhook" in e.action)
    assert actions == ["webhook.create", "webhook.delete", "webhook.update"]


async def test_fan_out_queues_one_signed_job_per_matching_active_subscription_once(
    h: Harness,
) -> None:
    a, _ = await subscribe(h, "message.received", "contact.created")
    b, _ = await subscribe(h, "message.received")
    await subscribe(h, "template.status")  # another event
    off, _ = await subscribe(h, "message.received")
    await auto.update_subscription(h.svc, h.as_(Role.ADMIN), off, active=False)

    await ingest_webhook(h.svc, h.batch(h.text("Where is my order?")))
    outcomes = await fan_out_all(h)
    assert outcomes == ["queued 1 deliveries", "queued 2 deliveries", "no subscribers"]
    jobs = webhook_jobs(h)
    assert sorted((j.event, j.subscription_id) for j in jobs) == sorted(
        [("contact.created", a), ("message.received", a), ("message.received", b)]
    )
    # A run of the same trigger again (a worker died after commit) queues nothing new,
    # and event ids derive from (trigger, subscription): the same on any re-run.
    assert await fan_out_all(h) == ["already fanned out", "already fanned out", "no subscribers"]
    assert len(webhook_jobs(h)) == 3
    trigger_id = triggers(h)[1][0]
    received = [j for j in jobs if j.event == "message.received"]
    expected = {uuid.uuid5(a, str(trigger_id)), uuid.uuid5(b, str(trigger_id))}
    assert {j.event_id for j in received} == expected


async def test_every_event_type_gets_a_versioned_payload_from_the_stored_entities(
    h: Harness,
) -> None:
    from whatsapp_core.automation import EVENT_TYPES

    await subscribe(h, *EVENT_TYPES)
    template = await approved_template(h)
    async with h.uow() as uow:  # under review again, so Meta's approval moves it
        from whatsapp_core.policies.templates import TemplateStatus

        await uow.templates.update(replace(template, status=TemplateStatus.PENDING))
        await uow.commit()
    await ingest_webhook(h.svc, h.batch(h.text("Where is my order #123?")))
    (c,) = h.uow.db.state.conversations.values()
    agent = await h.member(Role.AGENT)
    await conv.assign(h.svc, agent, c.id, agent.user_id)
    await conv.resolve(h.svc, agent, c.id)
    update = TemplateUpdate(
        waba_id=h.t.waba_id or "", meta_template_id="987", name="order_status",
        language="en", event="APPROVED",
    )  # fmt: skip
    await ingest_webhook(h.svc, h.batch(templates=(update,)))
    (message,) = [m for m in h.uow.db.state.messages.values()]
    async with h.uow() as uow:
        # What Flow 1's status path and the AI classifier queue.
        status = {"event": "message.status", "message_id": str(message.id), "status": "read"}
        classified = {
            "event": "ai.classified", "message_id": str(message.id),
            "conversation_id": str(c.id), "intent": "order_status", "confidence": 0.93,
        }  # fmt: skip
        await h.svc.enqueue(uow, h.t.id, "n8n.trigger", status)
        await h.svc.enqueue(uow, h.t.id, "n8n.trigger", classified)
        await uow.commit()
    await fan_out_all(h)

    bodies = {j.event: json.loads(j.body) for j in webhook_jobs(h)}
    assert set(bodies) == set(EVENT_TYPES)
    for event, body in bodies.items():
        assert (body["type"], body["v"], body["tenant_id"]) == (event, 1, str(h.t.id))
        assert uuid.UUID(body["id"])
        assert body["occurred_at"]
    received = bodies["message.received"]["data"]
    assert received["text"] == "Where is my order #123?"
    assert received["contact"]["wa_id"] == "5511999999999"
    assert received["contact"]["bsuid"] == "US.13491208655302741918"
    assert bodies["contact.created"]["data"]["contact"]["name"] == "Ana"
    assert bodies["conversation.opened"]["data"]["status"] == "open"
    assert bodies["conversation.assigned"]["data"]["assignee_id"] == str(agent.user_id)
    assert bodies["conversation.resolved"]["data"]["status"] == "resolved"
    assert bodies["message.status"]["data"]["status"] == "read"
    assert bodies["template.status"]["data"] | {"template_id": None} == {
        "template_id": None, "name": "order_status", "language": "en", "category": "UTILITY",
        "status": "APPROVED", "reason": None, "meta_id": "987",
    }  # fmt: skip
    classified = bodies["ai.classified"]["data"]
    assert (classified["intent"], classified["confidence"]) == ("order_status", 0.93)
    assert classified["conversation_id"] == str(c.id)


async def _one_job(h: Harness, *events: str, **kw: object) -> tuple[uuid.UUID, str, WebhookJob]:
    sid, secret = await subscribe(h, *events, **kw)
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    await fan_out_all(h)
    (job,) = [j for j in webhook_jobs(h) if j.event == "message.received"]
    return sid, secret, job


async def test_a_delivery_is_signed_logged_and_retried_only_when_it_can_help(
    h: Harness,
) -> None:
    sid, secret, job = await _one_job(h)
    sink = FakeSink()
    sink.answer(500, None, 200)
    with pytest.raises(WebhookDeliveryFailed, match="HTTP 500"):
        await deliver(h, sink, job, attempt=1)
    with pytest.raises(WebhookDeliveryFailed, match="connection refused"):
        await deliver(h, sink, job, attempt=2)
    assert (await deliver(h, sink, job, attempt=3)).startswith("delivered: HTTP 200")

    call = sink.calls[-1]
    assert call.url == URL
    assert call.body == job.body.encode()
    assert call.headers["X-Event-Id"] == str(job.event_id)
    assert call.headers["X-Event-Type"] == "message.received"
    assert verify_signature(
        secret, call.body, call.headers["X-Signature-256"], call.headers["X-Webhook-Timestamp"],
        now=h.clock.now(),
    )  # fmt: skip
    log = await auto.list_deliveries(h.svc, h.as_(Role.ADMIN), sid)
    assert [(d.attempt, d.state, d.status_code) for d in log] == [
        (3, DeliveryState.DELIVERED, 200),
        (2, DeliveryState.RETRYING, None),
        (1, DeliveryState.RETRYING, 500),
    ]
    assert log[1].error == "connection refused"

    sink.answer(400)
    assert (await deliver(h, sink, job, attempt=1)).startswith("failed: HTTP 400")
    sink.answer(503)
    assert "retries used up" in await deliver(h, sink, job, attempt=8, final=True)


async def test_repeated_failed_deliveries_disable_the_subscription_with_an_audit_entry(
    h: Harness,
) -> None:
    sid, _, job = await _one_job(h)
    sink = FakeSink()
    policy = auto.DeliveryPolicy(disable_after=3)
    sink.answer(404, 410, 400)
    for _ in range(3):
        await deliver(h, sink, job, policy=policy)
    admin = h.as_(Role.ADMIN)
    (sub,) = await auto.list_subscriptions(h.svc, admin)
    assert not sub.active
    assert sub.consecutive_failures == 3
    assert "3 consecutive failed deliveries" in (sub.disabled_reason or "")
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "webhook.auto_disable"]
    assert (entry.actor, entry.entity_id, entry.after and entry.after["active"]) == (
        "system", str(sid), False,
    )  # fmt: skip
    # A disabled subscription gets nothing more, not even queued retries.
    assert await deliver(h, sink, job) == "skipped: the subscription is disabled"
    assert len(sink.calls) == 3
    enabled = await auto.update_subscription(h.svc, admin, sid, active=True)
    assert (enabled.active, enabled.consecutive_failures, enabled.disabled_reason) == (
        True, 0, None,
    )  # fmt: skip


async def test_manual_redelivery_queues_the_same_event_again(h: Harness) -> None:
    sid, _, job = await _one_job(h)
    sink = FakeSink()
    sink.answer(400)
    await deliver(h, sink, job)
    admin = h.as_(Role.ADMIN)
    (failed,) = await auto.list_deliveries(h.svc, admin, sid)
    again = await auto.redeliver(h.svc, admin, failed.id)
    assert (again.event_id, again.body, again.manual) == (job.event_id, job.body, True)
    assert webhook_jobs(h)[-1] == again
    assert (await deliver(h, sink, again)).startswith("delivered")
    newest = (await auto.list_deliveries(h.svc, admin, sid))[0]
    assert (newest.manual, newest.state) == (True, DeliveryState.DELIVERED)

    other = await h.add_tenant("beta", phone_number_id="2000000001")
    with pytest.raises(NotFound):
        await auto.redeliver(h.svc, h.as_(Role.ADMIN, other), failed.id)
    await auto.update_subscription(h.svc, admin, sid, active=False)
    with pytest.raises(Conflict, match="disabled"):
        await auto.redeliver(h.svc, admin, failed.id)
    assert "webhook.redeliver" in {e.action for e in h.uow.db.state.audit.values()}


async def test_a_deleted_subscription_drops_its_queued_deliveries(h: Harness) -> None:
    sid, _, job = await _one_job(h)
    await auto.delete_subscription(h.svc, h.as_(Role.ADMIN), sid)
    sink = FakeSink()
    assert await deliver(h, sink, job) == "skipped: the subscription was deleted"
    assert sink.calls == []


async def test_a_slow_receiver_holds_no_transaction(h: Harness) -> None:
    """While the receiver is being called, ingest (which needs the database) completes."""
    _, _, job = await _one_job(h)
    sink = FakeSink()

    async def ingest_meanwhile() -> None:
        await asyncio.wait_for(ingest_webhook(h.svc, h.batch(h.text("more"))), timeout=1)

    sink.during = ingest_meanwhile
    assert (await deliver(h, sink, job)).startswith("delivered")
    assert len(h.uow.db.state.messages) == 2


# -- Idempotency-Key --------------------------------------------------------------------


async def test_the_same_idempotency_key_returns_the_same_message_and_sends_once(
    h: Harness,
) -> None:
    await approved_template(h)
    key = h.as_key()
    request = {"name": "order_status", "to": "5511988887777", "params": ["Ana", "A-1"]}

    async def send() -> object:
        from whatsapp_core.domain.identity import CustomerIdentity

        return await send_template(
            h.svc, key, name="order_status", language="en", body_params=["Ana", "A-1"],
            to=CustomerIdentity(wa_id="5511988887777"),
        )  # fmt: skip

    first, replayed = await auto.send_once(h.svc, key, "evt-1", request, send)  # type: ignore[arg-type]
    again, replayed_again = await auto.send_once(h.svc, key, "evt-1", request, send)  # type: ignore[arg-type]
    assert (again.id, replayed, replayed_again) == (first.id, False, True)
    sends = [j for j in h.uow.db.state.outbox.values() if j.kind == "msg.send"]
    assert len(sends) == 1

    with pytest.raises(Conflict, match="different request") as caught:
        await auto.send_once(h.svc, key, "evt-1", {**request, "params": ["Bo", "B-2"]}, send)  # type: ignore[arg-type]
    assert caught.value.code == "idempotency_key_reused"
    # Keys are per caller: another API key may use the same key for its own request.
    other = h.as_key()
    third, replayed = await auto.send_once(h.svc, other, "evt-1", request, send)  # type: ignore[arg-type]
    assert third.id != first.id
    assert not replayed


async def test_a_failed_request_frees_its_key_and_a_stale_claim_is_taken_over(
    h: Harness,
) -> None:
    key = h.as_key()
    calls = 0

    async def failing() -> object:
        nonlocal calls
        calls += 1
        raise NotFound("no template 'x'")

    with pytest.raises(NotFound):
        await auto.send_once(h.svc, key, "k", {"a": 1}, failing)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await auto.send_once(h.svc, key, "k", {"a": 1}, failing)  # type: ignore[arg-type]
    assert calls == 2

    # A claim whose request never finished blocks its key for a minute, then is taken over.
    from whatsapp_core.automation import IdempotencyRecord

    async with h.uow() as uow:
        await uow.idempotency.claim(
            IdempotencyRecord(
                tenant_id=h.t.id, key=f"send:{key.actor}:stuck", request_hash="x",
                created_at=h.clock.now(),
            )
        )  # fmt: skip
        await uow.commit()
    import hashlib

    import msgspec

    fingerprint = hashlib.sha256(msgspec.json.encode({"a": 1}, order="sorted")).hexdigest()
    async with h.uow() as uow:
        record = await uow.idempotency.get(h.t.id, f"send:{key.actor}:stuck")
        assert record is not None
        await uow.idempotency.update(replace(record, request_hash=fingerprint))
        await uow.commit()
    with pytest.raises(Conflict, match="still running"):
        await auto.send_once(h.svc, key, "stuck", {"a": 1}, failing)  # type: ignore[arg-type]
    h.clock.advance(timedelta(seconds=61))
    with pytest.raises(NotFound):
        await auto.send_once(h.svc, key, "stuck", {"a": 1}, failing)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        await auto.send_once(h.svc, key, " ", {"a": 1}, failing)  # type: ignore[arg-type]
