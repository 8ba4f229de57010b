"""An agent sends a file (``send_media``) and the ``msg.send`` job uploads it to Meta
once, then sends it by Meta's media id; on memory twins."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.memory.jobs import MemoryOutboxRelay, MemoryRateLimiter
from adapters.memory.media import MemoryBlobStore
from entrypoints.worker.runner import Worker
from tests.unit.media.test_fetch import PNG
from tests.unit.services.harness import ANA_PHONE, Harness
from whatsapp_core.domain.model import Direction, Message
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import (
    DeliveryError,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyViolation,
)
from whatsapp_core.jobs import MSG_SEND
from whatsapp_core.media import MB, MediaObject, MediaRef, MediaRejected, MediaState, upload_key
from whatsapp_core.policies.access import Role
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import deliver_message
from whatsapp_core.services.outbound_media import send_media

pytestmark = pytest.mark.unit

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64


class World:
    def __init__(self, h: Harness, conversation_id: uuid.UUID) -> None:
        self.h = h
        self.conversation_id = conversation_id
        self.blobs = MemoryBlobStore()

    async def send(self, role: Role = Role.AGENT, **options: Any) -> Message:
        options.setdefault("mime", "image/png")
        options.setdefault("data", PNG)
        return await send_media(
            self.h.svc, self.blobs, self.h.as_(role), self.conversation_id, **options
        )

    async def deliver(self, message: Message, gateway: Any = None) -> str:
        return await deliver_message(
            self.h.svc, gateway or self.h.gateway, message.tenant_id, message.id, blobs=self.blobs
        )

    def stored(self, message_id: uuid.UUID) -> Message:
        return self.h.uow.db.state.messages[(self.h.t.id, message_id)]

    def media(self) -> list[MediaObject]:
        return list(self.h.uow.db.state.media_objects.values())

    def send_jobs(self) -> list[dict[str, Any]]:
        return [j.payload for j in self.h.uow.db.state.outbox.values() if j.kind == MSG_SEND]


@pytest.fixture
async def w() -> World:
    h = Harness()
    await h.add_tenant()
    await ingest_webhook(h.svc, h.batch(h.text("Can you send the invoice?")))
    (conversation,) = h.uow.db.state.conversations.values()
    return World(h, conversation.id)


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def never_read() -> AsyncIterator[bytes]:
    raise AssertionError("the body was read although the file was already refused")
    yield b""  # pragma: no cover


# -- queueing -------------------------------------------------------------------------


async def test_a_picture_is_stored_recorded_queued_audited_and_announced(w: World) -> None:
    agent = w.h.as_(Role.AGENT)
    message = await send_media(
        w.h.svc, w.blobs, agent, w.conversation_id, mime="image/png", data=PNG,
        filename="catalogue.png", caption="Our new range",
    )  # fmt: skip

    assert (message.type, message.direction, message.status) == (
        "image", Direction.OUTBOUND, MessageStatus.ACCEPTED,
    )  # fmt: skip
    assert message.text == "Our new range"
    assert message.author_id == agent.user_id
    assert w.stored(message.id) == message
    (media,) = w.media()
    assert media.direction is Direction.OUTBOUND
    assert (media.mime_type, media.size, media.filename) == ("image/png", len(PNG), "catalogue.png")
    assert media.sha256 == hashlib.sha256(PNG).hexdigest()
    assert media.blob_key == upload_key(w.h.t.id, media.id)
    assert media.meta_media_id is None
    assert w.blobs.blobs[media.blob_key].data == PNG

    ref = MediaRef.of(message.content)
    assert ref is not None
    assert (ref.state, ref.key, ref.size) == (MediaState.AVAILABLE, media.blob_key, len(PNG))
    assert message.content["media_object_id"] == str(media.id)
    assert message.content["image"] == {
        "mime_type": "image/png", "filename": "catalogue.png", "caption": "Our new range",
    }  # fmt: skip

    assert w.send_jobs() == [{"message_id": str(message.id)}]
    actions = {e.action: e for e in w.h.uow.db.state.audit.values()}
    assert set(actions) == {"media.upload", "message.send"}
    assert actions["media.upload"].after is not None
    assert actions["media.upload"].after["sha256"] == media.sha256
    assert actions["message.send"].actor == f"user:{agent.user_id}"
    (created,) = [e for e in w.h.events.events if e.kind == "message.created"][-1:]
    assert created.payload["message_id"] == str(message.id)
    assert created.payload["type"] == "image"


async def test_a_document_streams_in_and_its_type_decides_the_kind(w: World) -> None:
    message = await w.send(
        mime="application/pdf", data=stream(PDF[:10], PDF[10:]), filename="../../etc/invoice.pdf"
    )
    assert message.type == "document"
    assert message.text is None
    (media,) = w.media()
    assert (media.size, media.filename) == (len(PDF), "invoice.pdf")
    assert w.blobs.blobs[media.blob_key].data == PDF
    for mime, kind in (("audio/ogg; codecs=opus", "audio"), ("video/mp4", "video")):
        sent = await w.send(mime=mime, data=b"\x00\x01\x02")
        assert sent.type == kind


# -- refusals: nothing stored, recorded or queued --------------------------------------


def nothing_kept(w: World) -> None:
    assert not w.blobs.blobs
    assert not w.media()
    assert not w.send_jobs()
    assert not w.h.uow.db.state.audit
    assert all(m.direction is Direction.INBOUND for m in w.h.uow.db.state.messages.values())


async def test_a_viewer_cannot_send_a_file(w: World) -> None:
    with pytest.raises(Forbidden):
        await w.send(Role.VIEWER, data=never_read())
    nothing_kept(w)


async def test_outside_the_window_a_file_is_refused_with_the_closing_time(w: World) -> None:
    w.h.clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(PolicyViolation) as refused:
        await w.send(data=never_read(), size=len(PNG))
    assert refused.value.code == "window_closed"
    closes_at = refused.value.details["closes_at"]
    assert closes_at
    assert closes_at in refused.value.message
    nothing_kept(w)


@pytest.mark.parametrize(
    ("mime", "size", "reason", "says"),
    [
        ("image/gif", 10, "mime_not_allowed", "image/gif cannot be sent"),
        ("text/html", 10, "mime_not_allowed", "text/html cannot be sent"),
        ("", 10, "mime_not_allowed", "without a type"),
        ("image/png", 5 * MB + 1, "too_large", "an image may be at most 5.0 MB"),
        ("audio/mpeg", 16 * MB + 1, "too_large", "an audio may be at most 16.0 MB"),
        ("video/mp4", 17 * MB, "too_large", "a video may be at most 16.0 MB"),
        ("application/pdf", 100 * MB + 1, "too_large", "a document may be at most 100.0 MB"),
        ("application/pdf", 0, "empty", "the file is empty"),
    ],
)
async def test_a_bad_type_or_declared_size_is_refused_before_reading(
    w: World, mime: str, size: int, reason: str, says: str
) -> None:
    with pytest.raises(MediaRejected) as refused:
        await w.send(mime=mime, data=never_read(), size=size)
    assert refused.value.reason == reason
    assert says in refused.value.message
    nothing_kept(w)


@pytest.mark.parametrize(
    ("mime", "data", "reason"),
    [
        ("image/png", b"", "empty"),
        ("application/pdf", stream(), "empty"),
        ("image/jpeg", stream(b"\xff\xd8\xff" + bytes(MB), *[bytes(MB)] * 5), "too_large"),
        ("image/png", b"<svg onload=alert(1)>", "content_mismatch"),
    ],
    ids=["empty-bytes", "empty-stream", "stream-grows-too-big", "not-what-it-says"],
)
async def test_a_file_that_breaks_the_rules_as_it_arrives_is_refused(
    w: World, mime: str, data: bytes | AsyncIterable[bytes], reason: str
) -> None:
    with pytest.raises(MediaRejected) as refused:
        await w.send(mime=mime, data=data)
    assert refused.value.reason == reason
    nothing_kept(w)


@pytest.mark.parametrize(
    ("mime", "caption"),
    [("audio/ogg", "listen"), ("image/png", "x" * 1025)],
    ids=["audio-has-no-caption", "caption-too-long"],
)
async def test_a_caption_whatsapp_would_refuse_is_refused(
    w: World, mime: str, caption: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await w.send(mime=mime, data=never_read(), size=100, caption=caption)
    assert refused.value.details["field"] == "caption"
    nothing_kept(w)


async def test_an_unknown_or_foreign_conversation_is_not_found(w: World) -> None:
    w.conversation_id = uuid.uuid4()
    with pytest.raises(NotFound):
        await w.send()
    nothing_kept(w)


async def test_a_failed_commit_leaves_no_file_behind(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise DomainError("the database went away")

    monkeypatch.setattr(type(w.h.uow()), "commit", refuse)
    with pytest.raises(DomainError):
        await w.send()
    assert not w.blobs.blobs


# -- delivery -------------------------------------------------------------------------


async def test_the_job_uploads_the_file_then_sends_it_by_metas_media_id(w: World) -> None:
    message = await w.send(mime="application/pdf", data=PDF, filename="invoice.pdf",
                           caption="Your invoice")  # fmt: skip
    assert await w.deliver(message) == "sent"

    (meta_media_id, upload), *_ = w.h.gateway.uploads.items()
    assert (upload.data, upload.mime_type, upload.filename) == (
        PDF, "application/pdf", "invoice.pdf",
    )  # fmt: skip
    (sent,) = w.h.gateway.sent
    assert sent.recipient.wa_id == ANA_PHONE
    assert sent.message == OutgoingMessage(
        type="document", media_id=meta_media_id, caption="Your invoice", filename="invoice.pdf",
        callback_data=str(message.id),
    )  # fmt: skip
    assert w.stored(message.id).wamid == sent.wamid
    (media,) = w.media()
    assert media.meta_media_id == meta_media_id


async def test_a_redelivered_job_never_uploads_or_sends_twice(w: World) -> None:
    message = await w.send()
    assert await w.deliver(message) == "sent"
    assert await w.deliver(message) == "already_sent"
    assert (len(w.h.gateway.uploads), len(w.h.gateway.sent)) == (1, 1)


class SendFailsOnce(MemoryWhatsAppGateway):
    """Uploads work; the first send answers Meta's transient error."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        if not self.failed:
            self.failed = True
            raise DeliveryError("(131000) try again", meta_code=131000, http_status=500)
        return await super().send(tenant, recipient, message)


async def test_a_retry_after_a_failed_send_reuses_the_uploaded_media_id(w: World) -> None:
    gateway = SendFailsOnce()
    message = await w.send()
    with pytest.raises(DeliveryError):
        await w.deliver(message, gateway)
    assert len(gateway.uploads) == 1
    assert w.stored(message.id).status is MessageStatus.ACCEPTED
    assert await w.deliver(message, gateway) == "sent"
    assert len(gateway.uploads) == 1
    (sent,) = gateway.sent
    assert sent.message.media_id == next(iter(gateway.uploads))


async def test_a_transient_upload_failure_is_retried_and_nothing_is_sent(w: World) -> None:
    message = await w.send()
    w.h.gateway.fail_next(131000, http_status=500)
    with pytest.raises(DeliveryError):
        await w.deliver(message)
    assert not w.h.gateway.sent
    assert w.media()[0].meta_media_id is None
    assert await w.deliver(message) == "sent"


async def test_an_upload_meta_refuses_fails_the_message_with_its_code(w: World) -> None:
    message = await w.send()
    w.h.gateway.fail_next(131053, http_status=400)
    assert await w.deliver(message) == "failed"
    failed = w.stored(message.id)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, 131053)
    assert not w.h.gateway.sent
    assert await w.deliver(message) == "already_sent"


async def test_a_file_gone_from_storage_fails_the_message_and_says_why(w: World) -> None:
    message = await w.send()
    w.blobs.blobs.clear()
    assert await w.deliver(message) == "failed"
    failed = w.stored(message.id)
    assert failed.status is MessageStatus.FAILED
    assert failed.error_text is not None
    assert "no longer stored" in failed.error_text
    assert not w.h.gateway.sent


async def test_the_worker_delivers_a_file_through_its_blob_store(w: World) -> None:
    message = await w.send(mime="application/pdf", data=PDF)
    worker = Worker(
        relay=MemoryOutboxRelay(w.h.uow.db), limiter=MemoryRateLimiter(), gateway=w.h.gateway,
        services=lambda: w.h.svc, clock=w.h.clock, blobs=w.blobs,
    )  # fmt: skip
    await worker.drain()
    (upload,) = w.h.gateway.uploads.values()
    assert upload.data == PDF
    assert w.stored(message.id).wamid == w.h.gateway.sent[0].wamid
