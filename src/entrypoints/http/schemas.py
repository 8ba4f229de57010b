"""Wire shapes of the REST API (msgspec Structs: decoding is the validation)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from whatsapp_core.domain.accounts import ApiKey, Note, User
from whatsapp_core.domain.model import Message, Template
from whatsapp_core.services.conversations import ConversationView


class RegisterIn(msgspec.Struct, kw_only=True):
    tenant_slug: str
    tenant_name: str
    email: str
    name: str
    password: str
    waba_id: str | None = None
    phone_number_id: str | None = None
    display_phone_number: str | None = None


class LoginIn(msgspec.Struct, kw_only=True):
    email: str
    password: str


class SessionOut(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: str
    expires_in: int
    csrf_token: str
    user: UserOut


class UserOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: str
    active: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            active=user.active,
        )


class UserIn(msgspec.Struct, kw_only=True):
    email: str
    name: str
    role: str
    password: str


class UserPatch(msgspec.Struct, kw_only=True):
    """Only the fields sent change."""

    role: str | None = None
    active: bool | None = None
    name: str | None = None


class PasswordIn(msgspec.Struct, kw_only=True):
    current_password: str
    new_password: str


class ApiKeyIn(msgspec.Struct, kw_only=True):
    name: str
    # Action values: message.send_template_api, message.send_text_api, template.read.
    # Left out: templates only (send + read).
    scopes: list[str] | None = None


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    token: str | None = None  # only in the answer that creates it

    @classmethod
    def of(cls, key: ApiKey, token: str | None = None) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scopes=key.scopes,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            token=token,
        )


class ContactOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    display_name: str
    name: str | None
    username: str | None
    wa_id: str | None
    bsuid: str | None


class ConversationOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    assignee_id: uuid.UUID | None
    labels: tuple[str, ...]
    unread_count: int
    last_message_at: datetime
    last_inbound_at: datetime | None
    window_open: bool
    window_closes_at: datetime | None
    contact: ContactOut

    @classmethod
    def of(cls, view: ConversationView) -> ConversationOut:
        c, contact = view.conversation, view.contact
        return cls(
            id=c.id,
            status=c.status.value,
            assignee_id=c.assignee_id,
            labels=c.labels,
            unread_count=c.unread_count,
            last_message_at=c.last_message_at,
            last_inbound_at=c.last_inbound_at,
            window_open=view.window.is_open,
            window_closes_at=view.window.closes_at,
            contact=ContactOut(
                id=contact.id,
                display_name=contact.display_name,
                name=contact.name,
                username=contact.username,
                wa_id=contact.wa_id,
                bsuid=contact.bsuid,
            ),
        )


class MessageOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    conversation_id: uuid.UUID
    direction: str
    type: str
    text: str | None
    content: dict[str, Any]
    wamid: str | None
    status: str | None
    error_code: int | None
    error_text: str | None
    created_at: datetime
    template_name: str | None
    intent: str | None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            conversation_id=m.conversation_id,
            direction=m.direction.value,
            type=m.type,
            text=m.text,
            content=m.content,
            wamid=m.wamid,
            status=m.status.value if m.status else None,
            error_code=m.error_code,
            error_text=m.error_text,
            created_at=m.created_at,
            template_name=m.template_name,
            intent=m.intent,
        )


class ThreadOut(msgspec.Struct, kw_only=True):
    conversation: ConversationOut
    messages: list[MessageOut]
    next_before: datetime | None


class ReplyIn(msgspec.Struct, kw_only=True):
    text: str
    reply_to_wamid: str | None = None


class AssignIn(msgspec.Struct, kw_only=True):
    assignee_id: uuid.UUID | None


class LabelIn(msgspec.Struct, kw_only=True):
    label: str


class NoteIn(msgspec.Struct, kw_only=True):
    body: str


class NoteOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    created_at: datetime

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls(id=note.id, author_id=note.author_id, body=note.body, created_at=note.created_at)


class ButtonIn(msgspec.Struct, kw_only=True):
    type: str
    text: str
    url: str | None = None
    phone_number: str | None = None


class TemplateIn(msgspec.Struct, kw_only=True):
    name: str
    language: str
    category: str
    body: str
    header_text: str | None = None
    footer: str | None = None
    buttons: list[ButtonIn] = []


class TemplateEditIn(msgspec.Struct, kw_only=True):
    body: str
    category: str | None = None
    header_text: str | None = None
    footer: str | None = None
    buttons: list[ButtonIn] = []


class TemplateOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    language: str
    category: str
    status: str
    body: str
    header_text: str | None
    footer: str | None
    meta_id: str | None
    rejection_reason: str | None
    sent: int
    delivered: int
    read: int
    failed: int
    read_rate: float | None

    @classmethod
    def of(cls, t: Template) -> TemplateOut:
        return cls(
            id=t.id,
            name=t.name,
            language=t.language,
            category=t.category.value,
            status=t.status.value,
            body=t.components.body,
            header_text=t.components.header_text,
            footer=t.components.footer,
            meta_id=t.meta_id,
            rejection_reason=t.rejection_reason,
            sent=t.sent,
            delivered=t.delivered,
            read=t.read,
            failed=t.failed,
            read_rate=round(t.read / t.sent, 4) if t.sent else None,
        )


class RecipientIn(msgspec.Struct, kw_only=True):
    phone: str | None = None
    bsuid: str | None = None


class SendTemplateIn(msgspec.Struct, kw_only=True):
    name: str
    language: str
    to: RecipientIn | None = None
    conversation_id: uuid.UUID | None = None
    body_params: list[str] | dict[str, str] = []
    header_params: list[str] = []


class SendTextIn(msgspec.Struct, kw_only=True):
    text: str
    to: RecipientIn | None = None
    conversation_id: uuid.UUID | None = None


class AuditOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    actor: str
    action: str
    entity_type: str
    entity_id: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    correlation_id: str | None
