"""Role-based access: the one permission matrix of the product.

Roles are cumulative (admin > manager > agent > viewer): each role holds every
permission of the roles below it. Reports, job monitoring and the audit log are
reads, yet they are not for viewers: a viewer follows conversations, contacts and
templates, nothing about the team or the platform.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from whatsapp_core.errors import Forbidden, InvalidInput


class Role(enum.StrEnum):
    VIEWER = "viewer"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Higher rank holds more permissions; viewer 0 .. admin 3."""
        return _RANK[self]


_RANK: Mapping[Role, int] = MappingProxyType(
    {Role.VIEWER: 0, Role.AGENT: 1, Role.MANAGER: 2, Role.ADMIN: 3}
)


class Action(enum.StrEnum):
    CONVERSATION_READ = "conversation.read"
    CONVERSATION_REPLY = "conversation.reply"
    CONVERSATION_ASSIGN_SELF = "conversation.assign_self"
    CONVERSATION_ASSIGN_OTHERS = "conversation.assign_others"
    CONVERSATION_RESOLVE = "conversation.resolve"
    CONVERSATION_EXPORT = "conversation.export"
    NOTE_WRITE = "note.write"
    LABEL_MANAGE = "label.manage"
    CONTACT_READ = "contact.read"
    CONTACT_WRITE = "contact.write"
    CONTACT_IMPORT = "contact.import"
    CONTACT_DELETE = "contact.delete"
    CONTACT_MERGE = "contact.merge"
    CONTACT_EXPORT = "contact.export"
    TEMPLATE_READ = "template.read"
    TEMPLATE_MANAGE = "template.manage"
    TEMPLATE_SEND = "template.send"
    REPORT_READ = "report.read"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    TENANT_MANAGE = "tenant.manage"
    WEBHOOK_MANAGE = "webhook.manage"
    APIKEY_MANAGE = "apikey.manage"
    AI_MANAGE = "ai.manage"
    JOB_READ = "job.read"
    JOB_MANAGE = "job.manage"
    MESSAGE_SEND_TEMPLATE_API = "message.send_template_api"
    MESSAGE_SEND_TEXT_API = "message.send_text_api"


# Listed by hand rather than derived from the ".read" suffix, so that a new action
# has to be classified on purpose (a test checks every action is classified).
MUTATIONS: frozenset[Action] = frozenset(
    {
        Action.CONVERSATION_REPLY,
        Action.CONVERSATION_ASSIGN_SELF,
        Action.CONVERSATION_ASSIGN_OTHERS,
        Action.CONVERSATION_RESOLVE,
        Action.CONVERSATION_EXPORT,
        Action.NOTE_WRITE,
        Action.LABEL_MANAGE,
        Action.CONTACT_WRITE,
        Action.CONTACT_IMPORT,
        Action.CONTACT_DELETE,
        Action.CONTACT_MERGE,
        Action.CONTACT_EXPORT,
        Action.TEMPLATE_MANAGE,
        Action.TEMPLATE_SEND,
        Action.USER_MANAGE,
        Action.TENANT_MANAGE,
        Action.WEBHOOK_MANAGE,
        Action.APIKEY_MANAGE,
        Action.AI_MANAGE,
        Action.JOB_MANAGE,
        Action.MESSAGE_SEND_TEMPLATE_API,
        Action.MESSAGE_SEND_TEXT_API,
    }
)

_VIEWER = frozenset({Action.CONVERSATION_READ, Action.CONTACT_READ, Action.TEMPLATE_READ})
_AGENT = _VIEWER | {
    Action.CONVERSATION_REPLY,
    Action.CONVERSATION_ASSIGN_SELF,
    Action.CONVERSATION_RESOLVE,
    Action.CONVERSATION_EXPORT,  # a transcript of a conversation the agent can read
    Action.NOTE_WRITE,
    Action.LABEL_MANAGE,  # labelling the conversations the agent works on
    Action.CONTACT_WRITE,
    Action.TEMPLATE_SEND,
}
_MANAGER = _AGENT | {
    Action.TEMPLATE_MANAGE,
    Action.CONTACT_IMPORT,
    Action.CONTACT_MERGE,
    Action.CONTACT_DELETE,
    Action.CONTACT_EXPORT,  # the whole address book leaves the product
    Action.CONVERSATION_ASSIGN_OTHERS,
    Action.REPORT_READ,
    Action.JOB_READ,
    Action.JOB_MANAGE,
}

PERMISSIONS: Mapping[Role, frozenset[Action]] = MappingProxyType(
    {
        Role.VIEWER: _VIEWER,
        Role.AGENT: _AGENT,
        Role.MANAGER: _MANAGER,
        Role.ADMIN: frozenset(Action),
    }
)

API_KEY_ACTIONS: frozenset[Action] = frozenset(
    {Action.MESSAGE_SEND_TEMPLATE_API, Action.MESSAGE_SEND_TEXT_API, Action.TEMPLATE_READ}
)
"""What a tenant API key (n8n and other automations) may be granted; keys carry no
role, only the scopes chosen when the key was made (a subset of these)."""

DEFAULT_KEY_SCOPES: tuple[str, ...] = (
    Action.MESSAGE_SEND_TEMPLATE_API.value,
    Action.TEMPLATE_READ.value,
)
"""A key made without naming scopes: templates only. Free-form text is opt-in."""


def parse_scopes(scopes: Iterable[str] | None) -> tuple[str, ...]:
    """Validated, sorted, de-duplicated scopes for a new key (``None``: the default)."""
    if scopes is None:
        return DEFAULT_KEY_SCOPES
    allowed = {a.value for a in API_KEY_ACTIONS}
    chosen = sorted({s.strip() for s in scopes})
    unknown = [s for s in chosen if s not in allowed]
    if unknown or not chosen:
        raise InvalidInput(
            f"scopes must be some of {', '.join(sorted(allowed))}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            field="scopes",
        )
    return tuple(chosen)


def can(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]


def minimum_role(action: Action) -> Role:
    """The lowest role allowed to perform ``action`` (used to tell users whom to ask)."""
    return min((r for r in Role if can(r, action)), key=lambda r: r.rank)


def require(role: Role, action: Action) -> None:
    """Refuse with ``Forbidden(code="forbidden")`` unless ``role`` may do ``action``."""
    if can(role, action):
        return
    needed = minimum_role(action)
    raise Forbidden(
        f"Your role ({role.value}) does not allow {action.value}; "
        f"it needs {needed.value} or above. Ask an administrator of your team.",
        code="forbidden",
        action=action.value,
        role=role.value,
        required_role=needed.value,
    )
