"""An administrator's password reset signs the teammate out everywhere."""

from __future__ import annotations

import pytest

from adapters.security.passwords import Argon2PasswordHasher
from tests.unit.services.harness import Harness
from whatsapp_core.errors import Forbidden, Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.services import accounts, sessions

pytestmark = pytest.mark.unit
HASHER = Argon2PasswordHasher(time_cost=1, memory_cost=8 * 1024)


async def test_a_reset_ends_every_session_of_that_user_only(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    ann = await accounts.create_user(
        h.svc, HASHER, admin, email="ann@acme.test", name="Ann", role="agent",
        password="an old password",
    )  # fmt: skip
    bob = await accounts.create_user(
        h.svc, HASHER, admin, email="bob@acme.test", name="Bob", role="agent",
        password="bob's password",
    )  # fmt: skip
    laptop, phone = (
        await sessions.start_session(h.svc, ann),
        await sessions.start_session(h.svc, ann),
    )
    bobs = await sessions.start_session(h.svc, bob)
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await accounts.reset_password(h.svc, HASHER, h.as_(Role.MANAGER), ann.id, "x" * 12)
    assert h.snapshot() == before

    await accounts.reset_password(h.svc, HASHER, admin, ann.id, "a brand new password")

    for token in (laptop, phone):
        with pytest.raises(Unauthenticated):
            await sessions.refresh(h.svc, token)
    user, _ = await sessions.refresh(h.svc, bobs)  # another user stays signed in
    assert user.id == bob.id
