"""The media object store: the same behaviour on memory and both PostgreSQL servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.contract.test_stores import tenant
from whatsapp_core.domain.model import Direction
from whatsapp_core.errors import Conflict, NotFound
from whatsapp_core.media import MB, MediaObject, upload_key
from whatsapp_core.ports import UnitOfWorkFactory

pytestmark = pytest.mark.contract
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def media(tenant_id: uuid.UUID, **kw: object) -> MediaObject:
    media_id = uuid.uuid4()
    fields: dict[str, object] = {
        "id": media_id, "tenant_id": tenant_id, "direction": Direction.OUTBOUND,
        "mime_type": "application/pdf", "size": 100 * MB, "sha256": "ab" * 32,
        "blob_key": upload_key(tenant_id, media_id), "filename": "Fatura março.pdf",
        "created_at": T0,
    }  # fmt: skip
    return MediaObject(**{**fields, **kw})  # type: ignore[arg-type]


async def test_a_media_object_is_kept_whole_and_only_for_its_tenant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    document = media(acme.id)
    picture = media(acme.id, direction=Direction.INBOUND, mime_type="image/png", size=1,
                    filename=None, meta_media_id="2100000000000001")  # fmt: skip
    async with uow_factory() as uow:
        await uow.media_objects.add(document)
        await uow.media_objects.add(picture)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.media_objects.get(acme.id, document.id) == document
        assert await uow.media_objects.get(acme.id, picture.id) == picture
        with pytest.raises(NotFound):
            await uow.media_objects.get(beta.id, document.id)
        with pytest.raises(NotFound):
            await uow.media_objects.get(acme.id, uuid.uuid4())


async def test_an_id_is_taken_once(uow_factory: UnitOfWorkFactory) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    document = media(acme.id)
    async with uow_factory() as uow:
        await uow.media_objects.add(document)
        await uow.commit()
    for tenant_id in (acme.id, beta.id):
        async with uow_factory() as uow:
            with pytest.raises(Conflict):
                await uow.media_objects.add(media(tenant_id, id=document.id))


async def test_metas_media_id_is_recorded_once_uploaded(uow_factory: UnitOfWorkFactory) -> None:
    acme, beta = await tenant(uow_factory), await tenant(uow_factory, "beta")
    document = media(acme.id)
    async with uow_factory() as uow:
        await uow.media_objects.add(document)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.media_objects.set_meta_media_id(acme.id, document.id, "2100000000000042")
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.media_objects.get(acme.id, document.id)
        assert stored.meta_media_id == "2100000000000042"
        assert (stored.blob_key, stored.size) == (document.blob_key, document.size)
        with pytest.raises(NotFound):
            await uow.media_objects.set_meta_media_id(beta.id, document.id, "1")
        with pytest.raises(NotFound):
            await uow.media_objects.set_meta_media_id(acme.id, uuid.uuid4(), "1")


async def test_nothing_is_kept_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    acme = await tenant(uow_factory)
    document = media(acme.id)
    async with uow_factory() as uow:
        await uow.media_objects.add(document)
    async with uow_factory() as uow:
        await uow.media_objects.add(document)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.media_objects.set_meta_media_id(acme.id, document.id, "7")
    async with uow_factory() as uow:
        assert (await uow.media_objects.get(acme.id, document.id)).meta_media_id is None
