"""The template state machine's ``delete``: from every state but the two deletion
states to DELETED, and from those a Conflict (the HTTP 409)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import Conflict
from whatsapp_core.policies.templates import TemplateStatus, apply_meta_event, delete, is_sendable

pytestmark = pytest.mark.unit

GONE = frozenset({TemplateStatus.PENDING_DELETION, TemplateStatus.DELETED})


@given(st.sampled_from(TemplateStatus))
def test_delete_reaches_deleted_from_every_live_state(status: TemplateStatus) -> None:
    if status in GONE:
        with pytest.raises(Conflict) as refused:
            delete(status)
        assert refused.value.code == "illegal_transition"
        assert refused.value.details["transition"] == "delete"
        return
    assert delete(status) is TemplateStatus.DELETED


@given(st.sampled_from(TemplateStatus))
def test_a_deleted_template_stays_deleted_and_unsendable(status: TemplateStatus) -> None:
    deleted = delete(status) if status not in GONE else TemplateStatus.DELETED
    assert not is_sendable(deleted)
    # Meta's own DELETED (or a redelivery of it) afterwards is a no-op.
    assert apply_meta_event(deleted, "DELETED") is TemplateStatus.DELETED
