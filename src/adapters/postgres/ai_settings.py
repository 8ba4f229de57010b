"""PostgreSQL stores for a tenant's AI settings and the auto-reply log (migration 0014)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.postgres import tables
from adapters.postgres.store_base import SqlaStore, to_row
from whatsapp_core.ai_settings import AiSettings

_s = tables.ai_settings
_r = tables.ai_auto_replies

_insert_settings = insert(_s)
_PUT_SETTINGS = _insert_settings.on_conflict_do_update(
    index_elements=[_s.c.tenant_id],
    set_={c.name: _insert_settings.excluded[c.name] for c in _s.columns if c.name != "tenant_id"},
)

_insert_reply = insert(_r)
# Of two transactions racing for one conversation, the second waits for the first's row
# and then finds it inside the cooldown: its WHERE is false, nothing is returned.
_RECORD_REPLY = _insert_reply.on_conflict_do_update(
    index_elements=[_r.c.tenant_id, _r.c.conversation_id],
    set_={
        "message_id": _insert_reply.excluded.message_id,
        "sent_at": _insert_reply.excluded.sent_at,
    },
    where=_r.c.sent_at <= sa.bindparam("not_since"),
).returning(_r.c.conversation_id)


class SqlaAiSettingsStore(SqlaStore):
    table = _s
    entity = AiSettings

    async def get(self, tenant_id: uuid.UUID) -> AiSettings | None:
        found: AiSettings | None = await self._one(tenant_id, tenant_id=tenant_id)
        return found

    async def put(self, settings: AiSettings) -> None:
        row: dict[str, Any] = to_row(settings, _s)
        await self._execute(settings.tenant_id, _PUT_SETTINGS, row)


class SqlaAutoReplyLog(SqlaStore):
    table = _r

    async def last_sent(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> datetime | None:
        query = sa.select(_r.c.sent_at).where(
            _r.c.tenant_id == tenant_id, _r.c.conversation_id == conversation_id
        )
        found: datetime | None = (await self._execute(tenant_id, query)).scalar_one_or_none()
        return found

    async def record(
        self,
        tenant_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
        at: datetime,
        *,
        not_since: datetime,
    ) -> bool:
        params = {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "sent_at": at,
            "not_since": not_since,
        }
        result = await self._execute(tenant_id, _RECORD_REPLY, params)
        return result.first() is not None
