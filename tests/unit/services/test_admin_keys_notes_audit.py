"""API keys, notes and the audit log on memory adapters: the happy path of each use
case, then every refusal (role, another tenant's id, bad input), which leaves every
store as it was. (Sign-up, users and passwords: ``test_admin_use_cases``.)"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.services.accounts import (
    add_note,
    authenticate_api_key,
    create_api_key,
    list_api_keys,
    list_audit,
    list_notes,
    revoke_api_key,
)
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.unit
NOT_ADMINS = [Role.VIEWER, Role.AGENT, Role.MANAGER]


async def other_tenant(h: Harness) -> Tenant:
    return await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")


async def person(h: Harness, role: Role, tenant: Tenant | None = None) -> Principal:
    return await h.member(role, tenant)


async def conversation_id(h: Harness) -> uuid.UUID:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (conversation,) = h.uow.db.state.conversations.values()
    return conversation.id


def actions(h: Harness) -> list[str]:
    return sorted(e.action for e in h.uow.db.state.audit.values())


# -- API keys -------------------------------------------------------------------------------


async def test_an_admin_lists_and_revokes_keys_and_a_revoked_key_stops_working(
    h: Harness,
) -> None:
    admin = await person(h, Role.ADMIN)
    key, token = await create_api_key(h.svc, admin, "n8n production")
    other, _ = await create_api_key(h.svc, await person(h, Role.ADMIN, await other_tenant(h)), "x")
    assert [k.id for k in await list_api_keys(h.svc, admin)] == [key.id]
    assert (await authenticate_api_key(h.svc, token)).api_key_id == key.id

    h.clock.advance(timedelta(minutes=1))
    revoked = await revoke_api_key(h.svc, admin, key.id)
    assert revoked.revoked_at == h.clock.now()
    assert h.uow.db.state.api_keys[key.id] == revoked
    assert h.uow.db.state.api_keys[other.id].revoked_at is None
    with pytest.raises(Unauthenticated):
        await authenticate_api_key(h.svc, token)
    assert actions(h).count("apikey.revoke") == 1

    h.clock.advance(timedelta(minutes=1))
    again = await revoke_api_key(h.svc, admin, key.id)  # idempotent: keeps the first time
    assert again.revoked_at == revoked.revoked_at


@pytest.mark.parametrize("role", NOT_ADMINS)
async def test_only_an_admin_lists_or_revokes_keys(h: Harness, role: Role) -> None:
    key, _ = await create_api_key(h.svc, await person(h, Role.ADMIN), "n8n")
    principal = await person(h, role)
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await list_api_keys(h.svc, principal)
    with pytest.raises(Forbidden):
        await revoke_api_key(h.svc, principal, key.id)
    with pytest.raises(Forbidden):  # a key cannot revoke keys either
        await revoke_api_key(h.svc, h.as_key(), key.id)
    assert h.snapshot() == before


async def test_another_tenants_key_is_not_found_and_stays_usable(h: Harness) -> None:
    beta_admin = await person(h, Role.ADMIN, await other_tenant(h))
    key, token = await create_api_key(h.svc, beta_admin, "theirs")
    admin = await person(h, Role.ADMIN)
    before = h.snapshot()
    with pytest.raises(NotFound):
        await revoke_api_key(h.svc, admin, key.id)
    with pytest.raises(NotFound):
        await revoke_api_key(h.svc, admin, uuid.uuid4())
    assert await list_api_keys(h.svc, admin) == []
    assert h.snapshot() == before
    assert (await authenticate_api_key(h.svc, token)).tenant_id == beta_admin.tenant_id


@pytest.mark.parametrize(
    ("name", "scopes"), [("  ", None), ("n8n", ["user.manage"]), ("n8n", ["nonsense"])]
)
async def test_a_key_needs_a_name_and_grantable_scopes(
    h: Harness, name: str, scopes: list[str] | None
) -> None:
    admin = await person(h, Role.ADMIN)
    before = h.snapshot()
    with pytest.raises(InvalidInput):
        await create_api_key(h.svc, admin, name, scopes)
    assert h.snapshot() == before


# -- notes ----------------------------------------------------------------------------------


async def test_notes_are_written_by_agents_and_read_by_every_role(h: Harness) -> None:
    cid = await conversation_id(h)
    agent = await person(h, Role.AGENT)
    first = await add_note(h.svc, agent, cid, "  Called her back  ")
    h.clock.advance(timedelta(minutes=1))
    second = await add_note(h.svc, agent, cid, "Refund approved")
    assert (first.body, first.author_id, first.conversation_id) == (
        "Called her back", agent.user_id, cid,
    )  # fmt: skip
    assert "note.created" in h.events.kinds()
    for role in Role:
        listed = await list_notes(h.svc, h.as_(role), cid)
        assert {n.id for n in listed} == {first.id, second.id}
    assert actions(h) == ["note.create", "note.create"]


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001])
async def test_an_empty_or_oversized_note_is_refused(h: Harness, body: str) -> None:
    cid = await conversation_id(h)
    before = h.snapshot()
    with pytest.raises(InvalidInput) as info:
        await add_note(h.svc, h.as_(Role.AGENT), cid, body)
    assert info.value.details["field"] == "body"
    assert h.snapshot() == before


async def test_a_viewer_or_an_api_key_cannot_write_a_note(h: Harness) -> None:
    cid = await conversation_id(h)
    before = h.snapshot()
    for principal in (h.as_(Role.VIEWER), h.as_key()):
        with pytest.raises(Forbidden):
            await add_note(h.svc, principal, cid, "hi")
    with pytest.raises(Forbidden):  # templates-only key: no conversation reading
        await list_notes(h.svc, h.as_key(), cid)
    assert h.snapshot() == before


async def test_another_tenants_conversation_has_no_notes_to_read_or_write(h: Harness) -> None:
    cid = await conversation_id(h)
    await add_note(h.svc, h.as_(Role.AGENT), cid, "private")
    stranger = h.as_(Role.ADMIN, await other_tenant(h))
    before = h.snapshot()
    for conversation in (cid, uuid.uuid4()):
        with pytest.raises(NotFound, match="conversation not found"):
            await list_notes(h.svc, stranger, conversation)
        with pytest.raises(NotFound, match="conversation not found"):
            await add_note(h.svc, stranger, conversation, "sneaky")
    assert h.snapshot() == before


# -- list_audit -----------------------------------------------------------------------------


async def test_the_audit_log_is_newest_first_per_tenant_and_capped(h: Harness) -> None:
    admin = await person(h, Role.ADMIN)
    for i in range(3):
        await create_api_key(h.svc, admin, f"key {i}")
        h.clock.advance(timedelta(seconds=1))
    await create_api_key(h.svc, await person(h, Role.ADMIN, await other_tenant(h)), "theirs")
    entries = await list_audit(h.svc, admin)
    assert [e.after["name"] for e in entries] == ["key 2", "key 1", "key 0"]  # type: ignore[index]
    assert {e.tenant_id for e in entries} == {h.t.id}
    assert len(await list_audit(h.svc, admin, limit=2)) == 2
    assert len(await list_audit(h.svc, admin, limit=0)) == 1  # at least one
    assert len(await list_audit(h.svc, admin, limit=10_000)) == 3  # at most 500


@pytest.mark.parametrize("role", NOT_ADMINS)
async def test_only_an_admin_reads_the_audit_log(h: Harness, role: Role) -> None:
    with pytest.raises(Forbidden):
        await list_audit(h.svc, h.as_(role))
    with pytest.raises(Forbidden):
        await list_audit(h.svc, h.as_key())
