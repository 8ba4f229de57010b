"""Ports: what the core needs from the outside world, named by capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from whatsapp_core.domain.tenants import Tenant


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

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        """``NotFound`` when absent."""
        ...

    async def by_phone_number_id(self, phone_number_id: str) -> Tenant | None: ...

    async def list(self) -> list[Tenant]: ...


class UnitOfWork(Protocol):
    """One transaction. Nothing is kept unless ``commit`` is awaited inside the block."""

    @property
    def tenants(self) -> TenantStore: ...

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


class Probe(Protocol):
    """A readiness check of one part (database, queue, storage)."""

    name: str

    async def check(self) -> None:
        """Return when the part works; raise ``UpstreamUnavailable`` naming why not."""
        ...
