"""The dashboard use case on memory adapters: who may read it, what ``days`` and ``tz``
accept, the period it covers, and the figures after a customer writes and an agent
answers (another tenant's traffic never counts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.statistics import ConversationTally, DayTally, ResponseTimes
from whatsapp_core.errors import Forbidden, InvalidInput
from whatsapp_core.policies.access import Role
from whatsapp_core.services.conversations import assign
from whatsapp_core.services.dashboard import (
    AgentLoad,
    DayVolume,
    OutboundStatuses,
    get_dashboard,
    summarize,
)
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_reply

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AGENT])
async def test_viewers_and_agents_are_refused(h: Harness, role: Role) -> None:
    with pytest.raises(Forbidden) as refused:
        await get_dashboard(h.svc, h.as_(role))
    assert refused.value.details["action"] == "report.read"
    assert refused.value.details["required_role"] == "manager"


async def test_an_api_key_is_refused(h: Harness) -> None:
    with pytest.raises(Forbidden):
        await get_dashboard(h.svc, h.as_key())


@pytest.mark.parametrize("days", [0, -1, 91, 365])
async def test_days_out_of_range_name_the_field(h: Harness, days: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        await get_dashboard(h.svc, h.as_(Role.MANAGER), days)
    assert refused.value.details["field"] == "days"
    assert "between 1 and 90" in refused.value.message


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "UTC+3"])
async def test_an_unknown_time_zone_names_the_field(h: Harness, tz: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await get_dashboard(h.svc, h.as_(Role.ADMIN), 7, tz)
    assert refused.value.details["field"] == "tz"


async def test_a_new_tenant_reads_as_zeros_over_every_day(h: Harness) -> None:
    board = await get_dashboard(h.svc, h.as_(Role.MANAGER), 90)
    assert board.conversations == ConversationTally()
    assert board.messages.inbound == board.messages.outbound == 0
    assert board.messages.delivery_rate is None
    assert board.messages.read_rate is None
    assert len(board.days) == 90
    assert board.days[-1].date == h.clock.now().date()
    assert {(d.inbound, d.outbound) for d in board.days} == {(0, 0)}
    assert board.failures == board.intents == board.templates == board.agents == []
    assert board.responses == ResponseTimes()


async def test_the_period_starts_at_midnight_in_the_readers_time_zone(h: Harness) -> None:
    h.clock = type(h.clock)(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))  # 23:00 on the 9th in SP
    await ingest_webhook(h.svc, h.batch(h.text(at=datetime(2026, 1, 10, 1, 0, tzinfo=UTC))))
    manager = h.as_(Role.MANAGER)

    in_utc = await get_dashboard(h.svc, manager, 1)
    assert in_utc.period.since == datetime(2026, 1, 10, tzinfo=UTC)
    assert in_utc.messages.inbound == 1
    assert in_utc.days == [DayVolume(date=date(2026, 1, 10), inbound=1, outbound=0)]

    in_sao_paulo = await get_dashboard(h.svc, manager, 1, "America/Sao_Paulo")
    assert in_sao_paulo.period.since == datetime(2026, 1, 9, 3, tzinfo=UTC)
    assert in_sao_paulo.period.until == h.clock.now()
    assert in_sao_paulo.days == [DayVolume(date=date(2026, 1, 9), inbound=1, outbound=0)]

    h.clock.advance(timedelta(hours=2))  # 01:00 on the 10th in São Paulo: a new day
    today = await get_dashboard(h.svc, manager, 1, "America/Sao_Paulo")
    assert today.messages.inbound == 0
    two_days = await get_dashboard(h.svc, manager, 2, "America/Sao_Paulo")
    assert [(d.date.day, d.inbound) for d in two_days.days] == [(9, 1), (10, 0)]


async def test_a_customer_writes_and_an_agent_answers(h: Harness) -> None:
    agent = await h.member(Role.AGENT)
    manager = await h.member(Role.MANAGER)
    await h.member(Role.VIEWER)  # not someone who answers: not listed
    other = await h.add_tenant("beta", phone_number_id="999000111")
    await ingest_webhook(h.svc, h.batch(h.text("Where is my order?")))
    await ingest_webhook(
        h.svc,
        h.batch(h.text("hi", bsuid="US.2", wa_id="5511988887777"), phone_number_id="999000111"),
    )
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    await assign(h.svc, agent, conversation.id, agent.user_id)
    await send_reply(h.svc, agent, conversation.id, "It ships today")
    await send_reply(h.svc, manager, conversation.id, "And tracking is BR123")
    h.clock.advance(timedelta(minutes=5))

    board = await get_dashboard(h.svc, manager)
    assert board.conversations == ConversationTally(open=1)  # answered: read, assigned
    assert board.messages.inbound == 1
    assert board.messages.outbound == 2
    assert board.messages.by_status == OutboundStatuses(
        accepted=2, sent=0, delivered=0, read=0, failed=0
    )
    assert board.days[-1] == DayVolume(date=h.clock.now().date(), inbound=1, outbound=2)
    assert sum(d.inbound + d.outbound for d in board.days[:-1]) == 0
    assert board.agents == [
        AgentLoad(user_id=agent.user_id, name="agent", role="agent", open_assigned=1, replies=1),  # type: ignore[arg-type]
        AgentLoad(user_id=manager.user_id, name="manager", role="manager", open_assigned=0,  # type: ignore[arg-type]
                  replies=1),
    ]  # fmt: skip
    # The customer wrote a second before the agent's answer; the manager's adds nothing.
    assert board.responses == ResponseTimes(
        answered=1, median_seconds=1.0, p90_seconds=1.0, first_median_seconds=1.0
    )

    theirs = await get_dashboard(h.svc, h.as_(Role.ADMIN, other))
    assert theirs.conversations == ConversationTally(open=1, unassigned_open=1, unread_open=1)
    assert (theirs.messages.inbound, theirs.messages.outbound) == (1, 0)
    assert theirs.agents == []
    assert theirs.responses == ResponseTimes(unanswered=1)


def test_rates_count_only_what_meta_settled() -> None:
    summary = summarize(
        [
            DayTally(day=0, outbound=6, accepted=1, held=1, sent=1, delivered=1, read=1, failed=1),
            DayTally(day=3, inbound=4, outbound=3, delivered=1, read=2),
        ]
    )
    assert (summary.inbound, summary.outbound) == (4, 9)
    assert summary.by_status == OutboundStatuses(accepted=2, sent=1, delivered=2, read=3, failed=1)
    assert summary.delivery_rate == 5 / 7  # delivered or read, of sent + delivered + read + failed
    assert summary.read_rate == 3 / 5


async def test_response_times_count_a_persons_answers(h: Harness) -> None:
    agent = await h.member(Role.AGENT)
    manager = h.as_(Role.MANAGER)
    await ingest_webhook(h.svc, h.batch(h.text("Where is my order?")))
    h.clock.advance(timedelta(minutes=1))
    await ingest_webhook(h.svc, h.batch(h.text("Hello?")))  # the same wait
    async with h.uow() as uow:
        (conversation,) = await uow.conversations.list(h.t.id)
    h.clock.advance(timedelta(minutes=3))
    await send_reply(h.svc, agent, conversation.id, "It ships today")  # 4 min 1 s after
    h.clock.advance(timedelta(hours=1))
    await ingest_webhook(h.svc, h.batch(h.text("And the invoice?")))
    h.clock.advance(timedelta(minutes=10))

    board = await get_dashboard(h.svc, manager)
    assert board.responses == ResponseTimes(
        answered=1, unanswered=1, median_seconds=241.0, p90_seconds=241.0,
        first_median_seconds=241.0,
    )  # fmt: skip

    await send_reply(h.svc, agent, conversation.id, "Attached")  # 10 min 1 s after
    board = await get_dashboard(h.svc, manager)
    assert board.responses == ResponseTimes(
        answered=2, unanswered=0, median_seconds=(241.0 + 601.0) / 2,
        p90_seconds=241.0 + 0.9 * 360.0, first_median_seconds=241.0,
    )  # fmt: skip
