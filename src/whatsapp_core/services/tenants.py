"""Tenant administration use cases."""

from __future__ import annotations

from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.ports import IdGenerator, UnitOfWorkFactory


async def create_tenant(
    uow_factory: UnitOfWorkFactory,
    ids: IdGenerator,
    *,
    slug: str,
    name: str,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
    display_phone_number: str | None = None,
) -> Tenant:
    tenant = new_tenant(
        tenant_id=ids.new_id(),
        slug=slug,
        name=name,
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )
    async with uow_factory() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    return tenant
