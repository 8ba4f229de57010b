"""In-memory WhatsApp gateway and event publisher: record what was asked of them.

The gateway answers like Meta's send endpoint (a new wamid per send) and can be told
to refuse the next sends with a Meta error code, so the core's retry/fail rules can
be exercised without a network. The simulator (real HTTP) is the richer twin.

``remote`` is Meta's side of the templates: a submitted template appears there as
PENDING, ``decide`` moves it (with no webhook: as if the webhook was missed), and
``put_remote`` adds one made elsewhere (WhatsApp Manager), ``delete_template``
removes it (recorded in ``deleted``).

``phone_numbers`` is Meta's side of the numbers: ``phone_number_info`` answers from it,
or, for a number not put there, with a healthy profile made from the tenant (as the
embedded simulator knows any number); ``fail_next`` refuses it like the other calls.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import AsyncIterable

import msgspec

from adapters.meta.gateway import build_send_body, build_template_body
from whatsapp_core.domain.model import DomainEvent, Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.phone_numbers import PhoneNumberInfo
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError


class SentMessage(msgspec.Struct, frozen=True):
    tenant_id: str
    recipient: Recipient
    message: OutgoingMessage
    wamid: str


class UploadedMedia(msgspec.Struct, frozen=True):
    tenant_id: str
    data: bytes
    mime_type: str
    filename: str | None
    sha256: str


class MemoryWhatsAppGateway:
    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.uploads: dict[str, UploadedMedia] = {}  # by the media id handed out
        self.submitted: list[Template] = []
        self.deleted: list[tuple[str, str, str | None]] = []  # (waba id, name, meta id)
        self._failures: deque[DeliveryError] = deque()
        self._seq = itertools.count(1)
        self.next_wamids: deque[str] = deque()
        # Meta's templates by WABA id, then by Meta id (in creation order)
        self.remote: dict[str, dict[str, RemoteTemplate]] = {}
        self.phone_numbers: dict[str, PhoneNumberInfo] = {}

    def fail_next(
        self, meta_code: int | None, *, http_status: int | None = 400, times: int = 1
    ) -> None:
        for _ in range(times):
            self._failures.append(
                DeliveryError(
                    f"(#{meta_code}) refused by the fake gateway",
                    meta_code=meta_code,
                    http_status=http_status,
                )
            )

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        if self._failures:
            raise self._failures.popleft()
        if message.type == "interactive":
            # Refused like the HTTP gateway refuses it (code 100), before anything is sent.
            build_send_body(recipient, message)
        wamid = (
            self.next_wamids.popleft() if self.next_wamids else f"wamid.FAKE{next(self._seq):012d}"
        )
        self.sent.append(SentMessage(str(tenant.id), recipient, message, wamid))
        return SendReceipt(wamid=wamid)

    async def upload_media(
        self,
        tenant: Tenant,
        data: AsyncIterable[bytes],
        *,
        mime_type: str,
        size: int,
        filename: str | None = None,
    ) -> str:
        if self._failures:
            raise self._failures.popleft()
        body = b"".join([chunk async for chunk in data])
        if len(body) != size:
            raise DeliveryError(
                f"(100) the upload has {len(body)} bytes, not the {size} announced",
                meta_code=100,
                http_status=400,
            )
        media_id = str(3_000_000_000_000_000 + next(self._seq))
        digest = hashlib.sha256(body).hexdigest()
        self.uploads[media_id] = UploadedMedia(str(tenant.id), body, mime_type, filename, digest)
        return media_id

    async def submit_template(self, tenant: Tenant, template: Template) -> str:
        if self._failures:
            raise self._failures.popleft()
        self.submitted.append(template)
        meta_id = str(900000000 + next(self._seq))
        remote = RemoteTemplate(
            meta_id=meta_id,
            name=template.name,
            language=template.language,
            status="PENDING",
            category=str(template.category),
            components=build_template_body(template)["components"],
        )
        self.put_remote(tenant.waba_id or "", remote)
        return meta_id

    async def list_templates(self, tenant: Tenant) -> list[RemoteTemplate]:
        if self._failures:
            raise self._failures.popleft()
        return list(self.remote.get(tenant.waba_id or "", {}).values())

    async def delete_template(
        self, tenant: Tenant, *, name: str, meta_id: str | None = None
    ) -> bool:
        """Like Meta: by name every language goes; with ``meta_id`` only that one (which
        must carry that name)."""
        if self._failures:
            raise self._failures.popleft()
        waba_id = tenant.waba_id or ""
        self.deleted.append((waba_id, name, meta_id))
        templates = self.remote.get(waba_id, {})
        doomed = [
            key
            for key, t in templates.items()
            if t.name == name and (meta_id is None or t.meta_id == meta_id)
        ]
        for key in doomed:
            del templates[key]
        return bool(doomed)

    async def phone_number_info(self, tenant: Tenant) -> PhoneNumberInfo:
        if self._failures:
            raise self._failures.popleft()
        if not tenant.phone_number_id:
            raise DeliveryError(
                f"(100) tenant {tenant.slug} has no WhatsApp phone_number_id",
                meta_code=100,
                http_status=None,
            )
        known = self.phone_numbers.get(tenant.phone_number_id)
        if known is not None:
            return known
        return PhoneNumberInfo(
            phone_number_id=tenant.phone_number_id,
            display_phone_number=tenant.display_phone_number or "15550001111",
            verified_name=tenant.name,
            quality_rating="GREEN",
            name_status="APPROVED",
            code_verification_status="VERIFIED",
            messaging_limit_tier="TIER_2K",
            throughput_level="STANDARD",
        )

    def put_remote(self, waba_id: str, template: RemoteTemplate) -> None:
        """A template exists at Meta (made in WhatsApp Manager, or submitted here)."""
        self.remote.setdefault(waba_id, {})[template.meta_id] = template

    def decide(self, meta_id: str, status: str, reason: str | None = None) -> None:
        """Meta changes a template's status and tells nobody (a missed webhook)."""
        for templates in self.remote.values():
            if meta_id in templates:
                templates[meta_id] = msgspec.structs.replace(
                    templates[meta_id], status=status, rejected_reason=reason
                )
                return
        raise KeyError(meta_id)


class MemoryEventPublisher:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, event: DomainEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]
