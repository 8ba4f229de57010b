"""A plain-asyncio service that embeds the inbox core: no Litestar, no database.

It serves ``POST /webhook`` (Meta's signed deliveries) with ``asyncio.start_server``,
stores them through ``whatsapp_core`` on the in-memory adapters, and answers the
customer through its OWN gateway (here one that records instead of calling Meta;
yours would call the Graph API or another provider).

    .venv/bin/python examples/embed/service.py          # a self-check: a webhook, a reply
    .venv/bin/python examples/embed/service.py --serve  # keep serving on 127.0.0.1:8081

(the project's virtualenv: see examples/embed/README.md)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterable

from adapters.library import build_inbox
from adapters.meta import sign
from whatsapp_core import (
    DeliveryError,
    DomainError,
    InvalidInput,
    OutgoingMessage,
    PhoneNumberInfo,
    Principal,
    Recipient,
    RemoteTemplate,
    Role,
    SendReceipt,
    Template,
    Tenant,
    Unauthenticated,
    UpstreamUnavailable,
    new_tenant,
)
from whatsapp_core.services import outbound

# Meta's app secret from the environment; the self-check makes up one of its own.
APP_SECRET = os.environ.get("META_APP_SECRET") or secrets.token_hex(16)
PHONE_NUMBER_ID = "106540352242922"


class RecordingGateway:
    """Your ``WhatsAppGateway`` (``whatsapp_core.ports``, a ``typing.Protocol``): any
    object with these methods will do; mypy checks it where it is passed. This one
    records sends instead of calling Meta; yours would call the Graph API."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        self.sent.append((recipient.wa_id or recipient.bsuid or "?", message.text or ""))
        return SendReceipt(wamid=f"wamid.embed.{len(self.sent)}")

    async def submit_template(self, tenant: Tenant, template: Template) -> str:
        raise DeliveryError("this example sends no templates")

    async def list_templates(self, tenant: Tenant) -> list[RemoteTemplate]:
        return []  # Meta's templates of the tenant's WABA: none here

    async def delete_template(
        self, tenant: Tenant, *, name: str, meta_id: str | None = None
    ) -> bool:
        return False  # no such template at "Meta"

    async def upload_media(
        self,
        tenant: Tenant,
        data: AsyncIterable[bytes],
        *,
        mime_type: str,
        size: int,
        filename: str | None = None,
    ) -> str:
        raise DeliveryError("this example sends no media")

    async def phone_number_info(self, tenant: Tenant) -> PhoneNumberInfo:
        return PhoneNumberInfo(
            phone_number_id=tenant.phone_number_id or "", verified_name=tenant.name
        )


inbox = build_inbox(app_secret=APP_SECRET)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Just enough HTTP/1.1 for one request per connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    answer: dict[str, str | int] = {"detail": "not found"}
    status = 404
    if request_line.startswith("POST /webhook "):
        try:
            report = await inbox.receive(body, headers.get("x-hub-signature-256"))
            status, answer = 200, {"stored": report.messages_stored}
        except Unauthenticated as exc:
            status, answer = 401, {"detail": exc.message}
        except InvalidInput as exc:
            status, answer = 400, {"detail": exc.message}
        except UpstreamUnavailable as exc:
            status, answer = 503, {"detail": exc.message}
    payload = json.dumps(answer).encode()
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    writer.close()


async def post(port: int, body: bytes, signature: str) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        f"X-Hub-Signature-256: {signature}\r\n\r\n".encode()
        + body
    )
    response = await reader.read()
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def meta_delivery(text: str) -> bytes:
    """What Meta POSTs when a customer writes (one entry, one change, one message)."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511999999999",
                      "user_id": "BR.13491208655302741918"}],
        "messages": [{"from": "5511999999999", "id": f"wamid.{uuid.uuid4().hex}",
                      "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}],
    }  # fmt: skip
    return json.dumps(
        {"object": "whatsapp_business_account",
         "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]}
    ).encode()  # fmt: skip


async def main(serve: bool) -> int:
    tenant = new_tenant(
        tenant_id=uuid.uuid4(), slug="acme", name="Acme", waba_id="102290129340398",
        phone_number_id=PHONE_NUMBER_ID,
    )  # fmt: skip
    async with inbox.services.uow() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    server = await asyncio.start_server(handle, "127.0.0.1", 8081 if serve else 0)
    port = server.sockets[0].getsockname()[1]
    if serve:
        print(f"serving POST http://127.0.0.1:{port}/webhook")
        async with server:
            await server.serve_forever()

    body = meta_delivery("Where is my order?")
    status, answer = await post(port, body, "sha256=" + "0" * 64)
    print(f"forged signature -> {status} {answer['detail']}")
    status, answer = await post(port, body, sign(APP_SECRET, body))
    print(f"signed delivery  -> {status}, stored {answer['stored']} message")
    status, answer = await post(port, body, sign(APP_SECRET, body))
    print(f"redelivery       -> {status}, stored {answer['stored']} message")
    server.close()

    agent = Principal(tenant_id=tenant.id, role=Role.AGENT, user_id=uuid.uuid4())
    async with inbox.services.uow() as uow:
        (conversation,) = await uow.conversations.list(tenant.id)
    gateway = RecordingGateway()
    try:
        reply = await outbound.send_reply(inbox.services, agent, conversation.id, "On its way!")
        outcome = await outbound.deliver_message(inbox.services, gateway, tenant.id, reply.id)
    except DomainError as exc:
        print(f"refused: {exc.message}")
        return 1
    print(f"agent reply      -> {outcome} via own gateway: {gateway.sent}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(serve="--serve" in sys.argv)))
