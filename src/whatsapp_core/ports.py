"""Ports: what the core needs from the outside world, named by capability.

Every port has an in-memory twin in ``adapters.memory`` held to the same contract
suite (``tests/contract``) as its real adapter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Collection, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from whatsapp_core.ai import AiUsageStore, EmbeddingStore, KnowledgeStore
from whatsapp_core.ai_settings import AiSettingsStore, AutoReplyLog
from whatsapp_core.automation import DeliveryLog, IdempotencyStore, SubscriptionStore
from whatsapp_core.domain.accounts import ApiKey, Invitation, Note, RefreshToken, User
from whatsapp_core.domain.model import (
    AuditEntry,
    Contact,
    Conversation,
    ConversationStatus,
    DomainEvent,
    Message,
    OutboxJob,
    PendingStatus,
    Principal,
    Template,
)
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.phone_numbers import PhoneNumberInfo
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.domain.statistics import (
    AgentTally,
    ConversationTally,
    DayTally,
    FailureTally,
    IntentTally,
    ResponseTimes,
    TemplateTally,
)
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.jobs import JobRecord, QueueDepth, QueueStatus
from whatsapp_core.media import MediaObjectStore


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> uuid.UUID: ...


class TenantStore(Protocol):
    async def add(self, tenant: Tenant) -> None:
        """Store a new tenant; ``Conflict`` if its slug or phone number id is taken."""
        ...

    async def update(self, tenant: Tenant) -> None:
        """``Conflict`` if the new phone number id belongs to another tenant."""
        ...

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        """``NotFound`` when absent."""
        ...

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None: ...

    async def by_waba_id(self, waba_id: str) -> list[Tenant]: ...

    async def by_verify_token_digest(self, digest: str) -> Tenant | None: ...

    async def list(self) -> list[Tenant]: ...


class ContactStore(Protocol):
    async def add(self, contact: Contact) -> None:
        """``Conflict`` when the BSUID or phone is already another contact's."""
        ...

    async def add_many(self, contacts: Sequence[Contact]) -> set[uuid.UUID]:
        """Insert those whose id, BSUID and phone are all free, in one round trip; the
        ids inserted. A clash is skipped, not an error (``INSERT ... ON CONFLICT DO
        NOTHING``): a concurrent transaction stored the same person first, and once it
        commits (the insert waits for it) the caller reads that contact instead."""
        ...

    async def update(self, contact: Contact) -> None: ...

    async def get(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
        """``NotFound`` when absent or in another tenant."""
        ...

    async def delete(self, tenant_id: uuid.UUID, contact_id: uuid.UUID) -> None:
        """Remove the contact with its conversation, messages and notes."""
        ...

    async def by_bsuid(self, tenant_id: uuid.UUID, bsuid: str) -> Contact | None: ...

    async def by_wa_id(self, tenant_id: uuid.UUID, wa_id: str) -> Contact | None: ...

    async def find_many(
        self, tenant_id: uuid.UUID, *, bsuids: Sequence[str], wa_ids: Sequence[str]
    ) -> list[Contact]:
        """Every contact holding one of these BSUIDs or phones (one round trip)."""
        ...

    async def search(
        self, tenant_id: uuid.UUID, query: str = "", *, limit: int = 50, offset: int = 0
    ) -> list[Contact]: ...

    async def count(self, tenant_id: uuid.UUID) -> int: ...


class ConversationStore(Protocol):
    async def add(self, conversation: Conversation) -> None:
        """``Conflict`` when the contact already has a conversation."""
        ...

    async def add_many(self, conversations: Sequence[Conversation]) -> set[uuid.UUID]:
        """Insert those whose contact has no conversation yet, in one round trip; the
        ids inserted. A contact's second conversation is skipped, not an error (as
        ``ContactStore.add_many``): the caller reads the one stored."""
        ...

    async def update(self, conversation: Conversation) -> None: ...

    async def get(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
        """``NotFound`` when absent or in another tenant."""
        ...

    async def for_contact(
        self, tenant_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Conversation | None: ...

    async def for_contacts(
        self, tenant_id: uuid.UUID, contact_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Conversation]:
        """The conversation of each contact that has one, keyed by contact id."""
        ...

    async def update_activity(self, conversations: Sequence[Conversation]) -> None:
        """Write what new messages move: ``status``, ``last_inbound_at``,
        ``last_message_at`` and ``unread_count`` of each (one round trip). The other
        fields, e.g. an assignee set meanwhile, stay as stored."""
        ...

    async def list(
        self,
        tenant_id: uuid.UUID,
        *,
        status: ConversationStatus | None = None,
        assignee_id: uuid.UUID | None = None,
        unassigned: bool = False,
        label: str | None = None,
        unread: bool = False,
        inbound_since: datetime | None = None,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[Conversation]:
        """Most recent activity first; ``before`` is the cursor (a ``last_message_at``).
        ``unread``: only those with unread messages; ``inbound_since``: only those whose
        customer wrote after that instant (the service window's open ones)."""
        ...


class MessageStore(Protocol):
    async def add(self, message: Message) -> bool:
        """Insert; ``False`` (and no change) when the tenant already has this wamid."""
        ...

    async def add_many(self, messages: Sequence[Message]) -> set[uuid.UUID]:
        """Insert all; return the ids actually inserted (a known wamid is skipped)."""
        ...

    async def existing_wamids(self, tenant_id: uuid.UUID, wamids: Sequence[str]) -> set[str]: ...

    async def update(self, message: Message) -> None: ...

    async def get(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message: ...

    async def by_wamid(self, tenant_id: uuid.UUID, wamid: str) -> Message | None: ...

    async def locked(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
        """The message as last committed, locked until this unit of work ends: waits for
        a concurrent one that changed it (a send recording its wamid) to finish first."""
        ...

    async def thread(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        *,
        limit: int = 50,
        before: datetime | None = None,
    ) -> list[Message]:
        """Newest first; ``before`` is the cursor (a ``created_at``)."""
        ...

    async def history(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        *,
        after: Message | None = None,
        limit: int = 500,
    ) -> list[Message]:
        """Oldest first, from just after ``after`` (the last message of the previous
        page): ``thread``'s order reversed, so a message sharing its ``created_at`` with
        a page's last one is neither skipped nor repeated."""
        ...

    async def count_in(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> int: ...

    async def move(
        self,
        tenant_id: uuid.UUID,
        from_conversation: uuid.UUID,
        to_conversation: uuid.UUID,
        to_contact: uuid.UUID,
    ) -> int:
        """Re-home a conversation's messages (contact merge); returns how many moved."""
        ...

    async def add_pending_status(self, status: PendingStatus) -> None: ...

    async def take_pending_statuses(self, tenant_id: uuid.UUID, wamid: str) -> list[PendingStatus]:
        """Remove and return the statuses that arrived before their wamid was known."""
        ...

    async def pending_wamid_for(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> str | None:
        """The wamid of a waiting status that names this message in its callback data
        (the earliest, if several)."""
        ...


class TemplateStore(Protocol):
    async def add(self, template: Template) -> None:
        """``Conflict`` when the tenant has this name and language already."""
        ...

    async def update(self, template: Template) -> None: ...

    async def get(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> Template: ...

    async def by_name(self, tenant_id: uuid.UUID, name: str, language: str) -> Template | None: ...

    async def list(self, tenant_id: uuid.UUID) -> list[Template]: ...

    async def delete(self, tenant_id: uuid.UUID, template_id: uuid.UUID) -> None:
        """Remove a template that never reached Meta; ``NotFound`` when absent."""
        ...


class OutboxStore(Protocol):
    """Jobs are written here in the use case's transaction. The rest is one tenant's view
    of its jobs (the job monitor, a job reporting progress), through the unit of work and
    so under row-level security; the relay (``jobs.OutboxRelay``) serves every tenant."""

    async def add(self, job: OutboxJob) -> None: ...

    async def depths(self, tenant_id: uuid.UUID) -> list[QueueDepth]:
        """Per kind that has jobs not done, sorted by kind."""
        ...

    async def list_jobs(
        self,
        tenant_id: uuid.UUID,
        *,
        statuses: Collection[QueueStatus],
        kind: str | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        """Jobs in any of ``statuses`` (of ``kind``), newest first."""
        ...

    async def get_job(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        """``NotFound`` when absent or another tenant's."""
        ...

    async def requeue(self, tenant_id: uuid.UUID, job_id: uuid.UUID, *, now: datetime) -> JobRecord:
        """A dead job queued again: pending from ``now`` with attempts back to 0
        (``last_error`` stays, as history). ``NotFound``; ``Conflict`` when not dead."""
        ...

    async def discard(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> JobRecord:
        """Delete a dead job; returns it as it was. ``NotFound``; ``Conflict`` when not dead."""
        ...

    async def set_progress(self, job: JobRecord, outcome: str) -> bool:
        """A running job says how far it got (in ``outcome``). Fenced by the claim like
        the relay's updates: ``False``, and no change, once ``job`` no longer holds it."""
        ...


class AuditStore(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...

    async def list(self, tenant_id: uuid.UUID, *, limit: int = 100) -> list[AuditEntry]: ...


class UserStore(Protocol):
    async def add(self, user: User) -> None:
        """``Conflict`` when the email is taken (emails are unique platform-wide)."""
        ...

    async def update(self, user: User) -> None: ...

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User: ...

    async def by_email(self, email: str) -> User | None:
        """Login looks a user up before any tenant is known."""
        ...

    async def list(self, tenant_id: uuid.UUID) -> list[User]: ...


class ApiKeyStore(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def update(self, key: ApiKey) -> None: ...

    async def get(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey: ...

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        """Authentication looks a key up by its public prefix before any tenant is known."""
        ...

    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]: ...


class RefreshTokenStore(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        """Refresh happens before any tenant is known: looked up platform-wide."""
        ...

    async def mark_used(self, token: RefreshToken, at: datetime) -> bool:
        """``False`` when it was already used (a concurrent or replayed refresh)."""
        ...

    async def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None: ...

    async def revoke_user(self, user_id: uuid.UUID, at: datetime) -> None:
        """End every session of the user (e.g. after an administrator reset the password)."""
        ...


class InvitationStore(Protocol):
    async def add(self, invitation: Invitation) -> None: ...

    async def by_hash(self, token_hash: str) -> Invitation | None:
        """Any tenant's (an invitee is not signed in yet)."""
        ...

    async def mark_accepted(self, invitation: Invitation, at: datetime) -> bool:
        """Compare-and-set: ``False`` when it was already accepted (a concurrent use)."""
        ...

    async def revoke(self, tenant_id: uuid.UUID, invitation_id: uuid.UUID, at: datetime) -> None:
        """``NotFound`` when absent or in another tenant."""
        ...

    async def pending(self, tenant_id: uuid.UUID, now: datetime) -> list[Invitation]:
        """Not accepted, not revoked, not expired; newest first."""
        ...


class NoteStore(Protocol):
    async def add(self, note: Note) -> None: ...

    async def move(
        self, tenant_id: uuid.UUID, from_conversation: uuid.UUID, to_conversation: uuid.UUID
    ) -> int: ...

    async def for_conversation(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> list[Note]:
        """Oldest first."""
        ...


class InboxStatistics(Protocol):
    """Aggregates of one tenant's inbox for the dashboard, computed where the rows are
    (a tenant has about a million messages: no method returns rows). A message belongs
    to the period by its ``created_at``: ``since <= created_at <= until``."""

    async def conversations(
        self, tenant_id: uuid.UUID, *, now: datetime, closing_within: timedelta
    ) -> ConversationTally:
        """Counts by status now; of the open ones, those unassigned, those with unread
        messages and those whose service window (24 h after ``last_inbound_at``) closes
        after ``now`` and at most ``closing_within`` later."""
        ...

    async def days(
        self, tenant_id: uuid.UUID, *, day_starts: Sequence[datetime], until: datetime
    ) -> list[DayTally]:
        """Per day ``i`` (``day_starts[i] <= created_at < day_starts[i + 1]``, the last
        day up to and including ``until``): inbound, outbound and outbound by current
        status. Only the days with messages, by index."""
        ...

    async def failures(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[FailureTally]:
        """Failed outbound messages by error code, most frequent first (then by code,
        no code last), each with the error text of its latest failure."""
        ...

    async def intents(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[IntentTally]:
        """Inbound messages by AI intent (unclassified ones left out), most frequent
        first, then by intent."""
        ...

    async def templates(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime, limit: int
    ) -> list[TemplateTally]:
        """Template sends by name and language, most sent first, then by name and
        language."""
        ...

    async def agents(
        self, tenant_id: uuid.UUID, *, now: datetime, since: datetime
    ) -> list[AgentTally]:
        """Per user with either: open conversations assigned to them now, and outbound
        messages they wrote in ``since <= created_at <= now``; by user id."""
        ...

    async def response_times(
        self, tenant_id: uuid.UUID, *, since: datetime, until: datetime
    ) -> ResponseTimes:
        """How fast a person answered the waits that began in ``since..until``, as
        ``ResponseTimes`` defines them (messages after ``until`` do not exist yet)."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Nothing is kept unless ``commit`` is awaited inside the block."""

    @property
    def tenants(self) -> TenantStore: ...
    @property
    def contacts(self) -> ContactStore: ...
    @property
    def conversations(self) -> ConversationStore: ...
    @property
    def messages(self) -> MessageStore: ...
    @property
    def templates(self) -> TemplateStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def audit(self) -> AuditStore: ...
    @property
    def users(self) -> UserStore: ...
    @property
    def api_keys(self) -> ApiKeyStore: ...
    @property
    def notes(self) -> NoteStore: ...
    @property
    def refresh_tokens(self) -> RefreshTokenStore: ...
    @property
    def invitations(self) -> InvitationStore: ...
    @property
    def knowledge(self) -> KnowledgeStore: ...
    @property
    def embeddings(self) -> EmbeddingStore: ...
    @property
    def ai_usage(self) -> AiUsageStore: ...
    @property
    def ai_settings(self) -> AiSettingsStore: ...
    @property
    def auto_replies(self) -> AutoReplyLog: ...
    @property
    def webhooks(self) -> SubscriptionStore: ...
    @property
    def webhook_deliveries(self) -> DeliveryLog: ...
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def media_objects(self) -> MediaObjectStore: ...
    @property
    def statistics(self) -> InboxStatistics: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class EventPublisher(Protocol):
    """Real-time fan-out to a tenant's inbox (after commit; best effort)."""

    async def publish(self, event: DomainEvent) -> None: ...


class WhatsAppGateway(Protocol):
    """Meta's Cloud API (or the simulator) for one tenant's number."""

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        """Raise ``DeliveryError`` with Meta's code when the send is refused."""
        ...

    async def submit_template(self, tenant: Tenant, template: Template) -> str:
        """Create the template at Meta; return Meta's template id (review follows by
        webhook). Raise ``DeliveryError`` when Meta refuses it."""
        ...

    async def list_templates(self, tenant: Tenant) -> list[RemoteTemplate]:
        """Every template of the tenant's WhatsApp Business Account as Meta has it now
        (all pages). Raise ``DeliveryError`` when Meta refuses the listing."""
        ...

    async def delete_template(
        self, tenant: Tenant, *, name: str, meta_id: str | None = None
    ) -> bool:
        """Delete the template at Meta (``DELETE /{waba_id}/message_templates?name=…``;
        ``meta_id`` narrows it to that one language version, else Meta deletes the name
        in every language). False when Meta has no such template (already gone). Raise
        ``DeliveryError`` when Meta refuses."""
        ...

    async def upload_media(
        self,
        tenant: Tenant,
        data: AsyncIterable[bytes],
        *,
        mime_type: str,
        size: int,
        filename: str | None = None,
    ) -> str:
        """Upload a file to send (``POST /{phone_number_id}/media``, streamed, ``size``
        bytes); return Meta's media id. Raise ``DeliveryError`` when Meta refuses it."""
        ...

    async def phone_number_info(self, tenant: Tenant) -> PhoneNumberInfo:
        """What Meta says about the tenant's number (``GET /{phone_number_id}``), asked
        with the tenant's credentials. Raise ``DeliveryError`` with Meta's code when Meta
        refuses (190 bad token, 100/803 unknown number) or cannot be reached."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """Constant-time; ``False`` for a wrong password or an unreadable hash."""
        ...


class SecretBox(Protocol):
    """Authenticated encryption of short secrets (a tenant's Meta access token, app
    secret) at rest. ``context`` is bound into the token so a sealed value copied into
    another tenant's row or another field does not open."""

    active_key_id: str  # the key new seals use (older ones still open)

    def seal(self, plaintext: str, *, context: str) -> str: ...

    def open(self, token: str, *, context: str) -> str:
        """Raise ``InvalidInput`` for a token that was tampered with, sealed for another
        context, or sealed with a key that is no longer configured."""
        ...

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` was sealed with a key other than the active one."""
        ...


class TokenIssuer(Protocol):
    """Short-lived access tokens for a signed-in user."""

    ttl: timedelta  # how long an issued token lives (cookies expire with it)

    def issue(self, principal: Principal, now: datetime) -> str: ...

    def principal(self, token: str) -> Principal:
        """Raise ``Unauthenticated`` for an expired, forged or malformed token."""
        ...


class IdempotencyGuard(Protocol):
    """A fast memory of deliveries already stored, in front of the database's unique keys.

    Keys are remembered only AFTER the transaction that stored them commits: claiming a
    key first would lose the delivery if that commit then failed. Best effort: an
    adapter that cannot reach its store answers "nothing seen" and skips ``remember``
    (logged and counted), never raising, because the database stays the real guard.
    """

    async def seen(self, keys: Sequence[str]) -> set[str]:
        """The subset of ``keys`` remembered and not yet expired."""
        ...

    async def remember(self, keys: Sequence[str], ttl_seconds: int) -> None:
        """Remember every key for ``ttl_seconds`` (>= 1, else ``ValueError``)."""
        ...


class Probe(Protocol):
    """A readiness check of one part (database, queue, storage)."""

    name: str

    async def check(self) -> None:
        """Return when the part works; raise ``UpstreamUnavailable`` naming why not."""
        ...
