"""An admin tests the WhatsApp number's connection: Meta's word on the number, or why
Meta refused, as a result (never an HTTP error); audited with the outcome only."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from adapters.crypto import AesGcmSecretBox
from tests.unit.services.harness import PHONE_NUMBER_ID, Harness
from whatsapp_core.domain.phone_numbers import PhoneNumberInfo, connection_failure_reason
from whatsapp_core.errors import Conflict, DeliveryError, Forbidden
from whatsapp_core.policies.access import Role

# Imported as a module: a function named test_* imported here would be collected.
from whatsapp_core.services import tenants

pytestmark = pytest.mark.unit

BOX = AesGcmSecretBox({"k1": b"1" * 32}, "k1")
INFO = PhoneNumberInfo(
    phone_number_id=PHONE_NUMBER_ID,
    display_phone_number="+1 555-000-1111",
    verified_name="Acme Store",
    quality_rating="YELLOW",
    name_status="APPROVED",
    code_verification_status="VERIFIED",
    messaging_limit_tier="TIER_10K",
    throughput_level="STANDARD",
)


async def test_meta_accepts_the_number_and_its_profile_is_returned(h: Harness) -> None:
    h.gateway.phone_numbers[PHONE_NUMBER_ID] = INFO
    check = await tenants.test_connection(h.svc, h.gateway, h.as_(Role.ADMIN))
    assert (check.ok, check.info, check.error_code, check.reason) == (True, INFO, None, None)
    assert check.checked_at == h.clock.now()
    (audit,) = h.uow.db.state.audit.values()
    assert (audit.action, audit.entity_type, audit.entity_id) == (
        "tenant.test_connection", "tenant", str(h.t.id),
    )  # fmt: skip
    assert audit.after == {"ok": True, "error_code": None, "phone_number_id": PHONE_NUMBER_ID}


async def test_a_number_meta_was_not_told_about_gets_the_fakes_healthy_profile(
    h: Harness,
) -> None:
    check = await tenants.test_connection(h.svc, h.gateway, h.as_(Role.ADMIN))
    assert check.ok
    assert check.info is not None
    assert (check.info.phone_number_id, check.info.verified_name) == (PHONE_NUMBER_ID, "Acme")


async def test_a_refused_token_is_a_failed_check_naming_the_token(h: Harness) -> None:
    h.gateway.fail_next(190, http_status=401)
    check = await tenants.test_connection(h.svc, h.gateway, h.as_(Role.ADMIN))
    assert (check.ok, check.info, check.error_code) == (False, None, 190)
    assert check.reason is not None
    assert "access token" in check.reason
    (audit,) = h.uow.db.state.audit.values()
    assert audit.after == {"ok": False, "error_code": 190, "phone_number_id": PHONE_NUMBER_ID}


@pytest.mark.parametrize("code", [100, 803])
async def test_an_unknown_number_is_a_failed_check_naming_the_number(h: Harness, code: int) -> None:
    h.gateway.fail_next(code)
    check = await tenants.test_connection(h.svc, h.gateway, h.as_(Role.ADMIN))
    assert (check.ok, check.error_code) == (False, code)
    assert check.reason is not None
    assert f"phone number id {PHONE_NUMBER_ID}" in check.reason
    assert f"error {code}" in check.reason


async def test_meta_out_of_reach_is_a_failed_check_without_a_code(h: Harness) -> None:
    h.gateway.fail_next(None, http_status=None)
    check = await tenants.test_connection(h.svc, h.gateway, h.as_(Role.ADMIN))
    assert (check.ok, check.error_code) == (False, None)
    assert check.reason is not None
    assert check.reason.startswith("Meta could not be reached")


async def test_without_a_phone_number_id_there_is_nothing_to_test(h: Harness) -> None:
    async with h.uow() as uow:
        await uow.tenants.update(replace(h.t, phone_number_id=None))
        await uow.commit()
    h.gateway.fail_next(500)  # would show if Meta were asked
    with pytest.raises(Conflict) as caught:
        await tenants.test_connection(h.svc, h.gateway, h.as_(Role.ADMIN))
    assert caught.value.details["field"] == "phone_number_id"
    assert caught.value.code == "phone_number_id_missing"
    assert not h.uow.db.state.audit
    with pytest.raises(DeliveryError) as unasked:  # the queued refusal is still there
        await h.gateway.phone_number_info(h.t)
    assert unasked.value.meta_code == 500


@pytest.mark.parametrize("role", [Role.MANAGER, Role.AGENT, Role.VIEWER])
async def test_only_admins_may_test_the_connection(h: Harness, role: Role) -> None:
    before = h.snapshot()
    with pytest.raises(Forbidden):
        await tenants.test_connection(h.svc, h.gateway, h.as_(role))
    with pytest.raises(Forbidden):
        await tenants.test_connection(h.svc, h.gateway, h.as_key())
    assert h.snapshot() == before


async def test_the_audit_entry_never_holds_the_tenants_token(h: Harness) -> None:
    admin = h.as_(Role.ADMIN)
    settings = tenants.TenantSettings(access_token="EAAGsecretOwnToken")
    await tenants.update_tenant_settings(h.svc, BOX, admin, settings)
    h.gateway.fail_next(190, http_status=401)
    await tenants.test_connection(h.svc, h.gateway, admin)
    entries = [a for a in h.uow.db.state.audit.values() if a.action == "tenant.test_connection"]
    assert len(entries) == 1
    assert "EAAGsecretOwnToken" not in repr(entries)


def test_other_refusals_keep_metas_code_and_words() -> None:
    assert "lacks permission" in connection_failure_reason("1", 200, 403, "Permission denied")
    assert connection_failure_reason("1", 4, 400, "Application request limit reached") == (
        "Meta refused the check (error 4): Application request limit reached"
    )
    assert connection_failure_reason("1", None, 502, "Bad Gateway") == (
        "Meta refused the check (HTTP 502): Bad Gateway"
    )
