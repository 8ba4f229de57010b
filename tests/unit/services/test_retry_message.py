"""Retrying a failed message by hand: a new message, once, under the rules of a first send."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from msgspec.structs import replace

from tests.unit.services.harness import Harness
from tests.unit.services.test_outbound import approved_template, conversation_id, message
from whatsapp_core.domain.model import Message
from whatsapp_core.errors import Conflict, Forbidden, NotFound, PolicyViolation
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import TemplateStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import (
    deliver_message,
    retry_message,
    send_reply,
    send_template,
)

pytestmark = pytest.mark.unit


async def failed_reply(h: Harness, cid: uuid.UUID, code: int = 131026) -> Message:
    queued = await send_reply(h.svc, h.as_(Role.AGENT), cid, "It ships today")
    h.gateway.fail_next(code)
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "failed"
    return message(h, queued.id)


async def test_a_failed_reply_is_sent_again_as_a_new_message(h: Harness) -> None:
    cid = await conversation_id(h)
    failed = await failed_reply(h, cid)
    agent = h.as_(Role.AGENT)

    copy = await retry_message(h.svc, agent, cid, failed.id)

    assert copy.id != failed.id
    assert (copy.text, copy.type, copy.status) == ("It ships today", "text", MessageStatus.ACCEPTED)
    assert copy.content["retry_of"] == str(failed.id)
    original = message(h, failed.id)
    assert (original.status, original.error_code) == (MessageStatus.FAILED, 131026)  # history kept
    assert original.content["retried_by"] == str(copy.id)
    jobs = [j.payload for j in h.uow.db.state.outbox.values() if j.kind == "msg.send"]
    assert {"message_id": str(copy.id)} in jobs
    assert await deliver_message(h.svc, h.gateway, h.t.id, copy.id) == "sent"
    assert [s.message.text for s in h.gateway.sent] == ["It ships today"]
    assert message(h, copy.id).wamid is not None
    assert "message.created" in h.events.kinds()


async def test_a_message_is_retried_once_and_a_failed_retry_can_be_retried(h: Harness) -> None:
    cid = await conversation_id(h)
    failed = await failed_reply(h, cid)
    agent = h.as_(Role.AGENT)
    copy = await retry_message(h.svc, agent, cid, failed.id)
    before = h.snapshot()
    with pytest.raises(Conflict) as info:
        await retry_message(h.svc, agent, cid, failed.id)
    assert info.value.code == "already_retried"
    assert h.snapshot() == before

    h.gateway.fail_next(131026)
    assert await deliver_message(h.svc, h.gateway, h.t.id, copy.id) == "failed"
    again = await retry_message(h.svc, agent, cid, copy.id)
    assert again.content["retry_of"] == str(copy.id)
    assert again.id not in (failed.id, copy.id)


async def test_only_a_failed_outbound_message_can_be_retried(h: Harness) -> None:
    cid = await conversation_id(h)
    agent = h.as_(Role.AGENT)
    queued = await send_reply(h.svc, agent, cid, "pending still")
    before = h.snapshot()
    with pytest.raises(Conflict) as info:
        await retry_message(h.svc, agent, cid, queued.id)
    assert info.value.code == "not_failed"
    inbound = next(m for m in h.uow.db.state.messages.values() if m.direction.value == "inbound")
    with pytest.raises(Conflict):
        await retry_message(h.svc, agent, cid, inbound.id)
    assert h.snapshot() == before


async def test_a_free_form_retry_outside_the_window_is_refused(h: Harness) -> None:
    cid = await conversation_id(h)
    failed = await failed_reply(h, cid)
    h.clock.advance(timedelta(hours=25))
    before = h.snapshot()
    with pytest.raises(PolicyViolation) as info:
        await retry_message(h.svc, h.as_(Role.AGENT), cid, failed.id)
    assert info.value.code == "window_closed"
    assert h.snapshot() == before
    assert "retried_by" not in message(h, failed.id).content


async def test_a_template_is_retried_outside_the_window_while_approved(h: Harness) -> None:
    cid = await conversation_id(h)
    await approved_template(h)
    h.clock.advance(timedelta(days=3))
    agent = h.as_(Role.AGENT)
    queued = await send_template(
        h.svc, agent, name="order_update", language="en",
        body_params=["Ana", "#42"], conversation_id=cid,
    )  # fmt: skip
    h.gateway.fail_next(131026)
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)

    copy = await retry_message(h.svc, agent, cid, queued.id)
    assert (copy.template_name, copy.template_language) == ("order_update", "en")
    await deliver_message(h.svc, h.gateway, h.t.id, copy.id)
    assert h.gateway.sent[-1].message.body_params == ["Ana", "#42"]


async def test_a_message_that_failed_after_it_was_sent_is_retried(h: Harness) -> None:
    """Meta accepted it (a wamid), then reported it failed in a status webhook."""
    cid = await conversation_id(h)
    agent = h.as_(Role.AGENT)
    queued = await send_reply(h.svc, agent, cid, "hi")
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    w = message(h, queued.id).wamid or ""
    await ingest_webhook(h.svc, h.batch(statuses=(h.status(w, "failed", error_code=131049),)))
    copy = await retry_message(h.svc, agent, cid, queued.id)
    assert copy.wamid is None
    assert await deliver_message(h.svc, h.gateway, h.t.id, copy.id) == "sent"
    assert message(h, copy.id).wamid not in (None, w)


async def test_a_template_no_longer_approved_is_not_retried(h: Harness) -> None:
    cid = await conversation_id(h)
    await approved_template(h)
    agent = h.as_(Role.AGENT)
    queued = await send_template(
        h.svc, agent, name="order_update", language="en",
        body_params=["Ana", "#42"], conversation_id=cid,
    )  # fmt: skip
    h.gateway.fail_next(131026)
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    async with h.uow() as uow:
        (template,) = h.uow.db.state.templates.values()
        await uow.templates.update(replace(template, status=TemplateStatus.PAUSED))
        await uow.commit()
    before = h.snapshot()
    with pytest.raises(PolicyViolation) as info:
        await retry_message(h.svc, agent, cid, queued.id)
    assert info.value.code == "template_not_approved"
    assert h.snapshot() == before


async def test_a_viewer_cannot_retry_and_another_conversation_is_not_found(h: Harness) -> None:
    cid = await conversation_id(h)
    failed = await failed_reply(h, cid)
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await retry_message(h.svc, h.as_(Role.VIEWER), cid, failed.id)
    with pytest.raises(NotFound):
        await retry_message(h.svc, h.as_(Role.AGENT), uuid.uuid4(), failed.id)
    with pytest.raises(NotFound):
        await retry_message(h.svc, h.as_(Role.ADMIN, other), cid, failed.id)
    assert h.snapshot() == before
