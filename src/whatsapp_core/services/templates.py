"""Flow 3: templates are drafted here, submitted to Meta, and moved by Meta's webhooks
(see ``inbound._apply_template_update``)."""

from __future__ import annotations

import uuid

from msgspec.structs import replace

from whatsapp_core.domain.model import Principal, Template
from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.templates import (
    TemplateCategory,
    TemplateComponents,
    edit,
    submit,
    validate_definition,
)
from whatsapp_core.ports import WhatsAppGateway
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services


def _language(value: str) -> str:
    # Meta's codes look like "en", "en_US", "pt_BR", "zh_CN".
    parts = value.split("_")
    if not (1 <= len(parts) <= 2 and parts[0].isalpha() and 2 <= len(parts[0]) <= 3):
        raise InvalidInput(f"{value!r} is not a language code like en or pt_BR", field="language")
    return value


async def create_template(
    svc: Services,
    principal: Principal,
    *,
    name: str,
    language: str,
    category: TemplateCategory | str,
    components: TemplateComponents,
    correlation_id: str | None = None,
) -> Template:
    authorize(principal, Action.TEMPLATE_MANAGE)
    validate_definition(name, category, components)
    now = svc.clock.now()
    template = Template(
        id=svc.ids.new_id(),
        tenant_id=principal.tenant_id,
        name=name,
        language=_language(language),
        category=TemplateCategory(category),
        components=components,
        created_at=now,
        updated_at=now,
    )
    async with svc.uow() as uow:
        await uow.templates.add(template)
        await svc.audit(
            uow, principal, "template.create", "template", template.id,
            after={"name": name, "language": language}, correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()
    return template


async def edit_template(
    svc: Services,
    principal: Principal,
    template_id: uuid.UUID,
    *,
    components: TemplateComponents,
    category: TemplateCategory | str | None = None,
    correlation_id: str | None = None,
) -> Template:
    authorize(principal, Action.TEMPLATE_MANAGE)
    async with svc.uow() as uow:
        before = await uow.templates.get(principal.tenant_id, template_id)
        new_category = TemplateCategory(category) if category else before.category
        validate_definition(before.name, new_category, components)
        after = replace(
            before,
            status=edit(before.status),
            category=new_category,
            components=components,
            rejection_reason=None,
            updated_at=svc.clock.now(),
        )
        await uow.templates.update(after)
        await svc.audit(
            uow, principal, "template.edit", "template", template_id,
            before={"status": before.status.value}, after={"status": after.status.value},
            correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()
    return after


async def submit_template(
    svc: Services,
    gateway: WhatsAppGateway,
    principal: Principal,
    template_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> Template:
    """Send the draft to Meta for review; it becomes PENDING until Meta's webhook says."""
    authorize(principal, Action.TEMPLATE_MANAGE)
    async with svc.uow() as uow:
        template = await uow.templates.get(principal.tenant_id, template_id)
        pending = submit(template.status)  # refuses anything but DRAFT, before calling Meta
        tenant = await uow.tenants.get(principal.tenant_id)
    meta_id = await gateway.submit_template(tenant, template)
    async with svc.uow() as uow:
        current = await uow.templates.get(principal.tenant_id, template_id)
        # A fast webhook may already have moved it past PENDING: keep Meta's word.
        status = pending if current.status == template.status else current.status
        after = replace(current, status=status, meta_id=meta_id, updated_at=svc.clock.now())
        await uow.templates.update(after)
        await svc.audit(
            uow, principal, "template.submit", "template", template_id,
            after={"status": after.status.value, "meta_id": meta_id},
            correlation_id=correlation_id,
        )  # fmt: skip
        await uow.commit()
    return after


async def list_templates(svc: Services, principal: Principal) -> list[Template]:
    authorize(principal, Action.TEMPLATE_READ)
    async with svc.uow() as uow:
        return await uow.templates.list(principal.tenant_id)
