"""Laws of ``reconcile``: Meta's listed status wins, except over a local DRAFT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import Conflict, InvalidInput
from whatsapp_core.policies.templates import (
    TemplateStatus,
    apply_meta_event,
    listed_status,
    reconcile,
)

pytestmark = pytest.mark.unit

S = TemplateStatus
STATUSES = st.sampled_from(S)
LISTED = st.sampled_from([s for s in S if s is not S.DRAFT])


@given(STATUSES.filter(lambda s: s is not S.DRAFT), LISTED)
def test_the_listed_status_always_wins_and_legal_says_if_the_machine_agreed(
    status: TemplateStatus, listed: TemplateStatus
) -> None:
    result, legal = reconcile(status, listed.value)
    assert result is listed
    try:
        apply_meta_event(status, listed.value)
    except Conflict:
        assert not legal
    else:
        assert legal


@given(LISTED)
def test_a_local_draft_is_never_moved(listed: TemplateStatus) -> None:
    assert reconcile(S.DRAFT, listed.value) == (S.DRAFT, True)


@given(STATUSES, LISTED)
def test_reconciling_twice_is_reconciling_once(
    status: TemplateStatus, listed: TemplateStatus
) -> None:
    once, _ = reconcile(status, listed.value)
    assert reconcile(once, listed.value) == (once, True)


@given(st.text().filter(lambda t: t not in {s.value for s in S if s is not S.DRAFT}))
def test_anything_but_a_listed_status_is_invalid_input(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        listed_status(value)
    assert caught.value.code == "unknown_template_status"
    with pytest.raises(InvalidInput):
        reconcile(S.APPROVED, value)


def test_examples() -> None:
    assert reconcile(S.PENDING, "APPROVED") == (S.APPROVED, True)
    assert reconcile(S.PENDING, "REJECTED") == (S.REJECTED, True)
    # REINSTATED was missed: Meta lists it APPROVED again.
    assert reconcile(S.DISABLED, "APPROVED") == (S.APPROVED, False)
    assert reconcile(S.DELETED, "APPROVED") == (S.APPROVED, False)
