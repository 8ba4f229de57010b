"""The dashboard's aggregates (``InboxStatistics``): the memory twin and PostgreSQL give
the same exact figures for the same rows, and another tenant's rows never count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from whatsapp_core.domain.model import (
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
)
from whatsapp_core.domain.statistics import (
    AgentTally,
    ConversationTally,
    DayTally,
    FailureTally,
    IntentTally,
    ResponseTimes,
    TemplateTally,
)
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
DAY_STARTS = [datetime(2026, 3, d, tzinfo=UTC) for d in (8, 9, 10)]  # three UTC days
SINCE = DAY_STARTS[0]
AGENT_A, AGENT_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)
HOUR = timedelta(hours=1)
OPEN, PENDING, RESOLVED = (
    ConversationStatus.OPEN,
    ConversationStatus.PENDING,
    ConversationStatus.RESOLVED,
)
IN, OUT = Direction.INBOUND, Direction.OUTBOUND
S = MessageStatus


class Seeder:
    """One tenant's contacts, conversations and messages, written in one transaction."""

    def __init__(self, tenant: Tenant) -> None:
        self.t = tenant
        self.contacts: list[Contact] = []
        self.conversations: list[Conversation] = []
        self.messages: list[Message] = []

    def conversation(
        self,
        status: ConversationStatus = OPEN,
        *,
        assignee: uuid.UUID | None = None,
        unread: int = 0,
        last_inbound: datetime | None = None,
    ) -> Conversation:
        contact = Contact(id=uuid.uuid4(), tenant_id=self.t.id, created_at=SINCE, updated_at=SINCE)
        conv = Conversation(
            id=uuid.uuid4(), tenant_id=self.t.id, contact_id=contact.id, status=status,
            assignee_id=assignee, unread_count=unread, last_inbound_at=last_inbound,
            last_message_at=last_inbound or SINCE, created_at=SINCE,
        )  # fmt: skip
        self.contacts.append(contact)
        self.conversations.append(conv)
        return conv

    def message(
        self, direction: Direction, at: datetime, *, conv: Conversation | None = None, **kw: object
    ) -> None:
        conv = conv or (self.conversations[0] if self.conversations else self.conversation())
        fields: dict[str, object] = {
            "id": uuid.uuid4(), "tenant_id": self.t.id, "conversation_id": conv.id,
            "contact_id": conv.contact_id, "direction": direction, "type": "text",
            "text": "hi", "created_at": at,
        }  # fmt: skip
        self.messages.append(Message(**{**fields, **kw}))  # type: ignore[arg-type]

    async def save(self, uow_factory: UnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            await uow.tenants.add(self.t)
            if self.contacts:  # a brand-new tenant has none
                await uow.contacts.add_many(self.contacts)
                await uow.conversations.add_many(self.conversations)
                await uow.messages.add_many(self.messages)
            await uow.commit()


def seed_ours() -> Seeder:
    s = Seeder(new_tenant(tenant_id=uuid.uuid4(), slug="acme", name="Acme"))
    # Conversations now.
    s.conversation(OPEN, unread=2, last_inbound=NOW - 23 * HOUR)  # closes in 1 h
    s.conversation(OPEN, assignee=AGENT_A, last_inbound=NOW - 21 * HOUR)  # closes in 3 h
    s.conversation(OPEN, assignee=AGENT_A, unread=1, last_inbound=NOW - 24 * HOUR)  # closed now
    s.conversation(OPEN, assignee=AGENT_B, last_inbound=NOW - 22 * HOUR)  # closes in exactly 2 h
    s.conversation(PENDING, assignee=AGENT_B, unread=4, last_inbound=NOW - 23 * HOUR)
    s.conversation(RESOLVED, unread=3, last_inbound=NOW - 23 * HOUR)
    s.conversation(OPEN, assignee=AGENT_B)  # never wrote: no window
    # Outside the period: before its first midnight, and after now.
    s.message(IN, SINCE - timedelta(seconds=1), intent="complaint")
    s.message(OUT, SINCE - timedelta(seconds=1), status=S.FAILED, error_code=999,
              error_text="too early", author_id=AGENT_A)  # fmt: skip
    s.message(IN, NOW + timedelta(seconds=1), intent="complaint")
    s.message(OUT, NOW + timedelta(seconds=1), status=S.READ, author_id=AGENT_A)
    # Day 0 (8 March): from its very first instant.
    s.message(IN, SINCE, intent="order_status")
    s.message(IN, SINCE + 10 * HOUR, intent="greeting")
    s.message(OUT, SINCE + 11 * HOUR, status=S.SENT, author_id=AGENT_A)
    # Day 1 (9 March): nothing. Day 2 (10 March), up to and including now.
    s.message(IN, DAY_STARTS[2] + HOUR, intent="order_status")
    s.message(IN, DAY_STARTS[2] + 2 * HOUR)  # not classified
    s.message(IN, NOW, intent="greeting")
    s.message(OUT, DAY_STARTS[2] + HOUR, status=S.DELIVERED,
              template_name="order_update", template_language="en")  # fmt: skip
    s.message(OUT, DAY_STARTS[2] + 2 * HOUR, status=S.READ, author_id=AGENT_B,
              template_name="order_update", template_language="en")  # fmt: skip
    s.message(OUT, DAY_STARTS[2] + 3 * HOUR, status=S.FAILED, error_code=131026,
              error_text="Receiver is incapable", author_id=AGENT_B,
              template_name="order_update", template_language="pt_BR")  # fmt: skip
    s.message(OUT, DAY_STARTS[2] + 4 * HOUR, status=S.FAILED, error_code=131026,
              error_text="Message undeliverable", author_id=AGENT_B,
              template_name="promo_march", template_language="en")  # fmt: skip
    s.message(OUT, DAY_STARTS[2] + 5 * HOUR, status=S.FAILED, error_code=131047,
              error_text="Re-engagement message", author_id=AGENT_A)  # fmt: skip
    s.message(OUT, DAY_STARTS[2] + 6 * HOUR, status=S.FAILED)  # no code, no text
    s.message(OUT, DAY_STARTS[2] + 6 * HOUR, status=S.ACCEPTED, author_id=AGENT_A)
    s.message(OUT, NOW, status=S.HELD, author_id=AGENT_A, template_name="order_update",
              template_language="en")  # fmt: skip
    return s


def seed_theirs() -> Seeder:
    """Traffic of every kind, in the period, that must never show in ours."""
    s = Seeder(new_tenant(tenant_id=uuid.uuid4(), slug="beta", name="Beta"))
    s.conversation(OPEN, unread=1, last_inbound=NOW - 23 * HOUR)
    s.conversation(OPEN, assignee=AGENT_A, last_inbound=NOW - 23 * HOUR)
    s.conversation(PENDING)
    s.conversation(RESOLVED)
    for day in DAY_STARTS:
        s.message(IN, day + HOUR, intent="order_status")
        s.message(IN, day + HOUR, intent="spam")
        s.message(OUT, day + 2 * HOUR, status=S.FAILED, error_code=131026,
                  error_text="theirs", author_id=AGENT_A, template_name="order_update",
                  template_language="en")  # fmt: skip
        s.message(OUT, day + 2 * HOUR, status=S.READ, author_id=AGENT_B,
                  template_name="beta_only", template_language="en")  # fmt: skip
    return s


@pytest.fixture
async def ours(uow_factory: UnitOfWorkFactory) -> Tenant:
    mine, theirs = seed_ours(), seed_theirs()
    await theirs.save(uow_factory)
    await mine.save(uow_factory)
    return mine.t


async def test_conversations_now(uow_factory: UnitOfWorkFactory, ours: Tenant) -> None:
    async with uow_factory() as uow:
        tally = await uow.statistics.conversations(ours.id, now=NOW, closing_within=2 * HOUR)
    assert tally == ConversationTally(
        open=5, pending=1, resolved=1, unassigned_open=1, unread_open=2, closing_open=2
    )


async def test_messages_per_day_by_direction_and_status(
    uow_factory: UnitOfWorkFactory, ours: Tenant
) -> None:
    async with uow_factory() as uow:
        days = await uow.statistics.days(ours.id, day_starts=DAY_STARTS, until=NOW)
    assert days == [
        DayTally(day=0, inbound=2, outbound=1, sent=1),
        DayTally(day=2, inbound=3, outbound=8, accepted=1, held=1, delivered=1, read=1, failed=4),
    ]


async def test_failure_codes_with_the_latest_text(
    uow_factory: UnitOfWorkFactory, ours: Tenant
) -> None:
    async with uow_factory() as uow:
        failures = await uow.statistics.failures(ours.id, since=SINCE, until=NOW, limit=5)
        top = await uow.statistics.failures(ours.id, since=SINCE, until=NOW, limit=1)
    assert failures == [
        FailureTally(code=131026, count=2, text="Message undeliverable"),
        FailureTally(code=131047, count=1, text="Re-engagement message"),
        FailureTally(code=None, count=1, text=None),
    ]
    assert top == failures[:1]


async def test_top_intents_of_inbound_messages(
    uow_factory: UnitOfWorkFactory, ours: Tenant
) -> None:
    async with uow_factory() as uow:
        intents = await uow.statistics.intents(ours.id, since=SINCE, until=NOW, limit=8)
        today = await uow.statistics.intents(ours.id, since=DAY_STARTS[2], until=NOW, limit=1)
    assert intents == [
        IntentTally(intent="greeting", count=2),  # a tie: ordered by intent
        IntentTally(intent="order_status", count=2),
    ]
    assert today == [IntentTally(intent="greeting", count=1)]


async def test_templates_most_sent_first(uow_factory: UnitOfWorkFactory, ours: Tenant) -> None:
    async with uow_factory() as uow:
        templates = await uow.statistics.templates(ours.id, since=SINCE, until=NOW, limit=5)
        top = await uow.statistics.templates(ours.id, since=SINCE, until=NOW, limit=2)
    assert templates == [
        TemplateTally(name="order_update", language="en", sent=3, delivered=2, read=1, failed=0),
        TemplateTally(name="order_update", language="pt_BR", sent=1, delivered=0, read=0,
                      failed=1),
        TemplateTally(name="promo_march", language="en", sent=1, delivered=0, read=0, failed=1),
    ]  # fmt: skip
    assert top == templates[:2]


async def test_agents_open_load_now_and_replies_in_the_period(
    uow_factory: UnitOfWorkFactory, ours: Tenant
) -> None:
    async with uow_factory() as uow:
        agents = await uow.statistics.agents(ours.id, now=NOW, since=SINCE)
        today = await uow.statistics.agents(ours.id, now=NOW, since=DAY_STARTS[2])
    assert agents == [
        AgentTally(user_id=AGENT_A, open_assigned=2, replies=4),
        AgentTally(user_id=AGENT_B, open_assigned=2, replies=3),
    ]
    assert today == [
        AgentTally(user_id=AGENT_A, open_assigned=2, replies=3),
        AgentTally(user_id=AGENT_B, open_assigned=2, replies=3),
    ]


async def test_a_new_tenant_has_all_zeros(uow_factory: UnitOfWorkFactory) -> None:
    await seed_theirs().save(uow_factory)
    fresh = Seeder(new_tenant(tenant_id=uuid.uuid4(), slug="new", name="New"))
    await fresh.save(uow_factory)
    async with uow_factory() as uow:
        stats = uow.statistics
        tenant_id = fresh.t.id
        assert (
            await stats.conversations(tenant_id, now=NOW, closing_within=2 * HOUR)
            == ConversationTally()
        )
        assert await stats.days(tenant_id, day_starts=DAY_STARTS, until=NOW) == []
        assert await stats.failures(tenant_id, since=SINCE, until=NOW, limit=5) == []
        assert await stats.intents(tenant_id, since=SINCE, until=NOW, limit=5) == []
        assert await stats.templates(tenant_id, since=SINCE, until=NOW, limit=5) == []
        assert await stats.agents(tenant_id, now=NOW, since=SINCE) == []
        assert await stats.response_times(tenant_id, since=SINCE, until=NOW) == ResponseTimes()


MINUTE = timedelta(minutes=1)
AI_REPLY = {"content": {"sent_by": "ai"}}  # an auto-reply: outbound, no author


def seed_waits() -> Seeder:
    """Customers waiting for a person, in five conversations of one tenant."""
    s = Seeder(new_tenant(tenant_id=uuid.uuid4(), slug="waits", name="Waits"))
    a, b, c, d, e = (s.conversation() for _ in range(5))
    # A: a burst of two messages (an AI auto-reply in between splits nothing) answered
    # 4 min after its first one; then a second wait, answered twice, in 20 min.
    s.message(IN, SINCE + HOUR, conv=a)
    s.message(OUT, SINCE + HOUR + timedelta(seconds=10), conv=a, **AI_REPLY)
    s.message(IN, SINCE + HOUR + MINUTE, conv=a)
    s.message(OUT, SINCE + HOUR + 4 * MINUTE, conv=a, author_id=AGENT_A)
    s.message(IN, SINCE + 2 * HOUR, conv=a)
    s.message(OUT, SINCE + 2 * HOUR + 20 * MINUTE, conv=a, author_id=AGENT_B)
    s.message(OUT, SINCE + 2 * HOUR + 21 * MINUTE, conv=a, author_id=AGENT_B)
    # B: a template sent by an API key (no author) starts nothing and answers nothing;
    # the customer's reply to it is their first wait, answered in 1 h 20 min.
    s.message(OUT, SINCE + 3 * HOUR, conv=b, template_name="promo", template_language="en")
    s.message(IN, SINCE + 3 * HOUR + 5 * MINUTE, conv=b)
    s.message(OUT, SINCE + 4 * HOUR + 25 * MINUTE, conv=b, author_id=AGENT_A)
    # C: a wait begun before the period (answered in it) is not the period's; later a
    # wait answered in 60 s, then a burst still unanswered now (the answer comes after).
    s.message(IN, SINCE - 2 * HOUR, conv=c)
    s.message(IN, SINCE + 30 * MINUTE, conv=c)
    s.message(OUT, SINCE + HOUR, conv=c, author_id=AGENT_A)
    s.message(IN, DAY_STARTS[2] + HOUR, conv=c)
    s.message(OUT, DAY_STARTS[2] + HOUR + MINUTE, conv=c, author_id=AGENT_A)
    s.message(IN, NOW - 10 * MINUTE, conv=c)
    s.message(OUT, NOW - 9 * MINUTE, conv=c, **AI_REPLY)
    s.message(IN, NOW - 5 * MINUTE, conv=c)
    s.message(OUT, NOW + timedelta(seconds=1), conv=c, author_id=AGENT_A)
    # D: a first message at the very end of the period, unanswered.
    s.message(IN, NOW, conv=d)
    # E: answered at the very instant it arrived (inbound first at an equal instant).
    s.message(IN, DAY_STARTS[1] + HOUR, conv=e)
    s.message(OUT, DAY_STARTS[1] + HOUR, conv=e, author_id=AGENT_B)
    return s


@pytest.fixture
async def waits(uow_factory: UnitOfWorkFactory) -> Tenant:
    mine, theirs = seed_waits(), seed_theirs()
    await theirs.save(uow_factory)
    await mine.save(uow_factory)
    return mine.t


async def test_response_times_of_the_waits_begun_in_the_period(
    uow_factory: UnitOfWorkFactory, waits: Tenant
) -> None:
    async with uow_factory() as uow:
        times = await uow.statistics.response_times(waits.id, since=SINCE, until=NOW)
    # Answered: 0 s (E), 60 s (C), 240 s (A), 1200 s (A), 4800 s (B); first waits: A, B, E.
    assert times == ResponseTimes(
        answered=5,
        unanswered=2,  # C's last burst, D
        median_seconds=240.0,
        p90_seconds=pytest.approx(1200 + 0.6 * 3600),  # type: ignore[arg-type]
        first_median_seconds=240.0,
    )


async def test_response_times_of_a_shorter_period(
    uow_factory: UnitOfWorkFactory, waits: Tenant
) -> None:
    async with uow_factory() as uow:
        today = await uow.statistics.response_times(waits.id, since=DAY_STARTS[2], until=NOW)
        before_d = await uow.statistics.response_times(
            waits.id, since=DAY_STARTS[2], until=NOW - MINUTE
        )
        first_day = await uow.statistics.response_times(waits.id, since=SINCE, until=DAY_STARTS[1])
    # Only C's 60 s wait is answered; D is a first wait, but unanswered.
    assert today == ResponseTimes(answered=1, unanswered=2, median_seconds=60.0, p90_seconds=60.0)
    assert before_d == ResponseTimes(
        answered=1, unanswered=1, median_seconds=60.0, p90_seconds=60.0
    )
    # A's two waits and B's; E's wait begins at the next day's first hour.
    assert first_day == ResponseTimes(
        answered=3,
        unanswered=0,
        median_seconds=1200.0,
        p90_seconds=pytest.approx(1200 + 0.8 * 3600),  # type: ignore[arg-type]
        first_median_seconds=(240 + 4800) / 2,
    )


async def test_another_tenants_waits_never_count(uow_factory: UnitOfWorkFactory) -> None:
    theirs = seed_theirs()
    await seed_waits().save(uow_factory)
    await theirs.save(uow_factory)
    async with uow_factory() as uow:
        times = await uow.statistics.response_times(theirs.t.id, since=SINCE, until=NOW)
    # Theirs: one conversation, a wait per day answered an hour later by a person.
    assert times == ResponseTimes(
        answered=3,
        unanswered=0,
        median_seconds=3600.0,
        p90_seconds=3600.0,
        first_median_seconds=3600.0,
    )
