"""Sign-in sessions: rotating refresh tokens in families, with reuse detection."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from whatsapp_core.domain.accounts import RefreshToken, User
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Unauthenticated
from whatsapp_core.policies.access import Role
from whatsapp_core.services.context import Services

REFRESH_TTL = timedelta(days=30)


def _digest(token: str) -> str:
    # 256 random bits: a fast hash is enough, nothing to slow a guesser down.
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(svc: Services, user: User) -> str:
    """A new family with its first refresh token; returns the token (never stored)."""
    return await _issue(svc, user, family_id=svc.ids.new_id())


async def _issue(svc: Services, user: User, *, family_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    now = svc.clock.now()
    record = RefreshToken(
        id=svc.ids.new_id(),
        tenant_id=user.tenant_id,
        user_id=user.id,
        family_id=family_id,
        token_hash=_digest(token),
        created_at=now,
        expires_at=now + REFRESH_TTL,
    )
    async with svc.uow() as uow:
        await uow.refresh_tokens.add(record)
        await uow.commit()
    return token


async def refresh(svc: Services, token: str) -> tuple[User, str]:
    """Use ``token`` up and return the user and the next token of its family.

    A token presented a second time revokes its whole family (it was copied), and the
    caller must sign in again; so does an expired or revoked one, or an inactive user."""
    now = svc.clock.now()
    async with svc.uow() as uow:
        record = await uow.refresh_tokens.by_hash(_digest(token))
        if record is None or record.revoked_at is not None or record.expires_at <= now:
            raise Unauthenticated("the session ended; sign in again")
        if record.used_at is not None or not await uow.refresh_tokens.mark_used(record, now):
            await uow.refresh_tokens.revoke_family(record.family_id, now)
            # The audit row names the user; the role plays no part in it.
            principal = Principal(
                tenant_id=record.tenant_id, role=Role.VIEWER, user_id=record.user_id
            )
            await svc.audit(
                uow, principal, "session.reuse_detected", "session", record.family_id,
            )  # fmt: skip
            await uow.commit()
            raise Unauthenticated("this sign-in was used elsewhere; sign in again")
        user = await uow.users.get(record.tenant_id, record.user_id)
        if not user.active:
            raise Unauthenticated("the account is disabled")
        await uow.commit()
    return user, await _issue(svc, user, family_id=record.family_id)


async def end_session(svc: Services, token: str) -> None:
    """Sign out: the token's whole family stops working."""
    async with svc.uow() as uow:
        record = await uow.refresh_tokens.by_hash(_digest(token))
        if record is not None:
            await uow.refresh_tokens.revoke_family(record.family_id, svc.clock.now())
            await uow.commit()
