"""Flow 3: templates are drafted here, submitted to Meta, and moved by Meta's webhooks
(see ``inbound._apply_template_update``) or by polling Meta's list (``sync_templates``),
which repairs what a missed webhook left behind and imports templates made elsewhere."""

from __future__ import annotations

import uuid
from typing import Any

from msgspec.structs import replace

from whatsapp_core.domain.model import DomainEvent, Principal, Template
from whatsapp_core.domain.remote_templates import (
    RemoteTemplate,
    SkippedTemplate,
    TemplateSyncReport,
    components_from_meta,
)
from whatsapp_core.errors import Conflict, InvalidInput, UpstreamUnavailable
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.policies.templates import (
    TemplateCategory,
    TemplateComponents,
    TemplateStatus,
    delete,
    edit,
    listed_status,
    reconcile,
    submit,
    validate_definition,
    validate_template_name,
)
from whatsapp_core.ports import UnitOfWork, WhatsAppGateway
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
        new_category = category or before.category
        validate_definition(before.name, new_category, components)  # the category too
        after = replace(
            before,
            status=edit(before.status),
            category=TemplateCategory(new_category),
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


async def delete_template(
    svc: Services,
    gateway: WhatsAppGateway | None,
    principal: Principal,
    template_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> Template | None:
    """Delete a template. One Meta never gave an id (a draft never submitted) is removed
    here without calling Meta (answer None); any other is deleted at Meta first, by name
    and Meta's id of this language version, then kept here as DELETED (its figures stay
    for reports). A template Meta no longer has is marked DELETED all the same.
    PENDING_DELETION and DELETED ones are a ``Conflict`` (409)."""
    authorize(principal, Action.TEMPLATE_MANAGE)
    async with svc.uow() as uow:
        template = await uow.templates.get(principal.tenant_id, template_id)
        delete(template.status)  # refuses before anything is called
        tenant = await uow.tenants.get(principal.tenant_id)
    if template.meta_id is None:
        await _remove_local(svc, principal, template, correlation_id)
        return None
    if gateway is None:
        raise UpstreamUnavailable("no WhatsApp gateway is configured on this server")
    found = await gateway.delete_template(tenant, name=template.name, meta_id=template.meta_id)
    async with svc.uow() as uow:
        current = await uow.templates.get(principal.tenant_id, template_id)
        # A fast DELETED webhook may have got here first: the state is the same.
        after = replace(current, status=TemplateStatus.DELETED, updated_at=svc.clock.now())
        await uow.templates.update(after)
        await svc.audit(
            uow, principal, "template.delete", "template", template_id,
            before={"status": current.status.value},
            after={"status": after.status.value, "meta_id": template.meta_id,
                   "found_at_meta": found},
            correlation_id=correlation_id,
        )  # fmt: skip
        event = await announce_status(svc, uow, after, None, correlation_id)
        await uow.commit()
    await svc.publish_all([event])
    return after


async def _remove_local(
    svc: Services, principal: Principal, template: Template, correlation_id: str | None
) -> None:
    async with svc.uow() as uow:
        current = await uow.templates.get(principal.tenant_id, template.id)
        if current.meta_id is not None:  # submitted meanwhile: Meta has it now
            raise Conflict(
                "This template was just submitted to Meta; load it again and retry.",
                code="template_changed",
            )
        await uow.templates.delete(principal.tenant_id, template.id)
        await svc.audit(
            uow, principal, "template.delete", "template", template.id,
            before=_snapshot(current) | {"name": current.name, "language": current.language},
            after=None, correlation_id=correlation_id,
        )  # fmt: skip
        event = await announce_status(
            svc, uow, replace(current, status=TemplateStatus.DELETED), None, correlation_id
        )
        await uow.commit()
    await svc.publish_all([event])


async def list_templates(svc: Services, principal: Principal) -> list[Template]:
    authorize(principal, Action.TEMPLATE_READ)
    async with svc.uow() as uow:
        return await uow.templates.list(principal.tenant_id)


async def announce_status(
    svc: Services,
    uow: UnitOfWork,
    template: Template,
    reason: str | None,
    correlation_id: str | None = None,
) -> DomainEvent:
    """The n8n trigger (outbox, same transaction) and the real-time event (publish after
    commit) of a template whose status Meta moved, by webhook or as found by a sync."""
    payload = {"template_id": str(template.id), "status": str(template.status), "reason": reason}
    await svc.enqueue(
        uow,
        template.tenant_id,
        "n8n.trigger",
        {"event": "template.status", **payload},
        correlation_id,
    )
    return svc.event("template.status", template.tenant_id, **payload)


def system_principal(tenant_id: uuid.UUID) -> Principal:
    """Who a scheduled job acts as: no user, audited as ``system``."""
    return Principal(tenant_id=tenant_id, role=Role.ADMIN)


async def sync_templates(
    svc: Services,
    gateway: WhatsAppGateway,
    principal: Principal,
    *,
    correlation_id: str | None = None,
) -> TemplateSyncReport:
    """Make the tenant's templates match Meta's list. Meta's status is taken even where
    the state machine would refuse the step (the webhook that made it was missed); a
    local DRAFT is left alone; templates made elsewhere (WhatsApp Manager) are imported
    with their components when this inbox can send them. Meta is called before the
    transaction opens; every change, audit row and n8n trigger commits together."""
    authorize(principal, Action.TEMPLATE_MANAGE)
    async with svc.uow() as uow:
        tenant = await uow.tenants.get(principal.tenant_id)
    listed = await gateway.list_templates(tenant)
    async with svc.uow() as uow:
        sync = _Sync(svc, uow, principal, correlation_id)
        local = {(t.name, t.language): t for t in await uow.templates.list(tenant.id)}
        for remote in listed:
            key = (remote.name, remote.language)
            current = local.get(key)
            after = await (sync.add(remote) if current is None else sync.update(current, remote))
            if after is not None:
                local[key] = after
        seen = {(r.name, r.language) for r in listed}
        sync.report.missing_at_meta = sum(
            1
            for key, t in local.items()
            if key not in seen
            and t.meta_id is not None
            and t.status not in (TemplateStatus.DRAFT, TemplateStatus.DELETED)
        )
        await uow.commit()
    await svc.publish_all(sync.events)
    return sync.report


async def sync_templates_as_system(
    svc: Services, gateway: WhatsAppGateway, tenant_id: uuid.UUID, *, correlation_id: str | None
) -> TemplateSyncReport:
    """The scheduled sync (job ``template.sync``), audited as the system."""
    return await sync_templates(
        svc, gateway, system_principal(tenant_id), correlation_id=correlation_id
    )


class _Sync:
    def __init__(
        self, svc: Services, uow: UnitOfWork, principal: Principal, correlation_id: str | None
    ) -> None:
        self.svc = svc
        self.uow = uow
        self.principal = principal
        self.correlation_id = correlation_id
        self.report = TemplateSyncReport()
        self.events: list[DomainEvent] = []

    def _skip(self, remote: RemoteTemplate, reason: str) -> None:
        self.report.skipped.append(
            SkippedTemplate(name=remote.name, language=remote.language, reason=reason)
        )

    async def _audit(self, action: str, template: Template, **change: Any) -> None:
        await self.svc.audit(
            self.uow, self.principal, action, "template", template.id,
            correlation_id=self.correlation_id, **change,
        )  # fmt: skip

    async def add(self, remote: RemoteTemplate) -> Template | None:
        try:
            validate_template_name(remote.name)
            status = listed_status(remote.status)
            category = _category(remote.category)
            template = Template(
                id=self.svc.ids.new_id(),
                tenant_id=self.principal.tenant_id,
                name=remote.name,
                language=_language(remote.language),
                category=category,
                components=components_from_meta(remote),
                status=status,
                meta_id=remote.meta_id,
                rejection_reason=_reason(status, remote),
                created_at=self.svc.clock.now(),
                updated_at=self.svc.clock.now(),
            )
        except InvalidInput as exc:
            self._skip(remote, str(exc))
            return None
        await self.uow.templates.add(template)
        imported = _snapshot(template) | {"name": template.name, "language": template.language}
        await self._audit("template.import", template, after=imported)
        self.events.append(
            await announce_status(
                self.svc, self.uow, template, remote.rejected_reason, self.correlation_id
            )
        )
        self.report.created += 1
        return template

    async def update(self, current: Template, remote: RemoteTemplate) -> Template | None:
        if current.status is TemplateStatus.DRAFT:
            self.report.drafts_kept += 1
            return None
        if current.status is TemplateStatus.DELETED and remote.meta_id == current.meta_id:
            # Meta's list can lag a delete it confirmed; DELETED is final for this id
            # (the same name made again at Meta comes with a new id and is taken).
            self.report.unchanged += 1
            return None
        try:
            status, legal = reconcile(current.status, remote.status)
        except InvalidInput as exc:
            self._skip(remote, str(exc))
            return None
        try:
            category = _category(remote.category)
        except InvalidInput:
            category = current.category  # a category Meta has retired: keep ours
        after = replace(
            current,
            status=status,
            rejection_reason=_reason(status, remote),
            meta_id=remote.meta_id,
            category=category,
        )
        if after == current:
            self.report.unchanged += 1
            return None
        after = replace(after, updated_at=self.svc.clock.now())
        await self.uow.templates.update(after)
        change = {"repair": True} if not legal else {}
        await self._audit(
            "template.sync", after, before=_snapshot(current), after=_snapshot(after) | change
        )
        if (after.status, after.rejection_reason) != (current.status, current.rejection_reason):
            self.events.append(
                await announce_status(
                    self.svc, self.uow, after, remote.rejected_reason, self.correlation_id
                )
            )
        self.report.updated += 1
        self.report.repaired += not legal
        return after


def _category(value: str) -> TemplateCategory:
    try:
        return TemplateCategory(value.upper())
    except ValueError:
        raise InvalidInput(
            f"Meta listed the unknown template category {value!r}", field="category"
        ) from None


def _reason(status: TemplateStatus, remote: RemoteTemplate) -> str | None:
    return remote.rejected_reason if status is TemplateStatus.REJECTED else None


def _snapshot(template: Template) -> dict[str, Any]:
    return {
        "status": template.status.value,
        "rejection_reason": template.rejection_reason,
        "meta_id": template.meta_id,
        "category": template.category.value,
    }
