"""An agent's upload (checked before anything is kept) and handing a stored copy out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.unit.media.test_fetch import PNG, Media
from tests.unit.services.harness import Harness
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Forbidden, NotFound
from whatsapp_core.media import MB, MediaRejected, MediaState, upload_key
from whatsapp_core.policies.access import Role
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.media import message_media, upload_outbound_media

pytestmark = pytest.mark.unit


@pytest.fixture
async def m() -> Media:
    harness = Harness()
    await harness.add_tenant()
    return Media(harness)


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_an_agent_uploads_a_file_for_sending(m: Media) -> None:
    agent = m.h.as_(Role.AGENT)
    uploaded = await upload_outbound_media(
        m.h.svc, m.blobs, agent, kind="image", mime_type="image/png", data=PNG,
        filename="catalogue.png",
    )  # fmt: skip
    assert uploaded.ref.state is MediaState.AVAILABLE
    assert uploaded.ref.key == upload_key(agent.tenant_id, uploaded.id)
    assert m.blobs.blobs[uploaded.ref.key].data == PNG
    (entry,) = m.h.uow.db.state.audit.values()
    assert (entry.action, entry.entity_id) == ("media.upload", str(uploaded.id))
    assert entry.after is not None
    assert entry.after["size"] == len(PNG)


async def test_a_stream_of_unknown_size_is_checked_as_it_arrives(m: Media) -> None:
    agent = m.h.as_(Role.AGENT)
    pdf = await upload_outbound_media(
        m.h.svc, m.blobs, agent, kind="document", mime_type="application/pdf",
        data=stream(b"%PDF-1.7\n", b"x" * 100_000),
    )  # fmt: skip
    assert pdf.ref.size == 100_009
    with pytest.raises(MediaRejected) as refused:
        await upload_outbound_media(
            m.h.svc, m.blobs, agent, kind="image", mime_type="image/jpeg",
            data=stream(b"\xff\xd8\xff" + b"\x00" * MB, *[b"\x00" * MB] * 6),
        )  # fmt: skip
    assert refused.value.reason == "too_large"
    assert len(m.blobs.blobs) == 1  # only the PDF


@pytest.mark.parametrize(
    ("kind", "mime", "data", "size", "reason"),
    [
        ("image", "image/png", b"", None, "empty"),
        ("image", "image/png", None, 6 * MB, "too_large"),
        ("image", "image/gif", b"GIF89a", None, "mime_not_allowed"),
        ("document", "text/html", b"<html>", None, "mime_not_allowed"),
        ("image", "image/png", b"<svg onload=alert(1)>", None, "content_mismatch"),
    ],
)
async def test_refused_before_anything_is_kept(
    m: Media, kind: str, mime: str, data: bytes | None, size: int | None, reason: str
) -> None:
    source = data if data is not None else stream(b"never read")
    with pytest.raises(MediaRejected) as refused:
        await upload_outbound_media(
            m.h.svc, m.blobs, m.h.as_(Role.AGENT), kind=kind, mime_type=mime, data=source,
            size=size,
        )  # fmt: skip
    assert refused.value.reason == reason
    assert not m.blobs.blobs
    assert not m.h.uow.db.state.audit


async def test_a_viewer_cannot_upload(m: Media) -> None:
    with pytest.raises(Forbidden):
        await upload_outbound_media(
            m.h.svc, m.blobs, m.h.as_(Role.VIEWER), kind="image", mime_type="image/png", data=PNG
        )
    assert not m.blobs.blobs


async def test_handing_out_a_stored_copy(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    viewer = m.h.as_(Role.VIEWER)
    with pytest.raises(NotFound) as pending:
        await message_media(m.h.svc, m.blobs, viewer, message.id)
    assert pending.value.code == "media_pending"
    await m.fetch(message)
    found = await message_media(m.h.svc, m.blobs, viewer, message.id)
    assert found.url is None  # the memory store streams; S3 would give a link
    assert found.key == found.ref.key
    assert found.filename == f"image-{message.id}.png"

    other = await m.h.add_tenant("other", phone_number_id="106540352242999")
    with pytest.raises(NotFound) as foreign:
        await message_media(m.h.svc, m.blobs, m.h.as_(Role.ADMIN, other), message.id)
    assert foreign.value.code == "not_found"  # looks like any unknown message
    key_user = Principal(tenant_id=message.tenant_id, role=Role.ADMIN, api_key_id=uuid.uuid4())
    with pytest.raises(Forbidden):
        await message_media(m.h.svc, m.blobs, key_user, message.id)


async def test_unavailable_and_media_less_messages(m: Media) -> None:
    message, _ = await m.inbound(PNG, "image/gif")
    await m.fetch(message)
    with pytest.raises(NotFound) as gone:
        await message_media(m.h.svc, m.blobs, m.h.as_(Role.AGENT), message.id)
    assert gone.value.code == "media_unavailable"
    assert gone.value.details["reason"] == "mime_not_allowed"
    await ingest_webhook(m.h.svc, m.h.batch(m.h.text("hi")))
    text = next(x for x in m.h.uow.db.state.messages.values() if x.type == "text")
    with pytest.raises(NotFound) as none:
        await message_media(m.h.svc, m.blobs, m.h.as_(Role.AGENT), text.id)
    assert none.value.code == "no_media"
