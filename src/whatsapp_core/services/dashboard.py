"""The team lead's dashboard: what the inbox looks like now, and what went in and out
over the last days.

Every figure is an aggregate the database computes (``InboxStatistics``: GROUP BY and
FILTER over one tenant's rows, never the rows themselves); this use case only names the
period, adds the rates and the agents' names, and fills in the days without traffic.
Managers and admins only (``report.read``): agents and viewers see their conversations,
not the team's numbers.

Response times (``ResponseTimes`` defines them): how long customers whose wait began
in the period waited for a person's answer, in wall-clock seconds (business hours are
out of scope); AI auto-replies and API-key sends are not a person's answer.

Days are calendar days in the reader's time zone (``tz``, an IANA name), so "Today"
starts at their midnight; the period runs from the first day's midnight to now.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from whatsapp_core.domain.accounts import User
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.statistics import (
    AgentTally,
    ConversationTally,
    DayTally,
    FailureTally,
    IntentTally,
    ResponseTimes,
    TemplateTally,
)
from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

MIN_DAYS, MAX_DAYS, DEFAULT_DAYS = 1, 90, 7
WINDOW_WARNING = timedelta(hours=2)  # "closes soon": the 24 h window ends within this
TOP_FAILURES = 5
TOP_INTENTS = 8
TOP_TEMPLATES = 5


# ------------------------------------------------------------------ what the use case answers


class Period(msgspec.Struct, frozen=True, kw_only=True):
    days: int
    tz: str
    since: datetime  # midnight (in ``tz``) of the first day, as UTC
    until: datetime  # now


class OutboundStatuses(msgspec.Struct, frozen=True, kw_only=True):
    accepted: int  # not yet sent by Meta (includes held for quality assessment)
    sent: int
    delivered: int
    read: int
    failed: int


class MessageSummary(msgspec.Struct, frozen=True, kw_only=True):
    inbound: int
    outbound: int
    by_status: OutboundStatuses
    delivery_rate: float | None  # delivered or read, of those Meta settled (None: none yet)
    read_rate: float | None  # read, of those delivered


class DayVolume(msgspec.Struct, frozen=True, kw_only=True):
    date: date  # in the period's time zone
    inbound: int
    outbound: int


class AgentLoad(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    name: str
    role: str | None  # None: no longer a member of the team
    open_assigned: int
    replies: int


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    period: Period
    conversations: ConversationTally
    messages: MessageSummary
    failures: list[FailureTally]
    agents: list[AgentLoad]
    days: list[DayVolume]
    intents: list[IntentTally]
    templates: list[TemplateTally]
    responses: ResponseTimes  # seconds; None when no wait of that kind was answered


# ------------------------------------------------------------------ the use case


async def get_dashboard(
    svc: Services, principal: Principal, days: int = DEFAULT_DAYS, tz: str = "UTC"
) -> Dashboard:
    """The dashboard for the last ``days`` calendar days (1..90) in time zone ``tz``."""
    authorize(principal, Action.REPORT_READ)
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be between {MIN_DAYS} and {MAX_DAYS}", field="days")
    zone = _zone(tz)
    now = svc.clock.now().astimezone(UTC)
    first = now.astimezone(zone).date() - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days)]
    starts = [datetime.combine(d, time(), tzinfo=zone).astimezone(UTC) for d in dates]
    tenant_id = principal.tenant_id
    async with svc.uow() as uow:
        stats = uow.statistics
        conversations = await stats.conversations(tenant_id, now=now, closing_within=WINDOW_WARNING)
        per_day = await stats.days(tenant_id, day_starts=starts, until=now)
        failures = await stats.failures(tenant_id, since=starts[0], until=now, limit=TOP_FAILURES)
        intents = await stats.intents(tenant_id, since=starts[0], until=now, limit=TOP_INTENTS)
        templates = await stats.templates(
            tenant_id, since=starts[0], until=now, limit=TOP_TEMPLATES
        )
        agents = await stats.agents(tenant_id, now=now, since=starts[0])
        responses = await stats.response_times(tenant_id, since=starts[0], until=now)
        users = await uow.users.list(tenant_id)
    by_day = {t.day: t for t in per_day}
    empty = DayTally(day=-1)
    return Dashboard(
        period=Period(days=days, tz=tz, since=starts[0], until=now),
        conversations=conversations,
        messages=summarize(per_day),
        failures=failures,
        agents=agent_loads(agents, users),
        days=[
            DayVolume(date=d, inbound=tally.inbound, outbound=tally.outbound)
            for i, d in enumerate(dates)
            for tally in [by_day.get(i, empty)]
        ],
        intents=intents,
        templates=templates,
        responses=responses,
    )


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"tz must be an IANA time zone such as Europe/Lisbon, not {tz!r}", field="tz"
        ) from None


def summarize(per_day: list[DayTally]) -> MessageSummary:
    """The period's totals, with the delivery rate (delivered or read, of the messages
    Meta has settled: sent, delivered, read or failed) and the read rate (of those
    delivered)."""
    total = {
        name: sum(getattr(t, name) for t in per_day)
        for name in ("inbound", "outbound", "accepted", "held", "sent", "delivered", "read")
    }
    failed = sum(t.failed for t in per_day)
    reached = total["delivered"] + total["read"]
    settled = total["sent"] + reached + failed
    return MessageSummary(
        inbound=total["inbound"],
        outbound=total["outbound"],
        by_status=OutboundStatuses(
            accepted=total["accepted"] + total["held"],
            sent=total["sent"],
            delivered=total["delivered"],
            read=total["read"],
            failed=failed,
        ),
        delivery_rate=reached / settled if settled else None,
        read_rate=total["read"] / reached if reached else None,
    )


def agent_loads(tallies: list[AgentTally], users: list[User]) -> list[AgentLoad]:
    """Every active member who can answer (agent and above), with zeros when idle, and
    anyone else with assigned conversations or replies; busiest first."""
    counted = {t.user_id: t for t in tallies}
    members = {u.id: u for u in users}
    shown = {u.id: None for u in users if u.active and u.role.rank >= Role.AGENT.rank}
    shown |= dict.fromkeys(counted)
    loads = []
    for user_id in shown:
        tally = counted.get(user_id, AgentTally(user_id=user_id))
        member = members.get(user_id)
        loads.append(
            AgentLoad(
                user_id=user_id,
                name=member.name if member else "Former member",
                role=member.role.value if member else None,
                open_assigned=tally.open_assigned,
                replies=tally.replies,
            )
        )
    return sorted(loads, key=lambda a: (-a.open_assigned, -a.replies, a.name, str(a.user_id)))
