"""An in-memory unit of work: writes are staged and become visible only on commit."""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Conflict, NotFound


@dataclass
class MemoryState:
    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)


class MemoryDatabase:
    """The shared state behind every memory unit of work (one per app)."""

    def __init__(self) -> None:
        self.state = MemoryState()
        # Units of work run one at a time: the fake is serializable, which is the
        # strongest isolation the real adapter offers, so no contract test can pass
        # here and fail there because of it.
        self.lock = asyncio.Lock()


class MemoryTenantStore:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, tenant: Tenant) -> None:
        for other in self._state.tenants.values():
            if other.slug == tenant.slug:
                raise Conflict(f"a tenant with slug {tenant.slug!r} exists", field="slug")
            if tenant.phone_number_id and other.phone_number_id == tenant.phone_number_id:
                raise Conflict(
                    "this phone number id belongs to another tenant", field="phone_number_id"
                )
        self._state.tenants[tenant.id] = tenant

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        try:
            return self._state.tenants[tenant_id]
        except KeyError:
            raise NotFound("tenant not found") from None

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None:
        for tenant in self._state.tenants.values():
            if tenant.phone_number_id == phone_number_id:
                return tenant
        return None

    async def list(self) -> list[Tenant]:
        return sorted(self._state.tenants.values(), key=lambda t: t.slug)


class MemoryUnitOfWork:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._work: MemoryState | None = None

    async def __aenter__(self) -> Self:
        await self._db.lock.acquire()
        self._work = copy.deepcopy(self._db.state)
        self.tenants = MemoryTenantStore(self._work)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = None
        self._db.lock.release()

    async def commit(self) -> None:
        if self._work is None:
            raise RuntimeError("commit() outside 'async with'")
        self._db.state = copy.deepcopy(self._work)


class MemoryUnitOfWorkFactory:
    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db or MemoryDatabase()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.db)


class AlwaysReady:
    """Probe for parts that live in this process and cannot be down."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def check(self) -> None:
        return None
