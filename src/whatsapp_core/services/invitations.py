"""Inviting people into a tenant: an admin invites an e-mail with a role, the invitee
opens the link once, chooses a name and a password, and is signed in."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from whatsapp_core.domain.accounts import Invitation, User, normalize_email
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Conflict, InvalidInput, Unauthenticated
from whatsapp_core.policies.access import Action, Role
from whatsapp_core.ports import PasswordHasher
from whatsapp_core.services.accounts import new_user
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

INVITATION_LIFETIME = timedelta(days=7)
_TOKEN_PREFIX = "wai_"  # noqa: S105 (a marker that says what a token is)


def _digest(token: str) -> str:
    # 256 random bits: a fast hash is enough (nothing to guess), and lookups stay O(1).
    return hashlib.sha256(token.encode()).hexdigest()


async def invite_user(
    svc: Services, principal: Principal, *, email: str, role: Role | str
) -> tuple[Invitation, str]:
    """Return the invitation and its token (shown once: the admin sends the link)."""
    authorize(principal, Action.USER_MANAGE)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"role must be one of {', '.join(r.value for r in Role)}", field="role"
        ) from None
    email = normalize_email(email)
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = svc.clock.now()
    invitation = Invitation(
        id=svc.ids.new_id(), tenant_id=principal.tenant_id, email=email, role=role,
        token_hash=_digest(token), invited_by=principal.user_id, created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )  # fmt: skip
    async with svc.uow() as uow:
        if await uow.users.by_email(email) is not None:
            raise Conflict(f"{email} already has an account", field="email")
        await uow.invitations.add(invitation)
        await svc.audit(
            uow, principal, "user.invite", "invitation", invitation.id,
            after={"email": email, "role": role.value},
        )  # fmt: skip
        await uow.commit()
    return invitation, token


async def accept_invitation(
    svc: Services, hasher: PasswordHasher, token: str, *, name: str, password: str
) -> User:
    """Create the invitee's user; the same vague refusal for an unknown, used, revoked
    or expired link (a stranger learns nothing)."""
    now = svc.clock.now()
    async with svc.uow() as uow:
        invitation = await uow.invitations.by_hash(_digest(token.strip()))
        if invitation is None or not invitation.usable(now):
            raise Unauthenticated("this invitation link is not valid any more; ask for a new one")
        user = new_user(
            svc, hasher, invitation.tenant_id, invitation.email, name, invitation.role, password
        )
        if await uow.users.by_email(invitation.email) is not None:
            raise Conflict(f"{invitation.email} already has an account; sign in", field="email")
        if not await uow.invitations.mark_accepted(invitation, now):
            raise Unauthenticated("this invitation link is not valid any more; ask for a new one")
        await uow.users.add(user)
        actor = Principal(tenant_id=user.tenant_id, role=user.role, user_id=user.id)
        await svc.audit(
            uow, actor, "user.accept_invitation", "user", user.id,
            after={"email": user.email, "role": user.role.value,
                   "invitation_id": str(invitation.id)},
        )  # fmt: skip
        await uow.commit()
    return user


async def list_invitations(svc: Services, principal: Principal) -> list[Invitation]:
    authorize(principal, Action.USER_MANAGE)
    async with svc.uow() as uow:
        return await uow.invitations.pending(principal.tenant_id, svc.clock.now())


async def revoke_invitation(svc: Services, principal: Principal, invitation_id: uuid.UUID) -> None:
    authorize(principal, Action.USER_MANAGE)
    async with svc.uow() as uow:
        await uow.invitations.revoke(principal.tenant_id, invitation_id, svc.clock.now())
        await svc.audit(uow, principal, "user.revoke_invitation", "invitation", invitation_id)
        await uow.commit()
