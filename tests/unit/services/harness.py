"""A core wired to memory adapters, a frozen clock and a fake gateway, plus builders."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.memory.basics import FrozenClock, UuidGenerator
from adapters.memory.gateway import MemoryEventPublisher, MemoryWhatsAppGateway
from adapters.memory.uow import MemoryUnitOfWorkFactory
from whatsapp_core.domain.accounts import User
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal
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


@dataclass
class Harness:
    uow: MemoryUnitOfWorkFactory = field(default_factory=MemoryUnitOfWorkFactory)
    clock: FrozenClock = field(default_factory=FrozenClock)
    events: MemoryEventPublisher = field(default_factory=MemoryEventPublisher)
    gateway: MemoryWhatsAppGateway = field(default_factory=MemoryWhatsAppGateway)
    tenant: Tenant | None = None

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

    async def member(self, role: Role, tenant: Tenant | None = None) -> Principal:
        """A stored user of the tenant (assignable), acting with ``role``."""
        principal = self.as_(role, tenant)
        assert principal.user_id is not None
        user = User(
            id=principal.user_id, tenant_id=principal.tenant_id,
            email=f"{role.value}.{principal.user_id.hex[:8]}@example.test", name=role.value,
            role=role, password_hash="unusable", created_at=self.clock.now(),
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
