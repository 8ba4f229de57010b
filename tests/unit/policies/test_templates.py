from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import Conflict, InvalidInput
from whatsapp_core.policies.templates import (
    TemplateEvent,
    TemplateStatus,
    apply_meta_event,
    edit,
    is_sendable,
    submit,
)

pytestmark = pytest.mark.unit

S = TemplateStatus
E = TemplateEvent
STATUSES = st.sampled_from(S)
EVENTS = st.sampled_from(E)

# The only places an approved template can go, written out here so that widening
# the module's table is a visible, reviewed decision.
LEAVES_APPROVED_FOR = {
    S.PENDING,  # edited in WhatsApp Manager: back to review
    S.REJECTED,  # that re-review failed (its PENDING event may be lost or late)
    S.PAUSED,
    S.DISABLED,
    S.LOCKED,
    S.ARCHIVED,
    S.PENDING_DELETION,
    S.DELETED,
}


def apply_or_none(status: TemplateStatus, event: TemplateEvent) -> TemplateStatus | None:
    refusal: Conflict | None = None
    try:
        result = apply_meta_event(status, event)
    except Conflict as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.code == "illegal_transition"
        assert refusal.details == {"current": status.value, "transition": event.value}
        return None
    assert isinstance(result, TemplateStatus)
    return result


@given(STATUSES, EVENTS)
def test_every_known_event_either_moves_or_is_refused_as_a_conflict(
    status: TemplateStatus, event: TemplateEvent
) -> None:
    apply_or_none(status, event)  # the assertions live in the helper


@given(st.lists(EVENTS, max_size=20))
def test_no_event_sequence_leaves_approved_except_to_the_allowed_states(
    events: list[TemplateEvent],
) -> None:
    status = S.APPROVED
    for event in events:
        following = apply_or_none(status, event)
        if following is None:
            continue
        if status is S.APPROVED and following is not S.APPROVED:
            assert following in LEAVES_APPROVED_FOR, (event, following)
        status = following


@pytest.mark.parametrize("event", list(E))
def test_what_each_event_does_to_an_approved_template(event: TemplateEvent) -> None:
    following = apply_or_none(S.APPROVED, event)
    assert following is None or following is S.APPROVED or following in LEAVES_APPROVED_FOR


@given(STATUSES, EVENTS)
def test_a_redelivered_event_changes_nothing(status: TemplateStatus, event: TemplateEvent) -> None:
    once = apply_or_none(status, event)
    if once is not None:
        assert apply_meta_event(once, event) is once


@given(EVENTS)
def test_deleted_is_final(event: TemplateEvent) -> None:
    if event is E.DELETED:
        assert apply_meta_event(S.DELETED, event) is S.DELETED
    else:
        with pytest.raises(Conflict):
            apply_meta_event(S.DELETED, event)


@given(st.lists(EVENTS, max_size=20))
def test_pause_and_lock_happen_only_to_a_template_that_was_approved(
    events: list[TemplateEvent],
) -> None:
    status, seen_approved = S.PENDING, False
    for event in events:
        status = apply_or_none(status, event) or status
        seen_approved = seen_approved or status is S.APPROVED
        if status in (S.PAUSED, S.LOCKED):
            assert seen_approved


@given(STATUSES)
def test_only_an_approved_template_is_sendable(status: TemplateStatus) -> None:
    assert is_sendable(status) == (status is S.APPROVED)


@given(STATUSES)
def test_flagged_is_a_warning_not_a_status(status: TemplateStatus) -> None:
    assert apply_or_none(status, E.FLAGGED) in (status, None)
    assert apply_meta_event(S.APPROVED, E.FLAGGED) is S.APPROVED


def test_core_lifecycle() -> None:
    status = submit(S.DRAFT)
    assert status is S.PENDING
    for event, expected in [
        (E.APPROVED, S.APPROVED),
        (E.FLAGGED, S.APPROVED),
        (E.PAUSED, S.PAUSED),
        (E.APPROVED, S.APPROVED),  # a pause expires with an APPROVED event
        (E.PAUSED, S.PAUSED),
        (E.DISABLED, S.DISABLED),
        (E.REINSTATED, S.APPROVED),
        (E.DISABLED, S.DISABLED),
    ]:
        status = apply_meta_event(status, event)
        assert status is expected, event


def test_rejected_template_is_edited_and_resubmitted() -> None:
    status = apply_meta_event(submit(S.DRAFT), E.REJECTED)
    assert status is S.REJECTED
    assert submit(edit(status)) is S.PENDING


@pytest.mark.parametrize(
    "source", [S.PENDING, S.REJECTED, S.IN_APPEAL, S.PAUSED, S.LOCKED, S.DRAFT]
)
def test_meta_approval_is_authoritative(source: TemplateStatus) -> None:
    # DRAFT: Meta's webhook can beat the response to our own submit call.
    assert apply_meta_event(source, E.APPROVED) is S.APPROVED


@pytest.mark.parametrize("source", [S.PAUSED, S.DISABLED, S.IN_APPEAL, S.LOCKED])
def test_reinstated_brings_a_held_template_back(source: TemplateStatus) -> None:
    assert apply_meta_event(source, E.REINSTATED) is S.APPROVED


def test_archive_round_trip() -> None:
    archived = apply_meta_event(S.APPROVED, E.ARCHIVED)
    assert archived is S.ARCHIVED
    assert apply_meta_event(archived, E.UNARCHIVED) is S.APPROVED


def test_deletion_goes_through_pending_deletion() -> None:
    pending = apply_meta_event(S.APPROVED, E.PENDING_DELETION)
    assert pending is S.PENDING_DELETION
    assert apply_meta_event(pending, E.DELETED) is S.DELETED


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (S.DRAFT, E.PAUSED),
        (S.DRAFT, E.FLAGGED),
        (S.DRAFT, E.REINSTATED),
        (S.PENDING, E.PAUSED),
        (S.PENDING, E.DISABLED),
        (S.REJECTED, E.REINSTATED),
        (S.APPROVED, E.IN_APPEAL),
        (S.APPROVED, E.LIMIT_EXCEEDED),
        (S.PAUSED, E.UNARCHIVED),
        (S.ARCHIVED, E.APPROVED),
        (S.PENDING_DELETION, E.APPROVED),
        (S.PENDING_DELETION, E.ARCHIVED),
        (S.DELETED, E.UNARCHIVED),
        (S.DELETED, E.APPROVED),
    ],
)
def test_events_that_make_no_sense_are_refused(
    status: TemplateStatus, event: TemplateEvent
) -> None:
    with pytest.raises(Conflict, match="resync") as info:
        apply_meta_event(status, event)
    assert info.value.code == "illegal_transition"


@given(st.text(max_size=20).filter(lambda s: s not in set(E)))
def test_unknown_events_are_invalid_input(event: str) -> None:
    with pytest.raises(InvalidInput) as info:
        apply_meta_event(S.APPROVED, event)
    assert info.value.details == {"field": "event", "value": event}


def test_event_names_are_matched_exactly() -> None:
    with pytest.raises(InvalidInput):
        apply_meta_event(S.PENDING, "approved")


@given(STATUSES)
def test_only_a_draft_can_be_submitted(status: TemplateStatus) -> None:
    if status is S.DRAFT:
        assert submit(status) is S.PENDING
        return
    with pytest.raises(Conflict) as info:
        submit(status)
    assert info.value.code == "illegal_transition"
    assert info.value.details == {"current": status.value, "transition": "submit"}


EDITABLE = {S.DRAFT, S.REJECTED, S.LIMIT_EXCEEDED}


@given(STATUSES)
def test_only_drafts_and_refused_templates_can_be_edited(status: TemplateStatus) -> None:
    if status in EDITABLE:
        assert edit(status) is S.DRAFT
        return
    with pytest.raises(Conflict) as info:
        edit(status)
    assert info.value.code == "illegal_transition"
    assert info.value.details == {"current": status.value, "transition": "edit"}
