"""An agent's reply buttons or list, queued like a text reply (Flow 2).

Interactive messages are free-form messages for Meta: only inside the 24 h customer
service window. The message keeps what was offered in ``content["interactive"]`` (so
the thread shows the options and the send job rebuilds Meta's body from it) and the
body as its ``text`` (what lists, search, exports and the AI read). The customer's
choice comes back as an inbound ``interactive`` message (``button_reply`` or
``list_reply``) that replies to this one's wamid.
"""

from __future__ import annotations

import uuid

from msgspec.structs import replace

from whatsapp_core.domain.model import Message, Principal
from whatsapp_core.policies.access import Action
from whatsapp_core.policies.interactive import (
    InteractiveContent,
    to_content,
    validate_interactive,
)
from whatsapp_core.policies.window import require_free_form_allowed
from whatsapp_core.services.authz import authorize
from whatsapp_core.services.context import Services
from whatsapp_core.services.outbound import _outbound, _queue


async def send_interactive(
    svc: Services,
    principal: Principal,
    conversation_id: uuid.UUID,
    interactive: InteractiveContent,
    *,
    reply_to_wamid: str | None = None,
    correlation_id: str | None = None,
) -> Message:
    """Queue reply buttons or a list; refused outside the 24 h window, and refused
    (``InvalidInput`` naming the field) beyond any of Meta's limits."""
    authorize(principal, Action.CONVERSATION_REPLY)
    validate_interactive(interactive)
    async with svc.uow() as uow:
        conversation = await uow.conversations.get(principal.tenant_id, conversation_id)
        require_free_form_allowed(conversation.last_inbound_at, svc.clock.now())
        message = _outbound(svc, principal, conversation, type="interactive", text=interactive.body)
        message = replace(
            message,
            reply_to_wamid=reply_to_wamid,
            content={"interactive": to_content(interactive)},
        )
        events = await _queue(svc, uow, principal, conversation, message, correlation_id)
        await uow.commit()
    await svc.publish_all(events)
    return message
