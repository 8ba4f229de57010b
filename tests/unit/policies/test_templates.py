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


# -- every Meta event from every status, written out ------------------------------------
# One row per event of Meta's message_template_status_update webhook (the list in
# ../shared/META_CLOUD_API.md), one column per local status: the status the template
# is in afterwards, or "--" where the step is refused (Conflict "illegal_transition",
# then a resync). Written by hand from the module's table rather than computed from
# it, so a change to any target or source state fails here, next to the reason.

ABBREVIATIONS = {
    "DRAF": S.DRAFT, "PEND": S.PENDING, "APPR": S.APPROVED, "REJE": S.REJECTED,
    "PAUS": S.PAUSED, "DISA": S.DISABLED, "APPE": S.IN_APPEAL, "PDEL": S.PENDING_DELETION,
    "DELE": S.DELETED, "ARCH": S.ARCHIVED, "LOCK": S.LOCKED, "LIMX": S.LIMIT_EXCEEDED,
}  # fmt: skip
META_EVENT_TABLE = """
event             DRAF PEND APPR REJE PAUS DISA APPE PDEL DELE ARCH LOCK LIMX
PENDING           PEND PEND PEND PEND PEND  --   --   --   --   --   --  PEND
APPROVED          APPR APPR APPR APPR APPR  --  APPR  --   --   --  APPR  --
REJECTED          REJE REJE REJE REJE REJE  --  REJE  --   --   --   --   --
LIMIT_EXCEEDED    LIMX LIMX  --   --   --   --   --   --   --   --   --  LIMX
PAUSED             --   --  PAUS  --  PAUS  --   --   --   --   --   --   --
DISABLED           --   --  DISA  --  DISA DISA DISA  --   --   --  DISA  --
FLAGGED            --   --  APPR  --  PAUS  --   --   --   --   --  LOCK  --
IN_APPEAL         APPE  --   --  APPE  --  APPE APPE  --   --   --   --   --
REINSTATED         --   --  APPR  --  APPR APPR APPR  --   --   --  APPR  --
LOCKED             --   --  LOCK  --  LOCK  --   --   --   --   --  LOCK  --
ARCHIVED          ARCH ARCH ARCH ARCH ARCH ARCH ARCH  --   --  ARCH ARCH ARCH
UNARCHIVED         --   --  APPR  --   --   --   --   --   --  APPR  --   --
PENDING_DELETION  PDEL PDEL PDEL PDEL PDEL PDEL PDEL PDEL  --  PDEL PDEL PDEL
DELETED           DELE DELE DELE DELE DELE DELE DELE DELE DELE DELE DELE DELE
"""


def _table() -> dict[tuple[TemplateStatus, TemplateEvent], TemplateStatus | None]:
    header, *rows = META_EVENT_TABLE.strip().splitlines()
    columns = [ABBREVIATIONS[name] for name in header.split()[1:]]
    cells: dict[tuple[TemplateStatus, TemplateEvent], TemplateStatus | None] = {}
    for row in rows:
        event, *outcomes = row.split()
        assert len(outcomes) == len(columns), row
        for status, outcome in zip(columns, outcomes, strict=True):
            cells[(status, E(event))] = None if outcome == "--" else ABBREVIATIONS[outcome]
    return cells


EXPECTED = _table()
META_EVENTS = {  # as ../shared/META_CLOUD_API.md lists them
    "APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "FLAGGED", "IN_APPEAL",
    "REINSTATED", "PENDING_DELETION", "DELETED", "ARCHIVED", "UNARCHIVED", "LOCKED",
    "LIMIT_EXCEEDED",
}  # fmt: skip


def test_the_table_covers_every_meta_event_and_every_status() -> None:
    assert {e.value for e in E} == META_EVENTS  # Meta's list, no more, no less
    assert set(EXPECTED) == {(s, e) for s in S for e in E}


@pytest.mark.parametrize(("status", "event"), sorted(EXPECTED), ids=lambda x: str(x))
def test_each_event_from_each_status(status: TemplateStatus, event: TemplateEvent) -> None:
    expected = EXPECTED[(status, event)]
    if expected is None:
        with pytest.raises(Conflict, match="resync") as info:
            apply_meta_event(status, event.value)
        assert info.value.code == "illegal_transition"
        assert info.value.details == {"current": status.value, "transition": event.value}
    else:
        assert apply_meta_event(status, event.value) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(S.APPROVED, S.LOCKED), (S.PAUSED, S.LOCKED), (S.LOCKED, S.LOCKED)],
)
def test_locked_comes_only_from_a_sendable_or_paused_template(
    status: TemplateStatus, expected: TemplateStatus
) -> None:
    assert apply_meta_event(status, E.LOCKED) is expected
    assert not is_sendable(expected)  # a locked template cannot be sent...
    with pytest.raises(Conflict):
        edit(expected)  # ...nor edited here
    assert apply_meta_event(expected, E.REINSTATED) is S.APPROVED  # Meta may unlock it


@pytest.mark.parametrize("status", [S.DRAFT, S.REJECTED, S.DISABLED, S.IN_APPEAL])
def test_in_appeal_follows_a_rejection_or_a_disable(status: TemplateStatus) -> None:
    # DRAFT: an edited rejected template is still REJECTED at Meta when the appeal starts.
    appealed = apply_meta_event(status, E.IN_APPEAL)
    assert appealed is S.IN_APPEAL
    assert not is_sendable(appealed)
    assert apply_meta_event(appealed, E.APPROVED) is S.APPROVED  # appeal won
    assert apply_meta_event(appealed, E.REJECTED) is S.REJECTED  # appeal lost
    assert apply_meta_event(appealed, E.REINSTATED) is S.APPROVED


@pytest.mark.parametrize("status", [S.DRAFT, S.PENDING, S.LIMIT_EXCEEDED])
def test_limit_exceeded_is_a_refused_creation_that_can_be_fixed(status: TemplateStatus) -> None:
    refused = apply_meta_event(status, E.LIMIT_EXCEEDED)
    assert refused is S.LIMIT_EXCEEDED
    assert not is_sendable(refused)
    assert edit(refused) is S.DRAFT  # never created at Meta: edited and resubmitted
    assert apply_meta_event(refused, E.PENDING) is S.PENDING


@pytest.mark.parametrize(
    "status", [S.APPROVED, S.REJECTED, S.PAUSED, S.DISABLED, S.IN_APPEAL, S.LOCKED, S.ARCHIVED]
)
def test_limit_exceeded_is_refused_once_meta_has_the_template(status: TemplateStatus) -> None:
    with pytest.raises(Conflict) as info:
        apply_meta_event(status, E.LIMIT_EXCEEDED)
    assert info.value.code == "illegal_transition"
