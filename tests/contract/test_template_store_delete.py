"""TemplateStore.delete (a draft Meta never saw): the same from the memory twin and
from PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.contract.test_stores import T0, tenant
from whatsapp_core.domain.model import Template
from whatsapp_core.errors import NotFound
from whatsapp_core.policies.templates import TemplateCategory, TemplateComponents
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract


def _draft(tenant_id: uuid.UUID, language: str) -> Template:
    return Template(
        id=uuid.uuid4(), tenant_id=tenant_id, name="order_update", language=language,
        category=TemplateCategory.UTILITY, components=TemplateComponents(body="Hi {{1}}"),
        created_at=T0, updated_at=T0,
    )  # fmt: skip


async def test_a_deleted_template_is_gone_and_its_name_free(uow_factory: UnitOfWorkFactory) -> None:
    t = await tenant(uow_factory)
    english, spanish = _draft(t.id, "en"), _draft(t.id, "es")
    async with uow_factory() as uow:
        await uow.templates.add(english)
        await uow.templates.add(spanish)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.templates.delete(t.id, english.id)
        # not committed: rolled back
    async with uow_factory() as uow:
        assert await uow.templates.get(t.id, english.id) == english
        await uow.templates.delete(t.id, english.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.templates.list(t.id) == [spanish]
        assert await uow.templates.by_name(t.id, "order_update", "en") is None
        with pytest.raises(NotFound):
            await uow.templates.get(t.id, english.id)
        with pytest.raises(NotFound):
            await uow.templates.delete(t.id, english.id)
        again = _draft(t.id, "en")
        await uow.templates.add(again)  # the name and language are free again
        await uow.commit()


async def test_another_tenants_template_cannot_be_deleted(uow_factory: UnitOfWorkFactory) -> None:
    a, b = await tenant(uow_factory, "alpha"), await tenant(uow_factory, "beta")
    theirs = _draft(a.id, "en")
    async with uow_factory() as uow:
        await uow.templates.add(theirs)
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.templates.delete(b.id, theirs.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.templates.list(a.id) == [theirs]
