"""A tenant's AI settings: read and change them (admins, audited), and what every AI call
derives from them: whether AI is on, and which providers this call may use (the tenant's
order, minus what the server lacks, minus the paid ones once the budget is reached)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from whatsapp_core.ai import AiEngine, ProviderRouter
from whatsapp_core.ai_settings import AiSettings, check_settings, default_settings
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import InvalidInput, PolicyViolation
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.ai_budget import (
    ProviderPlan,
    month_start,
    next_month_start,
    plan_providers,
)
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

EDITABLE = frozenset(AiSettings.__struct_fields__) - {"tenant_id", "updated_at"}
AI_DISABLED = "AI is turned off for this workspace; an admin can turn it on in Settings, AI"


class AiSettingsReport(msgspec.Struct, frozen=True, kw_only=True):
    settings: AiSettings
    tokens_used_this_month: int
    budget_resets_at: datetime  # 00:00 UTC on the 1st of next month


async def settings_for(uow: UnitOfWork, tenant_id: uuid.UUID) -> AiSettings:
    """The tenant's saved settings, or the defaults."""
    return await uow.ai_settings.get(tenant_id) or default_settings(tenant_id)


def require_enabled(settings: AiSettings) -> None:
    if not settings.enabled:
        raise PolicyViolation(AI_DISABLED, code="ai_disabled")


async def tokens_this_month(uow: UnitOfWork, tenant_id: uuid.UUID, now: datetime) -> int:
    return await uow.ai_usage.tokens_since(tenant_id, month_start(now))


async def plan_for(
    svc: Services, router: ProviderRouter, settings: AiSettings
) -> tuple[AiEngine, ProviderPlan]:
    """The chain one call may use now. ``PolicyViolation`` (``ai_budget_exceeded``,
    ``ai_unavailable``) when none: usage is read only when the tenant has a budget."""
    now = svc.clock.now()
    used = 0
    if settings.monthly_token_budget is not None:
        async with svc.uow() as uow:
            used = await tokens_this_month(uow, settings.tenant_id, now)
    plan = plan_providers(
        settings.provider_order, router.configured(),
        budget=settings.monthly_token_budget, used_this_month=used, now=now,
    )  # fmt: skip
    return router.engine(plan.order, settings.models), plan


# -- the settings use cases ------------------------------------------------------------------


async def get_ai_settings(svc: Services, principal: Principal) -> AiSettingsReport:
    authorize(principal, Action.AI_MANAGE)
    now = svc.clock.now()
    async with svc.uow() as uow:
        settings = await settings_for(uow, principal.tenant_id)
        used = await tokens_this_month(uow, principal.tenant_id, now)
    return AiSettingsReport(
        settings=settings, tokens_used_this_month=used, budget_resets_at=next_month_start(now)
    )


def audit_view(settings: AiSettings) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(settings)
    view.pop("tenant_id", None)
    view.pop("updated_at", None)
    return view


_AT = re.compile(r"at `\$\.([^`]+)`")


def merged(current: AiSettings, changes: Mapping[str, Any]) -> AiSettings:
    """``current`` with ``changes`` (field -> JSON value; ``auto_reply`` may be partial),
    decoded and validated. ``InvalidInput`` names the first bad field."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not an AI setting", field=unknown[0])
    base = audit_view(current)
    values = {**base, **changes}
    reply_changes = changes.get("auto_reply")
    if isinstance(reply_changes, Mapping):
        values["auto_reply"] = {**base["auto_reply"], **reply_changes}
    new_intents = changes.get("intents")
    denied = (
        values["auto_reply"].get("deny_intents") if isinstance(values["auto_reply"], dict) else None
    )
    if (
        isinstance(new_intents, list | tuple)
        and isinstance(denied, list | tuple)
        and not (isinstance(reply_changes, Mapping) and "deny_intents" in reply_changes)
    ):  # an intent taken out of the set can no longer be denied: it never comes back
        values["auto_reply"]["deny_intents"] = [i for i in denied if i in new_intents]
    values |= {"tenant_id": str(current.tenant_id)}
    try:
        decoded = msgspec.convert(values, AiSettings)
    except msgspec.ValidationError as exc:
        found = _AT.search(str(exc))
        field = re.sub(r"\[\d+\]", "", found.group(1)) if found else "settings"
        raise InvalidInput(f"{field}: {str(exc).split(' - at ')[0]}", field=field) from None
    return check_settings(decoded)


async def update_ai_settings(
    svc: Services, principal: Principal, changes: Mapping[str, Any]
) -> AiSettings:
    """Change some of the tenant's AI settings (the others keep their value)."""
    authorize(principal, Action.AI_MANAGE)
    async with svc.uow() as uow:
        before = await settings_for(uow, principal.tenant_id)
        after = msgspec.structs.replace(merged(before, changes), updated_at=svc.clock.now())
        await uow.ai_settings.put(after)
        await svc.audit(
            uow, principal, "ai.settings.update", "ai_settings", principal.tenant_id,
            before=audit_view(before), after=audit_view(after),
        )  # fmt: skip
        await uow.commit()
    return after
