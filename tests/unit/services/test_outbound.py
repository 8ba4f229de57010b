"""Flow 2 on memory adapters: window rule, queueing, delivery, retries and failures."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from msgspec.structs import replace

from tests.unit.services.harness import ANA_PHONE, Harness
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Message
from whatsapp_core.errors import DeliveryError, Forbidden, InvalidInput, NotFound, PolicyViolation
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import TemplateCategory, TemplateComponents, TemplateStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import deliver_message, send_reply, send_template
from whatsapp_core.services.templates import create_template

pytestmark = pytest.mark.unit


async def conversation_id(h: Harness, **identity: object) -> uuid.UUID:
    await ingest_webhook(h.svc, h.batch(h.text("hello", **identity)))  # type: ignore[arg-type]
    (conversation,) = h.uow.db.state.conversations.values()
    return conversation.id


def message(h: Harness, message_id: uuid.UUID) -> Message:
    return h.uow.db.state.messages[(h.t.id, message_id)]


async def test_a_reply_inside_the_window_is_queued_audited_then_sent(h: Harness) -> None:
    cid = await conversation_id(h)
    agent = h.as_(Role.AGENT)
    queued = await send_reply(h.svc, agent, cid, "It ships today")

    assert queued.status is MessageStatus.ACCEPTED
    state = h.uow.db.state
    assert [j.payload for j in state.outbox.values() if j.kind == "msg.send"] == [
        {"message_id": str(queued.id)}
    ]
    (audit,) = state.audit.values()
    assert (audit.action, audit.actor) == ("message.send", f"user:{agent.user_id}")

    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "sent"
    (sent,) = h.gateway.sent
    assert (sent.recipient.wa_id, sent.message.text) == (ANA_PHONE, "It ships today")
    assert message(h, queued.id).wamid == sent.wamid


async def test_a_redelivered_send_job_never_sends_twice(h: Harness) -> None:
    queued = await send_reply(h.svc, h.as_(Role.AGENT), await conversation_id(h), "once")
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "already_sent"
    assert len(h.gateway.sent) == 1


async def test_a_bsuid_only_contact_is_sent_to_by_bsuid(h: Harness) -> None:
    cid = await conversation_id(h, wa_id=None, username="@ana")
    queued = await send_reply(h.svc, h.as_(Role.AGENT), cid, "hi")
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    assert h.gateway.sent[0].recipient.wa_id is None
    assert h.gateway.sent[0].recipient.bsuid is not None


async def test_outside_the_window_a_reply_is_refused_with_the_closing_time(h: Harness) -> None:
    cid = await conversation_id(h)
    h.clock.advance(timedelta(hours=25))
    before = h.snapshot()
    with pytest.raises(PolicyViolation) as info:
        await send_reply(h.svc, h.as_(Role.AGENT), cid, "too late")
    assert info.value.code == "window_closed"
    assert info.value.details["closes_at"]
    assert h.snapshot() == before


@pytest.mark.parametrize("text", ["", "   ", "x" * 4097])
async def test_empty_or_oversized_text_is_refused(h: Harness, text: str) -> None:
    cid = await conversation_id(h)
    before = h.snapshot()
    with pytest.raises(InvalidInput) as info:
        await send_reply(h.svc, h.as_(Role.AGENT), cid, text)
    assert info.value.details["field"] == "text"
    assert h.snapshot() == before


async def test_a_viewer_cannot_reply(h: Harness) -> None:
    cid = await conversation_id(h)
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await send_reply(h.svc, h.as_(Role.VIEWER), cid, "hi")
    assert h.snapshot() == before


async def test_another_tenants_conversation_is_not_found(h: Harness) -> None:
    cid = await conversation_id(h)
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    before = h.snapshot()
    with pytest.raises(NotFound):
        await send_reply(h.svc, h.as_(Role.ADMIN, other), cid, "hi")
    assert h.snapshot() == before


async def test_a_permanent_meta_error_marks_the_message_failed(h: Harness) -> None:
    queued = await send_reply(h.svc, h.as_(Role.AGENT), await conversation_id(h), "hi")
    h.gateway.fail_next(131047)
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "failed"
    failed = message(h, queued.id)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, 131047)
    assert "message.status" in h.events.kinds()
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "already_sent"


@pytest.mark.parametrize(
    ("code", "http"), [(130429, 400), (131056, 400), (None, 503), (131000, 500)]
)
async def test_a_retryable_error_propagates_and_leaves_the_message_queued(
    h: Harness, code: int | None, http: int
) -> None:
    queued = await send_reply(h.svc, h.as_(Role.AGENT), await conversation_id(h), "hi")
    h.gateway.fail_next(code, http_status=http)
    with pytest.raises(DeliveryError):
        await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    assert message(h, queued.id).status is MessageStatus.ACCEPTED
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "sent"


async def test_statuses_that_raced_the_send_are_applied_when_the_wamid_is_known(h: Harness) -> None:
    queued = await send_reply(h.svc, h.as_(Role.AGENT), await conversation_id(h), "hi")
    expected = "wamid.RACED"
    h.gateway.next_wamids.append(expected)
    await ingest_webhook(h.svc, h.batch(statuses=(h.status(expected, "delivered"),)))
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    assert message(h, queued.id).status is MessageStatus.DELIVERED
    assert (h.t.id, expected) not in h.uow.db.state.pending


async def test_statuses_only_move_forward_and_failed_is_final(h: Harness) -> None:
    queued = await send_reply(h.svc, h.as_(Role.AGENT), await conversation_id(h), "hi")
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    w = message(h, queued.id).wamid or ""
    await ingest_webhook(h.svc, h.batch(statuses=(h.status(w, "read"), h.status(w, "delivered"))))
    assert message(h, queued.id).status is MessageStatus.READ
    await ingest_webhook(
        h.svc, h.batch(statuses=(h.status(w, "failed", error_code=131026, error_text="x"),))
    )
    await ingest_webhook(h.svc, h.batch(statuses=(h.status(w, "read"),)))
    assert (message(h, queued.id).status, message(h, queued.id).error_code) == ("failed", 131026)


async def approved_template(h: Harness) -> None:
    template = await create_template(
        h.svc, h.as_(Role.MANAGER), name="order_update", language="en",
        category=TemplateCategory.UTILITY,
        components=TemplateComponents(body="Hi {{1}}, order {{2}} shipped"),
    )  # fmt: skip
    async with h.uow() as uow:
        await uow.templates.update(replace(template, status=TemplateStatus.APPROVED))
        await uow.commit()


async def test_an_approved_template_can_be_sent_outside_the_window(h: Harness) -> None:
    cid = await conversation_id(h)
    await approved_template(h)
    h.clock.advance(timedelta(days=3))
    queued = await send_template(
        h.svc, h.as_(Role.AGENT), name="order_update", language="en",
        body_params=["Ana", "#42"], conversation_id=cid,
    )  # fmt: skip
    assert queued.text == "Hi Ana, order #42 shipped"
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    assert h.gateway.sent[0].message.body_params == ["Ana", "#42"]
    w = message(h, queued.id).wamid or ""
    await ingest_webhook(h.svc, h.batch(statuses=(h.status(w, "read"),)))
    (template,) = h.uow.db.state.templates.values()
    assert (template.sent, template.delivered, template.read, template.failed) == (1, 1, 1, 0)


async def test_an_api_key_sends_a_template_to_a_new_phone(h: Harness) -> None:
    await approved_template(h)
    key = h.as_key()
    queued = await send_template(
        h.svc, key, name="order_update", language="en", body_params=["Bo", "#7"],
        to=CustomerIdentity(wa_id="4915112345678"),
    )  # fmt: skip
    (contact,) = h.uow.db.state.contacts.values()
    assert contact.wa_id == "4915112345678"
    assert queued.contact_id == contact.id


@pytest.mark.parametrize(
    ("params", "error"),
    [(["only one"], InvalidInput), (["a", "b", "c"], InvalidInput)],
)
async def test_template_parameters_must_match(h: Harness, params: list[str], error: type) -> None:
    cid = await conversation_id(h)
    await approved_template(h)
    before = h.snapshot()
    with pytest.raises(error):
        await send_template(
            h.svc, h.as_(Role.AGENT), name="order_update", language="en",
            body_params=params, conversation_id=cid,
        )  # fmt: skip
    assert h.snapshot() == before


async def test_unapproved_or_unknown_templates_are_refused(h: Harness) -> None:
    cid = await conversation_id(h)
    await create_template(
        h.svc, h.as_(Role.MANAGER), name="draft_one", language="en",
        category="UTILITY", components=TemplateComponents(body="Hello"),
    )  # fmt: skip
    agent = h.as_(Role.AGENT)
    before = h.snapshot()
    with pytest.raises(PolicyViolation):
        await send_template(h.svc, agent, name="draft_one", language="en", conversation_id=cid)
    with pytest.raises(NotFound):
        await send_template(h.svc, agent, name="missing", language="en", conversation_id=cid)
    assert h.snapshot() == before
