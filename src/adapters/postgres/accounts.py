"""Users, API keys, refresh tokens, invitations and notes on PostgreSQL.

All five tables are under row-level security (migration 0019 for the account tables):
every statement runs in the scope of its tenant. The lookups made before any tenant is
known (sign-in by e-mail, an API key by its prefix, a refresh token or an invitation by
its hash) call SECURITY DEFINER functions that return only the row with that key; two
more tell ``revoke_family`` and ``revoke_user``, which are given no tenant, whose they
are.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.postgres import tables
from adapters.postgres.store_base import SqlaStore, from_row
from whatsapp_core.domain.accounts import ApiKey, Invitation, Note, RefreshToken, User
from whatsapp_core.errors import NotFound


def _lookup(function: str, table: sa.Table) -> sa.TextualSelect:
    """``SELECT <columns> FROM function(:key)``, typed like ``table``'s rows."""
    columns = ", ".join(c.name for c in table.c)
    return sa.text(f"SELECT {columns} FROM {function}(:key)").columns(*table.c)  # noqa: S608


_USER_BY_EMAIL = _lookup("wa_auth_user_by_email", tables.users)
_API_KEY_BY_PREFIX = _lookup("wa_auth_api_key", tables.api_keys)
_REFRESH_TOKEN_BY_HASH = _lookup("wa_auth_refresh_token", tables.refresh_tokens)
_INVITATION_BY_HASH = _lookup("wa_auth_invitation", tables.invitations)
_KEY = sa.bindparam("key", type_=sa.Uuid)
_TENANT_OF_FAMILY = sa.select(sa.func.wa_auth_refresh_family_tenant(_KEY, type_=sa.Uuid))
_TENANT_OF_USER = sa.select(sa.func.wa_auth_user_tenant(_KEY, type_=sa.Uuid))


class _AccountStore(SqlaStore):
    async def _by_key(self, lookup: sa.TextualSelect, key: str) -> Any:
        """The row a pre-tenant lookup function finds, or ``None``."""
        row = (await self._execute(None, lookup, {"key": key})).first()
        return None if row is None else from_row(row, self.entity)

    async def _tenant_of(self, lookup: sa.Select[Any], key: uuid.UUID) -> uuid.UUID | None:
        tenant_id: uuid.UUID | None = (await self._execute(None, lookup, {"key": key})).scalar()
        return tenant_id


class SqlaUserStore(_AccountStore):
    table = tables.users
    entity = User
    not_found = "user not found"

    async def add(self, user: User) -> None:
        await self._insert(user)

    async def update(self, user: User) -> None:
        await self._replace(user)

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
        found: User = await self._get(tenant_id, user_id)
        return found

    async def by_email(self, email: str) -> User | None:
        found: User | None = await self._by_key(_USER_BY_EMAIL, email)
        return found

    async def list(self, tenant_id: uuid.UUID) -> list[User]:
        t = self.table
        return await self._all(
            tenant_id, sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.email)
        )


class SqlaApiKeyStore(_AccountStore):
    table = tables.api_keys
    entity = ApiKey
    not_found = "API key not found"

    async def add(self, key: ApiKey) -> None:
        await self._insert(key)

    async def update(self, key: ApiKey) -> None:
        await self._replace(key)

    async def get(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
        found: ApiKey = await self._get(tenant_id, key_id)
        return found

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        found: ApiKey | None = await self._by_key(_API_KEY_BY_PREFIX, prefix)
        return found

    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        t = self.table
        q = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.created_at)
        return await self._all(tenant_id, q)


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


class SqlaRefreshTokenStore(_AccountStore):
    table = tables.refresh_tokens
    entity = RefreshToken

    async def add(self, token: RefreshToken) -> None:
        await self._insert(token)

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        found: RefreshToken | None = await self._by_key(_REFRESH_TOKEN_BY_HASH, token_hash)
        return found

    async def mark_used(self, token: RefreshToken, at: datetime) -> bool:
        t = self.table
        # Compare-and-set: of two concurrent refreshes with one token, one wins.
        result = await self._execute(
            token.tenant_id,
            sa.update(t).where(t.c.id == token.id, t.c.used_at.is_(None)).values(used_at=at),
        )
        return result.rowcount == 1

    async def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        tenant_id = await self._tenant_of(_TENANT_OF_FAMILY, family_id)
        if tenant_id is None:
            return
        t = self.table
        await self._execute(
            tenant_id,
            sa.update(t)
            .where(t.c.family_id == family_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at),
        )

    async def revoke_user(self, user_id: uuid.UUID, at: datetime) -> None:
        tenant_id = await self._tenant_of(_TENANT_OF_USER, user_id)
        if tenant_id is None:
            return
        t = self.table
        await self._execute(
            tenant_id,
            sa.update(t)
            .where(t.c.user_id == user_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at),
        )


class SqlaInvitationStore(_AccountStore):
    table = tables.invitations
    entity = Invitation
    not_found = "invitation not found"

    async def add(self, invitation: Invitation) -> None:
        await self._insert(invitation)

    async def by_hash(self, token_hash: str) -> Invitation | None:
        found: Invitation | None = await self._by_key(_INVITATION_BY_HASH, token_hash)
        return found

    async def mark_accepted(self, invitation: Invitation, at: datetime) -> bool:
        t = self.table
        result = await self._execute(
            invitation.tenant_id,
            sa.update(t)
            .where(t.c.id == invitation.id, t.c.accepted_at.is_(None))
            .values(accepted_at=at),
        )
        return result.rowcount == 1

    async def revoke(self, tenant_id: uuid.UUID, invitation_id: uuid.UUID, at: datetime) -> None:
        t = self.table
        result = await self._execute(
            tenant_id,
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
        return await self._all(tenant_id, q)
