"""Invitations on memory adapters: once, in time, by the admin, into the right tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.security.passwords import Argon2PasswordHasher
from tests.unit.services.harness import Harness
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.services.accounts import authenticate
from whatsapp_core.services.invitations import (
    accept_invitation,
    invite_user,
    list_invitations,
    revoke_invitation,
)

pytestmark = pytest.mark.unit

HASHER = Argon2PasswordHasher(time_cost=1, memory_cost=8 * 1024)
PASSWORD = "a long enough password"


async def test_an_invitee_joins_with_the_role_and_the_link_works_once(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    invitation, token = await invite_user(h.svc, admin, email=" Bia@Acme.test ", role="manager")
    assert invitation.email == "bia@acme.test"
    assert token not in repr(h.uow.db.state)  # only its hash is kept
    assert [i.id for i in await list_invitations(h.svc, admin)] == [invitation.id]

    user = await accept_invitation(h.svc, HASHER, token, name="Bia", password=PASSWORD)

    assert (user.tenant_id, user.role, user.email) == (h.t.id, Role.MANAGER, "bia@acme.test")
    assert (await authenticate(h.svc, HASHER, "bia@acme.test", PASSWORD)).id == user.id
    assert await list_invitations(h.svc, admin) == []
    with pytest.raises(Unauthenticated):
        await accept_invitation(h.svc, HASHER, token, name="Bia again", password=PASSWORD)
    actions = [a.action for a in h.uow.db.state.audit.values()]
    assert actions == ["user.invite", "user.accept_invitation"]


async def test_expired_revoked_and_unknown_links_get_the_same_refusal(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    _, late = await invite_user(h.svc, admin, email="late@acme.test", role="agent")
    revoked, token = await invite_user(h.svc, admin, email="gone@acme.test", role="agent")
    await revoke_invitation(h.svc, admin, revoked.id)
    h.clock.advance(timedelta(days=7, seconds=1))
    before = h.snapshot()
    for link in (late, token, "wai_made-up"):
        with pytest.raises(Unauthenticated, match="not valid any more"):
            await accept_invitation(h.svc, HASHER, link, name="X", password=PASSWORD)
    assert h.snapshot() == before
    assert [u.email for u in h.uow.db.state.users.values()] == []


async def test_invitation_refusals(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await invite_user(h.svc, h.as_(Role.MANAGER), email="x@acme.test", role="agent")
    with pytest.raises(InvalidInput):
        await invite_user(h.svc, admin, email="x@acme.test", role="owner")
    with pytest.raises(InvalidInput):
        await invite_user(h.svc, admin, email="not an email", role="agent")
    assert h.snapshot() == before
    _, token = await invite_user(h.svc, admin, email="x@acme.test", role="agent")
    before = h.snapshot()
    with pytest.raises(InvalidInput):  # too short a password: the link stays usable
        await accept_invitation(h.svc, HASHER, token, name="X", password="short")
    assert h.snapshot() == before
    await accept_invitation(h.svc, HASHER, token, name="X", password=PASSWORD)
    before = h.snapshot()
    with pytest.raises(Conflict):  # already a user
        await invite_user(h.svc, admin, email="x@acme.test", role="agent")
    assert h.snapshot() == before
    other = await h.add_tenant("globex", phone_number_id="999999999")
    mine, _ = await invite_user(h.svc, admin, email="y@acme.test", role="viewer")
    before = h.snapshot()
    with pytest.raises(NotFound):
        await revoke_invitation(h.svc, h.as_(Role.ADMIN, other), mine.id)
    assert h.snapshot() == before
    assert await list_invitations(h.svc, h.as_(Role.ADMIN, other)) == []
