"""Tenant administration: creation, and an admin's settings for the WhatsApp number
(ids, display number, and the tenant's own Meta credentials, sealed at rest), and a
test of that number's connection to Meta."""

from __future__ import annotations

import hmac

import msgspec
from msgspec.structs import replace

from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.phone_numbers import ConnectionCheck, connection_failure_reason
from whatsapp_core.domain.tenants import (
    Tenant,
    check_meta_id,
    check_throughput,
    new_tenant,
    verify_token_digest,
)
from whatsapp_core.errors import Conflict, DeliveryError, InvalidInput
from whatsapp_core.policies.access import Action
from whatsapp_core.ports import IdGenerator, SecretBox, UnitOfWorkFactory, WhatsAppGateway
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

# Names of the sealed credential fields (not secrets themselves).
ACCESS_TOKEN = "access_token"  # noqa: S105
APP_SECRET = "app_secret"  # noqa: S105
VERIFY_TOKEN = "verify_token"  # noqa: S105
_MAX_SECRET = 4096


async def create_tenant(
    uow_factory: UnitOfWorkFactory,
    ids: IdGenerator,
    *,
    slug: str,
    name: str,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
    display_phone_number: str | None = None,
) -> Tenant:
    tenant = new_tenant(
        tenant_id=ids.new_id(),
        slug=slug,
        name=name,
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )
    async with uow_factory() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    return tenant


class TenantSettings(msgspec.Struct, kw_only=True):
    """A partial update: ``None`` leaves a field as it is; an empty ``access_token`` /
    ``app_secret`` / ``verify_token`` removes the tenant's own (the platform's applies
    again). ``verify_token``: what the tenant's own Meta app sends in the webhook
    handshake. ``throughput_per_second``: the number's send rate (Meta tier, 1-1000)."""

    name: str | None = None
    waba_id: str | None = None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    throughput_per_second: int | None = None


class CredentialState(msgspec.Struct, frozen=True, kw_only=True):
    """What an admin may see of a credential: whether it is set, never its value."""

    configured: bool
    needs_rotation: bool = False


class TenantView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    slug: str
    name: str
    waba_id: str | None
    phone_number_id: str | None
    display_phone_number: str | None
    throughput_per_second: int
    access_token: CredentialState
    app_secret: CredentialState
    verify_token: CredentialState


def view_tenant(tenant: Tenant, box: SecretBox) -> TenantView:
    def state(sealed: str | None) -> CredentialState:
        if sealed is None:
            return CredentialState(configured=False)
        return CredentialState(configured=True, needs_rotation=box.needs_rotation(sealed))

    return TenantView(
        id=str(tenant.id), slug=tenant.slug, name=tenant.name, waba_id=tenant.waba_id,
        phone_number_id=tenant.phone_number_id,
        display_phone_number=tenant.display_phone_number,
        throughput_per_second=tenant.throughput_per_second,
        access_token=state(tenant.access_token_sealed),
        app_secret=state(tenant.app_secret_sealed),
        verify_token=CredentialState(configured=tenant.verify_token_digest is not None),
    )  # fmt: skip


async def get_tenant_settings(svc: Services, box: SecretBox, principal: Principal) -> TenantView:
    authorize(principal, Action.TENANT_MANAGE)
    async with svc.uow() as uow:
        return view_tenant(await uow.tenants.get(principal.tenant_id), box)


def _secret(name: str, value: str) -> str | None:
    """A credential as given: ``None`` to remove it (empty), else checked."""
    value = value.strip()
    if not value:
        return None
    if len(value) > _MAX_SECRET or any(ch.isspace() for ch in value):
        raise InvalidInput(
            f"{name} must be one line of at most {_MAX_SECRET} characters", field=name
        )
    return value


def _sealed(box: SecretBox, tenant: Tenant, name: str, value: str | None) -> str | None:
    current: str | None = getattr(tenant, f"{name}_sealed")
    if value is None:
        return current
    clear = _secret(name, value)
    return None if clear is None else box.seal(clear, context=tenant.secret_context(name))


def _verify_digest(tenant: Tenant, value: str | None) -> str | None:
    if value is None:
        return tenant.verify_token_digest
    clear = _secret(VERIFY_TOKEN, value)
    return None if clear is None else verify_token_digest(clear)


async def update_tenant_settings(
    svc: Services, box: SecretBox, principal: Principal, changes: TenantSettings
) -> TenantView:
    """Admins only. Credentials are sealed before they reach the unit of work; the audit
    entry names which changed, never their values."""
    authorize(principal, Action.TENANT_MANAGE)
    check_meta_id("waba_id", changes.waba_id)
    check_meta_id("phone_number_id", changes.phone_number_id)
    if changes.name is not None and not changes.name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if changes.throughput_per_second is not None:
        check_throughput(changes.throughput_per_second)
    async with svc.uow() as uow:
        before = await uow.tenants.get(principal.tenant_id)
        after = replace(
            before,
            name=changes.name.strip() if changes.name is not None else before.name,
            waba_id=changes.waba_id if changes.waba_id is not None else before.waba_id,
            phone_number_id=(
                changes.phone_number_id
                if changes.phone_number_id is not None
                else before.phone_number_id
            ),
            display_phone_number=(
                changes.display_phone_number
                if changes.display_phone_number is not None
                else before.display_phone_number
            ),
            access_token_sealed=_sealed(box, before, ACCESS_TOKEN, changes.access_token),
            app_secret_sealed=_sealed(box, before, APP_SECRET, changes.app_secret),
            verify_token_digest=_verify_digest(before, changes.verify_token),
            throughput_per_second=(
                changes.throughput_per_second
                if changes.throughput_per_second is not None
                else before.throughput_per_second
            ),
        )
        digest = after.verify_token_digest
        if digest and digest != before.verify_token_digest:
            holder = await uow.tenants.by_verify_token_digest(digest)
            if holder is not None and holder.id != before.id:
                raise Conflict("choose another verify token", field="verify_token")
        await uow.tenants.update(after)
        await svc.audit(
            uow, principal, "tenant.update", "tenant", before.id,
            before=_public(before), after=_public(after),
        )  # fmt: skip
        await uow.commit()
    return view_tenant(after, box)


async def test_connection(
    svc: Services, gateway: WhatsAppGateway, principal: Principal
) -> ConnectionCheck:
    """Admins only: ask Meta about the tenant's number with the tenant's credentials.
    Meta's refusal (or silence) is a result with ``ok=False`` and what to check, not an
    error; a number not configured yet is a ``Conflict``. Meta is called outside the
    transaction; the audit entry keeps the outcome only (never a credential)."""
    authorize(principal, Action.TENANT_MANAGE)
    async with svc.uow() as uow:
        tenant = await uow.tenants.get(principal.tenant_id)
    if not tenant.phone_number_id:
        raise Conflict(
            "set the WhatsApp phone number id before testing the connection",
            code="phone_number_id_missing",
            field="phone_number_id",
        )
    try:
        info = await gateway.phone_number_info(tenant)
    except DeliveryError as exc:
        reason = connection_failure_reason(
            tenant.phone_number_id, exc.meta_code, exc.http_status, exc.message
        )
        check = ConnectionCheck(
            ok=False, checked_at=svc.clock.now(), error_code=exc.meta_code, reason=reason
        )
    else:
        check = ConnectionCheck(ok=True, checked_at=svc.clock.now(), info=info)
    async with svc.uow() as uow:
        await svc.audit(
            uow, principal, "tenant.test_connection", "tenant", tenant.id,
            after={"ok": check.ok, "error_code": check.error_code,
                   "phone_number_id": tenant.phone_number_id},
        )  # fmt: skip
        await uow.commit()
    return check


def _public(t: Tenant) -> dict[str, object]:
    return {
        "name": t.name, "waba_id": t.waba_id, "phone_number_id": t.phone_number_id,
        "display_phone_number": t.display_phone_number,
        "throughput_per_second": t.throughput_per_second,
        "access_token": t.access_token_sealed is not None,
        "app_secret": t.app_secret_sealed is not None,
        "verify_token": t.verify_token_digest is not None,
    }  # fmt: skip


def open_credential(box: SecretBox, tenant: Tenant, name: str) -> str | None:
    """The tenant's own credential in clear, for an adapter about to use it."""
    sealed: str | None = getattr(tenant, f"{name}_sealed")
    return None if sealed is None else box.open(sealed, context=tenant.secret_context(name))


async def reseal_credentials(uow_factory: UnitOfWorkFactory, box: SecretBox) -> int:
    """After a key rotation: re-seal every credential sealed with an older key under the
    active one. Returns how many tenants changed."""
    changed = 0
    async with uow_factory() as uow:
        for tenant in await uow.tenants.list():
            fresh = {
                f"{name}_sealed": box.seal(value, context=tenant.secret_context(name))
                for name in (ACCESS_TOKEN, APP_SECRET)
                if (sealed := getattr(tenant, f"{name}_sealed")) is not None
                and box.needs_rotation(sealed)
                and (value := open_credential(box, tenant, name)) is not None
            }
            if fresh:
                await uow.tenants.update(replace(tenant, **fresh))
                changed += 1
        await uow.commit()
    return changed


async def is_verify_token(svc: Services, expected: str, token: str) -> bool:
    """The webhook handshake: the platform's verify token, or a tenant's own (its Meta
    app's webhook is configured with it)."""
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return True
    if not token:
        return False
    async with svc.uow() as uow:
        return await uow.tenants.by_verify_token_digest(verify_token_digest(token)) is not None


async def own_app_secret(svc: Services, box: SecretBox, phone_number_ids: set[str]) -> str | None:
    """The app secret a webhook addressed to these numbers may be signed with when it
    comes from a tenant's own Meta app: only when every number belongs to a tenant
    sealed with that one secret (a tenant's app never vouches for another's data)."""
    if not phone_number_ids:
        return None
    found: dict[str, str] = {}
    async with svc.uow() as uow:
        for number in sorted(phone_number_ids):
            tenant = await uow.tenants.by_phone_number_id(number)
            secret = open_credential(box, tenant, APP_SECRET) if tenant else None
            if secret:
                found[number] = secret
    if set(found) != phone_number_ids or len(set(found.values())) != 1:
        return None
    return next(iter(found.values()))
