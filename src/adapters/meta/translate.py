"""Meta's decoded webhook -> the core's ``WebhookBatch`` (wire format stays here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from adapters.meta import webhook_payload as wire
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.webhook import (
    IdentityChange,
    InboundMessage,
    NumberUpdates,
    StatusUpdate,
    TemplateUpdate,
    WebhookBatch,
    WebhookError,
)
from whatsapp_core.errors import InvalidInput

_MEDIA = ("image", "video", "audio", "document", "sticker")
_IDENTITY_SYSTEM_TYPES = ("user_changed_number", "user_changed_user_id", "customer_changed_number")


def to_batch(decoded: wire.DecodedWebhook) -> WebhookBatch:
    numbers: dict[str, NumberUpdates] = {}
    templates: list[TemplateUpdate] = []
    ignored: list[str] = []
    errors: list[WebhookError] = []
    for change in decoded.changes:
        value = change.value
        if isinstance(value, wire.MessagesValue):
            number = numbers.setdefault(
                value.metadata.phone_number_id,
                NumberUpdates(phone_number_id=value.metadata.phone_number_id),
            )
            for message in value.messages:
                inbound = _message(message, value.contacts)
                if inbound is None:
                    ignored.append(f"message without a sender ({message.type})")
                    continue
                number.messages.append(inbound)
                change_ = _identity_change(message)
                if change_ is not None:
                    number.identity_changes.append(change_)
            number.statuses.extend(_status(status) for status in value.statuses)
            pnid = value.metadata.phone_number_id
            errors.extend(_error(error, pnid) for error in value.errors)
        elif isinstance(value, wire.TemplateStatusUpdate):
            templates.append(
                TemplateUpdate(
                    waba_id=change.waba_id,
                    meta_template_id=value.template_id,
                    name=value.message_template_name,
                    language=value.message_template_language,
                    event=value.event,
                    reason=None if value.reason in (None, "NONE") else value.reason,
                )
            )
        else:
            ignored.append(change.field)
    return WebhookBatch(
        numbers=list(numbers.values()), templates=templates, ignored_fields=ignored, errors=errors
    )


def _error(error: wire.MetaError, phone_number_id: str) -> WebhookError:
    return WebhookError(
        code=error.code,
        title=error.title,
        message=error.message,
        details=error.error_data.details if error.error_data else None,
        phone_number_id=phone_number_id,
    )


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _message(m: wire.InboundMessage, contacts: list[wire.ContactInfo]) -> InboundMessage | None:
    who = wire.identity_of(m, contacts)
    try:
        customer = CustomerIdentity(
            bsuid=who.bsuid,
            wa_id=who.wa_id,
            username=who.username,
            name=who.name,
            parent_bsuid=who.parent_bsuid,
        )
    except InvalidInput:
        return None
    known = m.is_known
    kind = m.type if known else "unsupported"
    payload: Any = getattr(m, m.type, None) if known else None
    content: dict[str, Any]
    if known:
        content = {m.type: msgspec.to_builtins(payload)}
    else:
        # Keep what Meta sent so nothing is lost when we learn the type later.
        content = {"original_type": m.type, "raw": msgspec.json.decode(m.raw)}
        if m.decode_error:
            content["decode_error"] = m.decode_error
    if m.referral:
        content["referral"] = m.referral
    if m.context is not None and (m.context.forwarded or m.context.frequently_forwarded):
        content["forwarded"] = True
    media_id = payload.id if known and m.type in _MEDIA else None
    return InboundMessage(
        wamid=m.id,
        customer=customer,
        sent_at=_at(m.timestamp),
        type=kind,
        text=_text_of(m) if known else None,
        content=content,
        reply_to_wamid=m.context.id if m.context is not None else None,
        media_id=media_id,
    )


def _text_of(m: wire.InboundMessage) -> str | None:
    """The words an agent reads in the list and the AI classifies."""
    if m.text is not None:
        return m.text.body
    if m.type in _MEDIA:
        media: wire.Media | None = getattr(m, m.type)
        return media.caption if media else None
    if m.interactive is not None:
        reply = m.interactive.button_reply or m.interactive.list_reply
        return reply.title if reply is not None else m.interactive.type
    if m.button is not None:
        return m.button.text
    if m.location is not None:
        return m.location.name or m.location.address
    if m.reaction is not None:
        return m.reaction.emoji
    if m.system is not None:
        return m.system.body
    return None


def _identity_change(m: wire.InboundMessage) -> IdentityChange | None:
    system = m.system
    if system is None or system.type not in _IDENTITY_SYSTEM_TYPES:
        return None
    return IdentityChange(
        previous_bsuid=system.previous_user_id or m.from_user_id,
        new_bsuid=system.user_id,
        new_wa_id=system.wa_id or system.new_wa_id,
        at=_at(m.timestamp),
    )


def _status(s: wire.StatusInfo) -> StatusUpdate:
    error = s.errors[0] if s.errors else None
    error_text = None
    if error is not None:
        details = error.error_data.details if error.error_data else None
        error_text = ": ".join(p for p in (error.title or error.message, details) if p)
    return StatusUpdate(
        wamid=s.id,
        status=s.status,
        at=_at(s.timestamp),
        recipient_bsuid=s.recipient_user_id,
        recipient_wa_id=s.recipient_id,
        error_code=error.code if error else None,
        error_text=error_text,
        pricing_category=s.pricing.category if s.pricing else None,
        pricing_type=s.pricing.type if s.pricing else None,
        callback_data=s.biz_opaque_callback_data,
    )
