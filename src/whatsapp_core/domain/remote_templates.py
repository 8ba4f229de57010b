"""A message template as Meta lists it (``GET /{waba_id}/message_templates``), and what
of it this product can keep: a ``TemplateComponents`` it knows how to send.

The sync (``services.templates.sync_templates``) reads these; the gateway adapters
write them. ``status``/``category`` stay Meta's strings here: the sync decides what
an unknown one means, not the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.template_content import (
    BUTTON_TYPES,
    TemplateButton,
    TemplateComponents,
)


class RemoteTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """One template of the tenant's WhatsApp Business Account, at Meta."""

    meta_id: str
    name: str
    language: str
    status: str  # Meta's string: APPROVED, REJECTED, PAUSED...
    category: str  # Meta's string: MARKETING, UTILITY, AUTHENTICATION
    components: list[dict[str, Any]] = msgspec.field(default_factory=list)  # as Meta returns
    rejected_reason: str | None = None  # None when Meta says "NONE" or nothing
    quality: str | None = None  # quality_score.score: GREEN, YELLOW, RED, UNKNOWN


class SkippedTemplate(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    language: str
    reason: str


class TemplateSyncReport(msgspec.Struct, kw_only=True):
    """What one sync did; counts a caller can show and tests can check."""

    created: int = 0  # at Meta, unknown here: imported with their components
    updated: int = 0  # status, rejection reason, category or Meta id changed
    unchanged: int = 0
    repaired: int = 0  # of ``updated``: steps the state machine refuses (missed webhooks)
    drafts_kept: int = 0  # at Meta too, but our DRAFT is an unsent edit: left alone
    missing_at_meta: int = 0  # submitted here, not in Meta's list: left alone
    skipped: list[SkippedTemplate] = msgspec.field(default_factory=list)  # not imported


def _unsupported(remote: RemoteTemplate, what: str) -> InvalidInput:
    return InvalidInput(
        f"template {remote.name} ({remote.language}) has {what}, which this inbox cannot send",
        code="unsupported_template",
        field="components",
    )


def _text(component: Mapping[str, Any]) -> str | None:
    text = component.get("text")
    return text if isinstance(text, str) else None


def _button(remote: RemoteTemplate, raw: Mapping[str, Any]) -> TemplateButton:
    kind = str(raw.get("type", "")).upper()
    if kind not in BUTTON_TYPES:
        raise _unsupported(remote, f"a {kind or 'typeless'} button")
    if kind == "COPY_CODE":
        # Our COPY_CODE button keeps the sample code as its text (see build_template_body).
        example = raw.get("example")
        code = example[0] if isinstance(example, list) and example else example
        return TemplateButton(type=kind, text=str(code or raw.get("text") or ""))
    url, phone = raw.get("url"), raw.get("phone_number")
    return TemplateButton(
        type=kind,
        text=_text(raw) or "",
        url=str(url) if url is not None else None,
        phone_number=str(phone) if phone is not None else None,
    )


def components_from_meta(remote: RemoteTemplate) -> TemplateComponents:
    """The definition Meta lists, as this product's ``TemplateComponents``.

    Refuses (``InvalidInput``, code ``unsupported_template``) what the send path cannot
    fill: media or location headers, buttons other than quick reply / URL / phone /
    copy code (OTP, flows, catalogs), carousels and other component kinds."""
    header: str | None = None
    body: str | None = None
    footer: str | None = None
    buttons: list[TemplateButton] = []
    for component in _components(remote.components):
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format != "TEXT" or _text(component) is None:
                raise _unsupported(remote, f"a {header_format} header")
            header = _text(component)
        elif kind == "BODY":
            body = _text(component)
        elif kind == "FOOTER":
            footer = _text(component)
        elif kind == "BUTTONS":
            raw_buttons = component.get("buttons") or []
            buttons.extend(_button(remote, b) for b in _components(raw_buttons))
        else:
            raise _unsupported(remote, f"a {kind or 'typeless'} component")
    if not body:
        raise _unsupported(remote, "no body text")
    return TemplateComponents(body=body, header_text=header, footer=footer, buttons=tuple(buttons))


def _components(raw: Sequence[Any]) -> list[Mapping[str, Any]]:
    return [item for item in raw if isinstance(item, Mapping)]
