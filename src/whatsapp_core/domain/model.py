"""Entities of the inbox. Frozen msgspec Structs: change one with ``msgspec.structs.replace``."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import msgspec

from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import TemplateCategory, TemplateComponents, TemplateStatus


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who acts, in which tenant, with which role: a user, an API key, or the system."""

    tenant_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scopes: tuple[str, ...] = ()  # an API key's grants (Action values); users have none

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.api_key_id is not None:
            return f"apikey:{self.api_key_id}"
        return "system"


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    bsuid: str | None = None
    wa_id: str | None = None
    parent_bsuid: str | None = None
    username: str | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()
    attributes: dict[str, str] = msgspec.field(default_factory=dict)
    opted_in: bool = True
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        """What an agent sees: name, else username, else phone, else the BSUID."""
        return (
            self.name
            or self.username
            or (f"+{self.wa_id}" if self.wa_id else "")
            or str(self.bsuid)
        )


class ConversationStatus(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """A contact's thread with the tenant. One per contact; resolving closes it and the
    customer's next message reopens it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    status: ConversationStatus = ConversationStatus.OPEN
    assignee_id: uuid.UUID | None = None
    labels: tuple[str, ...] = ()
    last_inbound_at: datetime | None = None
    last_message_at: datetime
    unread_count: int = 0
    created_at: datetime


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


MESSAGE_TYPES = frozenset(
    {
        "text", "image", "video", "audio", "document", "sticker", "location", "contacts",
        "interactive", "button", "reaction", "order", "system", "template", "unsupported",
    }
)  # fmt: skip


class Message(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    direction: Direction
    type: str
    text: str | None = None
    content: dict[str, Any] = msgspec.field(default_factory=dict)
    wamid: str | None = None
    status: MessageStatus | None = None
    error_code: int | None = None
    error_text: str | None = None
    created_at: datetime
    status_at: datetime | None = None
    reply_to_wamid: str | None = None
    author_id: uuid.UUID | None = None
    template_name: str | None = None
    template_language: str | None = None
    intent: str | None = None
    intent_confidence: float | None = None


class Template(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    language: str
    category: TemplateCategory
    components: TemplateComponents
    status: TemplateStatus = TemplateStatus.DRAFT
    meta_id: str | None = None
    rejection_reason: str | None = None
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    created_at: datetime
    updated_at: datetime


class OutboxJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job written in the same transaction as the data it is about."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    correlation_id: str | None = None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    actor: str
    action: str
    entity_type: str
    entity_id: str
    at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    correlation_id: str | None = None


class PendingStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A status webhook for a wamid we do not know yet (it raced our own send call)."""

    tenant_id: uuid.UUID
    wamid: str
    status: MessageStatus
    at: datetime
    error_code: int | None = None
    error_text: str | None = None
    # The message our send named in ``biz_opaque_callback_data`` (see ``deliver_message``).
    message_id: uuid.UUID | None = None


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Published to the tenant's real-time channel and to automation after commit."""

    kind: str
    tenant_id: uuid.UUID
    payload: dict[str, Any]
    at: datetime
