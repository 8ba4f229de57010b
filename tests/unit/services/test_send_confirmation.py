"""A send that may have reached Meta is not sent again once Meta's status names it.

Meta's send takes no idempotency key. The message id rides in ``biz_opaque_callback_data``
and comes back in the send's statuses; a redelivered ``msg.send`` job uses that to find
the wamid of an earlier attempt instead of sending a second time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.unit.services.harness import Harness
from tests.unit.services.test_outbound import conversation_id, message
from whatsapp_core.domain.model import Message
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import (
    CONFIRM_WINDOW,
    SEND_STARTED,
    deliver_message,
    retry_message,
    send_reply,
)

pytestmark = pytest.mark.unit


class WorkerDiesAfterMeta:
    """Meta takes the send, then the worker dies before it learns the wamid."""

    def __init__(self, h: Harness) -> None:
        self.inner = h.gateway

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        await self.inner.send(tenant, recipient, message)
        raise RuntimeError("worker killed")


async def queued(h: Harness) -> Message:
    return await send_reply(h.svc, h.as_(Role.AGENT), await conversation_id(h), "On its way")


async def crashed_send(h: Harness) -> Message:
    reply = await queued(h)
    with pytest.raises(RuntimeError):
        await deliver_message(h.svc, WorkerDiesAfterMeta(h), h.t.id, reply.id)  # type: ignore[arg-type]
    assert len(h.gateway.sent) == 1
    assert message(h, reply.id).wamid is None
    assert SEND_STARTED in message(h, reply.id).content
    return reply


async def test_every_send_names_its_message_in_the_callback_data(h: Harness) -> None:
    reply = await queued(h)
    await deliver_message(h.svc, h.gateway, h.t.id, reply.id)
    assert h.gateway.sent[0].message.callback_data == str(reply.id)


async def test_a_status_naming_the_message_recovers_the_wamid_instead_of_resending(
    h: Harness,
) -> None:
    reply = await crashed_send(h)
    wamid = h.gateway.sent[0].wamid
    statuses = (
        h.status(wamid, "sent", callback_data=str(reply.id)),
        h.status(wamid, "delivered", callback_data=str(reply.id)),
    )
    report = await ingest_webhook(h.svc, h.batch(statuses=statuses))
    assert report.statuses_pending == 2  # the wamid is not ours yet

    h.clock.advance(timedelta(seconds=61))  # the lease expired: the job comes back
    assert await deliver_message(h.svc, h.gateway, h.t.id, reply.id) == "recovered"
    assert len(h.gateway.sent) == 1  # not sent again
    stored = message(h, reply.id)
    assert (stored.wamid, stored.status) == (wamid, MessageStatus.DELIVERED)
    assert await deliver_message(h.svc, h.gateway, h.t.id, reply.id) == "already_sent"


async def test_without_a_status_the_job_waits_then_sends_again(h: Harness) -> None:
    reply = await crashed_send(h)
    h.clock.advance(timedelta(seconds=10))
    with pytest.raises(DeliveryError) as info:
        await deliver_message(h.svc, h.gateway, h.t.id, reply.id)
    assert info.value.retry_after == pytest.approx(
        (CONFIRM_WINDOW - timedelta(seconds=10)).total_seconds()
    )
    assert len(h.gateway.sent) == 1

    h.clock.advance(CONFIRM_WINDOW)  # Meta never said a word: it most likely never got it
    assert await deliver_message(h.svc, h.gateway, h.t.id, reply.id) == "sent"
    assert len(h.gateway.sent) == 2  # at least once: a lost send is worse than a double


async def test_another_messages_status_or_foreign_callback_data_recovers_nothing(
    h: Harness,
) -> None:
    reply = await crashed_send(h)
    strays = (
        h.status("wamid.OTHER1", "sent", callback_data=str(uuid.uuid4())),
        h.status("wamid.OTHER2", "sent", callback_data="campaign-42"),  # another tool's
    )
    await ingest_webhook(h.svc, h.batch(statuses=strays))
    h.clock.advance(CONFIRM_WINDOW)
    assert await deliver_message(h.svc, h.gateway, h.t.id, reply.id) == "sent"
    assert message(h, reply.id).wamid == h.gateway.sent[-1].wamid


async def test_an_error_meta_answered_clears_the_mark_so_the_retry_does_not_wait(
    h: Harness,
) -> None:
    reply = await queued(h)
    h.gateway.fail_next(130429, http_status=400)  # throttled: Meta answered, took nothing
    with pytest.raises(DeliveryError):
        await deliver_message(h.svc, h.gateway, h.t.id, reply.id)
    assert SEND_STARTED not in message(h, reply.id).content
    assert await deliver_message(h.svc, h.gateway, h.t.id, reply.id) == "sent"


async def test_a_call_that_got_no_answer_keeps_the_mark(h: Harness) -> None:
    reply = await queued(h)
    h.gateway.fail_next(None, http_status=None)  # a timeout: no answer at all
    with pytest.raises(DeliveryError):
        await deliver_message(h.svc, h.gateway, h.t.id, reply.id)
    assert SEND_STARTED in message(h, reply.id).content
    with pytest.raises(DeliveryError) as info:  # it may have reached Meta: wait for word
        await deliver_message(h.svc, h.gateway, h.t.id, reply.id)
    assert info.value.retry_after is not None


async def test_a_retried_copy_does_not_inherit_the_mark(h: Harness) -> None:
    reply = await queued(h)
    h.gateway.fail_next(131026)
    assert await deliver_message(h.svc, h.gateway, h.t.id, reply.id) == "failed"
    copy = await retry_message(h.svc, h.as_(Role.AGENT), reply.conversation_id, reply.id)
    assert SEND_STARTED not in copy.content
    assert await deliver_message(h.svc, h.gateway, h.t.id, copy.id) == "sent"
