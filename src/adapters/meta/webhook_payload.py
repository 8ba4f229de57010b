"""Meta WhatsApp Cloud API webhook payloads as msgspec Structs, and their decoder.

Decoding is the validation. Unknown keys are ignored (Meta adds fields without notice).
The decoder is lax about scalars because Meta sends Unix timestamps as strings in most
objects and as numbers in newer ones; both land as ``int``.

What raises and what degrades: anything that would be lost if we guessed (the envelope,
statuses, template updates, a message without id/type/timestamp) raises ``InvalidInput``.
A message can always be kept as its raw JSON, so a message of an unknown type, or whose
type-specific payload has an unexpected shape, is still returned with ``raw`` set (and
``decode_error`` naming the problem) for the caller to store as ``unsupported``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, TypeAlias

import msgspec

from whatsapp_core.errors import InvalidInput


class _Wire(msgspec.Struct, kw_only=True):
    """Base: keyword-only, unknown keys ignored (config is inherited by subclasses)."""


# ---------------------------------------------------------------- shared pieces


class ErrorData(_Wire):
    details: str | None = None


class MetaError(_Wire):
    code: int
    title: str | None = None
    message: str | None = None
    error_data: ErrorData | None = None
    href: str | None = None


class Profile(_Wire):
    name: str | None = None
    username: str | None = None


class ContactInfo(_Wire):
    user_id: str | None = None
    wa_id: str | None = None
    profile: Profile | None = None
    parent_user_id: str | None = None
    identity_key_hash: str | None = None

    def __post_init__(self) -> None:
        # Older payloads sent "" for a phone the business may not see: same as absent.
        if not self.wa_id:
            self.wa_id = None
        if not self.user_id:
            self.user_id = None


# ---------------------------------------------------------------- inbound messages


class MessageContext(_Wire):
    from_: str | None = msgspec.field(default=None, name="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class Text(_Wire):
    body: str


class Media(_Wire):
    """image / video / audio / document / sticker share one shape."""

    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class Location(_Wire):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


class ButtonReply(_Wire):
    id: str
    title: str | None = None


class ListReply(_Wire):
    id: str
    title: str | None = None
    description: str | None = None


class NfmReply(_Wire):
    response_json: str | None = None
    body: str | None = None
    name: str | None = None


class Interactive(_Wire):
    type: str
    button_reply: ButtonReply | None = None
    list_reply: ListReply | None = None
    nfm_reply: NfmReply | None = None


class Button(_Wire):
    payload: str | None = None
    text: str | None = None


class Reaction(_Wire):
    message_id: str
    emoji: str | None = None  # absent or "" means the reaction was removed


class System(_Wire):
    body: str | None = None
    type: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    previous_user_id: str | None = None
    parent_user_id: str | None = None
    previous_parent_user_id: str | None = None
    customer: str | None = None  # pre-BSUID payloads
    new_wa_id: str | None = None  # pre-BSUID `customer_changed_number`


# Types whose payload key is modelled above and named like the type itself.
KNOWN_TYPES = frozenset(
    (
        *("text", "image", "video", "audio", "document", "sticker", "location", "contacts"),
        *("interactive", "button", "reaction", "order", "system"),
    )
)


class _MessageHead(_Wire):
    id: str
    type: str
    timestamp: int
    from_: str | None = msgspec.field(default=None, name="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    group_id: str | None = None


class InboundMessage(_MessageHead):
    context: MessageContext | None = None
    referral: dict[str, Any] | None = None
    text: Text | None = None
    image: Media | None = None
    video: Media | None = None
    audio: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    location: Location | None = None
    contacts: list[dict[str, Any]] | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    reaction: Reaction | None = None
    order: dict[str, Any] | None = None
    system: System | None = None
    errors: list[MetaError] = []
    # Set by the decoder, never read from Meta's JSON (the odd key names see to that).
    raw: bytes = msgspec.field(default=b"", name="$raw")
    decode_error: str | None = msgspec.field(default=None, name="$decode_error")

    def __post_init__(self) -> None:
        if not self.from_:
            self.from_ = None
        if not self.from_user_id:
            self.from_user_id = None

    @property
    def is_known(self) -> bool:
        """True when the type is modelled and its payload decoded; else store `raw`."""
        return (
            self.decode_error is None
            and self.type in KNOWN_TYPES
            and getattr(self, self.type) is not None
        )


# ---------------------------------------------------------------- statuses


class Origin(_Wire):
    type: str | None = None


class Conversation(_Wire):
    id: str | None = None
    expiration_timestamp: int | None = None
    origin: Origin | None = None


class Pricing(_Wire):
    billable: bool | None = None  # deprecated by Meta, still sent
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


class StatusInfo(_Wire):
    id: str
    status: str
    timestamp: int
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    # Meta's April-2026 spelling of the field above; folded into it after decoding.
    parent_recipient_user_id: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[MetaError] = []
    biz_opaque_callback_data: str | None = None

    def __post_init__(self) -> None:
        if not self.recipient_id:
            self.recipient_id = None
        if self.recipient_parent_user_id is None:
            self.recipient_parent_user_id = self.parent_recipient_user_id


# ---------------------------------------------------------------- change values


class Metadata(_Wire):
    display_phone_number: str
    phone_number_id: str


class _MessagesValueBase(_Wire):
    metadata: Metadata
    messaging_product: str = "whatsapp"
    contacts: list[ContactInfo] = []
    statuses: list[StatusInfo] = []
    errors: list[MetaError] = []


class MessagesValue(_MessagesValueBase):
    messages: list[InboundMessage] = []


class _MessagesValueWire(_MessagesValueBase):
    # Each message stays raw until decoded alone, so one odd message cannot sink the batch.
    messages: list[msgspec.Raw] = []


class _TemplateRef(_Wire):
    message_template_id: int | str  # a number in webhooks, a string in the Graph API
    message_template_name: str
    message_template_language: str

    @property
    def template_id(self) -> str:
        return str(self.message_template_id)


class TemplateStatusUpdate(_TemplateRef):
    event: str
    reason: str | None = None  # Meta sends "NONE" when there is none
    message_template_category: str | None = None
    other_info: dict[str, Any] | None = None
    disable_info: dict[str, Any] | None = None


class TemplateQualityUpdate(_TemplateRef):
    new_quality_score: str
    previous_quality_score: str | None = None


class TemplateCategoryUpdate(_TemplateRef):
    previous_category: str | None = None
    new_category: str | None = None
    correct_category: str | None = None


class UnknownChange(_Wire):
    field: str
    raw: bytes


ChangeValue: TypeAlias = (
    MessagesValue
    | TemplateStatusUpdate
    | TemplateQualityUpdate
    | TemplateCategoryUpdate
    | UnknownChange
)


# ---------------------------------------------------------------- envelope and result


class Change(_Wire):
    field: str
    value: msgspec.Raw


class Entry(_Wire):
    id: str
    changes: list[Change]


class WebhookEnvelope(_Wire):
    object: str
    entry: list[Entry]


class DecodedChange(_Wire):
    waba_id: str
    field: str
    value: ChangeValue


class DecodedWebhook(_Wire):
    changes: list[DecodedChange]

    def iter_messages(self) -> Iterator[tuple[str, MessagesValue, InboundMessage]]:
        """Every message of every change of every entry, with its WABA id and value."""
        for change in self.changes:
            if isinstance(change.value, MessagesValue):
                for message in change.value.messages:
                    yield change.waba_id, change.value, message

    def iter_statuses(self) -> Iterator[tuple[str, MessagesValue, StatusInfo]]:
        for change in self.changes:
            if isinstance(change.value, MessagesValue):
                for status in change.value.statuses:
                    yield change.waba_id, change.value, status


class Identity(NamedTuple):
    bsuid: str | None
    wa_id: str | None
    username: str | None
    name: str | None
    parent_bsuid: str | None


# The same envelope when every change is a ``messages`` one (nearly every delivery):
# the value decodes in the envelope's own pass instead of a second one.
class _MessagesChange(_Wire):
    field: str
    value: _MessagesValueWire


class _MessagesEntry(_Wire):
    id: str
    changes: list[_MessagesChange]


class _MessagesEnvelope(_Wire):
    object: str
    entry: list[_MessagesEntry]


# ---------------------------------------------------------------- decoding

# strict=False lets "1749416383" decode into an int field; decoders are built once.
_ENVELOPE = msgspec.json.Decoder(WebhookEnvelope, strict=False)
_MESSAGES_ENVELOPE = msgspec.json.Decoder(_MessagesEnvelope, strict=False)
_MESSAGE = msgspec.json.Decoder(InboundMessage, strict=False)
_HEAD = msgspec.json.Decoder(_MessageHead, strict=False)
_VALUES: dict[str, msgspec.json.Decoder[Any]] = {
    "messages": msgspec.json.Decoder(_MessagesValueWire, strict=False),
    "message_template_status_update": msgspec.json.Decoder(TemplateStatusUpdate, strict=False),
    "message_template_quality_update": msgspec.json.Decoder(TemplateQualityUpdate, strict=False),
    "template_category_update": msgspec.json.Decoder(TemplateCategoryUpdate, strict=False),
}
# msgspec lets these two escape on invalid UTF-8 in a string and on very deep nesting.
_DECODE_FAILURES = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _reason(exc: Exception, where: str) -> str:
    """msgspec's message with its `$` path re-rooted at `where` in the whole body."""
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        if " - at `$" in text:
            return text.replace(" - at `$", f" - at `{where}", 1)
        return f"{text} - at `{where}`"
    return text


def _invalid(exc: Exception, where: str) -> InvalidInput:
    return InvalidInput(f"webhook body: {_reason(exc, where)}", field="webhook_body")


def _degraded(raw: bytes, exc: Exception, where: str) -> InboundMessage:
    """The message's head alone, flagged, when its type-specific payload will not decode."""
    try:
        head = _HEAD.decode(raw)
    except _DECODE_FAILURES as head_exc:
        raise _invalid(head_exc, where) from head_exc
    return InboundMessage(
        id=head.id,
        type=head.type,
        timestamp=head.timestamp,
        from_=head.from_,
        from_user_id=head.from_user_id,
        from_parent_user_id=head.from_parent_user_id,
        group_id=head.group_id,
        decode_error=_reason(exc, where),
    )


def _value_path(entry: int, change: int) -> str:
    return f"$.entry[{entry}].changes[{change}].value"


def _decode_messages(items: list[msgspec.Raw], at: tuple[int, int]) -> list[InboundMessage]:
    messages: list[InboundMessage] = []
    for item in items:
        raw = bytes(item)
        try:
            message = _MESSAGE.decode(raw)
        except _DECODE_FAILURES as exc:
            # The path string is built only on failure: it is a hot loop.
            message = _degraded(raw, exc, f"{_value_path(*at)}.messages[{len(messages)}]")
        message.raw = raw
        messages.append(message)
    return messages


def _decode_messages_only(body: bytes) -> DecodedWebhook | None:
    """One pass for a body whose changes are all ``messages``; ``None`` for anything
    else - another field, or a body that does not decode - which the general path then
    decodes (and explains, when it is wrong). A hot path: plain loops."""
    try:
        envelope = _MESSAGES_ENVELOPE.decode(body)
    except _DECODE_FAILURES:
        return None
    if envelope.object != "whatsapp_business_account":
        return None
    changes = []
    for i, entry in enumerate(envelope.entry):
        for j, change in enumerate(entry.changes):
            if change.field != "messages":
                return None
            value = _messages_value(change.value, (i, j))
            changes.append(DecodedChange(waba_id=entry.id, field="messages", value=value))
    return DecodedWebhook(changes=changes)


def _messages_value(value: _MessagesValueWire, at: tuple[int, int]) -> MessagesValue:
    return MessagesValue(
        metadata=value.metadata,
        messaging_product=value.messaging_product,
        contacts=value.contacts,
        messages=_decode_messages(value.messages, at) if value.messages else [],
        statuses=value.statuses,
        errors=value.errors,
    )


def _decode_value(field: str, raw: msgspec.Raw, at: tuple[int, int]) -> ChangeValue:
    decoder = _VALUES.get(field)
    if decoder is None:
        return UnknownChange(field=field, raw=bytes(raw))
    try:
        value: ChangeValue | _MessagesValueWire = decoder.decode(raw)
    except _DECODE_FAILURES as exc:
        raise _invalid(exc, _value_path(*at)) from exc
    if not isinstance(value, _MessagesValueWire):
        return value
    return _messages_value(value, at)


def decode_webhook(body: bytes) -> DecodedWebhook:
    """Decode one POST body (every entry, every change) or raise ``InvalidInput``."""
    fast = _decode_messages_only(body)
    if fast is not None:
        return fast
    try:
        envelope = _ENVELOPE.decode(body)
    except _DECODE_FAILURES as exc:
        raise _invalid(exc, "$") from exc
    if envelope.object != "whatsapp_business_account":
        raise InvalidInput(
            f"webhook body: `object` is {envelope.object!r}, "
            "expected 'whatsapp_business_account' - at `$.object`",
            field="webhook_body",
        )
    changes = [
        DecodedChange(
            waba_id=entry.id,
            field=change.field,
            value=_decode_value(change.field, change.value, (i, j)),
        )
        for i, entry in enumerate(envelope.entry)
        for j, change in enumerate(entry.changes)
    ]
    return DecodedWebhook(changes=changes)


def identity_of(message: InboundMessage, contacts: Sequence[ContactInfo]) -> Identity:
    """Who sent `message`, merging its ids with the matching `contacts[]` entry."""
    contact: ContactInfo | None = None
    if message.from_user_id:
        contact = next((c for c in contacts if c.user_id == message.from_user_id), None)
    if contact is None and message.from_:
        contact = next((c for c in contacts if c.wa_id == message.from_), None)
    if contact is None and len(contacts) == 1:
        only = contacts[0]
        # The lone contact must not contradict the message, or two people would merge.
        if (only.user_id is None or message.from_user_id is None) and (
            only.wa_id is None or message.from_ is None
        ):
            contact = only
    profile = contact.profile if contact is not None and contact.profile else None
    return Identity(
        bsuid=message.from_user_id or (contact.user_id if contact else None),
        wa_id=message.from_ or (contact.wa_id if contact else None),
        username=profile.username if profile else None,
        name=profile.name if profile else None,
        parent_bsuid=message.from_parent_user_id or (contact.parent_user_id if contact else None),
    )
