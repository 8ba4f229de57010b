"""What the core asks the WhatsApp gateway to send, independent of Graph API JSON."""

from __future__ import annotations

import msgspec

from whatsapp_core.policies.interactive import InteractiveContent


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """Send to the phone when known (``to``), else to the BSUID (``recipient``)."""

    wa_id: str | None = None
    bsuid: str | None = None


class OutgoingMessage(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    text: str | None = None
    reply_to_wamid: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    body_params: list[str] | dict[str, str] = msgspec.field(default_factory=list)
    header_params: list[str] = msgspec.field(default_factory=list)
    media_link: str | None = None
    media_id: str | None = None
    caption: str | None = None
    filename: str | None = None
    interactive: InteractiveContent | None = None  # type "interactive": buttons or a list
    # Meta's ``biz_opaque_callback_data``: echoed in this send's status webhooks. We put
    # our message id there, so a status can name the message before its wamid is known.
    callback_data: str | None = None


class SendReceipt(msgspec.Struct, frozen=True, kw_only=True):
    wamid: str
    held_for_quality: bool = False
