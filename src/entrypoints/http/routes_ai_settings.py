"""A tenant's AI settings (``ai.manage``): read them with this month's token usage, and
change some of them (fields left out keep their value)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import UNSET, UnsetType

from entrypoints.bootstrap import Runtime
from whatsapp_core.ai_settings import PROVIDERS, WEEKDAYS, AutoReplyRules
from whatsapp_core.domain.model import Principal
from whatsapp_core.services import ai_settings as settings_service
from whatsapp_core.services.ai_settings import AiSettingsReport


class HoursSpanIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    days: list[str]  # some of mon, tue, wed, thu, fri, sat, sun
    opens: str  # "HH:MM", local time
    closes: str  # "HH:MM" (up to "24:00"), after opens


class AutoReplyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool | UnsetType = UNSET
    deny_intents: list[str] | UnsetType = UNSET
    outside_business_hours_only: bool | UnsetType = UNSET
    timezone: str | UnsetType = UNSET  # IANA name, e.g. "Europe/Lisbon"
    business_hours: list[HoursSpanIn] | UnsetType = UNSET
    cooldown_hours: int | UnsetType = UNSET


class AiSettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool | UnsetType = UNSET
    provider_order: list[str] | UnsetType = UNSET  # some of anthropic, openai, offline
    models: dict[str, str] | UnsetType = UNSET  # e.g. {"anthropic": "claude-sonnet-4-5"}
    intents: list[str] | UnsetType = UNSET
    auto_suggest: bool | UnsetType = UNSET
    auto_reply: AutoReplyIn | UnsetType = UNSET
    monthly_token_budget: int | UnsetType | None = UNSET  # null: unlimited


class AiSettingsOut(msgspec.Struct, kw_only=True):
    enabled: bool
    provider_order: list[str]
    models: dict[str, str]
    intents: list[str]
    auto_suggest: bool
    auto_reply: AutoReplyRules
    monthly_token_budget: int | None
    updated_at: datetime | None
    tokens_used_this_month: int
    budget_resets_at: datetime
    providers: list[str]  # every provider a tenant may list
    configured_providers: list[str]  # those this server has (a key, or offline)
    weekdays: list[str]

    @classmethod
    def of(cls, report: AiSettingsReport, configured: tuple[str, ...]) -> AiSettingsOut:
        s = report.settings
        return cls(
            enabled=s.enabled, provider_order=list(s.provider_order), models=dict(s.models),
            intents=list(s.intents), auto_suggest=s.auto_suggest, auto_reply=s.auto_reply,
            monthly_token_budget=s.monthly_token_budget, updated_at=s.updated_at,
            tokens_used_this_month=report.tokens_used_this_month,
            budget_resets_at=report.budget_resets_at, providers=list(PROVIDERS),
            configured_providers=list(configured), weekdays=list(WEEKDAYS),
        )  # fmt: skip


class AiSettingsController(Controller):
    path = "/api/ai/settings"
    tags = ("ai",)

    @get(summary="The workspace's AI settings and this month's token usage (ai.manage)")
    async def read(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> AiSettingsOut:
        report = await settings_service.get_ai_settings(runtime.services, principal)
        return AiSettingsOut.of(report, runtime.ai.router.configured())

    @put(summary="Change AI settings; fields left out keep their value (ai.manage)")
    async def update(
        self,
        data: JSONBody[AiSettingsIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> AiSettingsOut:
        changes = msgspec.to_builtins(data)  # only the fields that were sent
        await settings_service.update_ai_settings(runtime.services, principal, changes)
        report = await settings_service.get_ai_settings(runtime.services, principal)
        return AiSettingsOut.of(report, runtime.ai.router.configured())
