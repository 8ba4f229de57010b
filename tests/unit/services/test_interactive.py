"""Reply buttons and lists on memory adapters: queued like a reply (role, window, audit,
outbox, event), sent with Meta's body, and the customer's choice lands in the thread."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from adapters.meta import decode_webhook
from adapters.meta.translate import to_batch
from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, PHONE_NUMBER_ID, WABA_ID, Harness
from whatsapp_core.domain.model import Message
from whatsapp_core.errors import DeliveryError, Forbidden, InvalidInput, NotFound, PolicyViolation
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.interactive import (
    InteractiveContent,
    InteractiveKind,
    ListRow,
    ListSection,
    ReplyButton,
)
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.services.conversations import get_thread
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import deliver_message
from whatsapp_core.services.outbound_interactive import send_interactive

pytestmark = pytest.mark.unit

BUTTONS = InteractiveContent(
    kind=InteractiveKind.BUTTON,
    body="Shall we keep your booking for Friday?",
    header="Booking #4417",
    footer="Acme Travel",
    buttons=(ReplyButton("keep", "Keep it"), ReplyButton("cancel", "Cancel")),
)
LIST = InteractiveContent(
    kind=InteractiveKind.LIST,
    body="Which shipping option do you prefer?",
    button="Options",
    sections=(
        ListSection(title="Fast", rows=(ListRow("express", "Express", "Next day"),)),
        ListSection(title="Cheap", rows=(ListRow("ground", "Ground", "3-5 days"),)),
    ),
)


async def conversation_id(h: Harness) -> uuid.UUID:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (conversation,) = h.uow.db.state.conversations.values()
    return conversation.id


def stored(h: Harness, message_id: uuid.UUID) -> Message:
    return h.uow.db.state.messages[(h.t.id, message_id)]


async def test_reply_buttons_are_queued_audited_and_announced(h: Harness) -> None:
    cid = await conversation_id(h)
    agent = h.as_(Role.AGENT)
    queued = await send_interactive(h.svc, agent, cid, BUTTONS)

    assert (queued.type, queued.text, queued.status) == (
        "interactive", BUTTONS.body, MessageStatus.ACCEPTED,
    )  # fmt: skip
    assert queued.content["interactive"]["type"] == "button"
    assert [b["title"] for b in queued.content["interactive"]["buttons"]] == ["Keep it", "Cancel"]
    state = h.uow.db.state
    assert [j.payload for j in state.outbox.values() if j.kind == "msg.send"] == [
        {"message_id": str(queued.id)}
    ]
    (audit,) = state.audit.values()
    assert (audit.action, audit.actor) == ("message.send", f"user:{agent.user_id}")
    assert audit.after == {"type": "interactive", "conversation_id": str(cid)}
    (created,) = [e for e in h.events.events if e.kind == "message.created"][-1:]
    assert (created.payload["type"], created.payload["message_id"]) == (
        "interactive",
        str(queued.id),
    )


@pytest.mark.parametrize("content", [BUTTONS, LIST], ids=["buttons", "list"])
async def test_the_send_job_hands_the_gateway_what_was_offered(
    h: Harness, content: InteractiveContent
) -> None:
    queued = await send_interactive(
        h.svc, h.as_(Role.AGENT), await conversation_id(h), content, reply_to_wamid="wamid.Q"
    )
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "sent"
    (sent,) = h.gateway.sent
    assert sent.message.type == "interactive"
    assert sent.message.interactive == content
    assert sent.message.reply_to_wamid == "wamid.Q"
    assert sent.recipient.wa_id == ANA_PHONE
    assert stored(h, queued.id).wamid == sent.wamid


async def test_outside_the_window_it_is_refused_like_a_reply(h: Harness) -> None:
    cid = await conversation_id(h)
    h.clock.advance(timedelta(hours=24, seconds=1))
    before = h.snapshot()
    with pytest.raises(PolicyViolation) as refused:
        await send_interactive(h.svc, h.as_(Role.AGENT), cid, BUTTONS)
    assert refused.value.code == "window_closed"
    assert h.snapshot() == before


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (InteractiveContent(kind=InteractiveKind.BUTTON, body="Pick", buttons=(
            ReplyButton("a", "A title longer than 20"),)), "buttons[0].title"),
        (InteractiveContent(kind=InteractiveKind.BUTTON, body="Pick", buttons=tuple(
            ReplyButton(f"b{i}", f"B{i}") for i in range(4))), "buttons"),
        (InteractiveContent(kind=InteractiveKind.LIST, body="Pick", button="Open", sections=(
            ListSection(rows=tuple(ListRow(f"r{i}", "Row") for i in range(11))),)), "sections"),
        (InteractiveContent(kind=InteractiveKind.BUTTON, body="x" * 1025, buttons=(
            ReplyButton("a", "A"),)), "body"),
    ],
    ids=["title", "four-buttons", "eleven-rows", "body"],
)  # fmt: skip
async def test_over_a_limit_nothing_is_stored_and_the_field_is_named(
    h: Harness, content: InteractiveContent, field: str
) -> None:
    cid = await conversation_id(h)
    before = h.snapshot()
    with pytest.raises(InvalidInput) as refused:
        await send_interactive(h.svc, h.as_(Role.AGENT), cid, content)
    assert refused.value.details["field"] == field
    assert h.snapshot() == before


async def test_a_viewer_cannot_send_and_another_tenant_cannot_see(h: Harness) -> None:
    cid = await conversation_id(h)
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await send_interactive(h.svc, h.as_(Role.VIEWER), cid, BUTTONS)
    with pytest.raises(NotFound):
        await send_interactive(h.svc, h.as_(Role.ADMIN, other), cid, BUTTONS)
    assert h.snapshot() == before


async def test_a_refusal_at_meta_marks_the_message_failed(h: Harness) -> None:
    queued = await send_interactive(h.svc, h.as_(Role.AGENT), await conversation_id(h), LIST)
    h.gateway.fail_next(131047)
    assert await deliver_message(h.svc, h.gateway, h.t.id, queued.id) == "failed"
    assert stored(h, queued.id).error_code == 131047


async def test_the_gateway_refuses_an_interactive_message_without_its_content() -> None:
    from adapters.memory.gateway import MemoryWhatsAppGateway
    from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
    from whatsapp_core.domain.tenants import new_tenant

    tenant = new_tenant(
        tenant_id=uuid.uuid4(), slug="xy", name="X", phone_number_id=PHONE_NUMBER_ID
    )
    with pytest.raises(DeliveryError) as refused:
        await MemoryWhatsAppGateway().send(
            tenant, Recipient(wa_id=ANA_PHONE), OutgoingMessage(type="interactive")
        )
    assert refused.value.meta_code == 100


# -- the customer's choice ---------------------------------------------------------------


def _reply_webhook(wamid_replied: str, reply: dict[str, Any], at: int) -> bytes:
    """Meta's webhook for a tap on a button or a list row (shape of the fixtures)."""
    message = {
        "from": ANA_PHONE, "from_user_id": ANA_BSUID, "id": f"wamid.CHOICE{uuid.uuid4().hex}",
        "timestamp": str(at), "type": "interactive",
        "context": {"from": "15550783881", "id": wamid_replied}, "interactive": reply,
    }  # fmt: skip
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": ANA_PHONE, "user_id": ANA_BSUID}],
        "messages": [message],
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    ("content", "reply", "chosen"),
    [
        (BUTTONS, {"type": "button_reply", "button_reply": {"id": "cancel", "title": "Cancel"}},
         ("cancel", "Cancel")),
        (LIST, {"type": "list_reply",
                "list_reply": {"id": "ground", "title": "Ground", "description": "3-5 days"}},
         ("ground", "Ground")),
    ],
    ids=["button_reply", "list_reply"],
)  # fmt: skip
async def test_the_customers_choice_shows_in_the_thread_as_a_reply_to_the_question(
    h: Harness, content: InteractiveContent, reply: dict[str, Any], chosen: tuple[str, str]
) -> None:
    cid = await conversation_id(h)
    queued = await send_interactive(h.svc, h.as_(Role.AGENT), cid, content)
    await deliver_message(h.svc, h.gateway, h.t.id, queued.id)
    question = stored(h, queued.id)
    assert question.wamid is not None

    h.clock.advance(timedelta(minutes=2))
    at = int(h.clock.now().timestamp()) - 1
    batch = to_batch(decode_webhook(_reply_webhook(question.wamid, reply, at)))
    report = await ingest_webhook(h.svc, batch)
    assert report.messages_stored == 1

    _, thread = await get_thread(h.svc, h.as_(Role.VIEWER), cid)
    answer = thread[0]  # newest first
    part = answer.content["interactive"]
    picked = part.get("button_reply") or part.get("list_reply")
    assert (answer.direction.value, answer.type) == ("inbound", "interactive")
    assert (picked["id"], answer.text) == chosen
    assert answer.reply_to_wamid == question.wamid
    offered = {o["id"] for o in question.content["interactive"].get("buttons", [])} | {
        r["id"] for s in question.content["interactive"].get("sections", []) for r in s["rows"]
    }
    assert picked["id"] in offered
