"""A tenant's AI settings: on or off, which providers in which order (and models), the
intents its messages are sorted into, suggestions and auto-replies, a monthly token
budget. Admins change them (``ai.manage``); the AI use cases read them on every call.

``check_settings`` is the one validation: each refusal is an ``InvalidInput`` naming the
field (``intents``, ``auto_reply.timezone``...), so the API answers 422 with it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from whatsapp_core.ai import DEFAULT_INTENTS, FALLBACK_INTENT
from whatsapp_core.errors import InvalidInput

PROVIDERS: tuple[str, ...] = ("anthropic", "openai", "offline")
PAID_PROVIDERS: frozenset[str] = frozenset({"anthropic", "openai"})  # they bill tokens
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_INTENTS, MAX_INTENTS, MAX_INTENT_LENGTH = 2, 30, 40
MAX_COOLDOWN_HOURS = 24 * 30
MAX_BUDGET = 10**12

_INTENT = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$")
_HHMM = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


class HoursSpan(msgspec.Struct, frozen=True, kw_only=True):
    """Open from ``opens`` to ``closes`` (local wall-clock "HH:MM", closes may be
    "24:00") on each of ``days`` ("mon".."sun")."""

    days: tuple[str, ...]
    opens: str
    closes: str


WEEKDAY_HOURS = (HoursSpan(days=WEEKDAYS[:5], opens="09:00", closes="18:00"),)


class AutoReplyRules(msgspec.Struct, frozen=True, kw_only=True):
    """When the suggested reply may be sent without an agent. Whatever these say, an
    auto-reply is only ever sent inside the 24 h service window."""

    enabled: bool = False
    deny_intents: tuple[str, ...] = ("complaint", "spam")  # never auto-answered
    outside_business_hours_only: bool = False
    timezone: str = "UTC"  # IANA name, e.g. "Europe/Lisbon"
    business_hours: tuple[HoursSpan, ...] = WEEKDAY_HOURS
    cooldown_hours: int = 24  # at most one auto-reply per conversation in this many hours


class AiSettings(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    enabled: bool = True
    provider_order: tuple[str, ...] = PROVIDERS  # tried in this order (fallback chain)
    models: dict[str, str] = msgspec.field(default_factory=dict)  # per paid provider
    intents: tuple[str, ...] = DEFAULT_INTENTS
    auto_suggest: bool = False  # a suggestion computed and pushed with every classification
    auto_reply: AutoReplyRules = AutoReplyRules()
    monthly_token_budget: int | None = None  # None: unlimited
    updated_at: datetime | None = None  # None: never saved (the defaults)


def default_settings(tenant_id: uuid.UUID) -> AiSettings:
    return AiSettings(tenant_id=tenant_id)


class AiSettingsStore(Protocol):
    async def get(self, tenant_id: uuid.UUID) -> AiSettings | None:
        """``None`` when the tenant never saved any (the defaults apply)."""
        ...

    async def put(self, settings: AiSettings) -> None:
        """Insert or replace the tenant's settings."""
        ...


class AutoReplyLog(Protocol):
    """When each conversation last got an auto-reply (the cooldown's memory)."""

    async def last_sent(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> datetime | None: ...

    async def record(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        at: datetime,
        *,
        not_since: datetime,
    ) -> bool:
        """Record an auto-reply sent ``at``, unless one is recorded after ``not_since``
        (then nothing is written and the answer is False). Atomic: of two
        transactions racing for one conversation, at most one records."""
        ...


# -- validation ----------------------------------------------------------------------------


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, field=field)


def check_intents(intents: Sequence[str]) -> tuple[str, ...]:
    found = tuple(intents)
    if not MIN_INTENTS <= len(found) <= MAX_INTENTS:
        raise _bad("intents", f"a tenant has {MIN_INTENTS} to {MAX_INTENTS} intents")
    for intent in found:
        if not _INTENT.match(intent) or len(intent) > MAX_INTENT_LENGTH:
            raise _bad(
                "intents",
                f"intent {intent!r} must be lowercase snake_case (a-z, 0-9, _), "
                f"at most {MAX_INTENT_LENGTH} characters",
            )
    if len(set(found)) != len(found):
        raise _bad("intents", "each intent may be listed once")
    if FALLBACK_INTENT not in found:
        raise _bad("intents", f"{FALLBACK_INTENT!r} must stay: it is where anything else goes")
    return found


def check_provider_order(order: Sequence[str]) -> tuple[str, ...]:
    found = tuple(order)
    unknown = [p for p in found if p not in PROVIDERS]
    if not found or unknown or len(set(found)) != len(found):
        raise _bad(
            "provider_order",
            f"provider_order lists some of {', '.join(PROVIDERS)}, each at most once"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
        )
    return found


def check_models(models: Mapping[str, str]) -> dict[str, str]:
    for provider, model in models.items():
        field = f"models.{provider}"
        if provider not in PAID_PROVIDERS:
            raise _bad(field, f"models may be set for {' and '.join(sorted(PAID_PROVIDERS))}")
        if not _MODEL.match(model):
            raise _bad(field, "a model name has 1 to 100 letters, digits or . _ : / @ -")
    return dict(models)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``InvalidInput`` naming ``auto_reply.timezone``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _bad(
            "auto_reply.timezone",
            f"unknown time zone {name!r} (use an IANA name, e.g. Europe/Lisbon)",
        ) from None


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def check_hours(spans: Sequence[HoursSpan]) -> tuple[HoursSpan, ...]:
    field = "auto_reply.business_hours"
    for span in spans:
        if not span.days or any(d not in WEEKDAYS for d in span.days):
            raise _bad(field, f"days are some of {', '.join(WEEKDAYS)}")
        if len(set(span.days)) != len(span.days):
            raise _bad(field, "each day may be listed once in a span")
        if not (_HHMM.match(span.opens) and _HHMM.match(span.closes)):
            raise _bad(field, "opening and closing times are HH:MM (00:00 to 24:00)")
        if minutes(span.opens) >= minutes(span.closes):
            raise _bad(field, f"a span opens before it closes ({span.opens}-{span.closes})")
    return tuple(spans)


def check_rules(rules: AutoReplyRules, intents: Sequence[str]) -> AutoReplyRules:
    unknown = [i for i in rules.deny_intents if i not in intents]
    if unknown:
        raise _bad(
            "auto_reply.deny_intents",
            f"not intents of this tenant: {', '.join(unknown)} (a typo would deny nothing)",
        )
    if len(set(rules.deny_intents)) != len(rules.deny_intents):
        raise _bad("auto_reply.deny_intents", "each intent may be listed once")
    zone(rules.timezone)
    check_hours(rules.business_hours)
    if not 1 <= rules.cooldown_hours <= MAX_COOLDOWN_HOURS:
        raise _bad("auto_reply.cooldown_hours", f"the cooldown is 1 to {MAX_COOLDOWN_HOURS} hours")
    return rules


def check_settings(settings: AiSettings) -> AiSettings:
    """``settings`` if every field is valid; else ``InvalidInput`` naming the first bad one."""
    check_provider_order(settings.provider_order)
    check_models(settings.models)
    intents = check_intents(settings.intents)
    check_rules(settings.auto_reply, intents)
    budget = settings.monthly_token_budget
    if budget is not None and not 0 <= budget <= MAX_BUDGET:
        raise _bad("monthly_token_budget", f"a budget is 0 to {MAX_BUDGET} tokens, or none")
    return settings
