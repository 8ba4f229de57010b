"""Tenant scoping, as a property over every use case that takes the id of something a
tenant owns: acting in tenant A with an id that belongs to tenant B answers exactly as
an id that exists nowhere (same error type, code, message and details: no existence
leak), and changes nothing in either tenant (nor in what was sent or published).

Both tenants are furnished alike (a conversation with an inbound message and a failed
reply, its contact, an approved template, a note, an API key, a teammate, an
invitation, a webhook subscription with a logged delivery, an export job, a knowledge
snippet). Each use case is run as every kind of principal of A (each role, and an API
key with every scope) with random ids; the strongest principal must reach the lookup
(``expected``), so the comparison is never only between two identical ``Forbidden``s.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from tests.unit.services.harness import Harness, Snapshot
from whatsapp_core import services
from whatsapp_core.automation import DeliveryState, WebhookDelivery
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DomainError, NotFound, PolicyViolation
from whatsapp_core.exports import ExportFormat, ExportKind
from whatsapp_core.policies.access import API_KEY_ACTIONS, Role
from whatsapp_core.policies.interactive import InteractiveContent, InteractiveKind, ReplyButton
from whatsapp_core.policies.templates import TemplateComponents, TemplateStatus
from whatsapp_core.services import (
    accounts,
    ai,
    automation,
    contacts,
    conversations,
    exports,
    invitations,
    jobs,
    media,
    outbound,
    templates,
)
from whatsapp_core.services.contacts import ContactFields
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound_interactive import send_interactive
from whatsapp_core.services.outbound_media import send_media

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Owned:
    """One tenant's things, by id (or, for the customer, by identifier)."""

    conversation: uuid.UUID
    contact: uuid.UUID
    inbound: uuid.UUID  # a customer's message
    failed: uuid.UUID  # an agent's reply Meta refused
    template: uuid.UUID
    note: uuid.UUID
    api_key: uuid.UUID
    user: uuid.UUID
    invitation: uuid.UUID
    subscription: uuid.UUID
    delivery: uuid.UUID
    export: uuid.UUID  # also a job of the job monitor
    snippet: uuid.UUID
    customer: CustomerIdentity

    @classmethod
    def nowhere(cls, seed: uuid.UUID) -> Owned:
        """Ids (and a customer) that exist in no tenant."""
        ids = {f.name: uuid.uuid5(seed, f.name) for f in fields(cls) if f.name != "customer"}
        digits = str(seed.int)[:12].rjust(12, "7")
        who = CustomerIdentity(wa_id=f"49{digits}", bsuid=f"DE.{seed.int % 10**19:019d}")
        return cls(**ids, customer=who)


@dataclass
class World:
    h: Harness
    a: Tenant
    b: Tenant
    mine: Owned  # A's
    theirs: Owned  # B's
    pristine: Snapshot  # as built; every call below must leave it so


async def furnish(h: Harness, tenant: Tenant, wa_id: str, bsuid: str) -> Owned:
    admin = await h.member(Role.ADMIN, tenant)
    assert tenant.phone_number_id is not None
    batch = h.batch(
        h.text("hello", wa_id=wa_id, bsuid=bsuid), phone_number_id=tenant.phone_number_id
    )
    await ingest_webhook(h.svc, batch)
    state = h.uow.db.state
    (conversation,) = [c for c in state.conversations.values() if c.tenant_id == tenant.id]
    (inbound,) = [m for m in state.messages.values() if m.tenant_id == tenant.id]
    failed = await outbound.send_reply(h.svc, admin, conversation.id, "on its way")
    h.gateway.fail_next(131047)
    assert await outbound.deliver_message(h.svc, h.gateway, tenant.id, failed.id) == "failed"

    template = await templates.create_template(
        h.svc, admin, name="order_update", language="en", category="UTILITY",
        components=TemplateComponents(body="Hi {{1}}, your order shipped."),
    )  # fmt: skip
    async with h.uow() as uow:
        await uow.templates.update(replace(template, status=TemplateStatus.APPROVED))
        await uow.commit()
    note = await accounts.add_note(h.svc, admin, conversation.id, "VIP")
    key, _ = await accounts.create_api_key(h.svc, admin, "n8n")
    teammate = await h.member(Role.AGENT, tenant)
    invitation, _ = await invitations.invite_user(
        h.svc, admin, email=f"new@{tenant.slug}.example", role="agent"
    )
    subscription, _ = await automation.create_subscription(
        h.svc, admin, url=f"https://hooks.{tenant.slug}.example/in", events=["message.received"]
    )
    delivery = WebhookDelivery(
        id=uuid.uuid4(), tenant_id=tenant.id, subscription_id=subscription.id,
        event_id=uuid.uuid4(), event="message.received", attempt=1,
        state=DeliveryState.DELIVERED, status_code=200, body="{}", at=h.clock.now(),
    )  # fmt: skip
    async with h.uow() as uow:
        await uow.webhook_deliveries.add(delivery)
        await uow.commit()
    export = await exports.request_export(h.svc, admin, ExportKind.CONTACTS, ExportFormat.CSV)
    snippet = await ai.add_snippet(h.svc, h.ai.embedder, admin, "Returns", "30 days.")
    assert teammate.user_id is not None
    return Owned(
        conversation=conversation.id, contact=conversation.contact_id, inbound=inbound.id,
        failed=failed.id, template=template.id, note=note.id, api_key=key.id,
        user=teammate.user_id, invitation=invitation.id, subscription=subscription.id,
        delivery=delivery.id, export=export, snippet=snippet.id,
        customer=CustomerIdentity(wa_id=wa_id, bsuid=bsuid),
    )  # fmt: skip


async def build_world() -> World:
    h = Harness()
    a = await h.add_tenant("alpha", phone_number_id="100000000000001", waba_id="100000000000002")
    b = await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="200000000000002")
    mine = await furnish(h, a, "5511900000001", "BR.1000000000000000001")
    theirs = await furnish(h, b, "5511900000002", "BR.2000000000000000002")
    h.clock.advance(timedelta(minutes=1))  # inside both customers' 24 h windows
    return World(h=h, a=a, b=b, mine=mine, theirs=theirs, pristine=h.snapshot())


_WORLDS: dict[str, World] = {}


async def world_for(name: str) -> World:
    """One world per use case, shared by its examples: nothing may change it (each
    call asserts so), and it holds no lock or task bound to an event loop."""
    if name not in _WORLDS:
        _WORLDS[name] = await build_world()
    return _WORLDS[name]


# -- the use cases, each a call made as ``p`` (of A) about ``ids`` (B's, or nowhere's) --

Call = Callable[[World, Principal, Owned], Awaitable[object]]
BUTTONS = InteractiveContent(
    kind=InteractiveKind.BUTTON, body="Keep it?", buttons=(ReplyButton("y", "Yes"),)
)
NEW_BODY = TemplateComponents(body="Hello {{1}}")


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    expected: type[DomainError] | None = NotFound  # as the strongest principal (None: ok)
    by_key: bool = False  # the strongest principal is an API key, not an admin


def _case(name: str, call: Call, **kw: Any) -> Case:
    return Case(name, call, **kw)


CASES = [
    # conversations and messages
    _case("get_thread", lambda w, p, x: conversations.get_thread(w.h.svc, p, x.conversation)),
    _case("assign", lambda w, p, x: conversations.assign(w.h.svc, p, x.conversation, None)),
    _case("assign.assignee", lambda w, p, x: conversations.assign(w.h.svc, p, w.mine.conversation, x.user)),  # noqa: E501
    _case("resolve", lambda w, p, x: conversations.resolve(w.h.svc, p, x.conversation)),
    _case("reopen", lambda w, p, x: conversations.reopen(w.h.svc, p, x.conversation)),
    _case("mark_read", lambda w, p, x: conversations.mark_read(w.h.svc, p, x.conversation)),
    _case("add_label", lambda w, p, x: conversations.add_label(w.h.svc, p, x.conversation, "vip")),
    _case("remove_label", lambda w, p, x: conversations.remove_label(w.h.svc, p, x.conversation, "vip")),  # noqa: E501
    _case("list_conversations.assignee", lambda w, p, x: conversations.list_conversations(w.h.svc, p, assignee_id=x.user), expected=None),  # noqa: E501
    _case("add_note", lambda w, p, x: accounts.add_note(w.h.svc, p, x.conversation, "hi")),
    _case("list_notes", lambda w, p, x: accounts.list_notes(w.h.svc, p, x.conversation)),
    _case("send_reply", lambda w, p, x: outbound.send_reply(w.h.svc, p, x.conversation, "hi")),
    _case("send_text", lambda w, p, x: outbound.send_text(w.h.svc, p, "hi", conversation_id=x.conversation), by_key=True),  # noqa: E501
    _case("send_text.to", lambda w, p, x: outbound.send_text(w.h.svc, p, "hi", to=x.customer), expected=PolicyViolation, by_key=True),  # noqa: E501
    _case("send_template", lambda w, p, x: outbound.send_template(w.h.svc, p, name="order_update", language="en", body_params=["Ana"], conversation_id=x.conversation)),  # noqa: E501
    _case("send_interactive", lambda w, p, x: send_interactive(w.h.svc, p, x.conversation, BUTTONS)),  # noqa: E501
    _case("send_media", lambda w, p, x: send_media(w.h.svc, w.h.blobs, p, x.conversation, mime="image/jpeg", data=b"\xff\xd8\xff\xe0 jpeg")),  # noqa: E501
    _case("retry_message", lambda w, p, x: outbound.retry_message(w.h.svc, p, x.conversation, x.failed)),  # noqa: E501
    _case("retry_message.message", lambda w, p, x: outbound.retry_message(w.h.svc, p, w.mine.conversation, x.failed)),  # noqa: E501
    _case("message_media", lambda w, p, x: media.message_media(w.h.svc, w.h.blobs, p, x.inbound)),
    _case("suggest_reply", lambda w, p, x: ai.suggest_reply(w.h.svc, w.h.ai.router, p, x.conversation)),  # noqa: E501
    _case("summarize", lambda w, p, x: ai.summarize(w.h.svc, w.h.ai.router, p, x.conversation)),
    # contacts
    _case("update_contact", lambda w, p, x: contacts.update_contact(w.h.svc, p, x.contact, ContactFields(name="X"))),  # noqa: E501
    _case("delete_contact", lambda w, p, x: contacts.delete_contact(w.h.svc, p, x.contact)),
    _case("merge_contacts.absorb", lambda w, p, x: contacts.merge_contacts(w.h.svc, p, w.mine.contact, x.contact)),  # noqa: E501
    _case("merge_contacts.keep", lambda w, p, x: contacts.merge_contacts(w.h.svc, p, x.contact, w.mine.contact)),  # noqa: E501
    # templates
    _case("edit_template", lambda w, p, x: templates.edit_template(w.h.svc, p, x.template, components=NEW_BODY)),  # noqa: E501
    _case("submit_template", lambda w, p, x: templates.submit_template(w.h.svc, w.h.gateway, p, x.template)),  # noqa: E501
    _case("delete_template", lambda w, p, x: templates.delete_template(w.h.svc, w.h.gateway, p, x.template)),  # noqa: E501
    # exports and jobs
    _case("request_export.transcript", lambda w, p, x: exports.request_export(w.h.svc, p, ExportKind.TRANSCRIPT, ExportFormat.CSV, conversation_id=x.conversation)),  # noqa: E501
    _case("export_status", lambda w, p, x: exports.export_status(w.h.svc, p, x.export)),
    _case("download_export", lambda w, p, x: exports.download_export(w.h.svc, w.h.blobs, p, x.export)),  # noqa: E501
    _case("get_job", lambda w, p, x: jobs.get_job(w.h.svc, p, x.export)),
    _case("retry_job", lambda w, p, x: jobs.retry_job(w.h.svc, p, x.export)),
    _case("discard_job", lambda w, p, x: jobs.discard_job(w.h.svc, p, x.export)),
    # knowledge base
    _case("get_snippet", lambda w, p, x: ai.get_snippet(w.h.svc, p, x.snippet)),
    _case("update_snippet", lambda w, p, x: ai.update_snippet(w.h.svc, w.h.ai.embedder, p, x.snippet, "T", "B")),  # noqa: E501
    _case("delete_snippet", lambda w, p, x: ai.delete_snippet(w.h.svc, p, x.snippet)),
    # people and keys
    _case("revoke_api_key", lambda w, p, x: accounts.revoke_api_key(w.h.svc, p, x.api_key)),
    _case("reset_password", lambda w, p, x: accounts.reset_password(w.h.svc, w.h.hasher, p, x.user, "a long new password")),  # noqa: E501
    _case("update_user", lambda w, p, x: accounts.update_user(w.h.svc, p, x.user, role="viewer")),
    _case("revoke_invitation", lambda w, p, x: invitations.revoke_invitation(w.h.svc, p, x.invitation)),  # noqa: E501
    # automation
    _case("update_subscription", lambda w, p, x: automation.update_subscription(w.h.svc, p, x.subscription, active=False)),  # noqa: E501
    _case("delete_subscription", lambda w, p, x: automation.delete_subscription(w.h.svc, p, x.subscription)),  # noqa: E501
    _case("list_deliveries", lambda w, p, x: automation.list_deliveries(w.h.svc, p, x.subscription)),  # noqa: E501
    _case("redeliver", lambda w, p, x: automation.redeliver(w.h.svc, p, x.delivery)),
    # jobs run for a tenant (no principal: the job's tenant id is the scope)
    _case("job:deliver_message", lambda w, p, x: outbound.deliver_message(w.h.svc, w.h.gateway, w.a.id, x.failed)),  # noqa: E501
    _case("job:classify_message", lambda w, p, x: ai.classify_message(w.h.svc, w.h.ai.router, w.a.id, x.inbound)),  # noqa: E501
]  # fmt: skip
BY_NAME = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES)


def principals(w: World) -> list[Principal]:
    """Every kind of principal of tenant A: each role (a stored user), and a full key."""
    users = [Principal(tenant_id=w.a.id, role=r, user_id=w.mine.user) for r in Role]
    key = Principal(
        tenant_id=w.a.id, role=Role.AGENT, api_key_id=w.mine.api_key,
        scopes=tuple(sorted(a.value for a in API_KEY_ACTIONS)),
    )  # fmt: skip
    return [*users, key]


def strongest(w: World, case: Case) -> Principal:
    every = principals(w)
    return every[-1] if case.by_key else next(p for p in every if p.role is Role.ADMIN)


async def outcome(w: World, case: Case, p: Principal, ids: Owned) -> tuple[object, ...]:
    """What the call answered, comparable across ids; asserts it changed nothing."""
    try:
        result = await case.call(w, p, ids)
    except DomainError as exc:
        answer: tuple[object, ...] = (type(exc), exc.code, exc.message, dict(exc.details))
    else:
        answer = ("ok", result)
    assert w.h.snapshot() == w.pristine, f"{case.name} changed something"
    return answer


@pytest.mark.parametrize("name", sorted(BY_NAME))
async def test_the_strongest_principal_reaches_the_lookup_and_finds_nothing(name: str) -> None:
    case = BY_NAME[name]
    w = await build_world()
    p = strongest(w, case)
    foreign = await outcome(w, case, p, w.theirs)
    if case.expected is None:
        assert foreign == ("ok", [])
    else:
        assert foreign[0] is case.expected, foreign
    assert foreign == await outcome(w, case, p, Owned.nowhere(uuid.uuid4()))


@pytest.mark.parametrize("name", sorted(BY_NAME))
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.uuids())
async def test_another_tenants_id_answers_like_an_id_that_exists_nowhere(
    name: str, seed: uuid.UUID
) -> None:
    case = BY_NAME[name]
    w = await world_for(name)
    nowhere = Owned.nowhere(seed)
    for p in principals(w):
        foreign = await outcome(w, case, p, w.theirs)
        assert foreign == await outcome(w, case, p, nowhere), (p.role, p.api_key_id)


async def test_the_world_is_what_the_cases_expect() -> None:
    """Guards the fixtures: B's things are B's, and A's twins of them exist (so a miss
    above is the scope at work, not an empty store)."""
    w = await build_world()
    state = w.h.uow.db.state
    for owned, tenant in ((w.mine, w.a), (w.theirs, w.b)):
        assert state.conversations[(tenant.id, owned.conversation)].contact_id == owned.contact
        assert state.messages[(tenant.id, owned.failed)].status.value == "failed"
        assert state.templates[(tenant.id, owned.template)].status is TemplateStatus.APPROVED
        assert state.users[owned.user].tenant_id == tenant.id
        assert state.api_keys[owned.api_key].tenant_id == tenant.id
        assert state.invitations[owned.invitation].tenant_id == tenant.id
        assert state.outbox[owned.export].tenant_id == tenant.id
    mine = strongest(w, BY_NAME["get_thread"])
    view, _ = await conversations.get_thread(w.h.svc, mine, w.mine.conversation)
    assert view.conversation.id == w.mine.conversation


def test_every_use_case_taking_an_id_from_a_principal_is_in_the_table() -> None:
    """A new use case with a ``*_id`` parameter and a principal must join ``CASES``."""
    found = set()
    for info in pkgutil.iter_modules(services.__path__):
        module = importlib.import_module(f"{services.__name__}.{info.name}")
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.iscoroutinefunction(fn):
                continue
            if fn.__module__ != module.__name__:
                continue
            params = inspect.signature(fn).parameters
            ids = [p for p in params if p.endswith("_id") and p != "correlation_id"]
            if "principal" in params and ids:
                found.add(name)
    covered = {case.name.split(".")[0] for case in CASES}
    assert "get_thread" in found
    assert found - covered == set()
