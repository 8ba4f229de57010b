"""Media: the blob-store and media-source ports, the media policy, and what a message keeps.

A media message's bytes live in a ``BlobStore`` under a key that starts with the
tenant (``tenants/{tenant_id}/...``); the message keeps a ``MediaRef`` in
``content["media"]``: where the bytes are and whether they could be had at all.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import msgspec

from whatsapp_core.domain.model import Direction
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import InvalidInput

CHUNK_SIZE = 64 * 1024
KB = 1024
MB = 1024 * 1024
PRESIGNED_URL_SECONDS = 300


# -- keys -----------------------------------------------------------------------------

# Segments start with a letter, digit, "_" or "-": no ".", "..", hidden files, empty
# segments, absolute paths, backslashes, NULs or percent-escapes can get through.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}"
_KEY = re.compile(rf"{_SEGMENT}(/{_SEGMENT}){{0,15}}")
MAX_KEY_LENGTH = 1024


def check_key(key: str) -> str:
    """``key`` if it is a safe blob key, else ``InvalidInput`` (every store calls this)."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidInput(
            "a blob key is 1-16 '/'-separated segments of letters, digits, '.', '_' or '-', "
            "none starting with '.'",
            code="unsafe_blob_key",
        )
    return key


def tenant_prefix(tenant_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/"


def media_key(tenant_id: uuid.UUID, message_id: uuid.UUID) -> str:
    """Where an inbound message's media is kept."""
    return f"{tenant_prefix(tenant_id)}media/{message_id}"


def upload_key(tenant_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    """Where a file an agent uploads for sending is kept."""
    return f"{tenant_prefix(tenant_id)}uploads/{upload_id}"


# -- the blob store -------------------------------------------------------------------


class BlobInfo(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    size: int
    content_type: str


class StoredBlob(BlobInfo, frozen=True, kw_only=True):
    """What ``put`` stored: the digest is of the bytes as written (lowercase hex)."""

    sha256: str


@runtime_checkable
class BlobStore(Protocol):
    """Bytes by key (S3, a local folder, memory). Keys pass ``check_key``.

    ``put`` is all or nothing: a reader sees the previous object or the whole new one,
    and a source that raises part-way leaves nothing new behind (the error propagates).
    Backend failures raise ``StorageError``; unsafe keys ``InvalidInput``.
    """

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob: ...

    async def stat(self, key: str) -> BlobInfo | None: ...

    async def exists(self, key: str) -> bool: ...

    def open(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The bytes in chunks of at most ``chunk_size``; ``NotFound`` (on first
        iteration) when absent. Close it (``contextlib.aclosing``) if you stop early."""
        ...

    async def delete(self, key: str) -> None:
        """Remove; no error when already absent."""
        ...

    async def presigned_url(
        self,
        key: str,
        *,
        expires_in: int = PRESIGNED_URL_SECONDS,
        filename: str | None = None,
    ) -> str | None:
        """A short-lived URL a browser can GET without our credentials, or ``None`` when
        this store cannot hand one out (then serve the bytes through ``open``)."""
        ...


# -- media objects: the files messages carry ---------------------------------------------


class MediaObject(msgspec.Struct, frozen=True, kw_only=True):
    """A stored file a message carries: its bytes in the blob store under ``blob_key``,
    and, once uploaded to Meta for sending, Meta's media id (a retried send uses it
    instead of uploading again)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    direction: Direction
    mime_type: str
    size: int
    sha256: str
    blob_key: str
    filename: str | None = None
    meta_media_id: str | None = None
    created_at: datetime


class MediaObjectStore(Protocol):
    async def add(self, media: MediaObject) -> None:
        """``Conflict`` when the id is taken."""
        ...

    async def get(self, tenant_id: uuid.UUID, media_id: uuid.UUID) -> MediaObject:
        """``NotFound`` when absent or in another tenant."""
        ...

    async def set_meta_media_id(
        self, tenant_id: uuid.UUID, media_id: uuid.UUID, meta_media_id: str
    ) -> None:
        """Record the id Meta gave the uploaded file; ``NotFound`` when absent."""
        ...


# -- the media source (Meta) ----------------------------------------------------------


class MediaInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Meta's answer to ``GET /{media_id}``; the url expires (5 minutes)."""

    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | None = None
    id: str | None = None


@runtime_checkable
class MediaFetcher(Protocol):
    """Meta's media endpoints (``HttpxWhatsAppGateway``, the simulator, a memory twin).

    Refusals raise ``DeliveryError`` with Meta's code and the HTTP status."""

    async def get_media_url(self, tenant: Tenant, media_id: str) -> Mapping[str, Any]:
        """``{url, mime_type, sha256, file_size, id}`` (see ``MediaInfo``)."""
        ...

    def stream_media(
        self, tenant: Tenant, url: str, *, chunk_size: int = CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """The bytes behind a url from ``get_media_url``, as they arrive."""
        ...


# -- what a message keeps -------------------------------------------------------------


class MediaState(enum.StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"


class MediaRef(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``message.content["media"]``: the stored copy, or why there is none."""

    state: MediaState
    key: str | None = None
    mime_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    reason: str | None = None
    reason_code: str | None = None
    filename: str | None = None

    @classmethod
    def available(cls, blob: StoredBlob, *, filename: str | None = None) -> MediaRef:
        return cls(
            state=MediaState.AVAILABLE,
            key=blob.key,
            mime_type=blob.content_type,
            size=blob.size,
            sha256=blob.sha256,
            filename=filename,
        )

    @classmethod
    def unavailable(
        cls, reason: str, *, code: str = "unavailable", mime_type: str | None = None
    ) -> MediaRef:
        return cls(
            state=MediaState.UNAVAILABLE, reason=reason, reason_code=code, mime_type=mime_type
        )

    def to_content(self) -> dict[str, Any]:
        built: dict[str, Any] = msgspec.to_builtins(self)
        return built

    @classmethod
    def of(cls, content: Mapping[str, Any]) -> MediaRef | None:
        """The ref a message's content holds, if any (a malformed one counts as none)."""
        raw = content.get("media")
        if not isinstance(raw, dict):
            return None
        try:
            return msgspec.convert(raw, cls)
        except msgspec.ValidationError:
            return None


# -- the media policy -----------------------------------------------------------------


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"


class MediaRule(msgspec.Struct, frozen=True, kw_only=True):
    kind: MediaKind
    max_bytes: int
    mime_types: frozenset[str]
    # Also accepted when a customer sends it (Meta forwards more than it lets us send).
    inbound_extra: frozenset[str] = frozenset()

    def allows(self, mime_type: str, *, inbound: bool) -> bool:
        return mime_type in self.mime_types or (inbound and mime_type in self.inbound_extra)


_OFFICE = frozenset(
    {
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)
# Never HTML, SVG, scripts or executables: the inbox serves these bytes back.
_DOCUMENT_INBOUND = frozenset(
    {
        "text/csv",
        "application/rtf",
        "application/zip",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "video/mp4",
        "audio/mpeg",
    }
)

MEDIA_RULES: Mapping[str, MediaRule] = MappingProxyType(
    {
        MediaKind.IMAGE: MediaRule(
            kind=MediaKind.IMAGE,
            max_bytes=5 * MB,
            mime_types=frozenset({"image/jpeg", "image/png"}),
        ),
        MediaKind.AUDIO: MediaRule(
            kind=MediaKind.AUDIO,
            max_bytes=16 * MB,
            mime_types=frozenset(
                {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
            ),
        ),
        MediaKind.VIDEO: MediaRule(
            kind=MediaKind.VIDEO,
            max_bytes=16 * MB,
            mime_types=frozenset({"video/mp4", "video/3gpp"}),
        ),
        MediaKind.DOCUMENT: MediaRule(
            kind=MediaKind.DOCUMENT,
            max_bytes=100 * MB,
            mime_types=_OFFICE,
            inbound_extra=_DOCUMENT_INBOUND,
        ),
        MediaKind.STICKER: MediaRule(
            kind=MediaKind.STICKER, max_bytes=500 * KB, mime_types=frozenset({"image/webp"})
        ),
    }
)


class MediaRejected(InvalidInput):
    """The media breaks the policy (size, type, content) or does not match its digest.
    ``reason`` is a short machine code: too_large, mime_not_allowed, content_mismatch,
    sha256_mismatch, unknown_kind, empty."""

    code = "media_rejected"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


def normalise_mime(value: str | None) -> str:
    """``"audio/ogg; codecs=opus"`` -> ``"audio/ogg"``; lowercase; ``""`` for none."""
    return (value or "").split(";", 1)[0].strip().lower()


def rule_for(kind: str) -> MediaRule:
    rule = MEDIA_RULES.get(kind)
    if rule is None:
        raise MediaRejected(f"{kind!r} is not a media type", reason="unknown_kind")
    return rule


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in ("a", "e", "i", "o", "u") else f"a {word}"


def human_size(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    if size >= KB:
        return f"{size / KB:.0f} KB"
    return f"{size} bytes"


def check_size(rule: MediaRule, size: int) -> None:
    if size > rule.max_bytes:
        raise MediaRejected(
            f"{_a(rule.kind.value)} may be at most {human_size(rule.max_bytes)} "
            f"(this one is {human_size(size)})",
            reason="too_large",
        )


def check_mime(rule: MediaRule, mime_type: str, *, inbound: bool) -> str:
    mime = normalise_mime(mime_type)
    if not rule.allows(mime, inbound=inbound):
        accepted = ", ".join(sorted(rule.mime_types))
        raise MediaRejected(
            f"{mime or 'an unknown type'} is not accepted for {_a(rule.kind.value)} "
            f"(accepted: {accepted})",
            reason="mime_not_allowed",
        )
    return mime


def check_upload(kind: str, mime_type: str, size: int) -> MediaRule:
    """An agent's file, before anything is stored or queued: Meta's limits for sending."""
    rule = rule_for(kind)
    check_mime(rule, mime_type, inbound=False)
    if size <= 0:
        raise MediaRejected("the file is empty", reason="empty")
    check_size(rule, size)
    return rule


# What an agent's file is sent as, by its type (a sticker is never chosen for a file).
_SENDABLE = (MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO, MediaKind.DOCUMENT)
_CAPTIONED = frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.DOCUMENT})
CAPTION_MAX = 1024  # Meta's limit for a media caption
_SENDABLE_TEXT = (
    "a JPEG or PNG picture, an MP4 or 3GPP video, AAC, AMR, MP3, M4A or OGG audio, "
    "or a PDF, Word, Excel, PowerPoint or plain-text document"
)
FILENAME_MAX = 240


def outbound_rule(mime_type: str) -> MediaRule:
    """The rule an agent's file is sent under, chosen by its type: an image, a video, an
    audio or a document; ``MediaRejected`` (mime_not_allowed) for any other type."""
    mime = normalise_mime(mime_type)
    for kind in _SENDABLE:
        if MEDIA_RULES[kind].allows(mime, inbound=False):
            return MEDIA_RULES[kind]
    raise MediaRejected(
        f"{mime or 'a file without a type'} cannot be sent on WhatsApp; send {_SENDABLE_TEXT}",
        reason="mime_not_allowed",
    )


def check_caption(rule: MediaRule, caption: str | None) -> str | None:
    """The caption to send with the file (``None`` when blank)."""
    if caption is None or not caption.strip():
        return None
    if rule.kind not in _CAPTIONED:
        raise InvalidInput(f"{_a(rule.kind.value)} cannot have a caption", field="caption")
    if len(caption) > CAPTION_MAX:
        raise InvalidInput(
            f"the caption has {len(caption)} characters; WhatsApp allows {CAPTION_MAX}",
            field="caption",
        )
    return caption


def clean_filename(name: str | None) -> str | None:
    """The name to show and send: the last path segment, printable characters only, at
    most ``FILENAME_MAX`` characters (the extension kept); ``None`` when nothing is left."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()
    if base in ("", ".", ".."):
        return None
    if len(base) > FILENAME_MAX:
        stem, dot, ext = base.rpartition(".")
        keep = dot + ext if stem and len(ext) <= 10 else ""
        base = base[: FILENAME_MAX - len(keep)] + keep
    return base


_MAGIC: Mapping[str, tuple[tuple[int, bytes], ...]] = MappingProxyType(
    {
        "image/jpeg": ((0, b"\xff\xd8\xff"),),
        "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
        "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
    }
)


def content_matches(mime_type: str, head: bytes) -> bool:
    """Whether the first bytes look like ``mime_type``. Checked for the images the inbox
    shows inline (so no HTML or SVG can pose as one); other types are served as
    downloads and pass (a PDF may legally start with junk before ``%PDF``)."""
    signature = _MAGIC.get(normalise_mime(mime_type))
    if signature is None:
        return True
    return all(head[at : at + len(magic)] == magic for at, magic in signature)


def sha256_bytes(value: str | None) -> bytes | None:
    """A SHA-256 digest as Meta writes it: hex (media endpoint, the simulator) or base64
    (webhooks: ``"ian...jM4k="``). ``None`` when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None
