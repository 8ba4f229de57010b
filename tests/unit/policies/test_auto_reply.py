"""The auto-reply policy: its laws under any input (hypothesis), and business hours across
daylight-saving changes (examples worked out by hand)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp_core.ai import DEFAULT_INTENTS
from whatsapp_core.ai_settings import WEEKDAYS, AutoReplyRules, HoursSpan
from whatsapp_core.policies.auto_reply import decide_auto_reply, in_business_hours

pytestmark = pytest.mark.unit

ZONES = (
    "UTC", "Europe/Lisbon", "America/New_York", "America/Sao_Paulo", "Asia/Kolkata",
    "Australia/Lord_Howe",  # a 30-minute DST shift
)  # fmt: skip
DAY = timedelta(hours=24)

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@st.composite
def spans(draw: st.DrawFn) -> HoursSpan:
    opens, closes = sorted(draw(st.lists(st.integers(0, 24 * 60), min_size=2, max_size=2)))
    closes = max(closes, opens + 1)
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    as_text = [f"{m // 60:02d}:{m % 60:02d}" for m in (opens, closes)]
    return HoursSpan(days=tuple(days), opens=as_text[0], closes=as_text[1])


rules_strategy = st.builds(
    AutoReplyRules,
    enabled=st.booleans(),
    deny_intents=st.lists(st.sampled_from(DEFAULT_INTENTS), unique=True).map(tuple),
    outside_business_hours_only=st.booleans(),
    timezone=st.sampled_from(ZONES),
    business_hours=st.lists(spans(), max_size=3).map(tuple),
    cooldown_hours=st.integers(1, 24 * 30),
)
maybe_before = st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=3)))


@given(
    rules=rules_strategy,
    intent=st.sampled_from(DEFAULT_INTENTS),
    now=instants,
    inbound_ago=maybe_before,
    reply_ago=maybe_before,
    superseded=st.booleans(),
)
@settings(max_examples=400)
def test_the_laws_hold_for_any_input(
    rules: AutoReplyRules,
    intent: str,
    now: datetime,
    inbound_ago: timedelta | None,
    reply_ago: timedelta | None,
    superseded: bool,
) -> None:
    last_inbound = None if inbound_ago is None else now - inbound_ago
    last_reply = None if reply_ago is None else now - reply_ago
    decision = decide_auto_reply(
        rules, intent=intent, now=now, last_inbound_at=last_inbound,
        last_auto_reply_at=last_reply, superseded=superseded,
    )  # fmt: skip
    # deterministic, and the same instant written in another offset decides the same
    again = decide_auto_reply(
        rules, intent=intent, now=now.astimezone(timezone(timedelta(hours=-7))),
        last_inbound_at=last_inbound, last_auto_reply_at=last_reply, superseded=superseded,
    )  # fmt: skip
    assert again == decision
    if not decision.send:
        assert decision.reason
        return
    assert rules.enabled
    assert last_inbound is not None  # never outside the window
    assert now < last_inbound + DAY
    assert intent not in rules.deny_intents  # never for a denied intent
    assert last_reply is None or now >= last_reply + timedelta(hours=rules.cooldown_hours)
    assert not (rules.outside_business_hours_only and in_business_hours(rules, now))
    assert not superseded


@given(
    cooldown=st.integers(1, 72),
    gaps=st.lists(st.integers(1, 60 * 80), min_size=1, max_size=40),  # minutes
    start=instants,
)
def test_never_twice_within_the_cooldown_and_always_once_it_passed(
    cooldown: int, gaps: list[int], start: datetime
) -> None:
    """Customers keep writing; each message is decided with the log of what was sent."""
    rules = AutoReplyRules(enabled=True, cooldown_hours=cooldown)
    now, sent = start, []
    for gap in gaps:
        now += timedelta(minutes=gap)
        last = sent[-1] if sent else None
        decision = decide_auto_reply(
            rules, intent="question", now=now, last_inbound_at=now, last_auto_reply_at=last
        )
        expected = last is None or now - last >= timedelta(hours=cooldown)
        assert decision.send is expected
        if decision.send:
            sent.append(now)
    assert all(b - a >= timedelta(hours=cooldown) for a, b in itertools.pairwise(sent))


@given(rules=rules_strategy, now=instants)
def test_outside_hours_only_never_answers_inside_them(rules: AutoReplyRules, now: datetime) -> None:
    rules = AutoReplyRules(
        enabled=True, deny_intents=(), outside_business_hours_only=True,
        timezone=rules.timezone, business_hours=rules.business_hours,
    )  # fmt: skip
    decision = decide_auto_reply(
        rules, intent="question", now=now, last_inbound_at=now, last_auto_reply_at=None
    )
    assert decision.send is not in_business_hours(rules, now)


WEEKDAY_9_TO_6 = (HoursSpan(days=WEEKDAYS[:5], opens="09:00", closes="18:00"),)


@pytest.mark.parametrize(
    ("zone", "utc", "open_"),
    [
        # Lisbon: WET (UTC+0) until Sun 29 Mar 2026 01:00 UTC, then WEST (UTC+1).
        ("Europe/Lisbon", datetime(2026, 3, 27, 8, 30, tzinfo=UTC), False),  # Fri 08:30
        ("Europe/Lisbon", datetime(2026, 3, 30, 8, 30, tzinfo=UTC), True),  # Mon 09:30
        ("Europe/Lisbon", datetime(2026, 3, 30, 17, 0, tzinfo=UTC), False),  # Mon 18:00
        # New York: EDT (UTC-4) until Sun 1 Nov 2026 06:00 UTC, then EST (UTC-5).
        ("America/New_York", datetime(2026, 10, 30, 13, 30, tzinfo=UTC), True),  # Fri 09:30
        ("America/New_York", datetime(2026, 11, 2, 13, 30, tzinfo=UTC), False),  # Mon 08:30
        ("America/New_York", datetime(2026, 11, 2, 14, 0, tzinfo=UTC), True),  # Mon 09:00
        ("America/New_York", datetime(2026, 11, 6, 22, 59, tzinfo=UTC), True),  # Fri 17:59
        ("America/New_York", datetime(2026, 11, 7, 14, 0, tzinfo=UTC), False),  # Sat 09:00
        # No DST, a half-hour offset: Kolkata is UTC+5:30.
        ("Asia/Kolkata", datetime(2026, 6, 1, 3, 29, tzinfo=UTC), False),  # Mon 08:59
        ("Asia/Kolkata", datetime(2026, 6, 1, 3, 30, tzinfo=UTC), True),  # Mon 09:00
    ],
)
def test_business_hours_follow_local_time_across_dst(zone: str, utc: datetime, open_: bool) -> None:
    rules = AutoReplyRules(timezone=zone, business_hours=WEEKDAY_9_TO_6)
    assert in_business_hours(rules, utc) is open_
    local = utc.astimezone(ZoneInfo(zone))
    assert (local.weekday() < 5 and 9 <= local.hour < 18) is open_  # the hand-worked truth


def test_each_rule_says_why_it_refused() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # a Thursday
    on = AutoReplyRules(enabled=True, outside_business_hours_only=True)

    def why(rules: AutoReplyRules = on, **kw: object) -> str:
        args: dict[str, object] = {
            "intent": "question", "now": now, "last_inbound_at": now - timedelta(minutes=1),
            "last_auto_reply_at": None,
        } | kw  # fmt: skip
        return decide_auto_reply(rules, **args).reason  # type: ignore[arg-type]

    assert why(AutoReplyRules()) == "auto-reply is off"
    assert "window is closed" in why(last_inbound_at=now - DAY)
    assert "window is closed" in why(last_inbound_at=None)
    assert why(intent="complaint") == "complaint messages are never answered automatically"
    assert "next allowed from 2026-01-02T11:00:00+00:00" in why(
        last_auto_reply_at=now - timedelta(hours=1)
    )
    assert why() == "inside business hours (UTC): agents answer"
    assert why(now=now + timedelta(hours=8), last_inbound_at=now + timedelta(hours=8)) == "allowed"
    assert why(superseded=True, now=now.replace(hour=20)) == "a newer message is in the thread"
