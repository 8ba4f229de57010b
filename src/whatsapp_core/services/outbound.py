"""Flow 2: an agent's reply or a template, stored as ``accepted`` with an outbox
``msg.send`` job in one transaction; the worker then calls Meta through the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from msgspec.structs import replace

from whatsapp_core.domain.identity import CustomerIdentity, validate_bsuid, validate_wa_id
from whatsapp_core.domain.model import Conversation, Direction, DomainEvent, Message, Principal
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient
from whatsapp_core.errors import (
    Conflict,
    DeliveryError,
    InvalidInput,
    NotFound,
    PolicyViolation,
)
from whatsapp_core.media import BlobStore
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.interactive import from_content
from whatsapp_core.policies.meta_errors import Remedy, remedy_for
from whatsapp_core.policies.status import MessageStatus
from whatsapp_core.policies.templates import is_sendable, render, validate_parameters
from whatsapp_core.policies.window import require_free_form_allowed
from whatsapp_core.ports import UnitOfWork, WhatsAppGateway
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.contacts_identity import resolve_contact
from whatsapp_core.services.context import Services
from whatsapp_core.services.delivery_status import apply_status
from whatsapp_core.services.media_delivery import media_object_id, outgoing_media

MAX_TEXT = 4096  # Meta's limit for a text body


def validate_text(text: str) -> str:
    if not text.strip():
        raise InvalidInput("the message is empty", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"the message has {len(text)} characters; WhatsApp allows {MAX_TEXT}", field="text"
        )
    return text


def validate_recipient(to: CustomerIdentity) -> CustomerIdentity:
    """A recipient named by a caller (automation, API) must be one Meta can send to:
    a phone in ``wa_id`` form and/or a well-formed BSUID. Webhooks are read loosely
    (``CustomerIdentity``); what we are asked to send to is not, so a typo never becomes
    a contact."""
    if to.wa_id is not None:
        validate_wa_id(to.wa_id, field="to.wa_id")
    if to.bsuid is not None:
        validate_bsuid(to.bsuid, field="to.bsuid")
    if to.parent_bsuid is not None:
        validate_bsuid(to.parent_bsuid, field="to.parent_bsuid")
    return to


async def send_reply(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    text: str,
    *,
    reply_to_wamid: str | None = None,
    correlation_id: str | None = None,
) -> Message:
    """Queue a free-form text reply; refused outside the 24 h window."""
    authorize(principal, Action.CONVERSATION_REPLY)
    validate_text(text)
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
        require_free_form_allowed(conversation.last_inbound_at, svc.clock.now())
        message = _outbound(svc, principal, conversation, type="text", text=text)
        message = replace(message, reply_to_wamid=reply_to_wamid)
        events = await _queue(svc, uow, principal, conversation, message, correlation_id)
        await uow.commit()
    await svc.publish_all(events)
    return message


async def send_text(
    svc: Services,
    principal: Principal,
    text: str,
    *,
    conversation_id: uuid.UUID | None = None,
    to: CustomerIdentity | None = None,
    correlation_id: str | None = None,
) -> Message:
    """Automation's free-form text (an API key with the send-text scope), to a
    conversation or to a customer by phone/BSUID: only inside the 24 h window, which
    only a customer who wrote to us has (nobody new is created for it)."""
    authorize(principal, Action.MESSAGE_SEND_TEXT_API)
    if (conversation_id is None) == (to is None):
        raise InvalidInput("give either a conversation or a recipient", field="to")
    if to is not None:
        validate_recipient(to)
    validate_text(text)
    async with svc.uow() as uow:
        if conversation_id is not None:
            conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
        else:
            assert to is not None
            found = await _existing_conversation(uow, principal, to)
            if found is None:
                require_free_form_allowed(None, svc.clock.now())  # raises: never wrote
            assert found is not None
            conversation = found
        require_free_form_allowed(conversation.last_inbound_at, svc.clock.now())
        message = _outbound(svc, principal, conversation, type="text", text=text)
        events = await _queue(svc, uow, principal, conversation, message, correlation_id)
        await uow.commit()
    await svc.publish_all(events)
    return message


async def _existing_conversation(
    uow: UnitOfWork, principal: Principal, to: CustomerIdentity
) -> Conversation | None:
    tenant_id = principal.tenant_id
    contact = (await uow.contacts.by_bsuid(tenant_id, to.bsuid) if to.bsuid else None) or (
        await uow.contacts.by_wa_id(tenant_id, to.wa_id) if to.wa_id else None
    )
    if contact is None:
        return None
    return await uow.conversations.for_contact(tenant_id, contact.id)


async def send_template(
    svc: Services,
    principal: Principal,
    *,
    name: str,
    language: str,
    body_params: Sequence[str] | Mapping[str, str] = (),
    header_params: Sequence[str] = (),
    conversation_id: uuid.UUID | None = None,
    to: CustomerIdentity | None = None,
    correlation_id: str | None = None,
) -> Message:
    """Queue an approved template to a conversation, or to a customer by phone/BSUID
    (automation: the contact and its conversation are created when new)."""
    authorize(
        principal,
        Action.MESSAGE_SEND_TEMPLATE_API if principal.api_key_id else Action.TEMPLATE_SEND,
    )
    if (conversation_id is None) == (to is None):
        raise InvalidInput("give either a conversation or a recipient", field="to")
    if to is not None:
        validate_recipient(to)
    async with svc.uow() as uow:
        template = await uow.templates.by_name(principal.tenant_id, name, language)
        if template is None:
            raise NotFound(f"no template {name!r} in language {language!r}", field="name")
        if not is_sendable(template.status):
            raise PolicyViolation(
                f"template {name!r} is {template.status.value}; only APPROVED templates "
                "can be sent",
                code="template_not_approved",
            )
        validate_parameters(template.components, body_params, header_params)
        if conversation_id is not None:
            conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
        else:
            assert to is not None
            conversation = await _conversation_for(svc, uow, principal, to)
        message = _outbound(
            svc,
            principal,
            conversation,
            type="template",
            text=render(template.components, body_params, header_params),
        )
        message = replace(
            message,
            template_name=name,
            template_language=language,
            content={
                "body_params": _plain(body_params),
                "header_params": list(header_params),
            },
        )
        events = await _queue(svc, uow, principal, conversation, message, correlation_id)
        await uow.commit()
    await svc.publish_all(events)
    return message


async def retry_message(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> Message:
    """Send a failed outbound message again, as a new message (``retry_of`` names the
    failed one, which stays failed: its history is true). The rules of a first send
    apply now: free-form only inside the 24 h window, a template only while APPROVED.

    A failed message is retried once; a second retry (a double click, two agents) is a
    ``Conflict``, also at the database: the copy's id is derived from the original's."""
    async with svc.uow() as uow:
        original = await uow.messages.get(principal.tenant_id, message_id)
        if original.conversation_id != conversation_id:
            raise NotFound("message not found")
        authorize(
            principal,
            Action.TEMPLATE_SEND if original.type == "template" else Action.CONVERSATION_REPLY,
        )
        failed = original.status is MessageStatus.FAILED
        if original.direction is not Direction.OUTBOUND or not failed:
            raise Conflict(
                f"only a failed outbound message can be retried; this one is {original.status}",
                code="not_failed",
            )
        if original.content.get("retried_by"):
            raise Conflict("this message was already retried", code="already_retried")
        conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
        if original.type == "template":
            template = await uow.templates.by_name(
                principal.tenant_id,
                original.template_name or "",
                original.template_language or "",
            )
            if template is None or not is_sendable(template.status):
                raise PolicyViolation(
                    f"template {original.template_name!r} is no longer APPROVED",
                    code="template_not_approved",
                )
        else:
            require_free_form_allowed(conversation.last_inbound_at, svc.clock.now())
        copy = replace(
            _outbound(svc, principal, conversation, type=original.type, text=original.text or ""),
            id=uuid.uuid5(original.id, "retry"),
            text=original.text,
            content={
                **{k: v for k, v in original.content.items() if k not in _BOOKKEEPING},
                "retry_of": str(original.id),
            },
            reply_to_wamid=original.reply_to_wamid,
            template_name=original.template_name,
            template_language=original.template_language,
        )
        await uow.messages.update(
            replace(original, content={**original.content, "retried_by": str(copy.id)})
        )
        events = await _queue(svc, uow, principal, conversation, copy, correlation_id)
        await uow.commit()
    await svc.publish_all(events)
    return copy


def _plain(params: Sequence[str] | Mapping[str, str]) -> list[str] | dict[str, str]:
    return dict(params) if isinstance(params, Mapping) else list(params)


async def _conversation_for(
    svc: Services, uow: UnitOfWork, principal: Principal, to: CustomerIdentity
) -> Conversation:
    now = svc.clock.now()
    contact, _ = await resolve_contact(uow, svc.ids, principal.tenant_id, to, now)
    conversation = await uow.conversations.for_contact(principal.tenant_id, contact.id)
    if conversation is None:
        conversation = Conversation(
            id=svc.ids.new_id(),
            tenant_id=principal.tenant_id,
            contact_id=contact.id,
            last_message_at=now,
            created_at=now,
        )
        if not await uow.conversations.add_many([conversation]):
            # An inbound message opened it first (that transaction has committed).
            conversation = await uow.conversations.for_contact(principal.tenant_id, contact.id)
            if conversation is None:
                raise Conflict("the conversation changed concurrently; retry")
    return conversation


def _outbound(
    svc: Services, principal: Principal, conversation: Conversation, *, type: str, text: str
) -> Message:
    return Message(
        id=svc.ids.new_id(),
        tenant_id=principal.tenant_id,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        direction=Direction.OUTBOUND,
        type=type,
        text=text,
        status=MessageStatus.ACCEPTED,
        created_at=svc.clock.now(),
        author_id=principal.user_id,
    )


async def _queue(
    svc: Services,
    uow: UnitOfWork,
    principal: Principal,
    conversation: Conversation,
    message: Message,
    correlation_id: str | None,
    *,
    mark_read: bool = True,  # an agent answering has read the thread; an auto-reply has not
) -> list[DomainEvent]:
    await uow.messages.add(message)
    unread = 0 if mark_read else conversation.unread_count
    await uow.conversations.update(
        replace(conversation, last_message_at=message.created_at, unread_count=unread)
    )
    await svc.enqueue(
        uow, principal.tenant_id, "msg.send", {"message_id": str(message.id)}, correlation_id
    )
    await svc.audit(
        uow,
        principal,
        "message.send",
        "message",
        message.id,
        after={"type": message.type, "conversation_id": str(conversation.id)},
        correlation_id=correlation_id,
    )
    return [
        svc.event(
            "message.created",
            principal.tenant_id,
            message_id=str(message.id),
            conversation_id=str(conversation.id),
            direction="outbound",
            type=message.type,
            text=message.text,
            status=str(message.status),
        )
    ]


class DeliveryOutcome:
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    RECOVERED = "recovered"  # an earlier attempt had reached Meta: its wamid, no resend
    FAILED = "failed"


# When a send to Meta began (a key of the message's content). Set before the call, so a
# redelivered job knows an earlier attempt may have reached Meta.
SEND_STARTED = "send_started_at"
# How long a redelivered job waits for the status webhook of an earlier attempt that
# may have reached Meta (Meta reports ``sent`` within seconds) before sending again.
CONFIRM_WINDOW = timedelta(seconds=30)
_BOOKKEEPING = ("retried_by", SEND_STARTED)  # of one message, never copied to another


def _send_started(message: Message) -> datetime | None:
    raw = message.content.get(SEND_STARTED)
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


async def deliver_message(
    svc: Services,
    gateway: WhatsAppGateway,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    blobs: BlobStore | None = None,
) -> str:
    """The ``msg.send`` job. Idempotent: a message that already has a wamid or a final
    state is never sent twice. Retryable errors propagate (``DeliveryError``) for the
    worker's backoff; permanent ones mark the message failed with Meta's code. A file
    is uploaded from ``blobs`` to Meta first (once: ``services.media_delivery``).

    Meta's send takes no idempotency key, and a worker can die (or the call time out)
    after Meta took the message but before its wamid is stored. So the send is marked
    as begun (``SEND_STARTED``) before the call and carries the message id in Meta's
    ``biz_opaque_callback_data``, which Meta echoes in the send's statuses. A redelivered
    job that finds the mark looks for such a status: found, the wamid is recorded and
    nothing is sent again; not yet, it waits up to ``CONFIRM_WINDOW`` from the first
    attempt for one, then sends again (at least once, never lost)."""
    now = svc.clock.now()
    recovered: str | None = None
    async with svc.uow() as uow:
        message = await uow.messages.get(tenant_id, message_id)
        if message.wamid is not None or message.status is MessageStatus.FAILED:
            return DeliveryOutcome.ALREADY_SENT
        started = _send_started(message)
        if started is not None:  # an earlier attempt may have reached Meta
            recovered = await uow.messages.pending_wamid_for(tenant_id, message_id)
            if recovered is None and now < started + CONFIRM_WINDOW:
                wait = (started + CONFIRM_WINDOW - now).total_seconds()
                raise DeliveryError(
                    "an earlier attempt may have reached Meta: waiting for its status",
                    retry_after=wait,
                )
        if recovered is None:
            tenant = await uow.tenants.get(tenant_id)
            contact = await uow.contacts.get(tenant_id, message.contact_id)
            marked = {**message.content, SEND_STARTED: now.isoformat()}
            await uow.messages.update(replace(message, content=marked))
            await uow.commit()
    if recovered is not None:
        await _record_wamid(svc, tenant_id, message_id, recovered, held=False)
        return DeliveryOutcome.RECOVERED
    recipient = Recipient(wa_id=contact.wa_id, bsuid=contact.bsuid)
    try:
        outgoing = (
            await outgoing_media(svc, gateway, blobs, tenant, message)
            if media_object_id(message) is not None
            else _to_outgoing(message)
        )
        receipt = await gateway.send(tenant, recipient, outgoing)
    except DeliveryError as exc:
        if remedy_for(exc.meta_code, exc.http_status) in (Remedy.RETRY, Remedy.RETRY_RECIPIENT):
            if exc.http_status is not None:  # Meta answered: it did not take the message
                await _unmark_started(svc, tenant_id, message_id)
            raise
        await _mark_failed(svc, tenant_id, message_id, exc)
        return DeliveryOutcome.FAILED
    except NotFound as exc:  # the file to send is gone: it never can be sent
        await _mark_failed(svc, tenant_id, message_id, DeliveryError(exc.message))
        return DeliveryOutcome.FAILED
    await _record_wamid(svc, tenant_id, message_id, receipt.wamid, receipt.held_for_quality)
    return DeliveryOutcome.SENT


async def _unmark_started(svc: Services, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
    async with svc.uow() as uow:
        message = await uow.messages.get(tenant_id, message_id)
        content = {k: v for k, v in message.content.items() if k != SEND_STARTED}
        await uow.messages.update(replace(message, content=content))
        await uow.commit()


def _to_outgoing(message: Message) -> OutgoingMessage:
    content: dict[str, Any] = message.content
    interactive = content.get("interactive") if message.type == "interactive" else None
    return OutgoingMessage(
        type=message.type,
        text=message.text if message.type == "text" else None,
        reply_to_wamid=message.reply_to_wamid,
        template_name=message.template_name,
        template_language=message.template_language,
        body_params=content.get("body_params", []),
        header_params=content.get("header_params", []),
        interactive=from_content(interactive) if isinstance(interactive, dict) else None,
        callback_data=str(message.id),
    )


async def _record_wamid(
    svc: Services, tenant_id: uuid.UUID, message_id: uuid.UUID, wamid: str, held: bool
) -> None:
    events: list[DomainEvent] = []
    async with svc.uow() as uow:
        message = await uow.messages.get(tenant_id, message_id)
        status = MessageStatus.HELD if held else message.status
        message = replace(message, wamid=wamid, status=status)
        await uow.messages.update(message)
        # Statuses that raced our send call are applied now, in arrival order.
        for pending in await uow.messages.take_pending_statuses(tenant_id, wamid):
            moved = await apply_status(
                svc,
                uow,
                message,
                pending.status,
                pending.at,
                pending.error_code,
                pending.error_text,
            )
            message = moved or message
        await uow.commit()
        events.append(_status_event(svc, message))
    await svc.publish_all(events)


async def _mark_failed(
    svc: Services, tenant_id: uuid.UUID, message_id: uuid.UUID, exc: DeliveryError
) -> None:
    async with svc.uow() as uow:
        message = await uow.messages.get(tenant_id, message_id)
        moved = await apply_status(
            svc, uow, message, MessageStatus.FAILED, svc.clock.now(), exc.meta_code, exc.message
        )
        await uow.commit()
    if moved is not None:
        await svc.publish_all([_status_event(svc, moved)])


def _status_event(svc: Services, message: Message) -> DomainEvent:
    return svc.event(
        "message.status",
        message.tenant_id,
        message_id=str(message.id),
        conversation_id=str(message.conversation_id),
        status=str(message.status),
        wamid=message.wamid,
        error_code=message.error_code,
        error_text=message.error_text,
    )
