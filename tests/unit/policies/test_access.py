from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import Forbidden
from whatsapp_core.policies.access import (
    API_KEY_ACTIONS,
    MUTATIONS,
    PERMISSIONS,
    Action,
    Role,
    can,
    minimum_role,
    require,
)

pytestmark = pytest.mark.unit

ROLES = st.sampled_from(Role)
ACTIONS = st.sampled_from(Action)


def test_roles_are_ranked_viewer_agent_manager_admin() -> None:
    assert [r.rank for r in (Role.VIEWER, Role.AGENT, Role.MANAGER, Role.ADMIN)] == [0, 1, 2, 3]


def test_every_action_is_named_area_dot_verb() -> None:
    for action in Action:
        area, _, verb = action.value.partition(".")
        assert area, action
        assert verb, action
        assert "." not in verb, action


def test_every_action_is_either_a_read_or_a_mutation() -> None:
    # A new action must be classified on purpose: forgetting MUTATIONS would let
    # a viewer-only check wave it through.
    for action in Action:
        assert (action in MUTATIONS) != action.value.endswith(".read"), action


def test_every_role_has_a_row_in_the_matrix() -> None:
    assert set(PERMISSIONS) == set(Role)


@given(ROLES, ROLES, ACTIONS)
def test_permissions_are_monotone_in_rank(low: Role, high: Role, action: Action) -> None:
    if low.rank <= high.rank and can(low, action):
        assert can(high, action)


@given(ACTIONS)
def test_a_viewer_can_never_mutate(action: Action) -> None:
    if action in MUTATIONS:
        assert not can(Role.VIEWER, action)
        with pytest.raises(Forbidden):
            require(Role.VIEWER, action)


@given(ACTIONS)
def test_an_admin_can_do_everything(action: Action) -> None:
    assert can(Role.ADMIN, action)
    require(Role.ADMIN, action)


@given(ROLES, ACTIONS)
def test_require_agrees_with_can(role: Role, action: Action) -> None:
    if can(role, action):
        require(role, action)
    else:
        with pytest.raises(Forbidden) as info:
            require(role, action)
        assert info.value.code == "forbidden"
        assert info.value.details["action"] == action.value
        assert info.value.details["role"] == role.value
        assert info.value.details["required_role"] == minimum_role(action).value


@given(ACTIONS)
def test_minimum_role_is_the_lowest_role_allowed(action: Action) -> None:
    lowest = minimum_role(action)
    assert can(lowest, action)
    assert all(not can(r, action) for r in Role if r.rank < lowest.rank)


def test_viewer_reads_the_inbox_only() -> None:
    assert PERMISSIONS[Role.VIEWER] == {
        Action.CONVERSATION_READ,
        Action.CONTACT_READ,
        Action.TEMPLATE_READ,
    }


def test_agent_adds_the_daily_work_of_answering_customers() -> None:
    added = PERMISSIONS[Role.AGENT] - PERMISSIONS[Role.VIEWER]
    assert added == {
        Action.CONVERSATION_REPLY,
        Action.CONVERSATION_ASSIGN_SELF,
        Action.CONVERSATION_RESOLVE,
        Action.CONVERSATION_EXPORT,
        Action.NOTE_WRITE,
        Action.LABEL_MANAGE,
        Action.CONTACT_WRITE,
        Action.TEMPLATE_SEND,
    }


def test_manager_adds_team_and_template_management() -> None:
    added = PERMISSIONS[Role.MANAGER] - PERMISSIONS[Role.AGENT]
    assert added == {
        Action.TEMPLATE_MANAGE,
        Action.CONTACT_IMPORT,
        Action.CONTACT_MERGE,
        Action.CONTACT_DELETE,
        Action.CONTACT_EXPORT,
        Action.CONVERSATION_ASSIGN_OTHERS,
        Action.REPORT_READ,
        Action.JOB_READ,
        Action.JOB_MANAGE,
    }


@pytest.mark.parametrize(
    "action",
    [
        Action.TENANT_MANAGE,
        Action.USER_MANAGE,
        Action.WEBHOOK_MANAGE,
        Action.APIKEY_MANAGE,
        Action.AI_MANAGE,
        Action.AUDIT_READ,
    ],
)
def test_platform_settings_and_audit_are_for_admins_only(action: Action) -> None:
    assert minimum_role(action) is Role.ADMIN
    with pytest.raises(Forbidden, match="admin"):
        require(Role.MANAGER, action)


def test_an_agent_cannot_assign_a_conversation_to_someone_else() -> None:
    require(Role.AGENT, Action.CONVERSATION_ASSIGN_SELF)
    with pytest.raises(Forbidden) as info:
        require(Role.AGENT, Action.CONVERSATION_ASSIGN_OTHERS)
    assert info.value.details == {
        "action": "conversation.assign_others",
        "role": "agent",
        "required_role": "manager",
    }
    assert "manager" in info.value.message


def test_api_keys_can_send_messages_but_not_manage_anything() -> None:
    assert Action.MESSAGE_SEND_TEMPLATE_API in API_KEY_ACTIONS
    mutations_by_key = API_KEY_ACTIONS & MUTATIONS
    assert mutations_by_key == {Action.MESSAGE_SEND_TEMPLATE_API, Action.MESSAGE_SEND_TEXT_API}
