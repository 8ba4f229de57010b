"""An admin's tenant settings: Meta credentials sealed at rest, never shown again."""

from __future__ import annotations

import base64

import pytest
from msgspec.structs import replace

from adapters.crypto import AesGcmSecretBox
from tests.unit.services.harness import Harness
from whatsapp_core.errors import Conflict, Forbidden, InvalidInput
from whatsapp_core.policies.access import Role
from whatsapp_core.services.tenants import (
    ACCESS_TOKEN,
    APP_SECRET,
    TenantSettings,
    get_tenant_settings,
    is_verify_token,
    open_credential,
    reseal_credentials,
    update_tenant_settings,
)

pytestmark = pytest.mark.unit

K1, K2 = b"1" * 32, b"2" * 32
BOX = AesGcmSecretBox({"k1": K1}, "k1")
TOKEN = "EAAGtenantOwnToken123"
SECRET = "0123456789abcdef0123456789abcdef"


async def test_credentials_are_sealed_and_only_their_presence_is_shown(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    view = await update_tenant_settings(
        h.svc, BOX, admin,
        TenantSettings(display_phone_number="+1 555 0100", access_token=f" {TOKEN} ",
                       app_secret=SECRET),
    )  # fmt: skip
    assert (view.access_token.configured, view.app_secret.configured) == (True, True)
    assert view.display_phone_number == "+1 555 0100"
    stored = h.uow.db.state.tenants[h.t.id]
    everything = repr(h.uow.db.state.tenants) + repr(h.uow.db.state.audit)
    assert TOKEN not in everything
    assert SECRET not in everything
    assert open_credential(BOX, stored, ACCESS_TOKEN) == TOKEN
    assert open_credential(BOX, stored, APP_SECRET) == SECRET
    (audit,) = h.uow.db.state.audit.values()
    assert audit.after is not None
    assert (audit.action, audit.after["access_token"]) == ("tenant.update", True)

    # A partial update keeps what it does not name; an empty value removes it.
    view = await update_tenant_settings(h.svc, BOX, admin, TenantSettings(name="Acme Ltd"))
    assert (view.name, view.access_token.configured) == ("Acme Ltd", True)
    view = await update_tenant_settings(h.svc, BOX, admin, TenantSettings(access_token=""))
    assert (view.access_token.configured, view.app_secret.configured) == (False, True)
    assert (await get_tenant_settings(h.svc, BOX, admin)) == view


async def test_a_sealed_token_opens_only_for_its_tenant_and_field(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    await update_tenant_settings(h.svc, BOX, admin, TenantSettings(access_token=TOKEN))
    acme = h.uow.db.state.tenants[h.t.id]
    other = await h.add_tenant("globex", phone_number_id="999999999")
    stolen = replace(other, access_token_sealed=acme.access_token_sealed)
    with pytest.raises(InvalidInput):
        open_credential(BOX, stolen, ACCESS_TOKEN)
    swapped = replace(acme, app_secret_sealed=acme.access_token_sealed)
    with pytest.raises(InvalidInput):
        open_credential(BOX, swapped, APP_SECRET)


async def test_only_admins_change_settings_and_bad_ids_change_nothing(h: Harness) -> None:
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await update_tenant_settings(
            h.svc, BOX, h.as_(Role.MANAGER), TenantSettings(access_token=TOKEN)
        )
    with pytest.raises(Forbidden):
        await get_tenant_settings(h.svc, BOX, h.as_(Role.MANAGER))
    for bad in (
        TenantSettings(waba_id="not-a-number"),
        TenantSettings(phone_number_id="12"),
        TenantSettings(name="  "),
        TenantSettings(access_token="two words"),
        TenantSettings(app_secret="x" * 5000),
        TenantSettings(verify_token="has space"),
        TenantSettings(throughput_per_second=0),
        TenantSettings(throughput_per_second=1001),
    ):
        with pytest.raises(InvalidInput):
            await update_tenant_settings(h.svc, BOX, h.as_(Role.ADMIN), bad)
    assert h.snapshot() == before


async def test_a_key_rotation_reseals_every_credential(h: Harness) -> None:
    await update_tenant_settings(
        h.svc, BOX, h.as_(Role.ADMIN), TenantSettings(access_token=TOKEN, app_secret=SECRET)
    )
    rotated = AesGcmSecretBox({"k2": K2, "k1": K1}, "k2")
    view = await get_tenant_settings(h.svc, rotated, h.as_(Role.ADMIN))
    assert (view.access_token.needs_rotation, view.app_secret.needs_rotation) == (True, True)

    assert await reseal_credentials(h.uow, rotated) == 1
    assert await reseal_credentials(h.uow, rotated) == 0  # nothing left on the old key

    only_new = AesGcmSecretBox({"k2": K2}, "k2")  # k1 retired
    tenant = h.uow.db.state.tenants[h.t.id]
    assert open_credential(only_new, tenant, ACCESS_TOKEN) == TOKEN
    assert open_credential(only_new, tenant, APP_SECRET) == SECRET
    assert base64.urlsafe_b64encode(K1).decode() not in repr(tenant)


async def test_the_send_rate_is_set_within_metas_tiers(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    assert (await get_tenant_settings(h.svc, BOX, admin)).throughput_per_second == 80
    view = await update_tenant_settings(
        h.svc, BOX, admin, TenantSettings(throughput_per_second=250)
    )
    assert view.throughput_per_second == 250
    assert h.uow.db.state.tenants[h.t.id].throughput_per_second == 250  # what pacing reads
    (audit,) = h.uow.db.state.audit.values()
    assert audit.before is not None
    assert audit.after is not None
    assert (audit.before["throughput_per_second"], audit.after["throughput_per_second"]) == (
        80,
        250,
    )


async def test_a_verify_token_is_kept_as_a_digest_and_is_one_tenants(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    view = await update_tenant_settings(
        h.svc, BOX, admin, TenantSettings(verify_token=" acme-handshake ")
    )
    assert view.verify_token.configured
    everything = repr(h.uow.db.state.tenants) + repr(h.uow.db.state.audit)
    assert "acme-handshake" not in everything
    assert await is_verify_token(h.svc, "platform-token", "acme-handshake")
    assert await is_verify_token(h.svc, "platform-token", "platform-token")
    assert not await is_verify_token(h.svc, "platform-token", "acme-handshak")
    assert not await is_verify_token(h.svc, "", "")

    other = await h.add_tenant("globex", phone_number_id="999999999")
    with pytest.raises(Conflict) as info:
        await update_tenant_settings(
            h.svc, BOX, h.as_(Role.ADMIN, other), TenantSettings(verify_token="acme-handshake")
        )
    assert info.value.details["field"] == "verify_token"
    # Setting one's own token again is fine; an empty one removes it.
    await update_tenant_settings(h.svc, BOX, admin, TenantSettings(verify_token="acme-handshake"))
    view = await update_tenant_settings(h.svc, BOX, admin, TenantSettings(verify_token=""))
    assert not view.verify_token.configured
    assert not await is_verify_token(h.svc, "platform-token", "acme-handshake")
