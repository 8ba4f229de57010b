"""Merging two contacts that turn out to be one person (e.g. an imported phone-only
contact and the username-only contact Meta later reveals to have that phone).

Pure: the use case (``services.contacts.merge_contacts``) moves the rows; these
functions decide what the surviving contact and conversation look like.
"""

from __future__ import annotations

from datetime import datetime

from msgspec.structs import replace

from whatsapp_core.domain.model import Contact, Conversation, ConversationStatus
from whatsapp_core.errors import Conflict

_STATUS_RANK = {
    ConversationStatus.RESOLVED: 0,
    ConversationStatus.PENDING: 1,
    ConversationStatus.OPEN: 2,
}


def _one_of(kept: str | None, absorbed: str | None, what: str) -> str | None:
    if kept and absorbed and kept != absorbed:
        raise Conflict(
            f"the two contacts have different {what}s, so they are two WhatsApp users; "
            "they cannot be merged",
            code="merge_conflict",
        )
    return kept or absorbed


def merge_contact(kept: Contact, absorbed: Contact, now: datetime) -> Contact:
    """``kept`` survives with the identifiers it lacks taken from ``absorbed``.

    Two different BSUIDs or two different phone numbers mean two people: refused.
    Names, username and attributes of ``kept`` win; tags are united; an opt-out on
    either side is respected (the merged contact is opted in only if both were).
    """
    if kept.tenant_id != absorbed.tenant_id:
        raise Conflict("contacts of different tenants cannot be merged", code="merge_conflict")
    return replace(
        kept,
        bsuid=_one_of(kept.bsuid, absorbed.bsuid, "business-scoped user id"),
        wa_id=_one_of(kept.wa_id, absorbed.wa_id, "phone number"),
        parent_bsuid=kept.parent_bsuid or absorbed.parent_bsuid,
        username=kept.username or absorbed.username,
        name=kept.name or absorbed.name,
        tags=tuple(sorted(set(kept.tags) | set(absorbed.tags))),
        attributes={**absorbed.attributes, **kept.attributes},
        opted_in=kept.opted_in and absorbed.opted_in,
        created_at=min(kept.created_at, absorbed.created_at),
        updated_at=now,
    )


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def merge_conversation(kept: Conversation, absorbed: Conversation) -> Conversation:
    """One thread holding both histories: the service window follows the later inbound
    message, the more active status wins, labels are united, unread counts add up."""
    return replace(
        kept,
        status=max(kept.status, absorbed.status, key=_STATUS_RANK.__getitem__),
        assignee_id=kept.assignee_id or absorbed.assignee_id,
        labels=tuple(sorted(set(kept.labels) | set(absorbed.labels))),
        last_inbound_at=_latest(kept.last_inbound_at, absorbed.last_inbound_at),
        last_message_at=max(kept.last_message_at, absorbed.last_message_at),
        unread_count=kept.unread_count + absorbed.unread_count,
        created_at=min(kept.created_at, absorbed.created_at),
    )
