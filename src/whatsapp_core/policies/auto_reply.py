"""Whether the AI may answer a customer by itself, decided from plain data.

After an inbound message is classified, its suggested reply is sent without an agent
only when every rule agrees:

1. the tenant turned auto-reply on;
2. the 24 h service window is open (always; no setting turns this off);
3. the intent is not in the deny list (by default complaint and spam);
4. no auto-reply went to this conversation within the cooldown;
5. if the tenant asked for it, it is outside business hours in the tenant's time zone;
6. the message is still the thread's latest (an agent's answer or a newer customer
   message since then means the moment has passed; the newer one gets its own turn).

Business hours are local wall-clock times; ``now`` is turned into the tenant's zone with
``zoneinfo``, so a DST change moves the opening hour in UTC, not in local time. The
decision is a pure function of its inputs (same inputs, same answer).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from whatsapp_core.ai_settings import WEEKDAYS, AutoReplyRules, minutes, zone
from whatsapp_core.policies.window import window_state


class AutoReplyDecision(msgspec.Struct, frozen=True, kw_only=True):
    send: bool
    reason: str  # why not, or "allowed"


ALLOWED = AutoReplyDecision(send=True, reason="allowed")


def _no(reason: str) -> AutoReplyDecision:
    return AutoReplyDecision(send=False, reason=reason)


def in_business_hours(rules: AutoReplyRules, now: datetime) -> bool:
    """Whether ``now`` (timezone-aware) falls in one of the tenant's weekly spans."""
    local = now.astimezone(zone(rules.timezone))
    day = WEEKDAYS[local.weekday()]
    at = local.hour * 60 + local.minute
    return any(
        day in span.days and minutes(span.opens) <= at < minutes(span.closes)
        for span in rules.business_hours
    )


def cooldown_ends(rules: AutoReplyRules, last_auto_reply_at: datetime) -> datetime:
    return last_auto_reply_at.astimezone(UTC) + timedelta(hours=rules.cooldown_hours)


def decide_auto_reply(
    rules: AutoReplyRules,
    *,
    intent: str,
    now: datetime,
    last_inbound_at: datetime | None,
    last_auto_reply_at: datetime | None,
    superseded: bool = False,
) -> AutoReplyDecision:
    """Send the suggested reply now, or not and why. All datetimes timezone-aware."""
    if not rules.enabled:
        return _no("auto-reply is off")
    if not window_state(last_inbound_at, now).is_open:
        return _no("the 24-hour service window is closed")
    if intent in rules.deny_intents:
        return _no(f"{intent} messages are never answered automatically")
    if last_auto_reply_at is not None and now.astimezone(UTC) < cooldown_ends(
        rules, last_auto_reply_at
    ):
        until = cooldown_ends(rules, last_auto_reply_at).isoformat()
        return _no(f"this conversation had an auto-reply in the last {rules.cooldown_hours} h "
                   f"(next allowed from {until})")  # fmt: skip
    if rules.outside_business_hours_only and in_business_hours(rules, now):
        return _no(f"inside business hours ({rules.timezone}): agents answer")
    if superseded:
        return _no("a newer message is in the thread")
    return ALLOWED
