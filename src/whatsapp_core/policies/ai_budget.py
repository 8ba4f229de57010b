"""The monthly AI token budget and which providers a call may use under it.

A month is a calendar month in UTC: it starts at 00:00 UTC on the 1st and the budget
resets then. The budget is checked before a call, against the tokens already recorded
this month, so one call may end a little past it; the next is refused.

Only Claude and OpenAI bill tokens. When the budget is reached they are left out of the
tenant's order and the offline provider (free) still answers IF the tenant listed it;
a tenant that did not list it is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from whatsapp_core.ai_settings import PAID_PROVIDERS
from whatsapp_core.errors import PolicyViolation


def month_start(now: datetime) -> datetime:
    """00:00 UTC on the 1st of ``now``'s month (UTC)."""
    utc = now.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month_start(now: datetime) -> datetime:
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


class ProviderPlan(msgspec.Struct, frozen=True, kw_only=True):
    order: tuple[str, ...]  # what may be called, in the tenant's order
    budget_reached: bool = False  # paid providers were left out for the budget


def budget_message(budget: int, now: datetime) -> str:
    resets = next_month_start(now).date().isoformat()
    return f"monthly AI token budget of {budget:,} reached; it resets on {resets} (UTC)"


def plan_providers(
    order: Sequence[str],
    configured: Sequence[str],
    *,
    budget: int | None,
    used_this_month: int,
    now: datetime,
) -> ProviderPlan:
    """The providers one call may use: the tenant's ``order``, minus those this server
    has no key for, minus the paid ones once ``used_this_month`` reached ``budget``.
    ``PolicyViolation`` when nothing is left, saying why."""
    available = tuple(p for p in order if p in configured)
    if not available:
        raise PolicyViolation(
            f"none of this workspace's AI providers ({', '.join(order)}) is configured on "
            f"this server (it has: {', '.join(configured) or 'none'}); change the provider "
            "order in the AI settings",
            code="ai_unavailable",
        )
    reached = budget is not None and used_this_month >= budget
    if not reached:
        return ProviderPlan(order=available)
    assert budget is not None
    free = tuple(p for p in available if p not in PAID_PROVIDERS)
    if not free:
        raise PolicyViolation(
            budget_message(budget, now),
            code="ai_budget_exceeded",
            budget=budget,
            used=used_this_month,
            resets_at=next_month_start(now).isoformat(),
        )
    return ProviderPlan(order=free, budget_reached=len(free) < len(available))
