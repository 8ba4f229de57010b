"""An in-memory unit of work: writes are staged and become visible only on commit.

Entities are frozen, so staging a transaction is a shallow copy of each table.
Units of work run one at a time (serializable, the strongest isolation the real
adapter offers), so no contract test can pass here and fail there because of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import TracebackType
from typing import Self

from adapters.memory.accounts import (
    MemoryApiKeyStore,
    MemoryInvitationStore,
    MemoryNoteStore,
    MemoryRefreshTokenStore,
    MemoryUserStore,
)
from adapters.memory.ai import (
    MemoryAiSettingsStore,
    MemoryAiState,
    MemoryAiUsageStore,
    MemoryAutoReplyLog,
    MemoryEmbeddingStore,
    MemoryKnowledgeStore,
)
from adapters.memory.automation import (
    MemoryAutomationState,
    MemoryDeliveryLog,
    MemoryIdempotencyStore,
    MemorySubscriptionStore,
)
from adapters.memory.media import MemoryMediaObjectStore
from adapters.memory.statistics import MemoryInboxStatistics
from adapters.memory.stores import (
    MemoryAuditStore,
    MemoryContactStore,
    MemoryConversationStore,
    MemoryMessageStore,
    MemoryOutboxStore,
    MemoryState,
    MemoryTemplateStore,
    MemoryTenantStore,
)


class MemoryDatabase:
    """The shared state behind every memory unit of work (one per app)."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.ai = MemoryAiState()
        self.automation = MemoryAutomationState()
        self.lock = asyncio.Lock()


def _staged(state: MemoryState) -> MemoryState:
    return MemoryState(
        **{
            f.name: type(getattr(state, f.name))(getattr(state, f.name))
            for f in dataclasses.fields(state)
        }
    )


class MemoryUnitOfWork:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._work: MemoryState | None = None

    async def __aenter__(self) -> Self:
        await self._db.lock.acquire()
        work = self._work = _staged(self._db.state)
        self.tenants = MemoryTenantStore(work)
        self.contacts = MemoryContactStore(work)
        self.conversations = MemoryConversationStore(work)
        self.messages = MemoryMessageStore(work)
        self.templates = MemoryTemplateStore(work)
        self.outbox = MemoryOutboxStore(work)
        self.audit = MemoryAuditStore(work)
        self.users = MemoryUserStore(work)
        self.api_keys = MemoryApiKeyStore(work)
        self.notes = MemoryNoteStore(work)
        self.refresh_tokens = MemoryRefreshTokenStore(work)
        self.invitations = MemoryInvitationStore(work)
        self.media_objects = MemoryMediaObjectStore(work)
        self.statistics = MemoryInboxStatistics(work)
        ai = self._ai = self._db.ai.staged()
        self.knowledge, self.embeddings = MemoryKnowledgeStore(ai), MemoryEmbeddingStore(ai)
        self.ai_usage = MemoryAiUsageStore(ai)
        self.ai_settings, self.auto_replies = MemoryAiSettingsStore(ai), MemoryAutoReplyLog(ai)
        auto = self._automation = self._db.automation.staged()
        self.webhooks = MemorySubscriptionStore(auto)
        self.webhook_deliveries = MemoryDeliveryLog(auto)
        self.idempotency = MemoryIdempotencyStore(auto)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = None
        self._db.lock.release()

    async def commit(self) -> None:
        if self._work is None:
            raise RuntimeError("commit() outside 'async with'")
        self._db.state = _staged(self._work)
        self._db.ai = self._ai.staged()
        self._db.automation = self._automation.staged()


class MemoryUnitOfWorkFactory:
    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db or MemoryDatabase()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.db)


class AlwaysReady:
    """Probe for parts that live in this process and cannot be down."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def check(self) -> None:
        return None
