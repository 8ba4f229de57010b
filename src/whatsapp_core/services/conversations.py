"""Inbox work on a conversation: read, assign, resolve, reopen, mark read."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import msgspec
from msgspec.structs import replace

from whatsapp_core.domain.model import (
    Contact,
    Conversation,
    ConversationStatus,
    Message,
    Principal,
)
from whatsapp_core.errors import Conflict, InvalidInput, NotFound
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.window import SERVICE_WINDOW, WindowState, window_state
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services

AUTOMATION_EVENTS = frozenset(
    {"conversation.opened", "conversation.assigned", "conversation.resolved"}
)


class ConversationView(msgspec.Struct, frozen=True, kw_only=True):
    conversation: Conversation
    contact: Contact
    window: WindowState


async def list_conversations(
    svc: Services,
    principal: Principal,
    *,
    status: ConversationStatus | None = None,
    assignee_id: uuid.UUID | None = None,
    unassigned: bool = False,
    label: str | None = None,
    unread: bool = False,
    window_open: bool = False,
    limit: int = 50,
    before: datetime | None = None,
) -> list[ConversationView]:
    """``unread``: with unread messages only; ``window_open``: only those an agent can
    still answer free-form (the customer wrote in the last 24 h)."""
    authorize(principal, Action.CONVERSATION_READ)
    now = svc.clock.now()
    async with svc.uow() as uow:
        found = await uow.conversations.list(
            principal.tenant_id,
            status=status,
            assignee_id=assignee_id,
            unassigned=unassigned,
            label=label.strip().lower() if label else None,
            unread=unread,
            inbound_since=now - SERVICE_WINDOW if window_open else None,
            limit=max(1, min(limit, 200)),
            before=before,
        )
        views = []
        for conversation in found:
            contact = await uow.contacts.get(principal.tenant_id, conversation.contact_id)
            window = window_state(conversation.last_inbound_at, now)
            views.append(
                ConversationView(conversation=conversation, contact=contact, window=window)
            )
    return views


async def get_thread(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> tuple[ConversationView, list[Message]]:
    authorize(principal, Action.CONVERSATION_READ)
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
        contact = await uow.contacts.get(principal.tenant_id, conversation.contact_id)
        messages = await uow.messages.thread(
            principal.tenant_id, conversation_id, limit=max(1, min(limit, 200)), before=before
        )
    view = ConversationView(
        conversation=conversation,
        contact=contact,
        window=window_state(conversation.last_inbound_at, svc.clock.now()),
    )
    return view, messages


async def assign(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    assignee_id: uuid.UUID | None,
    *,
    correlation_id: str | None = None,
) -> Conversation:
    """Assign to a user (self needs agent, others need manager) or unassign (None)."""
    to_self = assignee_id is not None and assignee_id == principal.user_id
    authorize(
        principal,
        Action.CONVERSATION_ASSIGN_SELF if to_self else Action.CONVERSATION_ASSIGN_OTHERS,
    )

    async def assignee_is_a_teammate(uow: UnitOfWork) -> None:
        if assignee_id is None:
            return
        try:
            user = await uow.users.get(principal.tenant_id, assignee_id)
        except NotFound:
            user = None
        if user is None or not user.active:  # another tenant's id reads as unknown
            raise NotFound("no such user in your team", field="assignee_id")

    return await _change(
        svc,
        principal,
        conversation_id,
        "conversation.assign",
        lambda c: replace(c, assignee_id=assignee_id),
        correlation_id,
        event="conversation.assigned",
        check=assignee_is_a_teammate,
    )


async def resolve(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> Conversation:
    authorize(principal, Action.CONVERSATION_RESOLVE)

    def close(c: Conversation) -> Conversation:
        if c.status is ConversationStatus.RESOLVED:
            raise Conflict("the conversation is already resolved", code="already_resolved")
        return replace(c, status=ConversationStatus.RESOLVED, unread_count=0)

    return await _change(
        svc, principal, conversation_id, "conversation.resolve", close, correlation_id,
        event="conversation.resolved",
    )  # fmt: skip


async def reopen(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> Conversation:
    authorize(principal, Action.CONVERSATION_RESOLVE)

    def open_(c: Conversation) -> Conversation:
        if c.status is not ConversationStatus.RESOLVED:
            raise Conflict("the conversation is not resolved", code="not_resolved")
        return replace(c, status=ConversationStatus.OPEN)

    return await _change(
        svc, principal, conversation_id, "conversation.reopen", open_, correlation_id,
        event="conversation.opened",
    )  # fmt: skip


async def mark_read(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    correlation_id: str | None = None,
) -> Conversation:
    authorize(principal, Action.CONVERSATION_REPLY)
    return await _change(
        svc, principal, conversation_id, "conversation.mark_read",
        lambda c: replace(c, unread_count=0), correlation_id, event="conversation.updated",
    )  # fmt: skip


async def _change(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    action: str,
    change: Callable[[Conversation], Conversation],
    correlation_id: str | None,
    *,
    event: str,
    check: Callable[[UnitOfWork], Awaitable[None]] | None = None,
) -> Conversation:
    async with svc.uow() as uow:
        before = await uow.conversations.get(principal.tenant_id, conversation_id)
        if check is not None:
            await check(uow)
        after = change(before)
        if after == before:
            return before
        await uow.conversations.update(after)
        await svc.audit(
            uow, principal, action, "conversation", conversation_id,
            before=_snapshot(before), after=_snapshot(after), correlation_id=correlation_id,
        )  # fmt: skip
        if event in AUTOMATION_EVENTS:
            await svc.enqueue(
                uow, principal.tenant_id, "n8n.trigger",
                {"event": event, "conversation_id": str(conversation_id)}, correlation_id,
            )  # fmt: skip
        await uow.commit()
    await svc.publish_all(
        [
            svc.event(
                event, principal.tenant_id, conversation_id=str(conversation_id), **_snapshot(after)
            )
        ]
    )
    return after


def _snapshot(c: Conversation) -> dict[str, str | int | None]:
    return {
        "status": c.status.value,
        "assignee_id": str(c.assignee_id) if c.assignee_id else None,
        "unread_count": c.unread_count,
        "labels": ",".join(c.labels),
    }


def _label(value: str) -> str:
    label = value.strip().lower()
    if not label or len(label) > 40 or not all(ch.isalnum() or ch in "-_ " for ch in label):
        raise InvalidInput(
            "a label is 1-40 letters, digits, spaces, dashes or underscores", field="label"
        )
    return label


async def add_label(
    svc: Services, principal: Principal, conversation_id: uuid.UUID, label: str
) -> Conversation:
    """Tag a conversation (e.g. billing, vip); agents may label what they work on."""
    authorize(principal, Action.LABEL_MANAGE)
    name = _label(label)
    return await _change(
        svc, principal, conversation_id, "conversation.label",
        lambda c: c if name in c.labels else replace(c, labels=tuple(sorted((*c.labels, name)))),
        None, event="conversation.updated",
    )  # fmt: skip


async def remove_label(
    svc: Services, principal: Principal, conversation_id: uuid.UUID, label: str
) -> Conversation:
    authorize(principal, Action.LABEL_MANAGE)
    name = _label(label)
    return await _change(
        svc, principal, conversation_id, "conversation.unlabel",
        lambda c: replace(c, labels=tuple(x for x in c.labels if x != name)),
        None, event="conversation.updated",
    )  # fmt: skip
