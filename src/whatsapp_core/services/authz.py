"""Authorization of a principal, once, in the core: users by role, API keys by list."""

from __future__ import annotations

from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Forbidden
from whatsapp_core.policies.access import API_KEY_ACTIONS, Action, require


def authorize(principal: Principal, action: Action) -> None:
    if principal.api_key_id is None:
        require(principal.role, action)
    elif action not in API_KEY_ACTIONS:
        raise Forbidden(
            f"API keys may not do {action.value}; sign in as a user instead",
            code="forbidden",
            action=action.value,
        )
    elif action.value not in principal.scopes:
        raise Forbidden(
            f"this API key lacks the scope {action.value}; an admin can make a key with it",
            code="missing_scope",
            action=action.value,
        )
