"""A message's delivery state moved by a status: from a webhook (``inbound``), from
the statuses that waited for our send's wamid, or from our send failing (``outbound``)."""

from __future__ import annotations

from datetime import datetime

from msgspec.structs import replace

from whatsapp_core.domain.model import Message
from whatsapp_core.policies.status import Delivery, MessageStatus, settle
from whatsapp_core.ports import UnitOfWork
from whatsapp_core.services.context import Services

_COUNTED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


async def apply_status(
    svc: Services,
    uow: UnitOfWork,
    message: Message,
    incoming: MessageStatus,
    at: datetime,
    error_code: int | None,
    error_text: str | None,
) -> Message | None:
    """Settle ``message``'s delivery state with an arriving status (``policies.status.
    settle``: the final state depends only on the set of statuses, never on their
    order); ``None`` if it stays as it was.

    Per-template counters count every level a message reaches once (a ``read`` that
    skipped ``delivered`` was delivered too; a second failure is the same failed
    message)."""
    current = message.status or MessageStatus.ACCEPTED
    before = Delivery(current, message.status_at, message.error_code, message.error_text)
    failure = incoming is MessageStatus.FAILED
    arrived = Delivery(
        incoming, at, error_code if failure else None, error_text if failure else None
    )
    after = settle(before, arrived)
    if after == before:
        return None
    new = after.status
    updated = replace(
        message,
        status=new,
        status_at=after.at,
        error_code=after.error_code,
        error_text=after.error_text,
    )
    await uow.messages.update(updated)
    if new is not current and message.template_name and message.template_language:
        await _count_for_template(svc, uow, message, current, new)
    return updated


async def _count_for_template(
    svc: Services, uow: UnitOfWork, message: Message, current: MessageStatus, new: MessageStatus
) -> None:
    template = await uow.templates.by_name(
        message.tenant_id, message.template_name or "", message.template_language or ""
    )
    if template is None:
        return
    counts = {
        "sent": template.sent,
        "delivered": template.delivered,
        "read": template.read,
        "failed": template.failed,
    }
    moved = dict(counts)
    if new is MessageStatus.FAILED:
        moved["failed"] += 1
    else:
        for level in _COUNTED:
            if current.rank < level.rank <= new.rank:
                moved[str(level)] += 1
    if moved != counts:
        await uow.templates.update(replace(template, **moved, updated_at=svc.clock.now()))
