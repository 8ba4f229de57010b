"""Media objects on PostgreSQL (row-level security, like every tenant table)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from adapters.postgres import tables
from adapters.postgres.store_base import SqlaStore
from whatsapp_core.errors import NotFound
from whatsapp_core.media import MediaObject

_m = tables.media_objects
_SET_META_ID = (
    sa.update(_m)
    .where(_m.c.tenant_id == sa.bindparam("t"), _m.c.id == sa.bindparam("i"))
    .values(meta_media_id=sa.bindparam("meta"))
)


class SqlaMediaObjectStore(SqlaStore):
    table = _m
    entity = MediaObject
    not_found = "media object not found"

    async def add(self, media: MediaObject) -> None:
        await self._insert(media)

    async def get(self, tenant_id: uuid.UUID, media_id: uuid.UUID) -> MediaObject:
        found: MediaObject = await self._get(tenant_id, media_id)
        return found

    async def set_meta_media_id(
        self, tenant_id: uuid.UUID, media_id: uuid.UUID, meta_media_id: str
    ) -> None:
        params = {"t": tenant_id, "i": media_id, "meta": meta_media_id}
        if (await self._execute(tenant_id, _SET_META_ID, params)).rowcount == 0:
            raise NotFound(self.not_found)
