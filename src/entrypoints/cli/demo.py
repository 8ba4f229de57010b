"""``wa demo``: a tenant full of believable conversations, built through the use cases."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from msgspec.structs import replace

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.webhook import InboundMessage, NumberUpdates, WebhookBatch
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.templates import TemplateComponents, TemplateStatus
from whatsapp_core.services import accounts, templates
from whatsapp_core.services.inbound import ingest_webhook

PASSWORD = "demo-password-123"  # noqa: S105 (printed to the user: demo data only)
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
FIRST = [
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elena",
    "Fábio",
    "Gabi",
    "Hugo",
    "Iris",
    "João",
    "Karin",
    "Luca",
    "Maya",
    "Nico",
    "Olga",
    "Pedro",
    "Quinn",
    "Rita",
    "Sami",
    "Tom",
]
LAST = ["Souza", "Lima", "Rocha", "Costa", "Alves", "Mendes", "Pires", "Gomes", "Dias", "Reis"]
OPENERS = [
    "Hi! Where is my order #{n}?",
    "Do you have the blue one in size M?",
    "My package arrived damaged 😞",
    "Can I change the delivery address for order #{n}?",
    "What are your opening hours on Sunday?",
    "I want to return an item, how does it work?",
    "Is there a discount for buying 3?",
    "Thanks, received it today!",
]


@dataclass
class DemoResult:
    slug: str
    logins: dict[str, str]
    conversations: int
    messages: int


async def build_demo(
    runtime: Runtime, *, slug: str = "demo", conversations: int = 200, seed: int = 7
) -> DemoResult:
    rng = random.Random(seed)  # noqa: S311 (sample data, not security)
    svc = runtime.services
    tenant, admin = await accounts.register_tenant(
        svc, runtime.hasher, slug=slug, name=f"{slug.title()} Store",
        admin_email=f"admin@{slug}.example", admin_name="Alex Admin", admin_password=PASSWORD,
        waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID, display_phone_number="15550001111",
    )  # fmt: skip
    as_admin = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=admin.id)
    logins = {"admin": admin.email}
    for role in (Role.MANAGER, Role.AGENT, Role.VIEWER):
        user = await accounts.create_user(
            svc, runtime.hasher, as_admin, email=f"{role.value}@{slug}.example",
            name=f"{role.value.title()} User", role=role, password=PASSWORD,
        )  # fmt: skip
        logins[role.value] = user.email

    for name, body in (
        ("order_update", "Hi {{1}}, your order {{2}} is on its way."),
        ("cart_reminder", "Hi {{1}}, you left items in your cart. Need help?"),
    ):
        draft = await templates.create_template(
            svc, as_admin, name=name, language="en", category="UTILITY",
            components=TemplateComponents(body=body, footer="Demo Store"),
        )  # fmt: skip
        async with svc.uow() as uow:  # demo data: approved as if Meta had reviewed it
            await uow.templates.update(replace(draft, status=TemplateStatus.APPROVED))
            await uow.commit()

    now = runtime.clock.now()
    messages = 0
    batch: list[InboundMessage] = []
    for i in range(conversations):
        person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        phone = f"55119{i:08d}"
        started = now - timedelta(minutes=rng.randint(1, 60 * 72))
        for turn in range(rng.randint(1, 3)):
            batch.append(
                InboundMessage(
                    wamid=f"wamid.DEMO{slug}{i:06d}{turn}",
                    customer=CustomerIdentity(
                        wa_id=phone, bsuid=f"BR.{900000000 + i}", name=person
                    ),
                    sent_at=started + timedelta(minutes=turn * 3),
                    type="text",
                    text=rng.choice(OPENERS).format(n=rng.randint(1000, 9999)),
                )
            )
        if len(batch) >= 100 or i == conversations - 1:
            report = await ingest_webhook(
                svc,
                WebhookBatch(
                    numbers=[NumberUpdates(phone_number_id=PHONE_NUMBER_ID, messages=batch)]
                ),
            )
            messages += report.messages_stored
            batch = []
    return DemoResult(slug=slug, logins=logins, conversations=conversations, messages=messages)
