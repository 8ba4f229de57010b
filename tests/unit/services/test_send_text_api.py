"""Automation's free-form text: an API key with the scope, inside the window only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Direction
from whatsapp_core.errors import Forbidden, InvalidInput, NotFound, PolicyViolation
from whatsapp_core.policies.access import DEFAULT_KEY_SCOPES, Action, Role, parse_scopes
from whatsapp_core.services.accounts import authenticate_api_key, create_api_key
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_text

pytestmark = pytest.mark.unit
TEXT_SCOPE = Action.MESSAGE_SEND_TEXT_API.value


async def key_principal(h: Harness, scopes: list[str] | None = None):  # type: ignore[no-untyped-def]
    _, token = await create_api_key(h.svc, h.as_(Role.ADMIN), "n8n", scopes)
    return await authenticate_api_key(h.svc, token)


async def test_a_key_with_the_scope_answers_a_customer_inside_the_window(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("is my order late?")))
    key = await key_principal(h, [TEXT_SCOPE])
    (conversation,) = h.uow.db.state.conversations.values()

    by_id = await send_text(h.svc, key, "On its way!", conversation_id=conversation.id)
    by_phone = await send_text(h.svc, key, "Tracking: X1", to=CustomerIdentity(wa_id=ANA_PHONE))
    by_bsuid = await send_text(h.svc, key, "Thanks", to=CustomerIdentity(bsuid=ANA_BSUID))

    for sent in (by_id, by_phone, by_bsuid):
        assert (sent.conversation_id, sent.direction) == (conversation.id, Direction.OUTBOUND)
    sends = [j for j in h.uow.db.state.outbox.values() if j.kind == "msg.send"]
    assert len(sends) == 3
    actors = {a.actor for a in h.uow.db.state.audit.values() if a.action == "message.send"}
    assert actors == {f"apikey:{key.api_key_id}"}


async def test_the_window_and_the_scope_are_enforced(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (conversation,) = h.uow.db.state.conversations.values()
    templates_only = await key_principal(h)
    assert templates_only.scopes == DEFAULT_KEY_SCOPES
    key = await key_principal(h, [TEXT_SCOPE])
    other = await h.add_tenant("globex", phone_number_id="999999999")
    before = h.snapshot()
    with pytest.raises(Forbidden, match=r"lacks the scope message\.send_text_api"):
        await send_text(h.svc, templates_only, "hi", conversation_id=conversation.id)

    with pytest.raises(PolicyViolation, match="never messaged you"):
        await send_text(h.svc, key, "hi", to=CustomerIdentity(wa_id="5511900000000"))
    with pytest.raises(InvalidInput):
        await send_text(h.svc, key, "hi")
    with pytest.raises(InvalidInput):
        await send_text(h.svc, key, "x" * 4097, conversation_id=conversation.id)
    with pytest.raises(NotFound):
        await send_text(h.svc, h.as_(Role.ADMIN, other), "hi", conversation_id=conversation.id)
    h.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(PolicyViolation, match="window closed"):
        await send_text(h.svc, key, "hi", conversation_id=conversation.id)
    assert h.snapshot() == before
    assert not [j for j in h.uow.db.state.outbox.values() if j.kind == "msg.send"]
    assert not [m for m in h.uow.db.state.messages.values() if m.direction is Direction.OUTBOUND]


def test_scopes_are_checked_when_a_key_is_made() -> None:
    assert parse_scopes(None) == DEFAULT_KEY_SCOPES
    assert parse_scopes([" template.read", "template.read"]) == ("template.read",)
    for bad in ([], ["conversation.reply"], ["admin"]):
        with pytest.raises(InvalidInput, match="scopes must be some of"):
            parse_scopes(bad)


async def test_an_agent_user_cannot_use_the_automation_text_endpoint(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (conversation,) = h.uow.db.state.conversations.values()
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await send_text(h.svc, h.as_(Role.AGENT), "hi", conversation_id=conversation.id)
    assert h.snapshot() == before
