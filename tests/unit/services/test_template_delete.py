"""Deleting a template, on memory adapters and the in-memory gateway (Meta's side is its
``remote``): a draft Meta never saw is removed here; anything else is deleted at Meta
(that language version only) and kept here as DELETED; deleting twice is a Conflict."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Template
from whatsapp_core.domain.webhook import TemplateUpdate
from whatsapp_core.errors import Conflict, DeliveryError, Forbidden, NotFound, UpstreamUnavailable
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateComponents, TemplateStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.templates import (
    create_template,
    delete_template,
    edit_template,
    submit_template,
    sync_templates,
)

pytestmark = pytest.mark.unit


async def draft(h: Harness, name: str = "order_update", language: str = "en") -> Template:
    return await create_template(
        h.svc, h.as_(Role.MANAGER), name=name, language=language, category="UTILITY",
        components=TemplateComponents(body="Order {{1}} shipped"),
    )  # fmt: skip


async def submitted(h: Harness, name: str = "order_update", language: str = "en") -> Template:
    template = await draft(h, name, language)
    return await submit_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)


def audit_actions(h: Harness) -> list[str]:
    return sorted(e.action for e in h.uow.db.state.audit.values())


def local(h: Harness, template: Template) -> Template | None:
    return h.uow.db.state.templates.get((h.t.id, template.id))


async def test_a_draft_meta_never_saw_is_removed_without_calling_meta(h: Harness) -> None:
    template = await draft(h)
    assert await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id) is None
    assert local(h, template) is None
    assert h.gateway.deleted == []
    assert audit_actions(h) == ["template.create", "template.delete"]
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "template.delete"]
    assert entry.before is not None
    assert (entry.before["name"], entry.after) == ("order_update", None)
    # No gateway is needed for it either.
    again = await draft(h)
    assert await delete_template(h.svc, None, h.as_(Role.ADMIN), again.id) is None


async def test_a_submitted_template_is_deleted_at_meta_then_kept_as_deleted(h: Harness) -> None:
    template = await submitted(h)
    waba = h.t.waba_id or ""
    assert template.meta_id in h.gateway.remote[waba]

    deleted = await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)

    assert deleted is not None
    assert deleted.status is TemplateStatus.DELETED
    assert local(h, template) == deleted
    assert h.gateway.deleted == [(waba, "order_update", template.meta_id)]
    assert h.gateway.remote[waba] == {}
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "template.delete"]
    assert (entry.before, entry.after) == (
        {"status": "PENDING"},
        {"status": "DELETED", "meta_id": template.meta_id, "found_at_meta": True},
    )
    triggers = [j.payload for j in h.uow.db.state.outbox.values() if j.kind == "n8n.trigger"]
    assert {"event": "template.status", "template_id": str(template.id), "status": "DELETED",
            "reason": None} in triggers  # fmt: skip
    assert "template.status" in h.events.kinds()


async def test_only_this_language_is_deleted_at_meta(h: Harness) -> None:
    english = await submitted(h, language="en")
    portuguese = await submitted(h, language="pt_BR")
    await delete_template(h.svc, h.gateway, h.as_(Role.ADMIN), english.id)
    remaining = h.gateway.remote[h.t.waba_id or ""]
    assert [t.language for t in remaining.values()] == ["pt_BR"]
    still = local(h, portuguese)
    assert still is not None
    assert still.status is TemplateStatus.PENDING


@pytest.mark.parametrize("status", [TemplateStatus.PENDING_DELETION, TemplateStatus.DELETED])
async def test_a_template_being_or_already_deleted_is_a_conflict(
    h: Harness, status: TemplateStatus
) -> None:
    template = await submitted(h)
    event = TemplateUpdate(
        waba_id=h.t.waba_id or "", meta_template_id=template.meta_id, name=template.name,
        language=template.language, event=status.value,
    )  # fmt: skip
    await ingest_webhook(h.svc, h.batch(templates=(event,)))
    before = h.snapshot()
    with pytest.raises(Conflict) as refused:
        await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    assert refused.value.code == "illegal_transition"
    assert h.snapshot() == before
    assert h.gateway.deleted == []
    assert "template.delete" not in audit_actions(h)


async def test_deleting_twice_is_a_conflict_and_calls_meta_once(h: Harness) -> None:
    template = await submitted(h)
    await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    before = h.snapshot()
    with pytest.raises(Conflict):
        await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    assert h.snapshot() == before
    assert len(h.gateway.deleted) == 1
    # Meta's own DELETED webhook afterwards changes nothing.
    event = TemplateUpdate(
        waba_id=h.t.waba_id or "", meta_template_id=template.meta_id, name=template.name,
        language="en", event="DELETED",
    )  # fmt: skip
    await ingest_webhook(h.svc, h.batch(templates=(event,)))
    after = local(h, template)
    assert after is not None
    assert after.status is TemplateStatus.DELETED


async def test_a_template_meta_no_longer_has_is_marked_deleted_all_the_same(h: Harness) -> None:
    template = await submitted(h)
    h.gateway.remote[h.t.waba_id or ""].clear()  # deleted in WhatsApp Manager meanwhile
    deleted = await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    assert deleted is not None
    assert deleted.status is TemplateStatus.DELETED
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "template.delete"]
    assert entry.after is not None
    assert entry.after["found_at_meta"] is False


async def test_a_rejected_then_edited_draft_is_still_at_meta_and_deleted_there(
    h: Harness,
) -> None:
    template = await submitted(h)
    rejected = TemplateUpdate(
        waba_id=h.t.waba_id or "", meta_template_id=template.meta_id, name=template.name,
        language="en", event="REJECTED", reason="INVALID_FORMAT",
    )  # fmt: skip
    await ingest_webhook(h.svc, h.batch(templates=(rejected,)))
    edited = await edit_template(
        h.svc, h.as_(Role.MANAGER), template.id, components=TemplateComponents(body="Fixed {{1}}")
    )
    assert (edited.status, edited.meta_id) == (TemplateStatus.DRAFT, template.meta_id)
    deleted = await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    assert deleted is not None
    assert deleted.status is TemplateStatus.DELETED
    assert len(h.gateway.deleted) == 1


async def test_a_refusal_at_meta_changes_nothing(h: Harness) -> None:
    template = await submitted(h)
    before = h.snapshot()
    h.gateway.fail_next(190, http_status=401)
    with pytest.raises(DeliveryError):
        await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    assert local(h, template) == template
    assert "template.delete" not in audit_actions(h)
    with pytest.raises(UpstreamUnavailable):
        await delete_template(h.svc, None, h.as_(Role.MANAGER), template.id)
    assert h.snapshot() == before


async def test_an_agent_cannot_delete_and_another_tenant_cannot_see(h: Harness) -> None:
    template = await submitted(h)
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await delete_template(h.svc, h.gateway, h.as_(Role.AGENT), template.id)
    with pytest.raises(NotFound):
        await delete_template(h.svc, h.gateway, h.as_(Role.ADMIN, other), template.id)
    assert h.snapshot() == before
    assert h.gateway.deleted == []
    assert local(h, template) == template


async def test_a_sync_does_not_bring_a_deleted_template_back(h: Harness) -> None:
    template = await submitted(h)
    listed_before = list(h.gateway.remote[h.t.waba_id or ""].values())
    await delete_template(h.svc, h.gateway, h.as_(Role.MANAGER), template.id)
    # Meta's list can lag the delete: the same template, same id, still APPROVED there.
    h.gateway.put_remote(h.t.waba_id or "", replace(listed_before[0], status="APPROVED"))
    report = await sync_templates(h.svc, h.gateway, h.as_(Role.MANAGER))
    after = local(h, template)
    assert after is not None
    assert after.status is TemplateStatus.DELETED
    assert (report.updated, report.missing_at_meta) == (0, 0)
    # Gone at Meta as well: not counted as missing either.
    h.gateway.remote[h.t.waba_id or ""].clear()
    assert (await sync_templates(h.svc, h.gateway, h.as_(Role.MANAGER))).missing_at_meta == 0
