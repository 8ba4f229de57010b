"""The stories of ``wa demo``: customers' names, what they ask, what the team answers,
and for each customer, decided from the seed, what happens to their conversation."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from whatsapp_core.policies.access import Role


@dataclass(frozen=True)
class Topic:
    opener: str  # ``{n}``: an order number
    reply: str
    label: str | None = None
    note: str | None = None  # what an agent jots down for the team


FIRST = (
    "Ana", "Bruno", "Carla", "Diego", "Elena", "Fábio", "Gabi", "Hugo", "Iris", "João",
    "Karin", "Luca", "Maya", "Nico", "Olga", "Pedro", "Quinn", "Rita", "Sami", "Tom",
)  # fmt: skip
LAST = ("Souza", "Lima", "Rocha", "Costa", "Alves", "Mendes", "Pires", "Gomes", "Dias", "Reis")

TOPICS = (
    Topic(
        "Hi! Where is my order #{n}?",
        "Hi! Your order left our warehouse this morning; tracking follows by e-mail.",
        "orders",
        "Carrier delayed in the north region; check again tomorrow.",
    ),
    Topic(
        "Do you have the blue one in size M?",
        "We do! Shall I reserve one for you until tomorrow?",
        "sales",
    ),
    Topic(
        "My package arrived damaged 😞",
        "So sorry! Could you send a photo of the box? We'll ship a new one right away.",
        "returns",
        "Replacement approved by the manager; waiting for the customer's photo.",
    ),
    Topic(
        "Can I change the delivery address for order #{n}?",
        "Yes, it hasn't shipped yet. Please send the new address here.",
        "shipping",
    ),
    Topic(
        "What are your opening hours on Sunday?",
        "On Sundays we open 10:00-16:00. See you!",
        "info",
    ),
    Topic(
        "I want to return an item, how does it work?",
        "Returns are free within 30 days: I'll send you the label.",
        "returns",
        "Second return this month; offer store credit next time.",
    ),
    Topic(
        "Is there a discount for buying 3?",
        "Yes: 10% off from 3 items with the code TRIO10.",
        "sales",
    ),
    Topic("Thanks, received it today!", "Great to hear, enjoy it! 😊"),
)
NUDGES = ("Hello?", "Any news?", "Please let me know 🙏", "It's a bit urgent", "Thanks!")
THANKS = ("Perfect, thank you!", "Great, thanks!", "👍", "Awesome, that was quick!")


@dataclass
class Plan:
    """One customer's story, decided up front from the seed."""

    index: int
    phone: str
    name: str
    topic: Topic
    turns: list[tuple[datetime, str]]
    reply_at: datetime | None = None
    replier: Role = Role.AGENT
    statuses: list[tuple[str, datetime]] = field(default_factory=list)
    writes_back: tuple[datetime, str] | None = None
    assign: Role | None = None
    label: bool = False
    note: bool = False
    resolve_at: datetime | None = None
    conversation_id: uuid.UUID | None = None
    wamid: str | None = None


def plan_story(rng: random.Random, i: int, now: datetime) -> Plan:
    """Customer ``i``'s story: what they ask, when, and what the team does about it."""
    topic = rng.choice(TOPICS)
    started = now - timedelta(minutes=rng.randint(30, 60 * 72))
    turns = [(started, topic.opener.format(n=rng.randint(1000, 9999)))]
    for turn in range(1, rng.choice((1, 1, 1, 2, 3))):
        turns.append((started + timedelta(minutes=3 * turn), rng.choice(NUDGES)))
    plan = Plan(
        index=i, phone=f"55119{i:08d}", name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        topic=topic, turns=turns, label=rng.random() < 0.5, note=i % 20 == 3,
    )  # fmt: skip
    reply_at = turns[-1][0] + timedelta(minutes=rng.randint(2, 25))
    if rng.random() > 0.55 or reply_at > now:  # still waiting for the team
        if rng.random() < 0.1:
            plan.assign = Role.AGENT
        return plan
    plan.reply_at = reply_at
    plan.replier = Role.AGENT if rng.random() < 0.7 else Role.MANAGER
    plan.assign = plan.replier if rng.random() < 0.6 else None
    if rng.random() < 0.03:
        plan.statuses = [("failed", reply_at + timedelta(seconds=2))]
        return plan
    plan.statuses = [("sent", reply_at + timedelta(seconds=1))]
    if rng.random() < 0.95:
        plan.statuses.append(("delivered", reply_at + timedelta(seconds=4)))
        read_at = reply_at + timedelta(minutes=rng.randint(1, 90))
        if rng.random() < 0.75 and read_at < now:
            plan.statuses.append(("read", read_at))
            back_at = read_at + timedelta(minutes=rng.randint(1, 10))
            if rng.random() < 0.3 and back_at < now:
                plan.writes_back = (back_at, rng.choice(THANKS))
    if plan.writes_back is None and rng.random() < 0.5:
        plan.resolve_at = min(now, plan.statuses[-1][1] + timedelta(minutes=rng.randint(1, 30)))
    return plan
