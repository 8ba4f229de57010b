"""In-memory stores for users, API keys and notes."""

from __future__ import annotations

import uuid
from datetime import datetime

from msgspec.structs import replace

from adapters.memory.stores import MemoryState
from whatsapp_core.domain.accounts import ApiKey, Invitation, Note, RefreshToken, User
from whatsapp_core.errors import Conflict, NotFound


class MemoryUserStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, user: User) -> None:
        if any(u.email == user.email for u in self._s.users.values()):
            raise Conflict("a user with this email exists", field="email")
        self._s.users[user.id] = user

    async def update(self, user: User) -> None:
        old = self._s.users.get(user.id)
        if old is None or old.tenant_id != user.tenant_id:
            raise NotFound("user not found")
        if any(u.email == user.email and u.id != user.id for u in self._s.users.values()):
            raise Conflict("a user with this email exists", field="email")
        self._s.users[user.id] = user

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
        user = self._s.users.get(user_id)
        if user is None or user.tenant_id != tenant_id:
            raise NotFound("user not found")
        return user

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self._s.users.values() if u.email == email), None)

    async def list(self, tenant_id: uuid.UUID) -> list[User]:
        return sorted(
            (u for u in self._s.users.values() if u.tenant_id == tenant_id), key=lambda u: u.email
        )


class MemoryApiKeyStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, key: ApiKey) -> None:
        if any(k.prefix == key.prefix for k in self._s.api_keys.values()):
            raise Conflict("an API key with this prefix exists", field="prefix")
        self._s.api_keys[key.id] = key

    async def update(self, key: ApiKey) -> None:
        old = self._s.api_keys.get(key.id)
        if old is None or old.tenant_id != key.tenant_id:
            raise NotFound("API key not found")
        self._s.api_keys[key.id] = key

    async def get(self, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
        key = self._s.api_keys.get(key_id)
        if key is None or key.tenant_id != tenant_id:
            raise NotFound("API key not found")
        return key

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        return next((k for k in self._s.api_keys.values() if k.prefix == prefix), None)

    async def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        found = [k for k in self._s.api_keys.values() if k.tenant_id == tenant_id]
        return sorted(found, key=lambda k: k.created_at)


class MemoryNoteStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, note: Note) -> None:
        self._s.notes[note.id] = note

    async def move(
        self, tenant_id: uuid.UUID, from_conversation: uuid.UUID, to_conversation: uuid.UUID
    ) -> int:
        moved = [
            n
            for n in self._s.notes.values()
            if n.tenant_id == tenant_id and n.conversation_id == from_conversation
        ]
        for note in moved:
            self._s.notes[note.id] = replace(note, conversation_id=to_conversation)
        return len(moved)

    async def for_conversation(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> list[Note]:
        found = [
            n
            for n in self._s.notes.values()
            if n.tenant_id == tenant_id and n.conversation_id == conversation_id
        ]
        return sorted(found, key=lambda n: (n.created_at, str(n.id)))


class MemoryRefreshTokenStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, token: RefreshToken) -> None:
        self._s.refresh_tokens[token.token_hash] = token

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        return self._s.refresh_tokens.get(token_hash)

    async def mark_used(self, token: RefreshToken, at: datetime) -> bool:
        current = self._s.refresh_tokens.get(token.token_hash)
        if current is None or current.used_at is not None:
            return False
        self._s.refresh_tokens[token.token_hash] = replace(current, used_at=at)
        return True

    async def revoke_family(self, family_id: uuid.UUID, at: datetime) -> None:
        for key, token in list(self._s.refresh_tokens.items()):
            if token.family_id == family_id and token.revoked_at is None:
                self._s.refresh_tokens[key] = replace(token, revoked_at=at)

    async def revoke_user(self, user_id: uuid.UUID, at: datetime) -> None:
        for key, token in list(self._s.refresh_tokens.items()):
            if token.user_id == user_id and token.revoked_at is None:
                self._s.refresh_tokens[key] = replace(token, revoked_at=at)


class MemoryInvitationStore:
    def __init__(self, state: MemoryState) -> None:
        self._s = state

    async def add(self, invitation: Invitation) -> None:
        self._s.invitations[invitation.id] = invitation

    async def by_hash(self, token_hash: str) -> Invitation | None:
        return next((i for i in self._s.invitations.values() if i.token_hash == token_hash), None)

    async def mark_accepted(self, invitation: Invitation, at: datetime) -> bool:
        current = self._s.invitations.get(invitation.id)
        if current is None or current.accepted_at is not None:
            return False
        self._s.invitations[invitation.id] = replace(current, accepted_at=at)
        return True

    async def revoke(self, tenant_id: uuid.UUID, invitation_id: uuid.UUID, at: datetime) -> None:
        current = self._s.invitations.get(invitation_id)
        if current is None or current.tenant_id != tenant_id:
            raise NotFound("invitation not found")
        self._s.invitations[invitation_id] = replace(current, revoked_at=current.revoked_at or at)

    async def pending(self, tenant_id: uuid.UUID, now: datetime) -> list[Invitation]:
        found = [
            i for i in self._s.invitations.values() if i.tenant_id == tenant_id and i.usable(now)
        ]
        return sorted(found, key=lambda i: (i.created_at, str(i.id)), reverse=True)
