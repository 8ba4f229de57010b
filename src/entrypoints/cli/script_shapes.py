"""What a ``wa simulate conversation`` script may say: each step kind's argument, each
expectation, the script's head. Decoding into these (msgspec, unknown fields refused) is
the check; ``script`` adds the file and line to what fails."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from entrypoints.cli.fake_meta import DEFAULT_NAME, DEFAULT_PHONE


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# -- what a step does -------------------------------------------------------------------


class CustomerSays(_Strict):
    text: str
    from_: str | None = msgspec.field(default=None, name="from")
    name: str | None = None


class AgentSays(_Strict):
    text: str


class SendTemplate(_Strict):
    name: str
    language: str = "en"
    params: list[str | int | float] = msgspec.field(default_factory=list)


class MetaStatus(_Strict):
    status: Literal["sent", "delivered", "read", "failed"]
    error_code: int | None = None
    error_title: str | None = None


class MetaFailure(_Strict):
    code: int
    http_status: int = 400


class CustomerMedia(_Strict):
    """The customer sends a file (a sample one): Meta's webhook names its media id, the
    ``media.fetch`` job (``run_jobs``) copies it into the blob store."""

    type: Literal["image", "document"] = "image"
    caption: str | None = None
    filename: str | None = None  # a document's name (default: invoice.pdf)


# Who ``assign`` hands the conversation to (``nobody``: unassign). The admin assigns.
Teammate = Literal["agent", "admin", "nobody"]

# Each kind: the shape of its argument. ``None`` in a union: the kind needs no argument.
KINDS: dict[str, Any] = {
    "customer": str | CustomerSays,
    "agent": str | AgentSays,
    "template": SendTemplate,
    "meta_status": Literal["sent", "delivered", "read", "failed"] | MetaStatus,
    "meta_fails_next": int | MetaFailure,
    "run_jobs": bool | None,
    "resolve": bool | None,
    "advance": str,
    "assign": Teammate,
    "label": str,
    "note": str,
    "media": Literal["image", "document"] | CustomerMedia,
}
NO_ARGUMENT = frozenset({"run_jobs", "resolve"})


# -- what a step expects ----------------------------------------------------------------


class LastMessage(_Strict):
    status: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    type: str | None = None
    text: str | None = None
    intent: str | None = None
    error_code: int | None = None
    media: Literal["available", "unavailable", "pending"] | None = None  # a file's copy


class Expect(_Strict):
    conversation: Literal["open", "pending", "resolved"] | None = None
    window: Literal["open", "closed"] | None = None
    unread: int | None = None
    messages: int | None = None
    contacts: int | None = None
    intent: str | None = None
    last_message: str | LastMessage | None = None
    error: str | None = None
    events: list[str] | None = None
    pending_jobs: int | dict[str, int] | None = None
    sent_to_meta: int | None = None
    assignee: Teammate | None = None
    labels: list[str] | None = None
    notes: int | None = None


# The domain events the product publishes (``expect: {events: [...]}`` may name these).
EVENT_KINDS = frozenset(
    {
        "ai.classified", "ai.suggested", "contact.created", "conversation.assigned",
        "conversation.opened", "conversation.resolved", "conversation.updated",
        "message.created", "message.media", "message.status", "note.created",
        "template.status",
    }
)  # fmt: skip


# -- the script -------------------------------------------------------------------------


class TemplateDef(_Strict):
    name: str
    body: str
    language: str = "en"
    category: Literal["UTILITY", "MARKETING", "AUTHENTICATION"] = "UTILITY"
    header: str | None = None
    footer: str | None = None
    # Meta's decision, delivered by webhook before the first step (PENDING: none yet).
    status: Literal["APPROVED", "REJECTED", "PENDING"] = "APPROVED"


class CustomerDef(_Strict):
    phone: str = DEFAULT_PHONE
    name: str = DEFAULT_NAME


class Head(_Strict):
    name: str | None = None
    description: str | None = None
    tenant: str = "acme"
    customer: CustomerDef = msgspec.field(default_factory=CustomerDef)
    templates: list[TemplateDef] = msgspec.field(default_factory=list)
