"""Users, API keys and notes on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from adapters.postgres import tables
from adapters.postgres.store_base import SqlaStore
from whatsapp_core.domain.accounts import ApiKey, Invitation, Note, RefreshToken, User
from whatsapp_core.errors import NotFound


class SqlaUserStore(SqlaStore):
    table = tables.users
    entity = User
    not_found = "user not found"

    async def add(self, user: User) -> None:
        await self._insert_unscoped(user)

    async def update(self, user: User) -> None:
        await self._replace_unscoped(user)

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
        found: User = await self._get_unscoped(tenant_id, user_id)
        return found

    async def by_email(self, email: str) -> User | None:
        found: User | None = await self._one(None, email=email)
        return found

    async def list(self, tenant_id: uuid.UUID) -> list[User]:
        t = self.table
        return await self._all(
            None, sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.email)
        )


class SqlaApiKeyStore(SqlaStore):
    table = tables.api_keys
    entity = ApiKey
    not_found = "API key not found"

    async def add(self, key: ApiKey) -> None:
        await self._insert_unscoped(key)

    async def update(self, key: ApiKey) -> None:
        await self._replace_unscoped(key)

    async def get(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
        found: ApiKey = await self._get_unscoped(tenant_id, key_id)
        return found

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        found: ApiKey | None = await self._one(None, prefix=prefix)
        return found

    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.created_at)
        return await self._all(None, q)


class SqlaNoteStore(SqlaStore):
    table = tables.notes
    entity = Note

    async def add(self, note: Note) -> None:
        await self._insert(note)

    async def move(
        self, tenant_id: uuid.UUID, from_conversation: uuid.UUID, to_conversation: uuid.UUID
    ) -> int:
        return await self._move(tenant_id, from_conversation, conversation_id=to_conversation)

    async def for_conversation(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> list[Note]:
        t = self.table
        q = (
            sa.select(t)
            .where(t.c.tenant_id == tenant_id, t.c.conversation_id == conversation_id)
            .order_by(t.c.created_at, sa.cast(t.c.id, sa.Text))
        )
        return await self._all(tenant_id, q)


class SqlaRefreshTokenStore(SqlaStore):
    table = tables.refresh_tokens
    entity = RefreshToken

    async def add(self, token: RefreshToken) -> None:
        await self._insert_unscoped(token)

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        found: RefreshToken | None = await self._one(None, token_hash=token_hash)
        return found

    async def mark_used(self, token: RefreshToken, at: datetime) -> bool:
        t = self.table
        # Compare-and-set: of two concurrent refreshes with one token, one wins.
        result = await self._execute(
            None,
            sa.update(t).where(t.c.id == token.id, t.c.used_at.is_(None)).values(used_at=at),
        )
        return result.rowcount == 1

    async def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        t = self.table
        await self._execute(
            None,
            sa.update(t)
            .where(t.c.family_id == family_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at),
        )

    async def revoke_user(self, user_id: uuid.UUID, at: datetime) -> None:
        t = self.table
        await self._execute(
            None,
            sa.update(t)
            .where(t.c.user_id == user_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at),
        )


class SqlaInvitationStore(SqlaStore):
    table = tables.invitations
    entity = Invitation
    not_found = "invitation not found"

    async def add(self, invitation: Invitation) -> None:
        await self._insert_unscoped(invitation)

    async def by_hash(self, token_hash: str) -> Invitation | None:
        found: Invitation | None = await self._one(None, token_hash=token_hash)
        return found

    async def mark_accepted(self, invitation: Invitation, at: datetime) -> bool:
        t = self.table
        result = await self._execute(
            None,
            sa.update(t)
            .where(t.c.id == invitation.id, t.c.accepted_at.is_(None))
            .values(accepted_at=at),
        )
        return result.rowcount == 1

    async def revoke(self, tenant_id: uuid.UUID, invitation_id: uuid.UUID, at: datetime) -> None:
        t = self.table
        result = await self._execute(
            None,
            sa.update(t)
            .where(t.c.tenant_id == tenant_id, t.c.id == invitation_id)
            .values(revoked_at=sa.func.coalesce(t.c.revoked_at, at)),
        )
        if result.rowcount == 0:
            raise NotFound(self.not_found)

    async def pending(self, tenant_id: uuid.UUID, now: datetime) -> list[Invitation]:
        t = self.table
        q = (
            sa.select(t)
            .where(
                t.c.tenant_id == tenant_id,
                t.c.accepted_at.is_(None),
                t.c.revoked_at.is_(None),
                t.c.expires_at > now,
            )
            .order_by(t.c.created_at.desc(), sa.cast(t.c.id, sa.Text).desc())
        )
        return await self._all(None, q)
