"""Properties of merging two contacts / two conversations into one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.domain.model import Contact, Conversation, ConversationStatus
from whatsapp_core.errors import Conflict
from whatsapp_core.policies.merge import merge_contact, merge_conversation

pytestmark = pytest.mark.unit

TENANT = uuid.UUID(int=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=400)
INSTANTS = st.integers(0, 10**7).map(lambda s: T0 + timedelta(seconds=s))
MAYBE_ID = st.none() | st.sampled_from(["US.1", "US.2"])
MAYBE_PHONE = st.none() | st.sampled_from(["5511999999999", "5511888888888"])
TAGS = st.lists(st.sampled_from(["vip", "lead", "late"]), max_size=3).map(
    lambda t: tuple(sorted(set(t)))
)


@st.composite
def contacts(draw: st.DrawFn) -> Contact:
    bsuid, wa_id = draw(MAYBE_ID), draw(MAYBE_PHONE)
    if bsuid is None and wa_id is None:
        wa_id = "5511777777777"
    return Contact(
        id=uuid.uuid4(), tenant_id=TENANT, bsuid=bsuid, wa_id=wa_id,
        username=draw(st.none() | st.just("@ana")), name=draw(st.none() | st.just("Ana")),
        tags=draw(TAGS), attributes=draw(st.dictionaries(st.sampled_from("abc"), st.text())),
        opted_in=draw(st.booleans()), created_at=draw(INSTANTS), updated_at=draw(INSTANTS),
    )  # fmt: skip


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    return Conversation(
        id=uuid.uuid4(), tenant_id=TENANT, contact_id=uuid.uuid4(),
        status=draw(st.sampled_from(list(ConversationStatus))),
        assignee_id=draw(st.none() | st.just(uuid.UUID(int=7))),
        labels=draw(TAGS), last_inbound_at=draw(st.none() | INSTANTS),
        last_message_at=draw(INSTANTS), unread_count=draw(st.integers(0, 50)),
        created_at=draw(INSTANTS),
    )  # fmt: skip


def _clash(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a != b


@given(contacts(), contacts())
def test_merge_keeps_every_identifier_or_refuses_two_people(kept: Contact, gone: Contact) -> None:
    if _clash(kept.bsuid, gone.bsuid) or _clash(kept.wa_id, gone.wa_id):
        with pytest.raises(Conflict):
            merge_contact(kept, gone, NOW)
        return
    merged = merge_contact(kept, gone, NOW)
    assert merged.id == kept.id
    assert merged.bsuid == (kept.bsuid or gone.bsuid)
    assert merged.wa_id == (kept.wa_id or gone.wa_id)
    assert set(merged.tags) == set(kept.tags) | set(gone.tags)
    assert merged.attributes.items() >= kept.attributes.items()  # the kept side wins
    assert set(merged.attributes) == set(kept.attributes) | set(gone.attributes)
    assert merged.opted_in == (kept.opted_in and gone.opted_in)  # an opt-out survives
    assert merged.created_at == min(kept.created_at, gone.created_at)


@given(conversations(), conversations())
def test_a_merged_thread_never_loses_activity(kept: Conversation, gone: Conversation) -> None:
    merged = merge_conversation(kept, gone)
    inbound = [t for t in (kept.last_inbound_at, gone.last_inbound_at) if t is not None]
    assert merged.last_inbound_at == (max(inbound) if inbound else None)
    assert merged.last_message_at == max(kept.last_message_at, gone.last_message_at)
    assert merged.unread_count == kept.unread_count + gone.unread_count
    assert set(merged.labels) == set(kept.labels) | set(gone.labels)
    if ConversationStatus.OPEN in (kept.status, gone.status):
        assert merged.status is ConversationStatus.OPEN
    if kept.assignee_id is not None:
        assert merged.assignee_id == kept.assignee_id
    # Symmetric in everything but who is kept.
    other_way = merge_conversation(gone, kept)
    assert (other_way.status, other_way.last_inbound_at, other_way.labels) == (
        merged.status,
        merged.last_inbound_at,
        merged.labels,
    )
