"""Conversation work and the template lifecycle on memory adapters."""

from __future__ import annotations

import uuid

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import ConversationStatus
from whatsapp_core.domain.webhook import TemplateUpdate
from whatsapp_core.errors import Conflict, DeliveryError, Forbidden, InvalidInput, NotFound
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateComponents, TemplateStatus
from whatsapp_core.services import conversations as conv
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.templates import (
    create_template,
    edit_template,
    list_templates,
    submit_template,
)

pytestmark = pytest.mark.unit


async def conversation_id(h: Harness) -> uuid.UUID:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (conversation,) = h.uow.db.state.conversations.values()
    return conversation.id


async def test_an_agent_assigns_to_self_but_not_to_others(h: Harness) -> None:
    cid = await conversation_id(h)
    agent = await h.member(Role.AGENT)
    assigned = await conv.assign(h.svc, agent, cid, agent.user_id)
    assert assigned.assignee_id == agent.user_id
    other = (await h.member(Role.AGENT)).user_id
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await conv.assign(h.svc, agent, cid, other)
    assert h.snapshot() == before
    manager = h.as_(Role.MANAGER)
    assert (await conv.assign(h.svc, manager, cid, other)).assignee_id == other
    actions = sorted(e.action for e in h.uow.db.state.audit.values())
    assert actions == ["conversation.assign", "conversation.assign"]
    assert h.events.kinds().count("conversation.assigned") == 2


async def test_only_a_teammate_can_be_the_assignee(h: Harness) -> None:
    cid = await conversation_id(h)
    manager = h.as_(Role.MANAGER)
    stranger = await h.member(Role.AGENT, await h.add_tenant("globex", "999999999"))
    before = h.snapshot()
    for nobody in (uuid.uuid4(), stranger.user_id):
        with pytest.raises(NotFound, match="no such user in your team"):
            await conv.assign(h.svc, manager, cid, nobody)
    assert h.snapshot() == before
    assert not h.uow.db.state.audit
    assert (await conv.assign(h.svc, manager, cid, None)).assignee_id is None


async def test_resolve_and_reopen_are_audited_and_refuse_repeats(h: Harness) -> None:
    cid = await conversation_id(h)
    agent = h.as_(Role.AGENT)
    resolved = await conv.resolve(h.svc, agent, cid)
    assert (resolved.status, resolved.unread_count) == (ConversationStatus.RESOLVED, 0)
    before = h.snapshot()
    with pytest.raises(Conflict):
        await conv.resolve(h.svc, agent, cid)
    assert h.snapshot() == before
    assert (await conv.reopen(h.svc, agent, cid)).status is ConversationStatus.OPEN
    before = h.snapshot()
    with pytest.raises(Conflict):
        await conv.reopen(h.svc, agent, cid)
    assert h.snapshot() == before
    audit = sorted(e.action for e in h.uow.db.state.audit.values())
    assert audit == ["conversation.reopen", "conversation.resolve"]
    triggers = sorted(
        j.payload["event"] for j in h.uow.db.state.outbox.values() if j.kind == "n8n.trigger"
    )
    assert triggers.count("conversation.resolved") == 1


async def test_a_viewer_reads_but_cannot_resolve(h: Harness) -> None:
    cid = await conversation_id(h)
    viewer = h.as_(Role.VIEWER)
    (view,) = await conv.list_conversations(h.svc, viewer)
    assert view.conversation.id == cid
    assert view.window.is_open
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await conv.resolve(h.svc, viewer, cid)
    with pytest.raises(Forbidden):
        await conv.assign(h.svc, viewer, cid, None)
    with pytest.raises(Forbidden):
        await conv.mark_read(h.svc, viewer, cid)
    assert h.snapshot() == before


async def test_thread_is_newest_first_and_scoped_to_the_tenant(h: Harness) -> None:
    cid = await conversation_id(h)
    await ingest_webhook(h.svc, h.batch(h.text("second", at=h.clock.now())))
    view, messages = await conv.get_thread(h.svc, h.as_(Role.VIEWER), cid)
    assert [m.text for m in messages] == ["second", "hello"]
    assert view.contact.name == "Ana"
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    before = h.snapshot()
    with pytest.raises(NotFound):
        await conv.get_thread(h.svc, h.as_(Role.ADMIN, other), cid)
    with pytest.raises(NotFound):
        await conv.resolve(h.svc, h.as_(Role.ADMIN, other), cid)
    assert h.snapshot() == before


async def test_mark_read_clears_unread(h: Harness) -> None:
    cid = await conversation_id(h)
    assert (await conv.mark_read(h.svc, h.as_(Role.AGENT), cid)).unread_count == 0


async def test_template_lifecycle_draft_submit_approve(h: Harness) -> None:
    manager = h.as_(Role.MANAGER)
    draft = await create_template(
        h.svc, manager, name="welcome", language="pt_BR", category="MARKETING",
        components=TemplateComponents(body="Olá {{1}}!"),
    )  # fmt: skip
    assert draft.status is TemplateStatus.DRAFT
    pending = await submit_template(h.svc, h.gateway, manager, draft.id)
    assert pending.status is TemplateStatus.PENDING
    assert pending.meta_id
    assert h.gateway.submitted[0].name == "welcome"
    before = h.snapshot()
    with pytest.raises(Conflict):
        await submit_template(h.svc, h.gateway, manager, draft.id)
    assert h.snapshot() == before  # refused before Meta is called

    rejected = TemplateUpdate(
        waba_id=h.t.waba_id or "", meta_template_id=pending.meta_id, name="welcome",
        language="pt_BR", event="REJECTED", reason="INVALID_FORMAT",
    )  # fmt: skip
    await ingest_webhook(h.svc, h.batch(templates=(rejected,)))
    (stored,) = await list_templates(h.svc, h.as_(Role.VIEWER))
    assert (stored.status, stored.rejection_reason) == (TemplateStatus.REJECTED, "INVALID_FORMAT")

    edited = await edit_template(
        h.svc, manager, draft.id, components=TemplateComponents(body="Olá {{1}}, tudo bem?")
    )
    assert (edited.status, edited.rejection_reason) == (TemplateStatus.DRAFT, None)


async def test_template_refusals(h: Harness) -> None:
    manager = h.as_(Role.MANAGER)
    before = h.snapshot()
    with pytest.raises(InvalidInput):
        await create_template(
            h.svc, manager, name="Bad Name", language="en", category="UTILITY",
            components=TemplateComponents(body="x"),
        )  # fmt: skip
    with pytest.raises(InvalidInput):
        await create_template(
            h.svc, manager, name="ok_name", language="english!", category="UTILITY",
            components=TemplateComponents(body="x"),
        )  # fmt: skip
    with pytest.raises(Forbidden):
        await create_template(
            h.svc, h.as_(Role.AGENT), name="ok_name", language="en", category="UTILITY",
            components=TemplateComponents(body="x"),
        )  # fmt: skip
    assert h.snapshot() == before
    first = await create_template(
        h.svc, manager, name="ok_name", language="en", category="UTILITY",
        components=TemplateComponents(body="x"),
    )  # fmt: skip
    before = h.snapshot()
    with pytest.raises(Conflict):
        await create_template(
            h.svc, manager, name="ok_name", language="en", category="UTILITY",
            components=TemplateComponents(body="y"),
        )  # fmt: skip
    h.gateway.fail_next(100)
    with pytest.raises(DeliveryError):
        await submit_template(h.svc, h.gateway, manager, first.id)
    assert h.snapshot() == before
    (stored,) = h.uow.db.state.templates.values()
    assert stored.status is TemplateStatus.DRAFT
