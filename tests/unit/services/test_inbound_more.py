"""Flow 1: Meta's webhook-level errors, and template updates by webhook (audited as the
system; a refused transition reported apart from unknown templates)."""

from __future__ import annotations

import logging

import pytest
from msgspec.structs import replace

from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Template
from whatsapp_core.domain.webhook import TemplateUpdate, WebhookBatch, WebhookError
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateCategory, TemplateComponents, TemplateStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.templates import create_template

pytestmark = pytest.mark.unit

UNSUPPORTED = WebhookError(
    code=131051,
    title="Message type unknown",
    message="Message type unknown",
    details="Message type is currently not supported.",
    phone_number_id="106540352242922",
)


async def test_webhook_errors_are_reported_and_logged_not_dropped(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    other = WebhookError(code=130472, title="experiment", phone_number_id="999")
    batch = WebhookBatch(errors=[UNSUPPORTED, other])
    with caplog.at_level(logging.WARNING, logger="whatsapp_core"):
        report = await ingest_webhook(h.svc, batch)
    assert report.webhook_errors == [UNSUPPORTED, other]
    assert report.messages_stored == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "131051" in w and "106540352242922" in w and "currently not supported" in w
        for w in warnings
    )
    assert any("130472" in w and "999" in w for w in warnings)
    state = h.uow.db.state
    assert (state.messages, state.contacts, state.outbox) == ({}, {}, {})


async def test_webhook_errors_travel_beside_the_messages_of_their_batch(h: Harness) -> None:
    base = h.batch(h.text("hello"))
    report = await ingest_webhook(h.svc, replace(base, errors=[UNSUPPORTED]))
    assert (report.messages_stored, report.webhook_errors) == (1, [UNSUPPORTED])


async def _template(h: Harness, status: TemplateStatus) -> Template:
    template = await create_template(
        h.svc, h.as_(Role.MANAGER), name="order_update", language="en",
        category=TemplateCategory.UTILITY, components=TemplateComponents(body="Hi {{1}}"),
    )  # fmt: skip
    moved = replace(template, status=status)
    async with h.uow() as uow:
        await uow.templates.update(moved)
        await uow.commit()
    return moved


def _update(h: Harness, event: str, **kw: str | None) -> TemplateUpdate:
    fields: dict[str, str | None] = {
        "waba_id": h.t.waba_id or "",
        "meta_template_id": "4242",
        "name": "order_update",
        "language": "en",
        "event": event,
        **kw,
    }
    return TemplateUpdate(**fields)  # type: ignore[arg-type]


async def _status_audits(h: Harness) -> list[tuple[str, str, str, object, object, str | None]]:
    async with h.uow() as uow:
        entries = await uow.audit.list(h.t.id)
    return [
        (e.actor, e.action, e.entity_id, e.before, e.after, e.correlation_id)
        for e in entries
        if e.action == "template.status_update"
    ]


async def test_a_template_status_by_webhook_is_audited_as_the_system(h: Harness) -> None:
    template = await _template(h, TemplateStatus.PENDING)
    update = _update(h, "REJECTED", reason="INVALID_FORMAT")
    report = await ingest_webhook(h.svc, h.batch(templates=(update,)), correlation_id="req-9")
    assert report.templates_updated == 1
    ((actor, action, entity, before, after, correlation),) = await _status_audits(h)
    assert (actor, action, entity, correlation) == (
        "system", "template.status_update", str(template.id), "req-9",
    )  # fmt: skip
    assert before == {
        "status": "PENDING", "rejection_reason": None, "meta_id": None, "category": "UTILITY",
    }  # fmt: skip
    assert after == {
        "status": "REJECTED", "rejection_reason": "INVALID_FORMAT", "meta_id": "4242",
        "category": "UTILITY", "event": "REJECTED",
    }  # fmt: skip


async def test_a_redelivered_template_webhook_is_audited_once(h: Harness) -> None:
    await _template(h, TemplateStatus.PENDING)
    batch = h.batch(templates=(_update(h, "APPROVED"),))
    await ingest_webhook(h.svc, batch)
    again = await ingest_webhook(h.svc, batch)
    assert again.templates_updated == 1  # still applied: a no-op
    assert len(await _status_audits(h)) == 1


async def test_every_tenant_on_the_waba_gets_its_own_system_audit(h: Harness) -> None:
    await _template(h, TemplateStatus.PENDING)
    sister = await h.add_tenant("sister", phone_number_id="200000000000001")
    manager = h.as_(Role.MANAGER, sister)
    theirs = await create_template(
        h.svc, manager, name="order_update", language="en",
        category=TemplateCategory.UTILITY, components=TemplateComponents(body="Hi {{1}}"),
    )  # fmt: skip
    async with h.uow() as uow:
        await uow.templates.update(replace(theirs, status=TemplateStatus.PENDING))
        await uow.commit()
    await ingest_webhook(h.svc, h.batch(templates=(_update(h, "APPROVED"),)))
    async with h.uow() as uow:
        mine = [e for e in await uow.audit.list(h.t.id) if e.action == "template.status_update"]
        sisters = [
            e for e in await uow.audit.list(sister.id) if e.action == "template.status_update"
        ]
    assert [(e.actor, e.entity_id) for e in sisters] == [("system", str(theirs.id))]
    assert len(mine) == 1


async def test_an_illegal_template_transition_is_ignored_with_its_reason(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    template = await _template(h, TemplateStatus.APPROVED)
    limit = _update(h, "LIMIT_EXCEEDED")  # only from DRAFT or PENDING
    unknown_template = _update(h, "APPROVED", name="nope")
    with caplog.at_level(logging.WARNING, logger="whatsapp_core"):
        report = await ingest_webhook(h.svc, h.batch(templates=(limit, unknown_template)))
    assert (report.templates_updated, report.unknown_templates) == (0, 1)
    (reason,) = report.ignored_template_updates
    assert "order_update (en) LIMIT_EXCEEDED" in reason
    assert "APPROVED" in reason
    assert any("ignored" in r.getMessage() and "LIMIT_EXCEEDED" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    stored = h.uow.db.state.templates[(h.t.id, template.id)]
    assert stored == template
    assert await _status_audits(h) == []
    assert not [j for j in h.uow.db.state.outbox.values() if j.payload.get("template_id")]


async def test_an_unknown_template_event_is_ignored_with_its_reason(h: Harness) -> None:
    await _template(h, TemplateStatus.APPROVED)
    report = await ingest_webhook(h.svc, h.batch(templates=(_update(h, "SOMETHING_NEW"),)))
    (reason,) = report.ignored_template_updates
    assert "SOMETHING_NEW" in reason
    assert report.unknown_templates == 0
