"""Template sync by polling Meta, on memory adapters and the in-memory gateway.

The gateway's ``remote`` is Meta's side: ``decide`` changes a status there and tells
nobody, which is exactly the missed webhook the sync exists for.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal, Template
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.domain.webhook import TemplateUpdate
from whatsapp_core.errors import DeliveryError, Forbidden
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import (
    TemplateButton,
    TemplateComponents,
    TemplateStatus,
)
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import deliver_message, send_template
from whatsapp_core.services.templates import (
    create_template,
    list_templates,
    submit_template,
    sync_templates,
    sync_templates_as_system,
)

pytestmark = pytest.mark.unit

ORDER_UPDATE_AT_META: list[dict[str, Any]] = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
    {"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped.",
     "example": {"body_text": [["Ann", "#1"]]}},
    {"type": "FOOTER", "text": "Acme Inc."},
    {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://acme.test/{{1}}"},
        {"type": "QUICK_REPLY", "text": "Stop"},
    ]},
]  # fmt: skip


def remote(name: str, status: str = "APPROVED", **kw: Any) -> RemoteTemplate:
    fields: dict[str, Any] = {
        "meta_id": str(uuid.uuid4().int)[:15],
        "name": name,
        "language": "en_US",
        "status": status,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": f"{name} body"}],
    }
    return RemoteTemplate(**(fields | kw))


async def submitted(h: Harness, name: str) -> Template:
    manager = h.as_(Role.MANAGER)
    draft = await create_template(
        h.svc, manager, name=name, language="en_US", category="MARKETING",
        components=TemplateComponents(body="Hi {{1}}, 20% off today."),
    )  # fmt: skip
    return await submit_template(h.svc, h.gateway, manager, draft.id)


async def stored(h: Harness) -> dict[str, Template]:
    return {t.name: t for t in await list_templates(h.svc, h.as_(Role.VIEWER))}


def n8n_template_events(h: Harness) -> list[dict[str, Any]]:
    return [
        j.payload
        for j in h.uow.db.state.outbox.values()
        if j.kind == "n8n.trigger" and j.payload["event"] == "template.status"
    ]


async def test_sync_imports_updates_and_keeps_drafts_then_is_idempotent(h: Harness) -> None:
    manager = h.as_(Role.MANAGER)
    welcome = await submitted(h, "welcome")
    promo = await submitted(h, "promo")
    draft = await create_template(
        h.svc, manager, name="draft_only", language="en_US", category="UTILITY",
        components=TemplateComponents(body="Our unsent edit"),
    )  # fmt: skip
    waba = h.t.waba_id or ""
    # Meta decided both reviews; neither webhook reached us.
    h.gateway.decide(welcome.meta_id or "", "APPROVED")
    h.gateway.decide(promo.meta_id or "", "REJECTED", reason="INVALID_FORMAT")
    # Meta still has the rejected version of the template we are editing as a draft.
    h.gateway.put_remote(waba, remote("draft_only", "REJECTED", rejected_reason="SCAM"))
    # Made in WhatsApp Manager: one this inbox can send, one with an image header.
    h.gateway.put_remote(waba, remote("order_update", components=ORDER_UPDATE_AT_META))
    h.gateway.put_remote(
        waba,
        remote("with_image", components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["h"]}},
            {"type": "BODY", "text": "Look"},
        ]),
    )  # fmt: skip

    report = await sync_templates(h.svc, h.gateway, manager, correlation_id="req-1")

    assert (report.created, report.updated, report.unchanged) == (1, 2, 0)
    assert (report.drafts_kept, report.repaired, report.missing_at_meta) == (1, 0, 0)
    (skipped,) = report.skipped
    assert (skipped.name, skipped.language) == ("with_image", "en_US")
    assert "IMAGE header" in skipped.reason

    after = await stored(h)
    assert set(after) == {"welcome", "promo", "draft_only", "order_update"}
    assert (after["welcome"].status, after["welcome"].rejection_reason) == (
        TemplateStatus.APPROVED,
        None,
    )
    assert (after["promo"].status, after["promo"].rejection_reason) == (
        TemplateStatus.REJECTED,
        "INVALID_FORMAT",
    )
    assert after["draft_only"] == draft  # not a field touched
    imported = after["order_update"]
    assert imported.status is TemplateStatus.APPROVED
    assert imported.meta_id == h.gateway.remote[waba][imported.meta_id or ""].meta_id
    assert imported.components == TemplateComponents(
        body="Hi {{1}}, order {{2}} has shipped.",
        header_text="Order {{1}}",
        footer="Acme Inc.",
        buttons=(
            TemplateButton(type="URL", text="Track", url="https://acme.test/{{1}}"),
            TemplateButton(type="QUICK_REPLY", text="Stop"),
        ),
    )

    audit = sorted(
        (e.action, e.entity_id, e.actor, e.correlation_id)
        for e in h.uow.db.state.audit.values()
        if e.action in ("template.import", "template.sync")
    )
    actor = f"user:{manager.user_id}"
    assert audit == sorted(
        [
            ("template.import", str(imported.id), actor, "req-1"),
            ("template.sync", str(welcome.id), actor, "req-1"),
            ("template.sync", str(promo.id), actor, "req-1"),
        ]
    )
    # The same n8n trigger and real-time event the webhook path writes.
    assert sorted((p["template_id"], p["status"], p["reason"]) for p in n8n_template_events(h)) == (
        sorted(
            [
                (str(imported.id), "APPROVED", None),
                (str(welcome.id), "APPROVED", None),
                (str(promo.id), "REJECTED", "INVALID_FORMAT"),
            ]
        )
    )
    assert h.events.kinds().count("template.status") == 3

    # Nothing changed at Meta: a second sync changes nothing and writes nothing.
    audit_rows, outbox_rows = len(h.uow.db.state.audit), len(h.uow.db.state.outbox)
    again = await sync_templates(h.svc, h.gateway, manager)
    assert (again.created, again.updated, again.unchanged, again.drafts_kept) == (0, 0, 3, 1)
    assert await stored(h) == after
    assert (len(h.uow.db.state.audit), len(h.uow.db.state.outbox)) == (audit_rows, outbox_rows)


async def test_an_imported_template_can_be_sent(h: Harness) -> None:
    h.gateway.put_remote(h.t.waba_id or "", remote("order_update", components=ORDER_UPDATE_AT_META))
    await sync_templates(h.svc, h.gateway, h.as_(Role.ADMIN))
    message = await send_template(
        h.svc, h.as_(Role.AGENT), name="order_update", language="en_US",
        body_params=["Ann", "#7"], header_params=["#7"],
        to=CustomerIdentity(wa_id="5511999999999"),
    )  # fmt: skip
    assert message.text == "Hi Ann, order #7 has shipped."
    await deliver_message(h.svc, h.gateway, h.t.id, message.id)
    (sent,) = h.gateway.sent
    assert (sent.message.template_name, sent.message.body_params) == ("order_update", ["Ann", "#7"])


async def test_a_status_the_webhook_path_refuses_is_repaired_by_the_sync(h: Harness) -> None:
    template = await submitted(h, "welcome")
    meta_id = template.meta_id or ""
    waba = h.t.waba_id or ""

    def webhook(event: str) -> TemplateUpdate:
        return TemplateUpdate(
            waba_id=waba, meta_template_id=meta_id, name="welcome", language="en_US", event=event
        )

    # APPROVED then DISABLED arrive; the REINSTATED that followed is lost.
    for event in ("APPROVED", "DISABLED"):
        await ingest_webhook(h.svc, h.batch(templates=(webhook(event),)))
    h.gateway.decide(meta_id, "APPROVED")
    # A late APPROVED webhook is an illegal step from DISABLED: the webhook path skips it.
    late = await ingest_webhook(h.svc, h.batch(templates=(webhook("APPROVED"),)))
    assert (late.unknown_templates, len(late.ignored_template_updates)) == (0, 1)
    assert (await stored(h))["welcome"].status is TemplateStatus.DISABLED

    report = await sync_templates(h.svc, h.gateway, h.as_(Role.MANAGER))
    assert (report.updated, report.repaired) == (1, 1)
    assert (await stored(h))["welcome"].status is TemplateStatus.APPROVED
    (entry,) = [e for e in h.uow.db.state.audit.values() if e.action == "template.sync"]
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["status"], entry.after["status"], entry.after["repair"]) == (
        "DISABLED",
        "APPROVED",
        True,
    )


async def test_unknown_statuses_and_templates_gone_from_meta_are_reported_not_applied(
    h: Harness,
) -> None:
    gone = await submitted(h, "gone")
    odd = await submitted(h, "odd")
    waba = h.t.waba_id or ""
    del h.gateway.remote[waba][gone.meta_id or ""]
    h.gateway.decide(odd.meta_id or "", "SOMETHING_NEW")
    h.gateway.put_remote(waba, remote("legacy", category="TRANSACTIONAL"))

    report = await sync_templates(h.svc, h.gateway, h.as_(Role.MANAGER))

    assert (report.created, report.updated, report.unchanged, report.missing_at_meta) == (
        0,
        0,
        0,
        1,
    )
    assert {(s.name, "SOMETHING_NEW" in s.reason) for s in report.skipped} == {
        ("odd", True),
        ("legacy", False),
    }
    after = await stored(h)
    assert {name: t.status for name, t in after.items()} == {
        "gone": TemplateStatus.PENDING,
        "odd": TemplateStatus.PENDING,
    }


async def test_the_worker_sync_acts_as_the_system(h: Harness) -> None:
    h.gateway.put_remote(h.t.waba_id or "", remote("order_update"))
    report = await sync_templates_as_system(h.svc, h.gateway, h.t.id, correlation_id="job-9")
    assert report.created == 1
    (entry,) = h.uow.db.state.audit.values()
    assert (entry.action, entry.actor, entry.correlation_id) == (
        "template.import",
        "system",
        "job-9",
    )


@pytest.mark.parametrize("role", [Role.AGENT, Role.VIEWER])
async def test_below_manager_may_not_sync(h: Harness, role: Role) -> None:
    h.gateway.put_remote(h.t.waba_id or "", remote("order_update"))
    with pytest.raises(Forbidden) as caught:
        await sync_templates(h.svc, h.gateway, h.as_(role))
    assert caught.value.details["required_role"] == "manager"
    assert await stored(h) == {}
    assert not h.uow.db.state.audit


async def test_an_api_key_may_not_sync(h: Harness) -> None:
    key = Principal(tenant_id=h.t.id, role=Role.ADMIN, api_key_id=uuid.uuid4())
    with pytest.raises(Forbidden):
        await sync_templates(h.svc, h.gateway, key)


async def test_a_refused_listing_changes_nothing(h: Harness) -> None:
    template = await submitted(h, "welcome")
    h.gateway.decide(template.meta_id or "", "APPROVED")
    h.gateway.fail_next(190, http_status=401)
    with pytest.raises(DeliveryError) as caught:
        await sync_templates(h.svc, h.gateway, h.as_(Role.MANAGER))
    assert caught.value.meta_code == 190
    assert (await stored(h))["welcome"].status is TemplateStatus.PENDING
    assert not n8n_template_events(h)
