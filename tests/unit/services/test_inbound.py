"""Flow 1 on memory adapters: every item of a batch, once, in one transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from msgspec.structs import replace

from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness, wamid
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import ConversationStatus
from whatsapp_core.domain.webhook import IdentityChange, NumberUpdates, TemplateUpdate, WebhookBatch
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateCategory, TemplateComponents, TemplateStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.templates import create_template

pytestmark = pytest.mark.unit


def jobs(h: Harness) -> list[tuple[str, str | None]]:
    return sorted((j.kind, j.payload.get("event")) for j in h.uow.db.state.outbox.values())


async def test_a_new_customer_message_lands_with_contact_conversation_and_jobs(h: Harness) -> None:
    message = h.text("Where is my order?")
    report = await ingest_webhook(h.svc, h.batch(message))

    assert (report.messages_stored, report.contacts_created, report.conversations_opened) == (
        1,
        1,
        1,
    )
    state = h.uow.db.state
    (contact,) = state.contacts.values()
    assert (contact.bsuid, contact.wa_id, contact.name) == (ANA_BSUID, ANA_PHONE, "Ana")
    (conversation,) = state.conversations.values()
    assert conversation.status is ConversationStatus.OPEN
    assert conversation.last_inbound_at == message.sent_at
    assert conversation.unread_count == 1
    (stored,) = state.messages.values()
    assert (stored.wamid, stored.text, stored.contact_id) == (
        message.wamid,
        message.text,
        contact.id,
    )
    assert jobs(h) == [
        ("ai.classify", None),
        ("n8n.trigger", "contact.created"),
        ("n8n.trigger", "conversation.opened"),
        ("n8n.trigger", "message.received"),
    ]
    assert h.events.kinds() == ["contact.created", "conversation.opened", "message.created"]


async def test_a_redelivered_batch_changes_nothing(h: Harness) -> None:
    batch = h.batch(h.text("one"), h.text("two"))
    await ingest_webhook(h.svc, batch)
    before = (dict(h.uow.db.state.messages), dict(h.uow.db.state.outbox))
    conversation_before = list(h.uow.db.state.conversations.values())

    again = await ingest_webhook(h.svc, batch)

    assert (again.messages_stored, again.messages_duplicate) == (0, 2)
    assert (dict(h.uow.db.state.messages), dict(h.uow.db.state.outbox)) == before
    assert list(h.uow.db.state.conversations.values()) == conversation_before


async def test_every_number_in_a_batch_is_processed_and_unknown_ones_counted(h: Harness) -> None:
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    batch = WebhookBatch(
        numbers=[
            NumberUpdates(phone_number_id="999999999999999", messages=[h.text("lost")]),
            NumberUpdates(phone_number_id=h.t.phone_number_id or "", messages=[h.text("a")]),
            NumberUpdates(phone_number_id=other.phone_number_id or "", messages=[h.text("b")]),
        ]
    )
    report = await ingest_webhook(h.svc, batch)
    assert report.messages_stored == 2
    assert report.unknown_numbers == ["999999999999999"]
    tenants = sorted(m.tenant_id for m in h.uow.db.state.messages.values())
    assert tenants == sorted([h.t.id, other.id])


async def test_the_same_wamid_in_two_tenants_is_two_messages(h: Harness) -> None:
    other = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")
    shared = wamid()
    await ingest_webhook(h.svc, h.batch(h.text(id=shared)))
    await ingest_webhook(
        h.svc, h.batch(h.text(id=shared), phone_number_id=other.phone_number_id or "")
    )
    assert len(h.uow.db.state.messages) == 2


async def test_a_username_user_later_revealing_a_phone_stays_one_contact(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text(wa_id=None, username="@ana", name="Ana")))
    await ingest_webhook(h.svc, h.batch(h.text(wa_id=ANA_PHONE)))
    (contact,) = h.uow.db.state.contacts.values()
    assert (contact.bsuid, contact.wa_id, contact.username) == (ANA_BSUID, ANA_PHONE, "@ana")
    assert len(h.uow.db.state.conversations) == 1


async def test_an_imported_phone_contact_gets_the_bsuid_when_the_person_writes(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text(bsuid=None, wa_id=ANA_PHONE)))  # legacy payload
    await ingest_webhook(h.svc, h.batch(h.text(bsuid=ANA_BSUID, wa_id=ANA_PHONE)))
    (contact,) = h.uow.db.state.contacts.values()
    assert (contact.bsuid, contact.wa_id) == (ANA_BSUID, ANA_PHONE)


async def test_a_recycled_phone_number_moves_to_the_new_bsuid(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text(bsuid=ANA_BSUID, wa_id=ANA_PHONE)))
    await ingest_webhook(h.svc, h.batch(h.text(bsuid="US.777", wa_id=ANA_PHONE, name="Bob")))
    by_bsuid = {c.bsuid: c for c in h.uow.db.state.contacts.values()}
    assert by_bsuid[ANA_BSUID].wa_id is None
    assert by_bsuid["US.777"].wa_id == ANA_PHONE


async def test_a_changed_bsuid_moves_the_contact(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text(bsuid=ANA_BSUID)))
    change = IdentityChange(
        previous_bsuid=ANA_BSUID, new_bsuid="US.55555", new_wa_id="5511888888888",
        at=h.clock.now(),
    )  # fmt: skip
    batch = WebhookBatch(
        numbers=[
            NumberUpdates(
                phone_number_id=h.t.phone_number_id or "",
                identity_changes=[change],
                messages=[h.text("new phone", bsuid="US.55555", wa_id="5511888888888")],
            )
        ]
    )
    await ingest_webhook(h.svc, batch)
    (contact,) = h.uow.db.state.contacts.values()
    assert (contact.bsuid, contact.wa_id) == ("US.55555", "5511888888888")


async def test_a_resolved_conversation_reopens_on_a_new_message(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hi")))
    (conversation,) = h.uow.db.state.conversations.values()
    async with h.uow() as uow:
        await uow.conversations.update(replace(conversation, status=ConversationStatus.RESOLVED))
        await uow.commit()
    report = await ingest_webhook(h.svc, h.batch(h.text("me again")))
    (conversation,) = h.uow.db.state.conversations.values()
    assert conversation.status is ConversationStatus.OPEN
    assert report.conversations_opened == 1


async def test_an_older_message_arriving_late_never_shortens_the_window(h: Harness) -> None:
    new, old = h.clock.now(), h.clock.now() - timedelta(hours=20)
    await ingest_webhook(h.svc, h.batch(h.text("new", at=new)))
    await ingest_webhook(h.svc, h.batch(h.text("old", at=old)))
    (conversation,) = h.uow.db.state.conversations.values()
    assert conversation.last_inbound_at == new


async def test_media_messages_queue_a_media_fetch(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text(None, type="image", media_id="1234567890")))  # type: ignore[arg-type]
    fetches = [j for j in h.uow.db.state.outbox.values() if j.kind == "media.fetch"]
    assert [j.payload["media_id"] for j in fetches] == ["1234567890"]


async def test_a_status_for_an_unknown_wamid_is_kept_pending(h: Harness) -> None:
    report = await ingest_webhook(
        h.svc, h.batch(statuses=(h.status("wamid.unknown", "delivered"),))
    )
    assert report.statuses_pending == 1
    assert [p.status for p in h.uow.db.state.pending[(h.t.id, "wamid.unknown")]] == ["delivered"]


async def test_template_status_updates_move_the_template(h: Harness) -> None:
    manager = h.as_(Role.MANAGER)
    template = await create_template(
        h.svc, manager, name="order_update", language="en",
        category=TemplateCategory.UTILITY, components=TemplateComponents(body="Hi {{1}}"),
    )  # fmt: skip
    async with h.uow() as uow:
        await uow.templates.update(replace(template, status=TemplateStatus.PENDING))
        await uow.commit()
    update = TemplateUpdate(
        waba_id=h.t.waba_id or "", meta_template_id="4242", name="order_update",
        language="en", event="APPROVED",
    )  # fmt: skip
    unknown = replace(update, name="nope")
    report = await ingest_webhook(h.svc, h.batch(templates=(update, unknown)))
    assert (report.templates_updated, report.unknown_templates) == (1, 1)
    stored = h.uow.db.state.templates[(h.t.id, template.id)]
    assert (stored.status, stored.meta_id) == (TemplateStatus.APPROVED, "4242")


async def test_a_customer_without_any_identifier_is_refused() -> None:
    from whatsapp_core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        CustomerIdentity(name="nobody")
