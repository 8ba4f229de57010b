"""Contact merge and delete on memory adapters: one person, one contact, one thread."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness
from whatsapp_core.domain.model import Contact, Conversation
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput, NotFound
from whatsapp_core.policies.access import Role
from whatsapp_core.services.accounts import add_note
from whatsapp_core.services.contacts import (
    ContactFields,
    create_contact,
    delete_contact,
    merge_contacts,
    update_contact,
)
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.unit


def contacts(h: Harness) -> dict[str | None, Contact]:
    """Contacts by BSUID (``None`` for a phone-only one)."""
    return {c.bsuid: c for c in h.uow.db.state.contacts.values()}


def conversation_of(h: Harness, contact: Contact) -> Conversation:
    (found,) = [c for c in h.uow.db.state.conversations.values() if c.contact_id == contact.id]
    return found


async def two_halves_of_ana(h: Harness) -> tuple[Contact, Contact]:
    """An old phone-only thread (legacy payload) and a later username-only thread: Meta
    never showed both identifiers together, so the inbox holds two contacts."""
    old = h.clock.now() - timedelta(hours=30)
    await ingest_webhook(h.svc, h.batch(h.text("old order", bsuid=None, wa_id=ANA_PHONE, at=old)))
    await ingest_webhook(
        h.svc, h.batch(h.text("hello again", wa_id=None, username="@ana", name=None))
    )
    by_bsuid = contacts(h)
    return by_bsuid[None], by_bsuid[ANA_BSUID]


async def test_merge_joins_identities_histories_notes_and_the_window(h: Harness) -> None:
    phone_only, username_only = await two_halves_of_ana(h)
    agent = h.as_(Role.AGENT)
    await update_contact(h.svc, agent, phone_only.id, ContactFields(tags=("vip",)))
    await add_note(h.svc, agent, conversation_of(h, username_only).id, "asked about refunds")
    kept_thread = conversation_of(h, phone_only)
    newer_inbound = conversation_of(h, username_only).last_inbound_at

    merged = await merge_contacts(h.svc, h.as_(Role.MANAGER), phone_only.id, username_only.id)

    assert (merged.id, merged.bsuid, merged.wa_id) == (phone_only.id, ANA_BSUID, ANA_PHONE)
    assert (merged.username, merged.tags) == ("@ana", ("vip",))
    state = h.uow.db.state
    assert list(state.contacts) == [(h.t.id, phone_only.id)]
    (thread,) = state.conversations.values()
    assert thread.id == kept_thread.id
    assert thread.last_inbound_at == newer_inbound  # the window follows the latest message
    assert thread.unread_count == 2
    assert sorted(m.text or "" for m in state.messages.values()) == ["hello again", "old order"]
    assert {(m.conversation_id, m.contact_id) for m in state.messages.values()} == {
        (thread.id, phone_only.id)
    }
    assert [n.conversation_id for n in state.notes.values()] == [thread.id]
    (audit,) = [a for a in state.audit.values() if a.action == "contact.merge"]
    assert audit.after is not None
    assert audit.after["messages_moved"] == 1
    events = [j.payload.get("event") for j in state.outbox.values()]
    assert "contact.merged" in events

    # Meta now sends both identifiers: it lands on the merged contact, no duplicate.
    await ingest_webhook(h.svc, h.batch(h.text("both ids", bsuid=ANA_BSUID, wa_id=ANA_PHONE)))
    assert len(state.contacts) == 1
    assert len(state.conversations) == 1


async def test_a_thread_changes_hands_when_the_kept_contact_has_none(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hi", wa_id=None)))
    manager = h.as_(Role.MANAGER)
    crm = await create_contact(h.svc, manager, ContactFields(name="Ana (CRM)", phone=ANA_PHONE))
    writer = contacts(h)[ANA_BSUID]
    thread = conversation_of(h, writer)

    merged = await merge_contacts(h.svc, manager, crm.id, writer.id)

    assert (merged.name, merged.bsuid, merged.wa_id) == ("Ana (CRM)", ANA_BSUID, ANA_PHONE)
    (moved,) = h.uow.db.state.conversations.values()
    assert (moved.id, moved.contact_id) == (thread.id, crm.id)
    assert {m.contact_id for m in h.uow.db.state.messages.values()} == {crm.id}


async def test_two_whatsapp_users_are_never_merged(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("a", wa_id=None)))
    await ingest_webhook(h.svc, h.batch(h.text("b", bsuid="US.777", wa_id=None, name="Bob")))
    ana, bob = contacts(h)[ANA_BSUID], contacts(h)["US.777"]
    before = h.snapshot()

    with pytest.raises(Conflict, match="two WhatsApp users"):
        await merge_contacts(h.svc, h.as_(Role.ADMIN), ana.id, bob.id)

    assert h.snapshot() == before


async def test_merge_refusals_change_nothing(h: Harness) -> None:
    phone_only, username_only = await two_halves_of_ana(h)
    other = await h.add_tenant("globex", phone_number_id="999999999")
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await merge_contacts(h.svc, h.as_(Role.AGENT), phone_only.id, username_only.id)
    with pytest.raises(InvalidInput):
        await merge_contacts(h.svc, h.as_(Role.MANAGER), phone_only.id, phone_only.id)
    with pytest.raises(NotFound):  # another tenant's manager sees no such contacts
        await merge_contacts(h.svc, h.as_(Role.MANAGER, other), phone_only.id, username_only.id)
    assert h.snapshot() == before


async def test_delete_erases_the_contact_with_its_thread(h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("please delete my data")))
    ana = contacts(h)[ANA_BSUID]
    await add_note(h.svc, h.as_(Role.AGENT), conversation_of(h, ana).id, "GDPR request")
    other = await h.add_tenant("globex", phone_number_id="999999999")
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await delete_contact(h.svc, h.as_(Role.AGENT), ana.id)
    with pytest.raises(NotFound):
        await delete_contact(h.svc, h.as_(Role.ADMIN, other), ana.id)
    assert h.snapshot() == before

    await delete_contact(h.svc, h.as_(Role.MANAGER), ana.id)

    state = h.uow.db.state
    assert (state.contacts, state.conversations, state.messages, state.notes) == ({}, {}, {}, {})
    (audit,) = [a for a in state.audit.values() if a.action == "contact.delete"]
    assert audit.before is not None
    assert audit.before["bsuid"] == ANA_BSUID
    with pytest.raises(NotFound):
        await delete_contact(h.svc, h.as_(Role.MANAGER), ana.id)
