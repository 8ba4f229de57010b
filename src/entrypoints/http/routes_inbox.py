"""The inbox: conversations, threads, replies, assignment, notes."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from entrypoints.bootstrap import Runtime
from entrypoints.http.schemas import (
    AssignIn,
    ConversationOut,
    LabelIn,
    MessageOut,
    NoteIn,
    NoteOut,
    ReplyIn,
    ThreadOut,
)
from entrypoints.http.schemas_interactive import InteractiveIn
from whatsapp_core.domain.model import ConversationStatus, Principal
from whatsapp_core.services import conversations as conv
from whatsapp_core.services.accounts import add_note, list_notes
from whatsapp_core.services.outbound import retry_message, send_reply
from whatsapp_core.services.outbound_interactive import send_interactive


class InboxController(Controller):
    path = "/api/conversations"
    tags = ("inbox",)

    @get(summary="Conversations, most recent activity first (cursor: before)")
    async def list_(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        status: FromQuery[ConversationStatus | None] = None,
        assignee_id: FromQuery[uuid.UUID | None] = None,
        mine: FromQuery[bool] = False,
        unassigned: FromQuery[bool] = False,
        label: FromQuery[str | None] = None,
        unread: FromQuery[bool] = False,
        window_open: FromQuery[bool] = False,
        before: FromQuery[datetime | None] = None,
        limit: FromQuery[int] = 50,
    ) -> list[ConversationOut]:
        views = await conv.list_conversations(
            runtime.services, principal, status=status,
            assignee_id=principal.user_id if mine else assignee_id,
            unassigned=unassigned, label=label, unread=unread, window_open=window_open,
            before=before, limit=limit,
        )  # fmt: skip
        return [ConversationOut.of(v) for v in views]

    @get("/{conversation_id:uuid}", summary="A conversation and its messages, newest first")
    async def thread(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        before: FromQuery[datetime | None] = None,
        limit: FromQuery[int] = 50,
    ) -> ThreadOut:
        view, messages = await conv.get_thread(
            runtime.services, principal, conversation_id, before=before, limit=limit
        )
        return ThreadOut(
            conversation=ConversationOut.of(view),
            messages=[MessageOut.of(m) for m in messages],
            next_before=messages[-1].created_at
            if len(messages) == max(1, min(limit, 200))
            else None,
        )

    @post("/{conversation_id:uuid}/messages", status_code=202, summary="Reply (24 h window)")
    async def reply(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[ReplyIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> MessageOut:
        message = await send_reply(
            runtime.services, principal, conversation_id, data.text,
            reply_to_wamid=data.reply_to_wamid,
        )  # fmt: skip
        return MessageOut.of(message)

    @post(
        "/{conversation_id:uuid}/messages/{message_id:uuid}/retry",
        status_code=202,
        summary="Send a failed message again, as a new message",
        description="Only a failed outbound message, once (409 otherwise). The 24 h window "
        "applies again to free-form messages (409 with the reason), and a template must "
        "still be APPROVED. The new message's content.retry_of names the failed one.",
    )
    async def retry(
        self,
        conversation_id: FromPath[uuid.UUID],
        message_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> MessageOut:
        message = await retry_message(runtime.services, principal, conversation_id, message_id)
        return MessageOut.of(message)

    @post(
        "/{conversation_id:uuid}/interactive",
        status_code=202,
        summary="Reply buttons or a list (24 h window)",
        description="type 'button': body and 1-3 buttons {id, title <= 20}; type 'list': "
        "body, button (the label, <= 20) and 1-10 sections of rows {id, title <= 24, "
        "description <= 72}, at most 10 rows in all; optional header and footer (<= 60). "
        "A field over Meta's limits is a 422 naming it; outside the window, 409.",
    )
    async def interactive(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[InteractiveIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> MessageOut:
        message = await send_interactive(
            runtime.services, principal, conversation_id, data.content(),
            reply_to_wamid=data.reply_to_wamid,
        )  # fmt: skip
        return MessageOut.of(message)

    @post("/{conversation_id:uuid}/assign", status_code=200)
    async def assign(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[AssignIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, str | None]:
        c = await conv.assign(runtime.services, principal, conversation_id, data.assignee_id)
        return {"assignee_id": str(c.assignee_id) if c.assignee_id else None}

    @post("/{conversation_id:uuid}/resolve", status_code=200)
    async def resolve(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, str]:
        c = await conv.resolve(runtime.services, principal, conversation_id)
        return {"status": c.status.value}

    @post("/{conversation_id:uuid}/reopen", status_code=200)
    async def reopen(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, str]:
        c = await conv.reopen(runtime.services, principal, conversation_id)
        return {"status": c.status.value}

    @post("/{conversation_id:uuid}/read", status_code=200)
    async def mark_read(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, int]:
        c = await conv.mark_read(runtime.services, principal, conversation_id)
        return {"unread_count": c.unread_count}

    @post("/{conversation_id:uuid}/labels", status_code=200)
    async def add_label(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[LabelIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, list[str]]:
        c = await conv.add_label(runtime.services, principal, conversation_id, data.label)
        return {"labels": list(c.labels)}

    @delete("/{conversation_id:uuid}/labels/{label:str}", status_code=200)
    async def remove_label(
        self,
        conversation_id: FromPath[uuid.UUID],
        label: FromPath[str],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> dict[str, list[str]]:
        c = await conv.remove_label(runtime.services, principal, conversation_id, label)
        return {"labels": list(c.labels)}

    @get("/{conversation_id:uuid}/notes")
    async def notes(
        self,
        conversation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> list[NoteOut]:
        found = await list_notes(runtime.services, principal, conversation_id)
        return [NoteOut.of(n) for n in found]

    @post("/{conversation_id:uuid}/notes", status_code=201)
    async def add_note(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[NoteIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> NoteOut:
        return NoteOut.of(await add_note(runtime.services, principal, conversation_id, data.body))
