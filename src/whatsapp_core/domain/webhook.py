"""What a Meta webhook batch means to the core, independent of its wire format.

The Meta adapter decodes the signed body and translates it into a ``WebhookBatch``;
``services.inbound.ingest_webhook`` applies it in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from whatsapp_core.domain.identity import CustomerIdentity


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    wamid: str
    customer: CustomerIdentity
    sent_at: datetime
    type: str
    text: str | None = None
    content: dict[str, Any] = msgspec.field(default_factory=dict)
    reply_to_wamid: str | None = None
    media_id: str | None = None


class StatusUpdate(msgspec.Struct, frozen=True, kw_only=True):
    wamid: str
    status: str
    at: datetime
    recipient_bsuid: str | None = None
    recipient_wa_id: str | None = None
    error_code: int | None = None
    error_text: str | None = None
    pricing_category: str | None = None
    pricing_type: str | None = None
    callback_data: str | None = None  # what our send put in biz_opaque_callback_data


class IdentityChange(msgspec.Struct, frozen=True, kw_only=True):
    """``system`` messages ``user_changed_number`` / ``user_changed_user_id``."""

    previous_bsuid: str | None
    new_bsuid: str | None
    new_wa_id: str | None = None
    at: datetime


class NumberUpdates(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one webhook batch says about one of our phone numbers."""

    phone_number_id: str
    messages: list[InboundMessage] = msgspec.field(default_factory=list)
    statuses: list[StatusUpdate] = msgspec.field(default_factory=list)
    identity_changes: list[IdentityChange] = msgspec.field(default_factory=list)


class TemplateUpdate(msgspec.Struct, frozen=True, kw_only=True):
    waba_id: str
    meta_template_id: str | None
    name: str
    language: str
    event: str
    reason: str | None = None


class WebhookError(msgspec.Struct, frozen=True, kw_only=True):
    """An error Meta reports in a change itself (``value.errors[]``), not about one
    message or status: something Meta could not deliver to us (e.g. 131051, a message
    type it does not support; 130472, an experiment). Nothing to store, but never to
    drop silently: ingest reports and logs it."""

    code: int
    title: str | None = None
    message: str | None = None
    details: str | None = None
    phone_number_id: str | None = None


class WebhookBatch(msgspec.Struct, frozen=True, kw_only=True):
    numbers: list[NumberUpdates] = msgspec.field(default_factory=list)
    templates: list[TemplateUpdate] = msgspec.field(default_factory=list)
    ignored_fields: list[str] = msgspec.field(default_factory=list)
    errors: list[WebhookError] = msgspec.field(default_factory=list)


class IngestReport(msgspec.Struct, kw_only=True):
    """Counts a caller can log and tests can check; nothing here is an error."""

    messages_stored: int = 0
    messages_duplicate: int = 0
    statuses_applied: int = 0
    statuses_pending: int = 0
    statuses_stale: int = 0
    templates_updated: int = 0
    unknown_numbers: list[str] = msgspec.field(default_factory=list)
    unknown_templates: int = 0
    # Updates for a template we hold but in a state Meta's event cannot come from
    # (the state machine refused it): one reason each; a template sync repairs them.
    ignored_template_updates: list[str] = msgspec.field(default_factory=list)
    contacts_created: int = 0
    conversations_opened: int = 0
    webhook_errors: list[WebhookError] = msgspec.field(default_factory=list)
