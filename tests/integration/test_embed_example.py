"""The embedding example runs as a user would run it, and the public API is complete."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import whatsapp_core
from adapters.library import build_inbox
from adapters.meta import sign
from whatsapp_core import PolicyViolation, Principal, Role, new_tenant
from whatsapp_core.services import outbound

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_the_embed_example_stores_a_signed_webhook_and_replies_through_its_gateway() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed" / "service.py")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "forged signature -> 401 missing or invalid X-Hub-Signature-256",
        "signed delivery  -> 200, stored 1 message",
        "redelivery       -> 200, stored 0 message",
        "agent reply      -> sent via own gateway: [('5511999999999', 'On its way!')]",
    ]


def test_every_public_name_resolves() -> None:
    assert len(set(whatsapp_core.__all__)) == len(whatsapp_core.__all__)
    for name in whatsapp_core.__all__:
        assert getattr(whatsapp_core, name) is not None, name


class OfficeClock:
    """The user's own Clock: any object with ``now()``."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class CountingIds:
    """The user's own IdGenerator."""

    def __init__(self) -> None:
        self.issued = 0

    def new_id(self) -> uuid.UUID:
        self.issued += 1
        return uuid.UUID(int=self.issued)


async def test_build_inbox_runs_on_the_users_own_ports() -> None:
    """The example's gateway, the user's clock and ids: the core uses what it is given
    (the clock decides the 24 h window; the ids name what is stored)."""
    spec = importlib.util.spec_from_file_location(
        "embed_service", ROOT / "examples/embed/service.py"
    )
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    phone_number_id = example.PHONE_NUMBER_ID
    clock, ids, gateway = OfficeClock(datetime.now(UTC)), CountingIds(), example.RecordingGateway()
    inbox = build_inbox(app_secret="s3cret", clock=clock, ids=ids)
    assert inbox.services.clock is clock
    tenant = new_tenant(tenant_id=ids.new_id(), slug="acme", name="Acme",
                        phone_number_id=phone_number_id)  # fmt: skip
    async with inbox.services.uow() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    body = example.meta_delivery("Where is my order?")
    report = await inbox.receive(body, sign("s3cret", body))
    assert report.messages_stored == 1
    async with inbox.services.uow() as uow:
        (conversation,) = await uow.conversations.list(tenant.id)
    assert conversation.id.int <= ids.issued  # one of the user's ids

    agent = Principal(tenant_id=tenant.id, role=Role.AGENT, user_id=ids.new_id())
    reply = await outbound.send_reply(inbox.services, agent, conversation.id, "On its way!")
    assert reply.created_at == clock.at
    assert await outbound.deliver_message(inbox.services, gateway, tenant.id, reply.id) == "sent"
    assert gateway.sent == [("5511999999999", "On its way!")]
    assert (await gateway.phone_number_info(tenant)).phone_number_id == phone_number_id

    clock.at += timedelta(hours=25)  # the user's clock closes the window
    with pytest.raises(PolicyViolation):
        await outbound.send_reply(inbox.services, agent, conversation.id, "Still there?")
