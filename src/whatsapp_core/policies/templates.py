"""Message template lifecycle: local edits and Meta's status events.

Local transitions (ours): ``submit`` DRAFT -> PENDING; ``edit`` DRAFT | REJECTED |
LIMIT_EXCEEDED -> DRAFT (a LIMIT_EXCEEDED template was never created at Meta, so
like a rejected one it is fixed and resubmitted); ``delete`` every state but
PENDING_DELETION and DELETED -> DELETED (a draft Meta never saw is removed instead:
``services.templates.delete_template``).

Meta's ``message_template_status_update`` events (theirs): Meta is the source of
truth, so an event is accepted from every state Meta could plausibly see the
template in, including races with our own submit call (a template still DRAFT here
may already be PENDING, APPROVED or REJECTED at Meta, and a DRAFT made by editing a
REJECTED one is still REJECTED there). Anything else raises
``Conflict(code="illegal_transition")`` and the caller resyncs by polling.

================  ================  =================================================
event             new status        accepted from (besides the new status itself)
================  ================  =================================================
PENDING           PENDING           DRAFT, REJECTED, LIMIT_EXCEEDED, APPROVED, PAUSED
                                    (review restarted, e.g. edited in WhatsApp Manager)
APPROVED          APPROVED          DRAFT, PENDING, REJECTED, IN_APPEAL, PAUSED, LOCKED
                                    (review passed, appeal won, pause expired)
REJECTED          REJECTED          DRAFT, PENDING, IN_APPEAL, APPROVED, PAUSED
LIMIT_EXCEEDED    LIMIT_EXCEEDED    DRAFT, PENDING (the WABA is at its template limit)
PAUSED            PAUSED            APPROVED
DISABLED          DISABLED          APPROVED, PAUSED, LOCKED, IN_APPEAL
FLAGGED           (unchanged)       APPROVED, PAUSED, LOCKED (a quality warning only)
IN_APPEAL         IN_APPEAL         DRAFT, REJECTED, DISABLED
REINSTATED        APPROVED          PAUSED, DISABLED, IN_APPEAL, LOCKED
LOCKED            LOCKED            APPROVED, PAUSED (cannot be edited; not sendable)
ARCHIVED          ARCHIVED          every state but PENDING_DELETION, DELETED
UNARCHIVED        APPROVED          ARCHIVED (Meta restores it without a new review)
PENDING_DELETION  PENDING_DELETION  every state but DELETED
DELETED           DELETED           every state (DELETED is final)
================  ================  =================================================

An event whose new status is the current one is a no-op, so a redelivered webhook
is harmless (apply twice == apply once). An unknown event string is InvalidInput.

Polling (``reconcile``): the status in Meta's template list is where the template IS,
not a step, so it is taken even where the table above would refuse the step (that
refusal is what a missed webhook looks like). Only a local DRAFT is left alone: it
is our unsent edit, and Meta's copy is the previous version.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from whatsapp_core.errors import Conflict, InvalidInput
from whatsapp_core.policies.template_content import (
    BUTTON_TYPES,
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
    placeholders,
    render,
    render_header,
    validate_definition,
    validate_parameters,
    validate_template_name,
)

__all__ = [
    "BUTTON_TYPES",
    "TemplateButton",
    "TemplateCategory",
    "TemplateComponents",
    "TemplateEvent",
    "TemplateStatus",
    "apply_meta_event",
    "delete",
    "edit",
    "is_sendable",
    "listed_status",
    "placeholders",
    "reconcile",
    "render",
    "render_header",
    "submit",
    "validate_definition",
    "validate_parameters",
    "validate_template_name",
]


class TemplateStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    IN_APPEAL = "IN_APPEAL"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    ARCHIVED = "ARCHIVED"
    LOCKED = "LOCKED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class TemplateEvent(enum.StrEnum):
    """The ``event`` values of Meta's ``message_template_status_update`` webhook."""

    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    FLAGGED = "FLAGGED"
    IN_APPEAL = "IN_APPEAL"
    REINSTATED = "REINSTATED"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    ARCHIVED = "ARCHIVED"
    UNARCHIVED = "UNARCHIVED"
    LOCKED = "LOCKED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


_S = TemplateStatus
_E = TemplateEvent
_EDITABLE = frozenset({_S.DRAFT, _S.REJECTED, _S.LIMIT_EXCEEDED})

# event -> (new status, or None to keep the current one; states it may come from)
_META_EVENTS: Mapping[TemplateEvent, tuple[TemplateStatus | None, frozenset[TemplateStatus]]] = (
    MappingProxyType(
        {
            _E.PENDING: (
                _S.PENDING,
                frozenset({_S.DRAFT, _S.REJECTED, _S.LIMIT_EXCEEDED, _S.APPROVED, _S.PAUSED}),
            ),
            _E.APPROVED: (
                _S.APPROVED,
                frozenset({_S.DRAFT, _S.PENDING, _S.REJECTED, _S.IN_APPEAL, _S.PAUSED, _S.LOCKED}),
            ),
            _E.REJECTED: (
                _S.REJECTED,
                frozenset({_S.DRAFT, _S.PENDING, _S.IN_APPEAL, _S.APPROVED, _S.PAUSED}),
            ),
            _E.LIMIT_EXCEEDED: (_S.LIMIT_EXCEEDED, frozenset({_S.DRAFT, _S.PENDING})),
            _E.PAUSED: (_S.PAUSED, frozenset({_S.APPROVED})),
            _E.DISABLED: (
                _S.DISABLED,
                frozenset({_S.APPROVED, _S.PAUSED, _S.LOCKED, _S.IN_APPEAL}),
            ),
            _E.FLAGGED: (None, frozenset({_S.APPROVED, _S.PAUSED, _S.LOCKED})),
            _E.IN_APPEAL: (_S.IN_APPEAL, frozenset({_S.DRAFT, _S.REJECTED, _S.DISABLED})),
            _E.REINSTATED: (
                _S.APPROVED,
                frozenset({_S.PAUSED, _S.DISABLED, _S.IN_APPEAL, _S.LOCKED}),
            ),
            _E.LOCKED: (_S.LOCKED, frozenset({_S.APPROVED, _S.PAUSED})),
            _E.ARCHIVED: (_S.ARCHIVED, frozenset(_S) - {_S.PENDING_DELETION, _S.DELETED}),
            _E.UNARCHIVED: (_S.APPROVED, frozenset({_S.ARCHIVED})),
            _E.PENDING_DELETION: (_S.PENDING_DELETION, frozenset(_S) - {_S.DELETED}),
            _E.DELETED: (_S.DELETED, frozenset(_S)),
        }
    )
)


def _illegal(status: TemplateStatus, what: str, message: str) -> Conflict:
    return Conflict(message, code="illegal_transition", current=status.value, transition=what)


def submit(status: TemplateStatus) -> TemplateStatus:
    """Send a draft to Meta for review: DRAFT -> PENDING."""
    if status is _S.DRAFT:
        return _S.PENDING
    raise _illegal(
        status, "submit", f"Only a draft can be submitted for review; this template is {status}."
    )


def edit(status: TemplateStatus) -> TemplateStatus:
    """Change a template's content locally; it becomes (or stays) a DRAFT."""
    if status in _EDITABLE:
        return _S.DRAFT
    raise _illegal(
        status,
        "edit",
        f"A {status} template cannot be edited here; only drafts and templates Meta "
        "rejected or could not create can. Create a new template instead.",
    )


def delete(status: TemplateStatus) -> TemplateStatus:
    """Delete the template (at Meta, then here): -> DELETED. Refused once Meta deletes it
    already (PENDING_DELETION) or has (DELETED)."""
    if status in (_S.PENDING_DELETION, _S.DELETED):
        raise _illegal(
            status, "delete", f"This template is already {status}; there is nothing to delete."
        )
    return _S.DELETED


def apply_meta_event(status: TemplateStatus, event: str) -> TemplateStatus:
    """The status after Meta reports ``event``; see the module table."""
    try:
        known = TemplateEvent(event)
    except ValueError:
        raise InvalidInput(
            f"Unknown template status event {event!r} from Meta",
            code="unknown_template_event",
            field="event",
            value=event,
        ) from None
    target, sources = _META_EVENTS[known]
    if target is status:
        return status
    if status in sources:
        return status if target is None else target
    raise _illegal(
        status,
        known.value,
        f"Meta reported {known} for a template that is {status} here; "
        "resync the templates from Meta to repair the difference.",
    )


def listed_status(listed: str) -> TemplateStatus:
    """The status a template has at Meta, from the ``status`` of Meta's template list.
    Anything else (Meta never lists a DRAFT) is InvalidInput."""
    try:
        status = TemplateStatus(listed)
    except ValueError:
        status = _S.DRAFT
    if status is _S.DRAFT:
        raise InvalidInput(
            f"Meta listed a template with the unknown status {listed!r}",
            code="unknown_template_status",
            field="status",
            value=listed,
        )
    return status


def reconcile(status: TemplateStatus, listed: str) -> tuple[TemplateStatus, bool]:
    """The status after Meta's template list says ``listed``, and whether the step was
    a legal one (``False``: a repair over missed webhooks). A DRAFT stays a DRAFT."""
    target = listed_status(listed)
    if status is _S.DRAFT:
        return status, True
    try:
        return apply_meta_event(status, target.value), True
    except Conflict:
        return target, False


def is_sendable(status: TemplateStatus) -> bool:
    """Only an APPROVED template may be sent."""
    return status is _S.APPROVED
