"""The ``media.fetch`` use case on memory twins: Meta's media endpoints and a blob store."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest

from adapters.memory.media import MemoryBlobStore, MemoryMediaFetcher
from entrypoints.worker.handlers import default_handlers, media_fetch
from tests.unit.services.harness import ANA_BSUID, ANA_PHONE, Harness, wamid
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Message
from whatsapp_core.domain.webhook import InboundMessage
from whatsapp_core.errors import DeliveryError, InvalidInput, UpstreamUnavailable
from whatsapp_core.jobs import MEDIA_FETCH, JobRecord
from whatsapp_core.media import MB, MediaRef, MediaRejected, MediaState, media_key, rule_for
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.media import fetch_inbound_media, verified

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


class Media:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.meta = MemoryMediaFetcher()
        self.blobs = MemoryBlobStore()

    async def inbound(
        self, data: bytes, mime: str = "image/png", *, type: str = "image", **extra: Any
    ) -> tuple[Message, dict[str, Any]]:
        media_id = self.meta.add(data, mime)
        payload = {"id": media_id, "mime_type": mime, **extra}
        message = InboundMessage(
            wamid=wamid(),
            customer=CustomerIdentity(bsuid=ANA_BSUID, wa_id=ANA_PHONE, name="Ana"),
            sent_at=self.h.clock.now() - timedelta(seconds=1),
            type=type,
            content={type: payload},
            media_id=media_id,
        )
        await ingest_webhook(self.h.svc, self.h.batch(message))
        state = self.h.uow.db.state
        stored = next(m for m in state.messages.values() if m.wamid == message.wamid)
        (job,) = [
            j
            for j in state.outbox.values()
            if j.kind == MEDIA_FETCH and j.payload["message_id"] == str(stored.id)
        ]
        return stored, job.payload

    async def fetch(self, message: Message, **options: Any) -> str:
        return await fetch_inbound_media(
            self.h.svc, self.meta, self.blobs, message.tenant_id, message.id, **options
        )

    async def ref(self, message: Message) -> MediaRef:
        async with self.h.uow() as uow:
            current = await uow.messages.get(message.tenant_id, message.id)
        ref = MediaRef.of(current.content)
        assert ref is not None
        return ref


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.add_tenant()
    return harness


@pytest.fixture
def m(h: Harness) -> Media:
    return Media(h)


async def test_an_image_is_copied_recorded_and_announced(m: Media) -> None:
    message, payload = await m.inbound(PNG, caption="look")
    assert payload["media_id"] in m.meta.media
    outcome = await m.fetch(message)
    assert outcome == f"stored {len(PNG)} bytes (image/png)"
    ref = await m.ref(message)
    assert ref.state is MediaState.AVAILABLE
    assert ref.key == media_key(message.tenant_id, message.id)
    assert (ref.size, ref.sha256) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert m.blobs.blobs[ref.key].data == PNG
    async with m.h.uow() as uow:
        content = (await uow.messages.get(message.tenant_id, message.id)).content
    assert content["image"]["caption"] == "look"  # Meta's payload is kept beside it
    (event,) = [e for e in m.h.events.events if e.kind == "message.media"]
    assert event.payload["state"] == "available"
    assert event.payload["message_id"] == str(message.id)


async def test_fetching_again_does_nothing(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    await m.fetch(message)
    calls = m.meta.info_calls
    assert await m.fetch(message) == "already stored"
    assert m.meta.info_calls == calls
    # A copy that vanished from the store is fetched again.
    m.blobs.blobs.clear()
    assert (await m.fetch(message)).startswith("stored")


async def test_an_expired_url_is_refreshed_once(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    m.meta.expire_next = 1
    assert (await m.fetch(message)).startswith("stored")
    assert (m.meta.info_calls, m.meta.downloads) == (2, 2)


async def test_a_url_that_expires_twice_is_retried_later(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    m.meta.expire_next = 2
    with pytest.raises(UpstreamUnavailable):
        await m.fetch(message)
    assert m.meta.info_calls == 2  # refreshed once, not in a loop
    async with m.h.uow() as uow:
        assert "media" not in (await uow.messages.get(message.tenant_id, message.id)).content
    m.meta.expire_next = 2
    outcome = await m.fetch(message, final_attempt=True)
    assert outcome.startswith("unavailable (gave_up)")
    assert (await m.ref(message)).mime_type == "image/png"
    # Giving up on an outage is not final: a requeued job tries again.
    assert (await m.fetch(message)).startswith("stored")


async def test_meta_down_is_transient_then_recorded_on_the_last_attempt(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    m.meta.failures.append(DeliveryError("(131000) boom", meta_code=131000, http_status=500))
    with pytest.raises(UpstreamUnavailable):
        await m.fetch(message)
    m.meta.failures.append(DeliveryError("(190) token", meta_code=190, http_status=401))
    with pytest.raises(UpstreamUnavailable):  # a token can be fixed within the media's life
        await m.fetch(message)
    assert (await m.fetch(message)).startswith("stored")


async def test_an_unknown_media_id_is_unavailable(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    outcome = await m.fetch(message, media_id="999")
    assert outcome.startswith("unavailable (gone)")
    assert (await m.ref(message)).reason_code == "gone"
    assert await m.fetch(message) == f"already unavailable: {(await m.ref(message)).reason}"


@pytest.mark.parametrize(
    ("data", "mime", "type", "code"),
    [
        (PNG, "image/gif", "image", "mime_not_allowed"),
        (b"\x89PNG\r\n\x1a\n" + b"x" * (5 * MB), "image/png", "image", "too_large"),
        (b"RIFF\x00\x00\x00\x00WEBP" + b"x" * (500 * 1024), "image/webp", "sticker", "too_large"),
        (b"<html><script>alert(1)</script></html>", "image/png", "image", "content_mismatch"),
        (b"", "image/png", "image", "empty"),
    ],
    ids=["gif", "image-5MB+", "sticker-500KB+", "html-as-png", "empty"],
)
async def test_media_outside_the_policy_is_unavailable_with_a_reason(
    m: Media, data: bytes, mime: str, type: str, code: str
) -> None:
    message, _ = await m.inbound(data, mime, type=type)
    outcome = await m.fetch(message)
    assert outcome.startswith(f"unavailable ({code})"), outcome
    ref = await m.ref(message)
    assert (ref.state, ref.reason_code) == (MediaState.UNAVAILABLE, code)
    assert ref.reason
    assert not m.blobs.blobs  # nothing kept
    (event,) = [e for e in m.h.events.events if e.kind == "message.media"]
    assert event.payload["state"] == "unavailable"
    assert event.payload["reason"] == ref.reason


async def test_the_webhook_digest_is_checked_in_base64(m: Media) -> None:
    good = base64.b64encode(hashlib.sha256(PNG).digest()).decode()
    message, _ = await m.inbound(PNG, sha256=good)
    assert (await m.fetch(message)).startswith("stored")
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    message, _ = await m.inbound(PNG, sha256=wrong)
    assert (await m.fetch(message)).startswith("unavailable (sha256_mismatch)")
    assert len(m.blobs.blobs) == 1


async def test_the_media_endpoint_digest_is_checked(m: Media) -> None:
    message, _ = await m.inbound(PNG)
    m.meta.media[next(iter(m.meta.media))].sha256 = hashlib.sha256(b"other").hexdigest()
    assert (await m.fetch(message)).startswith("unavailable (sha256_mismatch)")


async def test_a_message_without_media(m: Media, h: Harness) -> None:
    await ingest_webhook(h.svc, h.batch(h.text("hello")))
    (text,) = h.uow.db.state.messages.values()
    assert (await m.fetch(text)).startswith("nothing to fetch")
    message, _ = await m.inbound(PNG)
    assert (await m.fetch(message, media_id="")).startswith("stored")  # id from the content


async def test_the_stream_check_stops_at_the_limit_without_reading_on() -> None:
    read = 0

    async def endless() -> Any:
        nonlocal read
        yield b"\xff\xd8\xff" + b"\x00" * 1021
        while True:
            read += 1024
            yield b"\x00" * 1024

    with pytest.raises(MediaRejected) as refused:
        async for _ in verified(endless(), rule=rule_for("image"), mime="image/jpeg"):
            pass
    assert refused.value.reason == "too_large"
    assert read <= 5 * MB


async def test_the_worker_handler(m: Media) -> None:
    message, payload = await m.inbound(PNG)
    handler = media_fetch(lambda: m.h.svc, m.meta, m.blobs, max_attempts=3)
    job = JobRecord(
        id=uuid.uuid4(), tenant_id=message.tenant_id, kind=MEDIA_FETCH, payload=payload,
        created_at=m.h.clock.now(), attempts=1,
    )  # fmt: skip
    assert (await handler(job)).startswith("stored")
    with pytest.raises(InvalidInput):
        await handler(JobRecord(**{**_fields(job), "payload": {"message_id": "nope"}}))
    # The last attempt records a failure instead of leaving a gap.
    _other, payload = await m.inbound(PNG)
    m.meta.failures.append(DeliveryError("(1) down", meta_code=1, http_status=500))
    last = JobRecord(**{**_fields(job), "payload": payload, "attempts": 3})
    assert (await handler(last)).startswith("unavailable (gave_up)")


def test_media_fetch_is_registered_when_a_blob_store_is_given(m: Media) -> None:
    from adapters.memory.jobs import MemoryRateLimiter

    limiter = MemoryRateLimiter()
    assert MEDIA_FETCH not in default_handlers(lambda: m.h.svc, m.h.gateway, limiter)
    assert MEDIA_FETCH not in default_handlers(lambda: m.h.svc, m.h.gateway, limiter, m.blobs)
    assert MEDIA_FETCH in default_handlers(lambda: m.h.svc, m.meta, limiter, m.blobs)  # type: ignore[arg-type]


def _fields(job: JobRecord) -> dict[str, Any]:
    return {name: getattr(job, name) for name in job.__struct_fields__}
