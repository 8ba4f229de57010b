"""AI settings in the core: validation naming the field, partial updates, the monthly
budget's period and which providers a call may use under it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.ai_settings import (
    AiSettings,
    AutoReplyRules,
    HoursSpan,
    check_intents,
    check_settings,
    default_settings,
)
from whatsapp_core.errors import InvalidInput, PolicyViolation
from whatsapp_core.policies.ai_budget import month_start, next_month_start, plan_providers
from whatsapp_core.services.ai_settings import merged

pytestmark = pytest.mark.unit
TENANT = uuid.uuid4()


def field_of(settings: AiSettings) -> str:
    with pytest.raises(InvalidInput) as refused:
        check_settings(settings)
    field: str = refused.value.details["field"]
    return field


def with_(**changes: Any) -> AiSettings:
    return AiSettings(tenant_id=TENANT, **changes)


def rules(**changes: Any) -> AutoReplyRules:
    return AutoReplyRules(**changes)


def test_the_defaults_are_valid() -> None:
    settings = check_settings(default_settings(TENANT))
    assert settings.enabled
    assert settings.provider_order == ("anthropic", "openai", "offline")
    assert "other" in settings.intents
    assert settings.auto_reply.deny_intents == ("complaint", "spam")
    assert settings.monthly_token_budget is None


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (with_(intents=("other",)), "intents"),  # fewer than 2
        (with_(intents=(*(f"i{n}" for n in range(30)), "other")), "intents"),  # 31
        (with_(intents=("greeting", "Refund", "other")), "intents"),
        (with_(intents=("greeting", "refund-request", "other")), "intents"),
        (with_(intents=("greeting", "_x", "other")), "intents"),
        (with_(intents=("greeting", "greeting", "other")), "intents"),
        (with_(intents=("greeting", "question")), "intents"),  # no "other"
        (with_(provider_order=()), "provider_order"),
        (with_(provider_order=("anthropic", "gemini")), "provider_order"),
        (with_(provider_order=("offline", "offline")), "provider_order"),
        (with_(models={"offline": "rules-v2"}), "models.offline"),
        (with_(models={"anthropic": "claude sonnet; drop"}), "models.anthropic"),
        (with_(auto_reply=rules(deny_intents=("complain",))), "auto_reply.deny_intents"),
        (with_(auto_reply=rules(timezone="Mars/Olympus_Mons")), "auto_reply.timezone"),
        (with_(auto_reply=rules(timezone="")), "auto_reply.timezone"),
        (with_(auto_reply=rules(cooldown_hours=0)), "auto_reply.cooldown_hours"),
        (
            with_(auto_reply=rules(business_hours=(HoursSpan(days=("monday",), opens="09:00",
                                                             closes="18:00"),))),
            "auto_reply.business_hours",
        ),
        (
            with_(auto_reply=rules(business_hours=(HoursSpan(days=("mon",), opens="18:00",
                                                             closes="09:00"),))),
            "auto_reply.business_hours",
        ),
        (
            with_(auto_reply=rules(business_hours=(HoursSpan(days=("mon",), opens="9:00",
                                                             closes="24:30"),))),
            "auto_reply.business_hours",
        ),
        (with_(monthly_token_budget=-1), "monthly_token_budget"),
    ],
)  # fmt: skip
def test_each_bad_setting_is_refused_naming_its_field(settings: AiSettings, field: str) -> None:
    assert field_of(settings) == field


snake = st.from_regex(r"[a-z][a-z0-9]{0,8}(_[a-z0-9]{1,6}){0,2}", fullmatch=True)


@given(st.lists(snake, min_size=1, max_size=29, unique=True))
def test_any_snake_case_set_with_other_is_accepted(names: list[str]) -> None:
    intents = [*dict.fromkeys([*names, "other"])]
    if len(intents) < 2:
        intents.insert(0, "greeting")
    assert check_intents(intents) == tuple(intents)


@given(st.text(min_size=1, max_size=12).filter(lambda t: t != t.lower() or " " in t))
def test_no_uppercase_or_space_gets_in(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_intents([name, "other"])


def test_a_partial_change_keeps_the_rest() -> None:
    current = with_(auto_reply=rules(enabled=True, timezone="Europe/Lisbon"), auto_suggest=True)
    after = merged(
        current,
        {"intents": ["greeting", "refund_request", "other"],
         "auto_reply": {"deny_intents": ["refund_request"], "cooldown_hours": 6},
         "monthly_token_budget": 50_000},
    )  # fmt: skip
    assert after.intents == ("greeting", "refund_request", "other")
    assert after.auto_reply == rules(
        enabled=True, timezone="Europe/Lisbon", deny_intents=("refund_request",), cooldown_hours=6
    )
    assert after.auto_suggest  # untouched
    assert after.monthly_token_budget == 50_000
    assert merged(after, {"monthly_token_budget": None}).monthly_token_budget is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"enabled": "yes"}, "enabled"),
        ({"auto_reply": {"cooldown_hours": "six"}}, "auto_reply.cooldown_hours"),
        ({"intents": ["greeting", 7, "other"]}, "intents"),
        ({"tenant_id": str(uuid.uuid4())}, "tenant_id"),  # not a setting
        ({"intents": ["greeting"]}, "intents"),
    ],
)
def test_a_bad_change_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        merged(default_settings(TENANT), changes)
    assert refused.value.details["field"] == field


def test_the_budget_month_is_the_utc_calendar_month() -> None:
    late = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert month_start(late) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_month_start(late) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month_start(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)


NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
ALL = ("anthropic", "openai", "offline")


def test_under_the_budget_every_configured_provider_of_the_order_may_answer() -> None:
    plan = plan_providers(
        ("openai", "anthropic", "offline"), ("anthropic", "offline"), budget=1000,
        used_this_month=999, now=NOW,
    )  # fmt: skip
    assert plan.order == ("anthropic", "offline")  # openai has no key here
    assert not plan.budget_reached


def test_at_the_budget_the_paid_providers_are_left_out_and_offline_answers() -> None:
    plan = plan_providers(ALL, ALL, budget=1000, used_this_month=1000, now=NOW)
    assert plan.order == ("offline",)
    assert plan.budget_reached


def test_at_the_budget_without_offline_the_call_is_refused_saying_when_it_resets() -> None:
    with pytest.raises(PolicyViolation) as refused:
        plan_providers(("anthropic", "openai"), ALL, budget=1000, used_this_month=1200, now=NOW)
    assert refused.value.code == "ai_budget_exceeded"
    assert refused.value.message == (
        "monthly AI token budget of 1,000 reached; it resets on 2026-02-01 (UTC)"
    )


def test_an_order_with_nothing_configured_is_refused() -> None:
    with pytest.raises(PolicyViolation) as refused:
        plan_providers(("anthropic",), ("offline",), budget=None, used_this_month=0, now=NOW)
    assert refused.value.code == "ai_unavailable"
    assert "it has: offline" in refused.value.message


def test_taking_an_intent_out_of_the_set_takes_it_off_the_deny_list() -> None:
    after = merged(default_settings(TENANT), {"intents": ["greeting", "spam", "other"]})
    assert after.auto_reply.deny_intents == ("spam",)  # complaint can no longer come back
    with pytest.raises(InvalidInput) as refused:  # but a deny list sent with it is checked
        merged(
            default_settings(TENANT),
            {"intents": ["greeting", "other"], "auto_reply": {"deny_intents": ["complaint"]}},
        )
    assert refused.value.details["field"] == "auto_reply.deny_intents"
