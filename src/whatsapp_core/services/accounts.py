"""Tenants' people and keys: sign-up, sign-in, users, API keys, notes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence

from msgspec.structs import replace

from whatsapp_core.domain.accounts import (
    ApiKey,
    Note,
    User,
    normalize_email,
    validate_password,
)
from whatsapp_core.domain.model import AuditEntry, Principal
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import Conflict, InvalidInput, Unauthenticated
from whatsapp_core.policies.access import Action, Role, parse_scopes
from whatsapp_core.ports import PasswordHasher
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

_KEY_PREFIX = "wak"


_DUMMY_HASHES: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when the email is unknown, so both failures cost the same time."""
    if id(hasher) not in _DUMMY_HASHES:
        _DUMMY_HASHES[id(hasher)] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[id(hasher)]


async def register_tenant(
    svc: Services,
    hasher: PasswordHasher,
    *,
    slug: str,
    name: str,
    admin_email: str,
    admin_name: str,
    admin_password: str,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
    display_phone_number: str | None = None,
) -> tuple[Tenant, User]:
    """A new tenant and its first admin, in one transaction."""
    tenant = new_tenant(
        tenant_id=svc.ids.new_id(),
        slug=slug,
        name=name,
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )
    admin = new_user(svc, hasher, tenant.id, admin_email, admin_name, Role.ADMIN, admin_password)
    async with svc.uow() as uow:
        await uow.tenants.add(tenant)
        await uow.users.add(admin)
        principal = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=admin.id)
        await svc.audit(
            uow, principal, "tenant.register", "tenant", tenant.id, after={"slug": slug}
        )
        await uow.commit()
    return tenant, admin


def new_user(
    svc: Services,
    hasher: PasswordHasher,
    tenant_id: uuid.UUID,
    email: str,
    name: str,
    role: Role | str,
    password: str,
) -> User:
    return User(
        id=svc.ids.new_id(),
        tenant_id=tenant_id,
        email=normalize_email(email),
        name=_name(name),
        role=_role(role),
        password_hash=hasher.hash(validate_password(password)),
        created_at=svc.clock.now(),
    )


def _name(name: str) -> str:
    if not name.strip():
        raise InvalidInput("the name is empty", field="name")
    if len(name.strip()) > 120:
        raise InvalidInput("the name is longer than 120 characters", field="name")
    return name.strip()


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(
            f"role must be one of {', '.join(r.value for r in Role)}", field="role"
        ) from None


async def authenticate(svc: Services, hasher: PasswordHasher, email: str, password: str) -> User:
    """The active user with these credentials; one vague error for every failure."""
    async with svc.uow() as uow:
        user = await uow.users.by_email(email.strip().lower())
    stored = user.password_hash if user is not None else _dummy_hash(hasher)
    valid = hasher.verify(stored, password)
    if user is None or not valid or not user.active:
        raise Unauthenticated("wrong email or password")
    return user


async def create_user(
    svc: Services,
    hasher: PasswordHasher,
    principal: Principal,
    *,
    email: str,
    name: str,
    role: Role | str,
    password: str,
) -> User:
    authorize(principal, Action.USER_MANAGE)
    user = new_user(svc, hasher, principal.tenant_id, email, name, role, password)
    async with svc.uow() as uow:
        await uow.users.add(user)
        await svc.audit(
            uow, principal, "user.create", "user", user.id,
            after={"email": user.email, "role": user.role.value},
        )  # fmt: skip
        await uow.commit()
    return user


async def list_users(svc: Services, principal: Principal) -> list[User]:
    authorize(principal, Action.USER_MANAGE)
    async with svc.uow() as uow:
        return await uow.users.list(principal.tenant_id)


async def update_user(
    svc: Services,
    principal: Principal,
    user_id: uuid.UUID,
    *,
    role: Role | str | None = None,
    active: bool | None = None,
    name: str | None = None,
) -> User:
    """An admin changes a teammate's role or name, or deactivates / reactivates them.

    The tenant always keeps an active admin: the last one can be neither demoted nor
    deactivated (409 ``last_admin``). Deactivating ends every session at once (refresh
    tokens revoked); an access token already issued lasts until it expires (15 min), as
    does the old role after a role change. Nothing is deleted: the person's replies,
    notes and audit rows keep their name."""
    authorize(principal, Action.USER_MANAGE)
    async with svc.uow() as uow:
        user = await uow.users.get(principal.tenant_id, user_id)
        updated = replace(
            user,
            role=user.role if role is None else _role(role),
            active=user.active if active is None else active,
            name=user.name if name is None else _name(name),
        )
        if updated == user:
            return user
        if _is_active_admin(user) and not _is_active_admin(updated):
            others = [
                u for u in await uow.users.list(principal.tenant_id)
                if u.id != user.id and _is_active_admin(u)
            ]  # fmt: skip
            if not others:
                raise Conflict(
                    "the tenant needs an active admin: make someone else admin first",
                    code="last_admin",
                )
        await uow.users.update(updated)
        if user.active and not updated.active:
            await uow.refresh_tokens.revoke_user(user.id, svc.clock.now())
        await svc.audit(
            uow, principal, "user.update", "user", user.id,
            before=_visible(user), after=_visible(updated),
        )  # fmt: skip
        await uow.commit()
    return updated


def _is_active_admin(user: User) -> bool:
    return user.active and user.role is Role.ADMIN


def _visible(user: User) -> dict[str, object]:
    return {"name": user.name, "role": user.role.value, "active": user.active}


async def change_password(
    svc: Services, hasher: PasswordHasher, principal: Principal, current: str, new: str
) -> None:
    if principal.user_id is None:
        raise Unauthenticated("only a signed-in user can change a password")
    async with svc.uow() as uow:
        user = await uow.users.get(principal.tenant_id, principal.user_id)
        if not hasher.verify(user.password_hash, current):
            raise Unauthenticated("the current password is wrong")
        await uow.users.update(replace(user, password_hash=hasher.hash(validate_password(new))))
        await svc.audit(uow, principal, "user.change_password", "user", user.id)
        await uow.commit()


async def reset_password(
    svc: Services, hasher: PasswordHasher, principal: Principal, user_id: uuid.UUID, new: str
) -> User:
    """An administrator sets a teammate's password (no current password needed); every
    session the teammate had ends (whoever knew the old password is signed out)."""
    authorize(principal, Action.USER_MANAGE)
    password_hash = hasher.hash(validate_password(new))
    async with svc.uow() as uow:
        user = await uow.users.get(principal.tenant_id, user_id)
        updated = replace(user, password_hash=password_hash)
        await uow.users.update(updated)
        await uow.refresh_tokens.revoke_user(user.id, svc.clock.now())
        await svc.audit(uow, principal, "user.reset_password", "user", user.id)
        await uow.commit()
    return updated


def _digest(secret: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is safe (no guessing to slow).
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(
    svc: Services, principal: Principal, name: str, scopes: Sequence[str] | None = None
) -> tuple[ApiKey, str]:
    """Return the key and its token; the token is shown once and never stored.
    ``scopes`` default to sending and reading templates."""
    authorize(principal, Action.APIKEY_MANAGE)
    if not name.strip():
        raise InvalidInput("give the key a name (e.g. n8n production)", field="name")
    granted = parse_scopes(scopes)
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(
        id=svc.ids.new_id(),
        tenant_id=principal.tenant_id,
        name=name.strip(),
        prefix=prefix,
        secret_hash=_digest(secret),
        scopes=granted,
        created_at=svc.clock.now(),
    )
    async with svc.uow() as uow:
        await uow.api_keys.add(key)
        await svc.audit(
            uow, principal, "apikey.create", "api_key", key.id,
            after={"name": key.name, "scopes": list(key.scopes)},
        )  # fmt: skip
        await uow.commit()
    return key, f"{_KEY_PREFIX}_{prefix}_{secret}"


async def revoke_api_key(svc: Services, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    authorize(principal, Action.APIKEY_MANAGE)
    async with svc.uow() as uow:
        key = await uow.api_keys.get(principal.tenant_id, key_id)
        revoked = key if key.revoked_at else replace(key, revoked_at=svc.clock.now())
        await uow.api_keys.update(revoked)
        await svc.audit(uow, principal, "apikey.revoke", "api_key", key.id)
        await uow.commit()
    return revoked


async def authenticate_api_key(svc: Services, token: str) -> Principal:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _KEY_PREFIX:
        raise Unauthenticated("malformed API key")
    async with svc.uow() as uow:
        key = await uow.api_keys.by_prefix(parts[1])
    if (
        key is None
        or key.revoked_at is not None
        or not hmac.compare_digest(key.secret_hash, _digest(parts[2]))
    ):
        raise Unauthenticated("unknown or revoked API key")
    return Principal(tenant_id=key.tenant_id, role=Role.AGENT, api_key_id=key.id, scopes=key.scopes)


async def add_note(
    svc: Services, principal: Principal, conversation_id: uuid.UUID, body: str
) -> Note:
    authorize(principal, Action.NOTE_WRITE)
    if not body.strip():
        raise InvalidInput("the note is empty", field="body")
    if len(body) > 10_000:
        raise InvalidInput("the note is longer than 10000 characters", field="body")
    async with svc.uow() as uow:
        await uow.conversations.get(principal.tenant_id, conversation_id)  # scope + existence
        note = Note(
            id=svc.ids.new_id(),
            tenant_id=principal.tenant_id,
            conversation_id=conversation_id,
            author_id=principal.user_id,
            body=body.strip(),
            created_at=svc.clock.now(),
        )
        await uow.notes.add(note)
        await svc.audit(uow, principal, "note.create", "note", note.id)
        await uow.commit()
    await svc.publish_all(
        [svc.event("note.created", principal.tenant_id, conversation_id=str(conversation_id))]
    )
    return note


async def list_notes(svc: Services, principal: Principal, conversation_id: uuid.UUID) -> list[Note]:
    authorize(principal, Action.CONVERSATION_READ)
    async with svc.uow() as uow:
        await uow.conversations.get(principal.tenant_id, conversation_id)
        return await uow.notes.for_conversation(principal.tenant_id, conversation_id)


async def list_api_keys(svc: Services, principal: Principal) -> list[ApiKey]:
    authorize(principal, Action.APIKEY_MANAGE)
    async with svc.uow() as uow:
        return await uow.api_keys.list(principal.tenant_id)


async def list_audit(svc: Services, principal: Principal, *, limit: int = 100) -> list[AuditEntry]:
    authorize(principal, Action.AUDIT_READ)
    async with svc.uow() as uow:
        return await uow.audit.list(principal.tenant_id, limit=max(1, min(limit, 500)))
