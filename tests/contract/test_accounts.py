"""User, API key and note stores: the same behaviour on memory and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from tests.contract.test_stores import saved_contact_and_conversation, tenant
from whatsapp_core.domain.accounts import ApiKey, Note, User
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.policies.access import Role
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def user(tenant_id: uuid.UUID, email: str, role: Role = Role.AGENT) -> User:
    return User(
        id=uuid.uuid4(), tenant_id=tenant_id, email=email, name=email.split("@")[0], role=role,
        password_hash="$argon2id$fake", created_at=T0,
    )  # fmt: skip


async def test_users_are_found_by_email_across_tenants_but_listed_per_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    ann, bob = user(acme.id, "ann@acme.test", Role.ADMIN), user(beta.id, "bob@beta.test")
    async with uow_factory() as uow:
        await uow.users.add(ann)
        await uow.users.add(bob)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.by_email("bob@beta.test") == bob
        assert await uow.users.list(acme.id) == [ann]
        with pytest.raises(NotFound):
            await uow.users.get(acme.id, bob.id)
        with pytest.raises(Conflict):
            await uow.users.add(user(acme.id, "bob@beta.test"))
    async with uow_factory() as uow:
        await uow.users.update(replace(ann, active=False))
        with pytest.raises(NotFound):
            await uow.users.update(replace(bob, tenant_id=acme.id))
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.users.get(acme.id, ann.id)).active is False


async def test_api_keys_by_prefix_and_revocation(uow_factory: UnitOfWorkFactory) -> None:
    acme = await tenant(uow_factory)
    key = ApiKey(
        id=uuid.uuid4(), tenant_id=acme.id, name="n8n", prefix="a1b2c3", secret_hash="x" * 64,
        scopes=("message.send_text_api", "template.read"), created_at=T0,
    )  # fmt: skip
    async with uow_factory() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.api_keys.by_prefix("a1b2c3") == key
        assert await uow.api_keys.by_prefix("zzz") is None
        await uow.api_keys.update(replace(key, revoked_at=T0 + timedelta(days=1)))
        await uow.commit()
    async with uow_factory() as uow:
        (listed,) = await uow.api_keys.list(acme.id)
        assert listed.revoked_at == T0 + timedelta(days=1)


async def test_notes_belong_to_their_conversation_and_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    _, conversation = await saved_contact_and_conversation(uow_factory, acme)
    notes = [
        Note(
            id=uuid.uuid4(),
            tenant_id=acme.id,
            conversation_id=conversation.id,
            author_id=None,
            body=f"note {i}",
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(2)
    ]
    async with uow_factory() as uow:
        for note in reversed(notes):
            await uow.notes.add(note)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.notes.for_conversation(acme.id, conversation.id) == notes
        assert await uow.notes.for_conversation(beta.id, conversation.id) == []


async def test_refresh_tokens_are_used_once_and_revoked_by_family(
    uow_factory: UnitOfWorkFactory,
) -> None:
    from whatsapp_core.domain.accounts import RefreshToken

    acme = await tenant(uow_factory)
    owner = user(acme.id, "ann@acme.test")
    family = uuid.uuid4()
    tokens = [
        RefreshToken(
            id=uuid.uuid4(),
            tenant_id=acme.id,
            user_id=owner.id,
            family_id=family,
            token_hash=f"hash-{i}",
            created_at=T0,
            expires_at=T0 + timedelta(days=30),
        )
        for i in range(2)
    ]
    async with uow_factory() as uow:
        await uow.users.add(owner)
        for token in tokens:
            await uow.refresh_tokens.add(token)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.mark_used(tokens[0], T0) is True
        assert await uow.refresh_tokens.mark_used(tokens[0], T0) is False
        await uow.refresh_tokens.revoke_family(family, T0)
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.refresh_tokens.by_hash("hash-0")
        second = await uow.refresh_tokens.by_hash("hash-1")
        assert first is not None
        assert second is not None
        assert (first.used_at, first.revoked_at, second.revoked_at) == (T0, T0, T0)
        assert await uow.refresh_tokens.by_hash("nope") is None


async def test_all_of_a_users_sessions_end_together(uow_factory: UnitOfWorkFactory) -> None:
    from whatsapp_core.domain.accounts import RefreshToken

    acme = await tenant(uow_factory)
    ann, bob = user(acme.id, "ann@acme.test"), user(acme.id, "bob@acme.test")

    def token(owner: User, name: str) -> RefreshToken:
        return RefreshToken(
            id=uuid.uuid4(), tenant_id=acme.id, user_id=owner.id, family_id=uuid.uuid4(),
            token_hash=name, created_at=T0, expires_at=T0 + timedelta(days=30),
        )  # fmt: skip

    async with uow_factory() as uow:
        await uow.users.add(ann)
        await uow.users.add(bob)
        for item in (token(ann, "laptop"), token(ann, "phone"), token(bob, "bob")):
            await uow.refresh_tokens.add(item)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.refresh_tokens.revoke_user(ann.id, T0)
        await uow.commit()
    async with uow_factory() as uow:
        found = {h: await uow.refresh_tokens.by_hash(h) for h in ("laptop", "phone", "bob")}
    assert {h: t.revoked_at if t else "missing" for h, t in found.items()} == {
        "laptop": T0, "phone": T0, "bob": None,
    }  # fmt: skip


async def test_invitations_are_single_use_and_tenant_scoped(uow_factory: UnitOfWorkFactory) -> None:
    from whatsapp_core.domain.accounts import Invitation

    t = (await tenant(uow_factory)).id
    other = (await tenant(uow_factory, "beta")).id
    now = datetime(2026, 11, 26, 9, tzinfo=UTC)

    def invitation(tenant_id: uuid.UUID, email: str, token_hash: str, days: int = 7) -> Invitation:
        return Invitation(
            id=uuid.uuid4(), tenant_id=tenant_id, email=email, role=Role.AGENT,
            token_hash=token_hash, invited_by=None, created_at=now,
            expires_at=now + timedelta(days=days),
        )  # fmt: skip

    live = invitation(t, "a@acme.test", "h1")
    expired = invitation(t, "b@acme.test", "h2", days=-1)
    async with uow_factory() as uow:
        for item in (live, expired, invitation(other, "c@beta.test", "h3")):
            await uow.invitations.add(item)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.invitations.by_hash("h1") == live
        assert await uow.invitations.by_hash("nope") is None
        assert [i.email for i in await uow.invitations.pending(t, now)] == ["a@acme.test"]
        assert await uow.invitations.mark_accepted(live, now) is True
        assert await uow.invitations.mark_accepted(live, now) is False  # one use only
        with pytest.raises(NotFound):
            await uow.invitations.revoke(other, expired.id, now)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.invitations.pending(t, now) == []
        found = await uow.invitations.by_hash("h1")
        assert found is not None
        assert found.accepted_at == now


async def test_sign_in_api_keys_refresh_and_invitations_work_end_to_end(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """The account use cases through the real stores: on PostgreSQL the account tables
    are under row-level security, and the lookups before a tenant is known (e-mail, API
    key prefix, refresh token, invitation link) go through their SECURITY DEFINER
    functions; revoking a family or a user's sessions finds the tenant itself."""
    from adapters.memory.basics import FrozenClock, UuidGenerator
    from adapters.memory.security import MemoryPasswordHasher
    from whatsapp_core.domain.model import Principal
    from whatsapp_core.errors import Unauthenticated
    from whatsapp_core.services import accounts, invitations, sessions
    from whatsapp_core.services.context import Services

    svc = Services(uow=uow_factory, clock=FrozenClock(T0), ids=UuidGenerator())
    hasher, password = MemoryPasswordHasher(), "correct horse battery"
    registered = {}
    for slug in ("acme", "beta"):
        registered[slug] = await accounts.register_tenant(
            svc, hasher, slug=slug, name=slug, admin_email=f"admin@{slug}.test",
            admin_name="Admin", admin_password=password,
        )  # fmt: skip
    beta, admin = registered["beta"]
    principal = Principal(tenant_id=beta.id, role=Role.ADMIN, user_id=admin.id)

    assert await accounts.authenticate(svc, hasher, " Admin@Beta.test", password) == admin
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(svc, hasher, "admin@beta.test", "wrong password!")

    first = await sessions.start_session(svc, admin)
    user, second = await sessions.refresh(svc, first)
    assert user == admin
    with pytest.raises(Unauthenticated, match="used elsewhere"):
        await sessions.refresh(svc, first)  # a replay revokes the whole family
    with pytest.raises(Unauthenticated):
        await sessions.refresh(svc, second)
    signed_out = await sessions.start_session(svc, admin)
    await sessions.end_session(svc, signed_out)
    with pytest.raises(Unauthenticated):
        await sessions.refresh(svc, signed_out)

    key, token = await accounts.create_api_key(svc, principal, "n8n")
    assert (await accounts.authenticate_api_key(svc, token)).tenant_id == beta.id
    await accounts.revoke_api_key(svc, principal, key.id)
    with pytest.raises(Unauthenticated):
        await accounts.authenticate_api_key(svc, token)

    _, link = await invitations.invite_user(svc, principal, email="new@beta.test", role="agent")
    joined = await invitations.accept_invitation(svc, hasher, link, name="New", password=password)
    assert (joined.tenant_id, joined.role) == (beta.id, Role.AGENT)
    with pytest.raises(Unauthenticated):
        await invitations.accept_invitation(svc, hasher, link, name="Again", password=password)
    assert await accounts.authenticate(svc, hasher, "new@beta.test", password) == joined
    session = await sessions.start_session(svc, joined)
    await accounts.reset_password(svc, hasher, principal, joined.id, "another long password")
    with pytest.raises(Unauthenticated):
        await sessions.refresh(svc, session)
    assert [u.email for u in await accounts.list_users(svc, principal)] == [
        "admin@beta.test", "new@beta.test",
    ]  # fmt: skip
