"""``wa demo``: a tenant that looks like a working inbox, built through the use cases.

Customers write in (webhook batches, ingested as the webhook door ingests them); the
team answers most of them and Meta's statuses come back the same way (sent, delivered,
read; now and then a failure); conversations are assigned, labelled, noted, resolved,
and some customers write back. Every action runs at the moment it would have happened
(a clock per action), so the inbox reads as a shop's last three days.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from dataclasses import replace as with_clock
from datetime import datetime, timedelta

from msgspec.structs import replace

from adapters.memory.basics import FrozenClock
from adapters.memory.gateway import MemoryWhatsAppGateway
from entrypoints.bootstrap import Runtime
from entrypoints.cli.demo_data import Plan, plan_story
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.domain.webhook import (
    InboundMessage,
    NumberUpdates,
    StatusUpdate,
    WebhookBatch,
)
from whatsapp_core.errors import Conflict
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateComponents, TemplateStatus
from whatsapp_core.services import accounts, outbound, templates
from whatsapp_core.services import conversations as threads
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound import ingest_webhook

PASSWORD = "demo-password-123"  # noqa: S105 (printed to the user: demo data only)
CHUNK = 50  # conversations per webhook batch (and per step of the progress bar)
PARALLEL = 10  # conversations worked on at once: each use case its own transaction
UNDELIVERABLE = 131026  # Meta: the customer cannot receive messages


@dataclass
class DemoResult:
    slug: str
    phone_number_id: str
    logins: dict[str, str]
    conversations: int
    messages: int
    counts: dict[str, int] = field(default_factory=dict)  # replies, assigned, resolved...


def demo_numbers(slug: str) -> tuple[str, str, str]:
    """The demo tenant's WABA id, phone number id and display number, derived from its
    slug: a second demo (another ``--slug``) in the same data dir gets its own."""
    digest = int(hashlib.sha256(slug.encode()).hexdigest(), 16)
    waba_id = str(100_000_000_000_000 + digest % 900_000_000_000_000)
    phone_number_id = str(100_000_000_000_000 + (digest >> 64) % 900_000_000_000_000)
    return waba_id, phone_number_id, f"1555{(digest >> 128) % 10_000_000:07d}"


class _DemoMeta(MemoryWhatsAppGateway):
    """Meta's side of the team's replies: takes every send, with a wamid the demo knows
    (made from the message id Meta echoes back in the callback data)."""

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        return SendReceipt(wamid=_wamid(message.callback_data or ""))


def _wamid(message_id: str) -> str:
    return f"wamid.DEMO{uuid.UUID(message_id).hex}"


async def build_demo(
    runtime: Runtime,
    *,
    slug: str = "demo",
    conversations: int = 200,
    seed: int = 7,
    on_progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """``on_progress(n)``: ``n`` more conversations are complete."""
    rng = random.Random(seed)  # noqa: S311 (sample data, not security)
    svc = runtime.services
    waba_id, phone_number_id, display = demo_numbers(slug)
    await refuse_taken(svc, slug, phone_number_id)
    tenant, admin = await accounts.register_tenant(
        svc, runtime.hasher, slug=slug, name=f"{slug.title()} Store",
        admin_email=f"admin@{slug}.example", admin_name="Alex Admin", admin_password=PASSWORD,
        waba_id=waba_id, phone_number_id=phone_number_id, display_phone_number=display,
    )  # fmt: skip
    team = {Role.ADMIN: Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=admin.id)}
    logins = {"admin": admin.email}
    for role in (Role.MANAGER, Role.AGENT, Role.VIEWER):
        user = await accounts.create_user(
            svc, runtime.hasher, team[Role.ADMIN], email=f"{role.value}@{slug}.example",
            name=f"{role.value.title()} User", role=role, password=PASSWORD,
        )  # fmt: skip
        logins[role.value] = user.email
        team[role] = Principal(tenant_id=tenant.id, role=role, user_id=user.id)
    await _templates(svc, team[Role.ADMIN])

    now = runtime.clock.now()
    plans = [plan_story(rng, i, now) for i in range(conversations)]
    counts = dict.fromkeys(("replies", "assigned", "labelled", "notes", "resolved"), 0)
    messages = 0
    gateway = _DemoMeta()
    limit = asyncio.Semaphore(PARALLEL)

    async def each(
        chunk: list[Plan], act: Callable[[Plan], Awaitable[None]]
    ) -> None:  # fmt: skip
        async def one(plan: Plan) -> None:
            async with limit:
                await act(plan)

        await asyncio.gather(*(one(p) for p in chunk))

    async def answer(plan: Plan) -> None:
        """Picked up, labelled, answered (and handed to Meta), perhaps noted."""
        assert plan.conversation_id is not None
        who = team[plan.replier]
        if plan.assign is not None:
            at = plan.reply_at or plan.turns[-1][0] + timedelta(minutes=5)
            by = who if plan.reply_at is not None else team[Role.MANAGER]
            assignee = team[plan.assign].user_id
            await threads.assign(_at(svc, at), by, plan.conversation_id, assignee)
        if plan.reply_at is None:
            return
        at_reply = _at(svc, plan.reply_at)
        if plan.label and plan.topic.label:
            await threads.add_label(at_reply, who, plan.conversation_id, plan.topic.label)
        reply = await outbound.send_reply(at_reply, who, plan.conversation_id, plan.topic.reply)
        await outbound.deliver_message(at_reply, gateway, tenant.id, reply.id)
        plan.wamid = _wamid(str(reply.id))
        if plan.note and plan.topic.note:
            later = _at(svc, plan.reply_at + timedelta(minutes=1))
            await accounts.add_note(later, who, plan.conversation_id, plan.topic.note)

    async def close(plan: Plan) -> None:
        if plan.resolve_at is not None and plan.conversation_id is not None:
            await threads.resolve(
                _at(svc, plan.resolve_at), team[plan.replier], plan.conversation_id
            )

    for start in range(0, conversations, CHUNK):
        chunk = plans[start : start + CHUNK]
        report = await ingest_webhook(svc, _customers_write(phone_number_id, slug, chunk))
        messages += report.messages_stored
        await _find_conversations(svc, tenant.id, chunk)
        await each(chunk, answer)
        report = await ingest_webhook(svc, _meta_reports(phone_number_id, slug, chunk))
        messages += report.messages_stored
        await each(chunk, close)
        for plan in chunk:
            counts["replies"] += plan.reply_at is not None
            counts["assigned"] += plan.assign is not None
            counts["labelled"] += bool(plan.label and plan.topic.label and plan.reply_at)
            counts["notes"] += bool(plan.note and plan.topic.note and plan.reply_at)
            counts["resolved"] += plan.resolve_at is not None
        if on_progress is not None:
            on_progress(len(chunk))
    messages += counts["replies"]
    return DemoResult(
        slug=slug, phone_number_id=phone_number_id, logins=logins,
        conversations=conversations, messages=messages, counts=counts,
    )  # fmt: skip


def _at(svc: Services, moment: datetime) -> Services:
    """The use cases, run as if it were ``moment``."""
    return with_clock(svc, clock=FrozenClock(moment))


async def refuse_taken(svc: Services, slug: str, phone_number_id: str) -> None:
    """``Conflict`` when this data dir already has the demo tenant ``slug`` (or its
    phone number)."""
    async with svc.uow() as uow:
        tenants = await uow.tenants.list()
    if any(t.slug == slug for t in tenants):
        raise Conflict(
            f"a tenant {slug!r} already exists here: sign in with its users, or run "
            f"`wa demo --slug {slug}2` for another demo tenant",
            field="slug",
        )
    if any(t.phone_number_id == phone_number_id for t in tenants):
        raise Conflict(
            f"the demo phone number id {phone_number_id} is taken: pick another --slug",
            field="slug",
        )


async def _templates(svc: Services, admin: Principal) -> None:
    for name, body in (
        ("order_update", "Hi {{1}}, your order {{2}} is on its way."),
        ("cart_reminder", "Hi {{1}}, you left items in your cart. Need help?"),
    ):
        draft = await templates.create_template(
            svc, admin, name=name, language="en", category="UTILITY",
            components=TemplateComponents(body=body, footer="Demo Store"),
        )  # fmt: skip
        async with svc.uow() as uow:  # demo data: approved as if Meta had reviewed it
            await uow.templates.update(replace(draft, status=TemplateStatus.APPROVED))
            await uow.commit()


def _customer(plan: Plan, slug: str, n: int, at: datetime, text: str) -> InboundMessage:
    return InboundMessage(
        wamid=f"wamid.DEMO{slug}{plan.index:06d}{n}",
        customer=CustomerIdentity(
            wa_id=plan.phone, bsuid=f"BR.{900000000 + plan.index}", name=plan.name
        ),
        sent_at=at, type="text", text=text,
    )  # fmt: skip


def _customers_write(phone_number_id: str, slug: str, chunk: list[Plan]) -> WebhookBatch:
    inbound = [
        _customer(plan, slug, n, at, text)
        for plan in chunk
        for n, (at, text) in enumerate(plan.turns)
    ]
    return WebhookBatch(numbers=[NumberUpdates(phone_number_id=phone_number_id, messages=inbound)])


def _meta_reports(phone_number_id: str, slug: str, chunk: list[Plan]) -> WebhookBatch:
    """Meta's statuses for the replies, and the customers who wrote back."""
    statuses = [
        _status(plan.wamid, plan.phone, status, at)
        for plan in chunk
        if plan.wamid is not None
        for status, at in plan.statuses
    ]
    back = [
        _customer(plan, slug, 9, *plan.writes_back)
        for plan in chunk
        if plan.writes_back is not None and plan.wamid is not None
    ]
    number = NumberUpdates(phone_number_id=phone_number_id, messages=back, statuses=statuses)
    return WebhookBatch(numbers=[number])


def _status(wamid: str, phone: str, status: str, at: datetime) -> StatusUpdate:
    if status != "failed":
        return StatusUpdate(wamid=wamid, status=status, at=at, recipient_wa_id=phone)
    return StatusUpdate(
        wamid=wamid, status=status, at=at, recipient_wa_id=phone, error_code=UNDELIVERABLE,
        error_text="Receiver is incapable of receiving this message",
    )  # fmt: skip


async def _find_conversations(svc: Services, tenant_id: uuid.UUID, chunk: list[Plan]) -> None:
    async with svc.uow() as uow:
        contacts = await uow.contacts.find_many(
            tenant_id, bsuids=[], wa_ids=[p.phone for p in chunk]
        )
        found = await uow.conversations.for_contacts(tenant_id, [c.id for c in contacts])
    by_phone = {c.wa_id: found[c.id].id for c in contacts if c.id in found}
    for plan in chunk:
        plan.conversation_id = by_phone.get(plan.phone)
