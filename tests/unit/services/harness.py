"""A core wired to memory adapters, a frozen clock and a fake gateway, plus builders.

``snapshot()`` captures everything a use case could change (every memory store, the
outbox and audit included, the events published, what the gateway was asked); a
refusal must leave ``h.snapshot() == before``.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.memory.ai import MemoryAiState, memory_ai
from adapters.memory.automation import MemoryAutomationState, RecordingAutomationSink
from adapters.memory.basics import FrozenClock, UuidGenerator
from adapters.memory.gateway import MemoryEventPublisher, MemoryWhatsAppGateway
from adapters.memory.media import MemoryBlobStore
from adapters.memory.security import MemoryPasswordHasher, MemorySecretBox, MemoryTokenIssuer
from adapters.memory.stores import MemoryState
from adapters.memory.uow import MemoryUnitOfWorkFactory
from whatsapp_core.ai import AiProviders
from whatsapp_core.domain.accounts import User
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import DomainEvent, Principal
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.domain.webhook import (
    InboundMessage,
    NumberUpdates,
    StatusUpdate,
    TemplateUpdate,
    WebhookBatch,
)
from whatsapp_core.policies.access import DEFAULT_KEY_SCOPES, Role
from whatsapp_core.services.context import Services

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
ANA_BSUID = "US.13491208655302741918"
ANA_PHONE = "5511999999999"
_seq = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgM{next(_seq):020d}"


@dataclass(frozen=True)
class Snapshot:
    """A deep copy of all the state a harness holds; compare two with ``==``."""

    state: MemoryState
    ai: MemoryAiState
    automation: MemoryAutomationState
    events: tuple[DomainEvent, ...]
    sent: tuple[object, ...]
    submitted: tuple[object, ...]
    deleted: tuple[object, ...]
    uploads: tuple[object, ...]
    remote: dict[str, object]  # Meta's side of the templates
    sink_calls: tuple[object, ...]
    blobs: dict[str, object]


@dataclass
class Harness:
    uow: MemoryUnitOfWorkFactory = field(default_factory=MemoryUnitOfWorkFactory)
    clock: FrozenClock = field(default_factory=FrozenClock)
    events: MemoryEventPublisher = field(default_factory=MemoryEventPublisher)
    gateway: MemoryWhatsAppGateway = field(default_factory=MemoryWhatsAppGateway)
    tenant: Tenant | None = None
    # The memory twins of the other ports, for the use cases that take them.
    hasher: MemoryPasswordHasher = field(default_factory=MemoryPasswordHasher)
    secrets: MemorySecretBox = field(default_factory=MemorySecretBox.for_tests)
    sink: RecordingAutomationSink = field(default_factory=RecordingAutomationSink)
    blobs: MemoryBlobStore = field(default_factory=MemoryBlobStore)
    ai: AiProviders = field(default_factory=memory_ai)
    tokens: MemoryTokenIssuer = field(init=False)  # expires by ``clock``

    def __post_init__(self) -> None:
        self.tokens = MemoryTokenIssuer(clock=self.clock)

    def snapshot(self) -> Snapshot:
        db = self.uow.db
        return Snapshot(
            state=copy.deepcopy(db.state),
            ai=copy.deepcopy(db.ai),
            automation=copy.deepcopy(db.automation),
            events=tuple(self.events.events),
            sent=tuple(self.gateway.sent),
            submitted=tuple(self.gateway.submitted),
            deleted=tuple(self.gateway.deleted),
            uploads=tuple(sorted(self.gateway.uploads.items())),
            remote=copy.deepcopy(self.gateway.remote),
            sink_calls=tuple(self.sink.calls),
            blobs=dict(self.blobs.blobs),
        )

    @property
    def svc(self) -> Services:
        return Services(uow=self.uow, clock=self.clock, ids=UuidGenerator(), events=self.events)

    @property
    def t(self) -> Tenant:
        assert self.tenant is not None
        return self.tenant

    async def add_tenant(
        self, slug: str = "acme", phone_number_id: str = PHONE_NUMBER_ID, waba_id: str = WABA_ID
    ) -> Tenant:
        tenant = new_tenant(
            tenant_id=uuid.uuid4(),
            slug=slug,
            name=slug.title(),
            waba_id=waba_id,
            phone_number_id=phone_number_id,
        )
        async with self.uow() as uow:
            await uow.tenants.add(tenant)
            await uow.commit()
        self.tenant = self.tenant or tenant
        return tenant

    async def member(
        self, role: Role, tenant: Tenant | None = None, *, password: str | None = None
    ) -> Principal:
        """A stored user of the tenant (assignable), acting with ``role``; it can sign
        in with ``password`` when one is given (hashed by ``hasher``)."""
        principal = self.as_(role, tenant)
        assert principal.user_id is not None
        password_hash = "unusable" if password is None else self.hasher.hash(password)
        user = User(
            id=principal.user_id, tenant_id=principal.tenant_id,
            email=f"{role.value}.{principal.user_id.hex[:8]}@example.test", name=role.value,
            role=role, password_hash=password_hash, created_at=self.clock.now(),
        )  # fmt: skip
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return principal

    def as_key(self, tenant: Tenant | None = None) -> Principal:
        """A tenant API key with the default scopes (send and read templates)."""
        return Principal(
            tenant_id=(tenant or self.t).id, role=Role.AGENT, api_key_id=uuid.uuid4(),
            scopes=DEFAULT_KEY_SCOPES,
        )  # fmt: skip

    def as_(self, role: Role, tenant: Tenant | None = None) -> Principal:
        return Principal(tenant_id=(tenant or self.t).id, role=role, user_id=uuid.uuid4())

    def text(
        self,
        body: str = "Where is my order?",
        *,
        bsuid: str | None = ANA_BSUID,
        wa_id: str | None = ANA_PHONE,
        name: str | None = "Ana",
        username: str | None = None,
        at: datetime | None = None,
        id: str | None = None,
        type: str = "text",
        media_id: str | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            wamid=id or wamid(),
            customer=CustomerIdentity(bsuid=bsuid, wa_id=wa_id, name=name, username=username),
            sent_at=at or self.clock.now() - timedelta(seconds=1),
            type=type,
            text=body,
            media_id=media_id,
        )

    def batch(
        self,
        *messages: InboundMessage,
        statuses: tuple[StatusUpdate, ...] = (),
        templates: tuple[TemplateUpdate, ...] = (),
        phone_number_id: str = PHONE_NUMBER_ID,
    ) -> WebhookBatch:
        numbers = (
            [
                NumberUpdates(
                    phone_number_id=phone_number_id,
                    messages=list(messages),
                    statuses=list(statuses),
                )
            ]
            if messages or statuses
            else []
        )
        return WebhookBatch(numbers=numbers, templates=list(templates))

    def status(self, wamid: str, status: str, **kw: object) -> StatusUpdate:
        return StatusUpdate(wamid=wamid, status=status, at=self.clock.now(), **kw)  # type: ignore[arg-type]

    async def state(self):  # type: ignore[no-untyped-def]
        return self.uow.db.state
