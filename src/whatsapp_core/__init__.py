"""whatsapp_core: the pure domain of a WhatsApp Business team inbox.

Depends only on the standard library and msgspec. Use cases live in
:mod:`whatsapp_core.services` (one module per flow: ``inbound``, ``outbound``,
``conversations``, ``contacts``, ``templates``, ``accounts``, ``invitations``,
``tenants``, ``ai``, ``automation``, ``media``, ``exports``, ``jobs``) and take a
:class:`Services` first.

``__all__`` is the public API, in groups:

- entities and values: tenants, users, API keys, contacts, conversations, messages,
  notes, templates (with ``TemplateCategory``, ``TemplateComponents``,
  ``TemplateButton`` to define one), webhook subscriptions, audit rows, outbox jobs,
  domain events, the principal acting;
- policies: ``Role``/``Action`` (RBAC), ``MessageStatus``, ``TemplateStatus``,
  ``window_state`` (the 24 h service window);
- errors: ``DomainError`` and its subclasses, each with a machine-readable ``code``;
- ports (``typing.Protocol``, every one the core defines; implement any of them):
  the unit of work and its stores, ``WhatsAppGateway``, the AI ports, ``BlobStore``
  and the media ports, ``AutomationSink``, the job ports, ``EventPublisher``,
  ``IdempotencyGuard``, ``RateLimiter``, ``SecretBox``, ``PasswordHasher``,
  ``TokenIssuer``, ``Clock``, ``IdGenerator``, ``Probe``. The value types a port's
  methods take or return live next to it (``whatsapp_core.ports``, ``.ai``,
  ``.automation``, ``.jobs``, ``.media``);
- wiring: ``Services`` (what every use case takes), ``AiProviders`` (the AI ports
  bundled, for the AI use cases and the worker).

Every port has an in-memory twin in ``adapters.memory``. Wiring in a few lines
(memory adapters, or your own ports): ``adapters.library.build_inbox(app_secret=...)``;
see ``examples/embed/``.
"""

from whatsapp_core.ai import (
    AiEngine,
    AiProviders,
    AiUsageStore,
    Embedder,
    EmbeddingStore,
    IntentClassifier,
    KnowledgeStore,
    ProviderRouter,
    ReplySuggester,
    Summarizer,
)
from whatsapp_core.ai_settings import AiSettingsStore, AutoReplyLog
from whatsapp_core.automation import (
    AutomationSink,
    DeliveryLog,
    DeliveryResult,
    IdempotencyStore,
    SubscriptionStore,
    WebhookSubscription,
)
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
from whatsapp_core.domain.phone_numbers import PhoneNumberInfo
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.domain.webhook import IngestReport, WebhookBatch, WebhookError
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
from whatsapp_core.jobs import OutboxRelay, RateLimiter
from whatsapp_core.media import BlobStore, MediaFetcher, MediaObjectStore
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import (
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
    TemplateStatus,
)
from whatsapp_core.policies.window import WindowState, window_state
from whatsapp_core.ports import (
    ApiKeyStore,
    AuditStore,
    Clock,
    ContactStore,
    ConversationStore,
    EventPublisher,
    IdempotencyGuard,
    IdGenerator,
    InboxStatistics,
    InvitationStore,
    MessageStore,
    NoteStore,
    OutboxStore,
    PasswordHasher,
    Probe,
    RefreshTokenStore,
    SecretBox,
    TemplateStore,
    TenantStore,
    TokenIssuer,
    UnitOfWork,
    UnitOfWorkFactory,
    UserStore,
    WhatsAppGateway,
)
from whatsapp_core.services.context import Services

# entities and values
__all__ = [
    "ApiKey",
    "AuditEntry",
    "Contact",
    "Conversation",
    "ConversationStatus",
    "CustomerIdentity",
    "DeliveryResult",
    "Direction",
    "DomainEvent",
    "IngestReport",
    "Invitation",
    "Message",
    "Note",
    "OutboxJob",
    "OutgoingMessage",
    "PhoneNumberInfo",
    "Principal",
    "Recipient",
    "RemoteTemplate",
    "SendReceipt",
    "Template",
    "TemplateButton",
    "TemplateCategory",
    "TemplateComponents",
    "Tenant",
    "User",
    "WebhookBatch",
    "WebhookError",
    "WebhookSubscription",
    "new_tenant",
]

# policies
__all__ += [
    "Action",
    "MessageStatus",
    "Role",
    "TemplateStatus",
    "WindowState",
    "window_state",
]

# errors
__all__ += [
    "Conflict",
    "DeliveryError",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PolicyViolation",
    "RateLimited",
    "StorageError",
    "Unauthenticated",
    "UpstreamUnavailable",
]

# ports: unit of work and stores
__all__ += [
    "AiSettingsStore",
    "AiUsageStore",
    "ApiKeyStore",
    "AuditStore",
    "AutoReplyLog",
    "ContactStore",
    "ConversationStore",
    "DeliveryLog",
    "EmbeddingStore",
    "IdempotencyStore",
    "InboxStatistics",
    "InvitationStore",
    "KnowledgeStore",
    "MediaObjectStore",
    "MessageStore",
    "NoteStore",
    "OutboxStore",
    "RefreshTokenStore",
    "SubscriptionStore",
    "TemplateStore",
    "TenantStore",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserStore",
]

# ports: Meta, AI, files, automation, jobs
__all__ += [
    "AiEngine",
    "AutomationSink",
    "BlobStore",
    "Embedder",
    "IntentClassifier",
    "MediaFetcher",
    "OutboxRelay",
    "ProviderRouter",
    "RateLimiter",
    "ReplySuggester",
    "Summarizer",
    "WhatsAppGateway",
]

# ports: platform (time, ids, events, security, health)
__all__ += [
    "Clock",
    "EventPublisher",
    "IdGenerator",
    "IdempotencyGuard",
    "PasswordHasher",
    "Probe",
    "SecretBox",
    "TokenIssuer",
]

# wiring: what every use case takes, and the AI ports a deployment bundles
__all__ += [
    "AiProviders",
    "Services",
]
