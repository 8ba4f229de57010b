"""Auto-reply end to end on memory adapters: a signed-in-less customer writes, the worker
runs the ``ai.classify`` job, and the suggested reply is queued and sent as the AI (or
not, and the job's outcome says why). The clock starts on Thursday 1 Jan 2026, 12:00 UTC."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from adapters.ai import build_ai, providers_with
from adapters.ai.offline import OfflineProvider
from tests.unit.ai.test_services import inbound
from tests.unit.ai.test_settings_flow import Paid, classify_outcome, configure
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Direction, Message
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.services import ai as ai_service

pytestmark = pytest.mark.unit
AI = build_ai()  # no keys: offline only


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.add_tenant()
    return harness


def replies(h: Harness) -> list[Message]:
    found = [m for m in h.uow.db.state.messages.values() if m.direction is Direction.OUTBOUND]
    return sorted(found, key=lambda m: m.created_at)


def audit(h: Harness, action: str) -> list[Any]:
    return [e for e in h.uow.db.state.audit.values() if e.action == action]


async def test_an_allowed_auto_reply_is_sent_as_the_ai_through_the_normal_send_path(
    h: Harness,
) -> None:
    await configure(h, auto_reply={"enabled": True})
    message = await inbound(h, "Where is my order #4521?")

    outcome = await classify_outcome(h, AI)

    assert outcome == "classified: order_status (0.89) by offline; auto-reply queued"
    (reply,) = replies(h)
    assert reply.conversation_id == message.conversation_id
    assert reply.type == "text"
    assert reply.text == "Hi Ana! I'm checking order 4521 now and I'll update you in a moment."
    assert reply.author_id is None
    assert reply.content["sent_by"] == "ai"
    assert reply.content["ai"]["intent"] == "order_status"
    assert reply.content["ai"]["in_reply_to"] == str(message.id)
    # the worker sent it like any other reply: msg.send job, gateway call, wamid stored
    assert reply.wamid is not None  # Meta took it; "sent" comes with its status webhook
    assert reply.status is MessageStatus.ACCEPTED
    assert h.gateway.sent[-1].message.text == reply.text
    (queued,) = audit(h, "ai.auto_reply")
    assert queued.actor == "system"
    assert queued.entity_id == str(reply.id)
    assert queued.after["provider"] == "offline"
    assert [e.actor for e in audit(h, "message.send")] == ["system"]
    conversation = h.uow.db.state.conversations[(h.t.id, message.conversation_id)]
    assert conversation.unread_count == 1  # an agent still has to look
    created = [e for e in h.events.events if e.kind == "message.created"]
    assert created[-1].payload["direction"] == "outbound"

    again = await ai_service.classify_message(h.svc, AI.router, h.t.id, message.id)
    assert again == "already classified: order_status"  # a retried job sends nothing
    assert len(replies(h)) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("This is terrible, my blender arrived broken and nobody answers!",
         "complaint messages are never answered automatically"),
        ("WIN FREE MONEY click here http://x.y", "spam messages are never answered automatically"),
    ],
)  # fmt: skip
async def test_denied_intents_are_never_auto_answered(h: Harness, text: str, reason: str) -> None:
    await configure(h, auto_reply={"enabled": True})
    await inbound(h, text)
    assert (await classify_outcome(h, AI)).endswith(f"; no auto-reply: {reason}")
    assert replies(h) == []


async def test_the_deny_list_is_the_tenants(h: Harness) -> None:
    await configure(h, auto_reply={"enabled": True, "deny_intents": ["order_status"]})
    await inbound(h, "This is terrible, my blender arrived broken and nobody answers!")
    assert (await classify_outcome(h, AI)).endswith("; auto-reply queued")  # complaint allowed
    h.clock.advance(timedelta(hours=25))
    await inbound(h, "Where is my order #4521?")
    assert "order_status messages are never answered" in await classify_outcome(h, AI)
    assert len(replies(h)) == 1


async def test_one_auto_reply_per_conversation_within_the_cooldown(h: Harness) -> None:
    await configure(h, auto_reply={"enabled": True, "cooldown_hours": 24})
    await inbound(h, "Where is my order #4521?")
    assert (await classify_outcome(h, AI)).endswith("; auto-reply queued")
    h.clock.advance(timedelta(hours=1))
    await inbound(h, "Do you have it in blue?")
    outcome = await classify_outcome(h, AI)
    assert "; no auto-reply: this conversation had an auto-reply in the last 24 h" in outcome
    assert len(replies(h)) == 1

    h.clock.advance(timedelta(hours=23))  # 24 h after the first auto-reply
    await inbound(h, "Hello?")
    assert (await classify_outcome(h, AI)).endswith("; auto-reply queued")
    first, second = replies(h)
    assert second.created_at - first.created_at >= timedelta(hours=24)


async def test_only_outside_business_hours_in_the_tenants_time_zone(h: Harness) -> None:
    hours = [{"days": ["mon", "tue", "wed", "thu", "fri"], "opens": "09:00", "closes": "18:00"}]
    await configure(
        h, auto_reply={"enabled": True, "outside_business_hours_only": True,
                       "timezone": "Europe/Lisbon", "business_hours": hours},
    )  # fmt: skip
    await inbound(h, "Where is my order #4521?")  # Thursday 12:00 in Lisbon
    outcome = await classify_outcome(h, AI)
    assert outcome.endswith("; no auto-reply: inside business hours (Europe/Lisbon): agents answer")

    await configure(h, auto_reply={"timezone": "Asia/Tokyo"})  # 21:00 there: closed
    await inbound(h, "Do you have it in blue?")
    assert (await classify_outcome(h, AI)).endswith("; auto-reply queued")


async def test_never_outside_the_24_hour_window(h: Harness) -> None:
    await configure(h, auto_reply={"enabled": True})
    await inbound(h, "Where is my order #4521?")
    h.clock.advance(timedelta(hours=24))  # the job runs late: the window closed meanwhile
    outcome = await classify_outcome(h, AI)
    assert outcome.endswith("; no auto-reply: the 24-hour service window is closed")
    assert replies(h) == []


async def test_only_the_latest_customer_message_gets_an_auto_reply(h: Harness) -> None:
    await configure(h, auto_reply={"enabled": True})
    first = await inbound(h, "Hello")
    second = await inbound(h, "Where is my order #4521?")
    await classify_outcome(h, AI)
    (reply,) = replies(h)
    assert reply.content["ai"]["in_reply_to"] == str(second.id)
    assert h.uow.db.state.messages[(h.t.id, first.id)].intent == "greeting"


async def test_auto_suggest_pushes_the_suggestion_to_the_inbox_without_sending(
    h: Harness,
) -> None:
    await configure(h, auto_suggest=True)
    message = await inbound(h, "Where is my order #4521?")
    assert (await classify_outcome(h, AI)).endswith("; suggestion pushed")
    (event,) = [e for e in h.events.events if e.kind == "ai.suggested"]
    assert event.payload["conversation_id"] == str(message.conversation_id)
    assert event.payload["message_id"] == str(message.id)
    assert event.payload["text"].startswith("Hi Ana!")
    assert replies(h) == []


async def test_the_budget_is_checked_again_before_the_suggestion_is_written(
    h: Harness,
) -> None:
    claude = Paid("anthropic", tokens=600)
    ai = providers_with({"anthropic": claude, "offline": OfflineProvider()})
    await configure(h, auto_reply={"enabled": True}, monthly_token_budget=500)
    await inbound(h, "Where is my order #4521?")
    outcome = await classify_outcome(h, ai)
    assert outcome.startswith("classified: order_status (0.90) by anthropic")
    assert outcome.endswith("; auto-reply queued")
    (reply,) = replies(h)
    assert reply.content["ai"]["provider"] == "offline"  # the budget was spent by then
    assert [c for c, _ in claude.calls] == ["classify"]


async def test_auto_reply_off_spends_nothing_on_suggestions(h: Harness) -> None:
    claude = Paid("anthropic")
    outcome = await classify_outcome_after(h, providers_with({"anthropic": claude}))
    assert outcome == "classified: order_status (0.90) by anthropic"
    assert [c for c, _ in claude.calls] == ["classify"]


async def classify_outcome_after(h: Harness, ai: Any) -> str:
    await inbound(h, "Where is my order #4521?")
    return await classify_outcome(h, ai)


async def test_a_message_without_text_gets_no_auto_reply(h: Harness) -> None:
    """A sticker after a complaint is classified "other": answering it would answer the
    complaint behind the deny list's back."""
    await configure(h, auto_reply={"enabled": True})
    await inbound(h, "This is terrible, my blender arrived broken and nobody answers!")
    await classify_outcome(h, AI)
    await inbound(h, "", type="sticker", media_id="m1")
    outcome = await classify_outcome(h, AI)
    assert outcome == (
        "classified: other (0.00) by none; nothing to answer in a message without text"
    )
    assert replies(h) == []
