"""Team administration on memory adapters: sign-up (register_tenant), users and
passwords. Each use case: the happy path, then every refusal (role, another tenant's
id, bad input), which leaves every store as it was. (API keys, notes and the audit
log: ``test_admin_keys_notes_audit``.)"""

from __future__ import annotations

import pytest

from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.services.accounts import (
    authenticate,
    change_password,
    list_users,
    register_tenant,
)

pytestmark = pytest.mark.unit
OLD, NEW = "correct horse battery", "staple and more staple"
NOT_ADMINS = [Role.VIEWER, Role.AGENT, Role.MANAGER]


async def other_tenant(h: Harness) -> Tenant:
    return await h.add_tenant("beta", phone_number_id="200000000000001", waba_id="300000000000001")


async def person(h: Harness, role: Role, tenant: Tenant | None = None) -> Principal:
    """A stored user with the password ``OLD``, signed in."""
    return await h.member(role, tenant, password=OLD)


# -- register_tenant ----------------------------------------------------------------------


async def test_register_tenant_stores_the_tenant_and_its_first_admin_in_one_audit() -> None:
    h = Harness()
    tenant, admin = await register_tenant(
        h.svc, h.hasher, slug="acme", name="Acme", admin_email=" Ana@Example.TEST ",
        admin_name=" Ana ", admin_password=OLD, phone_number_id="106540352242922",
    )  # fmt: skip
    state = h.uow.db.state
    assert state.tenants == {tenant.id: tenant}
    assert state.users == {admin.id: admin}
    assert (admin.tenant_id, admin.role, admin.email, admin.name) == (
        tenant.id, Role.ADMIN, "ana@example.test", "Ana",
    )  # fmt: skip
    assert h.hasher.verify(admin.password_hash, OLD)
    (entry,) = state.audit.values()
    assert (entry.action, entry.tenant_id, entry.after) == (
        "tenant.register", tenant.id, {"slug": "acme"},
    )  # fmt: skip
    assert await authenticate(h.svc, h.hasher, "ana@example.test", OLD) == admin


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("slug", {"slug": "Not A Slug"}),
        ("name", {"name": "  "}),
        ("email", {"admin_email": "not-an-email"}),
        ("name", {"admin_name": ""}),
        ("password", {"admin_password": "short"}),
        ("phone_number_id", {"phone_number_id": "+1 555"}),
    ],
)
async def test_register_tenant_refuses_bad_input_naming_the_field(
    field: str, changes: dict[str, str]
) -> None:
    h = Harness()
    before = h.snapshot()
    fields = {"slug": "acme", "name": "Acme", "admin_email": "ana@example.test",
              "admin_name": "Ana", "admin_password": OLD} | changes  # fmt: skip
    with pytest.raises(InvalidInput) as info:
        await register_tenant(h.svc, h.hasher, **fields)  # type: ignore[arg-type]
    assert info.value.details["field"] == field
    assert h.snapshot() == before


@pytest.mark.parametrize("clash", ["slug", "email"])
async def test_register_tenant_is_one_transaction_a_clash_stores_nothing(clash: str) -> None:
    h = Harness()
    await register_tenant(
        h.svc, h.hasher, slug="acme", name="Acme", admin_email="ana@example.test",
        admin_name="Ana", admin_password=OLD,
    )  # fmt: skip
    before = h.snapshot()
    with pytest.raises(Conflict) as info:
        await register_tenant(
            h.svc, h.hasher, slug="acme" if clash == "slug" else "beta", name="Beta",
            admin_email="ana@example.test" if clash == "email" else "bo@example.test",
            admin_name="Bo", admin_password=OLD,
        )  # fmt: skip
    assert info.value.details["field"] == clash
    assert h.snapshot() == before  # with the email taken, the new tenant is not kept either


# -- list_users -----------------------------------------------------------------------------


async def test_an_admin_lists_the_users_of_their_own_tenant_only(h: Harness) -> None:
    admin = await person(h, Role.ADMIN)
    agent = await person(h, Role.AGENT)
    await person(h, Role.AGENT, await other_tenant(h))
    listed = await list_users(h.svc, admin)
    assert {u.id for u in listed} == {admin.user_id, agent.user_id}
    assert [u.email for u in listed] == sorted(u.email for u in listed)


@pytest.mark.parametrize("role", NOT_ADMINS)
async def test_only_an_admin_lists_users(h: Harness, role: Role) -> None:
    with pytest.raises(Forbidden):
        await list_users(h.svc, await person(h, role))
    with pytest.raises(Forbidden):
        await list_users(h.svc, h.as_key())


# -- change_password ------------------------------------------------------------------------


async def test_a_user_changes_their_own_password_audited(h: Harness) -> None:
    agent = await person(h, Role.AGENT)
    await change_password(h.svc, h.hasher, agent, OLD, NEW)
    user = h.uow.db.state.users[agent.user_id]  # type: ignore[index]
    assert h.hasher.verify(user.password_hash, NEW)
    assert not h.hasher.verify(user.password_hash, OLD)
    assert await authenticate(h.svc, h.hasher, user.email, NEW) == user
    (entry,) = h.uow.db.state.audit.values()
    assert (entry.action, entry.entity_id, entry.actor) == (
        "user.change_password", str(agent.user_id), f"user:{agent.user_id}",
    )  # fmt: skip


async def test_a_wrong_current_password_changes_nothing(h: Harness) -> None:
    agent = await person(h, Role.AGENT)
    before = h.snapshot()
    with pytest.raises(Unauthenticated, match="current password is wrong"):
        await change_password(h.svc, h.hasher, agent, "not the password", NEW)
    assert h.snapshot() == before


async def test_a_too_short_new_password_changes_nothing(h: Harness) -> None:
    agent = await person(h, Role.AGENT)
    before = h.snapshot()
    with pytest.raises(InvalidInput) as info:
        await change_password(h.svc, h.hasher, agent, OLD, "short")
    assert info.value.details["field"] == "password"
    assert h.snapshot() == before


async def test_an_api_key_or_an_unknown_user_cannot_change_a_password(h: Harness) -> None:
    before = h.snapshot()
    with pytest.raises(Unauthenticated):
        await change_password(h.svc, h.hasher, h.as_key(), OLD, NEW)
    with pytest.raises(NotFound):  # a principal whose user is not (or no longer) stored
        await change_password(h.svc, h.hasher, h.as_(Role.ADMIN), OLD, NEW)
    stranger = await person(h, Role.ADMIN, await other_tenant(h))
    foreign = Principal(tenant_id=h.t.id, role=Role.ADMIN, user_id=stranger.user_id)
    before = h.snapshot()
    with pytest.raises(NotFound):  # another tenant's user id, as seen from this tenant
        await change_password(h.svc, h.hasher, foreign, OLD, NEW)
    assert h.snapshot() == before
