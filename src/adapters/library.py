"""Embedding the inbox core in another Python service, without Litestar.

    inbox = build_inbox(app_secret=os.environ["META_APP_SECRET"])    # memory adapters
    inbox = build_inbox(app_secret=..., uow=MyUnitOfWorkFactory())  # or your own ports
    report = await inbox.receive(raw_body, request_headers.get("X-Hub-Signature-256"))
    message = await outbound.send_reply(inbox.services, agent, conversation_id, "Hi!")
    await outbound.deliver_message(inbox.services, my_gateway, tenant_id, message.id)

Every argument is a ``whatsapp_core.ports`` Protocol: pass your own implementation of
any of them; what you leave out is the in-memory twin (fine for tests and tools, not for
data that must survive a restart: use ``adapters.postgres.SqlaUnitOfWorkFactory``).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.meta.signature import verify_signature
from adapters.meta.translate import to_batch
from adapters.meta.webhook_payload import decode_webhook
from whatsapp_core.domain.webhook import IngestReport
from whatsapp_core.errors import Unauthenticated
from whatsapp_core.ports import Clock, EventPublisher, IdGenerator, UnitOfWorkFactory
from whatsapp_core.services.context import NoEvents, Services
from whatsapp_core.services.inbound import ingest_webhook


@dataclass(frozen=True)
class Inbox:
    """The wired core: ``services`` goes to every use case in ``whatsapp_core.services``."""

    services: Services
    app_secret: str

    async def receive(self, body: bytes, signature: str | None) -> IngestReport:
        """One Meta webhook delivery, as your HTTP framework received it: the signature
        is checked over the raw bytes, then the whole batch is stored in one transaction.
        ``Unauthenticated`` for a bad signature (store nothing, answer 401),
        ``InvalidInput`` for a malformed body (answer 400), ``UpstreamUnavailable`` when
        storage is down (answer 503 so Meta retries); answer 200 otherwise."""
        if not verify_signature(self.app_secret, body, signature):
            raise Unauthenticated("missing or invalid X-Hub-Signature-256")
        return await ingest_webhook(self.services, to_batch(decode_webhook(body)))


def build_inbox(
    *,
    app_secret: str,
    uow: UnitOfWorkFactory | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    events: EventPublisher | None = None,
) -> Inbox:
    services = Services(
        uow=uow or MemoryUnitOfWorkFactory(),
        clock=clock or SystemClock(),
        ids=ids or UuidGenerator(),
        events=events or NoEvents(),
    )
    return Inbox(services=services, app_secret=app_secret)
