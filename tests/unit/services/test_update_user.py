"""An admin changes a teammate's role or name, or deactivates them; the tenant keeps an admin."""

from __future__ import annotations

import uuid

import pytest

from adapters.security.passwords import Argon2PasswordHasher
from tests.unit.services.harness import Harness
from whatsapp_core.domain.accounts import User
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.services import accounts, sessions

pytestmark = pytest.mark.unit
HASHER = Argon2PasswordHasher(time_cost=1, memory_cost=8 * 1024)
PASSWORD = "a long enough password"


async def _user(h: Harness, admin: Principal, email: str, role: str = "agent") -> uuid.UUID:
    user = await accounts.create_user(
        h.svc, HASHER, admin, email=email, name=email.split("@")[0], role=role, password=PASSWORD
    )
    return user.id


async def _users(h: Harness) -> dict[uuid.UUID, tuple[str, bool, str]]:
    async with h.uow() as uow:
        found = await uow.users.list(h.t.id)
    return {u.id: (u.role.value, u.active, u.name) for u in found}


async def test_role_and_name_change_and_are_audited(h: Harness) -> None:
    admin = await h.member(Role.ADMIN)
    ann = await _user(h, admin, "ann@acme.test")

    updated = await accounts.update_user(h.svc, admin, ann, role="manager", name=" Ann Lee ")

    assert (updated.role, updated.name, updated.active) == (Role.MANAGER, "Ann Lee", True)
    assert (await _users(h))[ann] == ("manager", True, "Ann Lee")
    async with h.uow() as uow:
        [entry] = [e for e in await uow.audit.list(h.t.id) if e.action == "user.update"]
    assert entry.before == {"name": "ann", "role": "agent", "active": True}
    assert entry.after == {"name": "Ann Lee", "role": "manager", "active": True}


async def test_deactivating_ends_sessions_and_blocks_sign_in_until_reactivated(
    h: Harness,
) -> None:
    admin = await h.member(Role.ADMIN)
    ann = await _user(h, admin, "ann@acme.test")
    session = await sessions.start_session(h.svc, await _get(h, ann))

    await accounts.update_user(h.svc, admin, ann, active=False)

    with pytest.raises(Unauthenticated):
        await sessions.refresh(h.svc, session)
    with pytest.raises(Unauthenticated):
        await accounts.authenticate(h.svc, HASHER, "ann@acme.test", PASSWORD)
    await accounts.update_user(h.svc, admin, ann, active=True)
    assert (await accounts.authenticate(h.svc, HASHER, "ann@acme.test", PASSWORD)).id == ann


async def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(
    h: Harness,
) -> None:
    admin = await h.member(Role.ADMIN)
    before = await _users(h)
    for change in ({"role": "manager"}, {"active": False}):
        with pytest.raises(Conflict) as refused:
            await accounts.update_user(h.svc, admin, admin.user_id, **change)  # type: ignore[arg-type]
        assert refused.value.code == "last_admin"
    assert await _users(h) == before

    # With a second active admin, the first may step down.
    bob = await _user(h, admin, "bob@acme.test", role="admin")
    await accounts.update_user(h.svc, admin, admin.user_id, role="agent")  # type: ignore[arg-type]
    with pytest.raises(Conflict):  # bob is now the last one
        await accounts.update_user(h.svc, admin, bob, active=False)


async def test_an_inactive_admin_does_not_count(h: Harness) -> None:
    admin = await h.member(Role.ADMIN)
    bob = await _user(h, admin, "bob@acme.test", role="admin")
    await accounts.update_user(h.svc, admin, bob, active=False)
    with pytest.raises(Conflict):
        await accounts.update_user(h.svc, admin, admin.user_id, role="viewer")  # type: ignore[arg-type]


async def test_refusals_change_nothing(h: Harness) -> None:
    admin = await h.member(Role.ADMIN)
    ann = await _user(h, admin, "ann@acme.test")
    other = await h.add_tenant("globex", phone_number_id="106540352242923")
    stranger = await h.member(Role.ADMIN, other)
    before = await _users(h)

    with pytest.raises(Forbidden):
        await accounts.update_user(h.svc, h.as_(Role.MANAGER), ann, role="admin")
    with pytest.raises(NotFound):  # another tenant's admin: as if the user did not exist
        await accounts.update_user(h.svc, stranger, ann, active=False)
    with pytest.raises(NotFound):
        await accounts.update_user(h.svc, admin, uuid.uuid4(), active=False)
    with pytest.raises(InvalidInput):
        await accounts.update_user(h.svc, admin, ann, role="owner")
    with pytest.raises(InvalidInput):
        await accounts.update_user(h.svc, admin, ann, name="   ")

    assert await _users(h) == before
    async with h.uow() as uow:
        assert [e.action for e in await uow.audit.list(h.t.id)] == ["user.create"]


async def test_a_change_to_nothing_writes_no_audit_entry(h: Harness) -> None:
    admin = await h.member(Role.ADMIN)
    ann = await _user(h, admin, "ann@acme.test")
    await accounts.update_user(h.svc, admin, ann, role="agent", active=True)
    async with h.uow() as uow:
        assert [e.action for e in await uow.audit.list(h.t.id)] == ["user.create"]


async def _get(h: Harness, user_id: uuid.UUID) -> User:
    async with h.uow() as uow:
        return await uow.users.get(h.t.id, user_id)
