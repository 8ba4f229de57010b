"""whatsapp_core: the pure domain of a WhatsApp Business team inbox.

Depends only on the standard library and msgspec. Adapters implement the
``typing.Protocol`` ports in :mod:`whatsapp_core.ports`; use cases live in
:mod:`whatsapp_core.services` (one module per flow: ``inbound``, ``outbound``,
``conversations``, ``contacts``, ``templates``, ``accounts``, ``invitations``,
``tenants``, ``ai``, ``automation``, ``media``) and take a :class:`Services` first.

Wiring in a few lines (memory adapters, or your own ports):
``adapters.library.build_inbox(app_secret=...)``; see ``examples/embed/``.
"""

from whatsapp_core.domain.accounts import ApiKey, Invitation, Note, User
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import (
    AuditEntry,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    DomainEvent,
    Message,
    OutboxJob,
    Principal,
    Template,
)
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.domain.webhook import IngestReport, WebhookBatch
from whatsapp_core.errors import (
    Conflict,
    DeliveryError,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyViolation,
    RateLimited,
    StorageError,
    Unauthenticated,
    UpstreamUnavailable,
)
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import TemplateStatus
from whatsapp_core.policies.window import WindowState, window_state
from whatsapp_core.ports import (
    Clock,
    EventPublisher,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
    WhatsAppGateway,
)
from whatsapp_core.services.context import Services

__all__ = [
    "Action",
    "ApiKey",
    "AuditEntry",
    "Clock",
    "Conflict",
    "Contact",
    "Conversation",
    "ConversationStatus",
    "CustomerIdentity",
    "DeliveryError",
    "Direction",
    "DomainError",
    "DomainEvent",
    "EventPublisher",
    "Forbidden",
    "IdGenerator",
    "IngestReport",
    "InvalidInput",
    "Invitation",
    "Message",
    "MessageStatus",
    "NotFound",
    "Note",
    "OutboxJob",
    "OutgoingMessage",
    "PolicyViolation",
    "Principal",
    "RateLimited",
    "Recipient",
    "Role",
    "SendReceipt",
    "Services",
    "StorageError",
    "Template",
    "TemplateStatus",
    "Tenant",
    "Unauthenticated",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UpstreamUnavailable",
    "User",
    "WebhookBatch",
    "WhatsAppGateway",
    "WindowState",
    "new_tenant",
    "window_state",
]
