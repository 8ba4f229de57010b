"""Meta's side of the harness: webhook bodies shaped like Meta's, built from a clock.

The harness feeds them to the same door the HTTP webhook uses (signature check, decoder,
translation, ingest), so a scripted exchange exercises the real wire format.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

from whatsapp_core.domain.model import Template

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = "15550001111"
DEFAULT_PHONE = "5511999990001"  # the simulated customer
DEFAULT_NAME = "Maria Silva"
# What a customer's ``media`` step sends: a 1x1 PNG, or a one-page PDF.
SAMPLE_FILES = {
    "image": (
        "image/png",
        "photo.png",
        base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
        ),
    ),
    "document": (
        "application/pdf",
        "invoice.pdf",
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
        b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
    ),
}


def bsuid_for(wa_id: str) -> str:
    """A stable business-scoped user id for a simulated customer's phone number."""
    digits = str(int(hashlib.sha256(wa_id.encode()).hexdigest(), 16))[:20]
    return f"US.{digits}"


def _seconds(at: datetime) -> str:
    return str(int(at.timestamp()))


class MetaWebhooks:
    """The bodies Meta would POST for one phone number of one WABA."""

    def __init__(self, *, waba_id: str, phone_number_id: str, display_phone_number: str) -> None:
        self.waba_id = waba_id
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number

    def _envelope(self, field: str, value: dict[str, Any], at: datetime) -> bytes:
        body = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "time": int(at.timestamp()),
                    "changes": [{"field": field, "value": value}],
                }
            ],
        }
        # Meta escapes non-ASCII; the signature covers these exact bytes.
        return json.dumps(body, separators=(",", ":")).encode()

    def _messages_value(self, **parts: Any) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            },
            **parts,
        }

    def text_message(self, *, wamid: str, wa_id: str, name: str, text: str, at: datetime) -> bytes:
        bsuid = bsuid_for(wa_id)
        contact = {"profile": {"name": name}, "wa_id": wa_id, "user_id": bsuid}
        message = {
            "from": wa_id,
            "from_user_id": bsuid,
            "id": wamid,
            "timestamp": _seconds(at),
            "type": "text",
            "text": {"body": text},
        }
        value = self._messages_value(contacts=[contact], messages=[message])
        return self._envelope("messages", value, at)

    def media_message(
        self, *, wamid: str, wa_id: str, name: str, kind: str, media: dict[str, Any],
        at: datetime,
    ) -> bytes:  # fmt: skip
        """An image or document the customer sends: Meta's webhook carries only its
        media id (and caption, mime type, sha256); the bytes are fetched later."""
        bsuid = bsuid_for(wa_id)
        contact = {"profile": {"name": name}, "wa_id": wa_id, "user_id": bsuid}
        message = {
            "from": wa_id,
            "from_user_id": bsuid,
            "id": wamid,
            "timestamp": _seconds(at),
            "type": kind,
            kind: media,
        }
        value = self._messages_value(contacts=[contact], messages=[message])
        return self._envelope("messages", value, at)

    def status(
        self,
        *,
        wamid: str,
        status: str,
        wa_id: str | None,
        at: datetime,
        error_code: int | None = None,
        error_title: str | None = None,
    ) -> bytes:
        item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": _seconds(at)}
        if wa_id is not None:
            item["recipient_id"] = wa_id
            item["recipient_user_id"] = bsuid_for(wa_id)
        if error_code is not None:
            title = error_title or "Message failed to send"
            item["errors"] = [
                {"code": error_code, "title": title, "message": title,
                 "error_data": {"details": title}}
            ]  # fmt: skip
        else:
            item["pricing"] = {"billable": False, "pricing_model": "PMP",
                               "type": "free_customer_service", "category": "service"}  # fmt: skip
        return self._envelope("messages", self._messages_value(statuses=[item]), at)

    def template_decision(
        self, template: Template, *, event: str, reason: str | None, at: datetime
    ) -> bytes:
        value = {
            "event": event,
            "message_template_id": int(template.meta_id or 0),
            "message_template_name": template.name,
            "message_template_language": template.language,
            "message_template_category": str(template.category),
            "reason": reason or "NONE",
        }
        return self._envelope("message_template_status_update", value, at)
