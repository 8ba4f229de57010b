"""AI settings and auto-reply log contracts: the same on the memory twin and PostgreSQL
(embedded and the machine's): round trips, replacement, tenant isolation, and the
auto-reply log's conditional write, which two racing transactions cannot both pass."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from whatsapp_core.ai_settings import AiSettings, AutoReplyRules, HoursSpan
from whatsapp_core.domain.model import Contact, Conversation
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def seeded(uow_factory: UnitOfWorkFactory, slug: str) -> tuple[Tenant, Conversation]:
    t = new_tenant(tenant_id=uuid.uuid4(), slug=slug, name=slug)
    contact = Contact(id=uuid.uuid4(), tenant_id=t.id, name=slug, created_at=T0, updated_at=T0)
    conv = Conversation(
        id=uuid.uuid4(), tenant_id=t.id, contact_id=contact.id, last_message_at=T0, created_at=T0
    )
    async with uow_factory() as uow:
        await uow.tenants.add(t)
        await uow.contacts.add(contact)
        await uow.conversations.add(conv)
        await uow.commit()
    return t, conv


def full_settings(t: Tenant) -> AiSettings:
    return AiSettings(
        tenant_id=t.id, enabled=False, provider_order=("openai", "offline"),
        models={"openai": "gpt-5.4-mini", "anthropic": "claude-haiku-4-5"},
        intents=("greeting", "refund_request", "other"), auto_suggest=True,
        auto_reply=AutoReplyRules(
            enabled=True, deny_intents=("refund_request",), outside_business_hours_only=True,
            timezone="Europe/Lisbon", cooldown_hours=6,
            business_hours=(HoursSpan(days=("mon", "tue"), opens="08:30", closes="24:00"),
                            HoursSpan(days=("sat",), opens="10:00", closes="13:00")),
        ),
        monthly_token_budget=2_500_000_000, updated_at=T0,
    )  # fmt: skip


async def test_settings_round_trip_and_are_replaced(uow_factory: UnitOfWorkFactory) -> None:
    t, _ = await seeded(uow_factory, "acme")
    async with uow_factory() as uow:
        assert await uow.ai_settings.get(t.id) is None  # never saved: the defaults apply
    saved = full_settings(t)
    async with uow_factory() as uow:
        await uow.ai_settings.put(saved)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.ai_settings.get(t.id) == saved

    changed = replace(
        saved, enabled=True, models={}, monthly_token_budget=None, updated_at=T0 + HOUR
    )
    async with uow_factory() as uow:
        await uow.ai_settings.put(changed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.ai_settings.get(t.id) == changed


async def test_settings_are_kept_only_on_commit(uow_factory: UnitOfWorkFactory) -> None:
    t, _ = await seeded(uow_factory, "acme")
    async with uow_factory() as uow:
        await uow.ai_settings.put(full_settings(t))  # no commit
    async with uow_factory() as uow:
        assert await uow.ai_settings.get(t.id) is None


async def test_one_tenants_settings_and_log_are_invisible_to_another(
    uow_factory: UnitOfWorkFactory,
) -> None:
    a, conv_a = await seeded(uow_factory, "acme")
    b, _ = await seeded(uow_factory, "globex")
    async with uow_factory() as uow:
        await uow.ai_settings.put(full_settings(a))
        assert await uow.auto_replies.record(a.id, conv_a.id, uuid.uuid4(), T0, not_since=T0)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.ai_settings.get(b.id) is None
        assert await uow.auto_replies.last_sent(b.id, conv_a.id) is None
        assert await uow.auto_replies.last_sent(a.id, conv_a.id) == T0


async def test_the_log_records_only_once_the_cooldown_has_passed(
    uow_factory: UnitOfWorkFactory,
) -> None:
    t, conv = await seeded(uow_factory, "acme")
    cooldown = 6 * HOUR

    async def record(at: datetime) -> bool:
        async with uow_factory() as uow:
            done = await uow.auto_replies.record(
                t.id, conv.id, uuid.uuid4(), at, not_since=at - cooldown
            )
            await uow.commit()
            return done

    async with uow_factory() as uow:
        assert await uow.auto_replies.last_sent(t.id, conv.id) is None
    assert await record(T0)
    assert not await record(T0 + 5 * HOUR)  # inside the cooldown: nothing written
    async with uow_factory() as uow:
        assert await uow.auto_replies.last_sent(t.id, conv.id) == T0
    assert await record(T0 + cooldown)  # exactly when it ends: allowed
    async with uow_factory() as uow:
        assert await uow.auto_replies.last_sent(t.id, conv.id) == T0 + cooldown


async def test_two_racing_transactions_cannot_both_record(uow_factory: UnitOfWorkFactory) -> None:
    t, conv = await seeded(uow_factory, "acme")

    async def race(offset: timedelta) -> bool:
        at = T0 + offset
        async with uow_factory() as uow:
            done = await uow.auto_replies.record(
                t.id, conv.id, uuid.uuid4(), at, not_since=at - 24 * HOUR
            )
            await asyncio.sleep(0.05)  # hold the transaction open while the other tries
            await uow.commit()
            return done

    results = await asyncio.gather(race(timedelta(0)), race(timedelta(seconds=1)))
    assert sorted(results) == [False, True]
