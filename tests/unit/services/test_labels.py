"""Labels on a conversation: ``label.manage`` (agents and up), tenant-scoped, validated,
audited; a refusal changes nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Conversation, Principal
from whatsapp_core.errors import Forbidden, InvalidInput, NotFound
from whatsapp_core.policies.access import Action, Role, can
from whatsapp_core.services.conversations import add_label, remove_label
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.unit


async def _conversation(h: Harness) -> Conversation:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (conversation,) = h.uow.db.state.conversations.values()
    return conversation


def _stored(h: Harness, conversation: Conversation) -> Conversation:
    return h.uow.db.state.conversations[(conversation.tenant_id, conversation.id)]


def _audit(h: Harness) -> list[tuple[str, str, object]]:
    entries = sorted(h.uow.db.state.audit.values(), key=lambda e: e.at)
    return [(e.actor, e.action, (e.after or {}).get("labels")) for e in entries]


def test_agents_and_up_manage_labels_a_viewer_never() -> None:
    assert [r for r in Role if can(r, Action.LABEL_MANAGE)] == [
        Role.AGENT,
        Role.MANAGER,
        Role.ADMIN,
    ]


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.ADMIN])
async def test_a_label_is_added_normalised_sorted_and_removed(h: Harness, role: Role) -> None:
    conversation = await _conversation(h)
    who = h.as_(role)
    await add_label(h.svc, who, conversation.id, "vip")
    labelled = await add_label(h.svc, who, conversation.id, "  Billing ")
    assert labelled.labels == ("billing", "vip")
    assert _stored(h, conversation).labels == ("billing", "vip")

    again = await add_label(h.svc, who, conversation.id, "VIP")  # already there: no change
    assert again.labels == ("billing", "vip")
    removed = await remove_label(h.svc, who, conversation.id, "Billing")
    assert removed.labels == ("vip",)
    assert _stored(h, conversation).labels == ("vip",)
    actor = f"user:{who.user_id}"
    assert _audit(h) == [
        (actor, "conversation.label", "vip"),
        (actor, "conversation.label", "billing,vip"),
        (actor, "conversation.unlabel", "vip"),
    ]
    assert h.events.kinds()[-1] == "conversation.updated"


async def test_removing_a_label_that_is_not_there_changes_nothing(h: Harness) -> None:
    conversation = await _conversation(h)
    result = await remove_label(h.svc, h.as_(Role.AGENT), conversation.id, "billing")
    assert result == _stored(h, conversation) == conversation
    assert _audit(h) == []


async def test_a_viewer_can_neither_add_nor_remove(h: Harness) -> None:
    conversation = await _conversation(h)
    await add_label(h.svc, h.as_(Role.AGENT), conversation.id, "vip")
    before, audit = _stored(h, conversation), _audit(h)
    viewer = h.as_(Role.VIEWER)
    with pytest.raises(Forbidden):
        await add_label(h.svc, viewer, conversation.id, "billing")
    with pytest.raises(Forbidden):
        await remove_label(h.svc, viewer, conversation.id, "vip")
    assert (_stored(h, conversation), _audit(h)) == (before, audit)


async def test_an_api_key_cannot_label(h: Harness) -> None:
    conversation = await _conversation(h)
    with pytest.raises(Forbidden):
        await add_label(h.svc, h.as_key(), conversation.id, "vip")
    assert _stored(h, conversation).labels == ()


async def test_another_tenants_conversation_is_not_found(h: Harness) -> None:
    conversation = await _conversation(h)
    other = await h.add_tenant("globex", phone_number_id="999999999")
    outsider: Principal = h.as_(Role.ADMIN, other)
    with pytest.raises(NotFound):
        await add_label(h.svc, outsider, conversation.id, "vip")
    with pytest.raises(NotFound):
        await remove_label(h.svc, outsider, conversation.id, "vip")
    with pytest.raises(NotFound):
        await add_label(h.svc, h.as_(Role.AGENT), uuid.uuid4(), "vip")
    assert _stored(h, conversation).labels == ()
    assert _audit(h) == []


@pytest.mark.parametrize("label", ["", "   ", "x" * 41, "vip!", "a/b", "<script>", "emoji🙂"])
async def test_an_invalid_label_name_is_refused(h: Harness, label: str) -> None:
    conversation = await _conversation(h)
    agent = h.as_(Role.AGENT)
    with pytest.raises(InvalidInput, match="a label is 1-40 letters") as info:
        await add_label(h.svc, agent, conversation.id, label)
    assert info.value.details == {"field": "label"}
    with pytest.raises(InvalidInput):
        await remove_label(h.svc, agent, conversation.id, label)
    assert _stored(h, conversation).labels == ()
    assert _audit(h) == []
