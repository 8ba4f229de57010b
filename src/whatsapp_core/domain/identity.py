"""Who a WhatsApp customer is: BSUID first, phone number optional (Meta's 2026 change).

A business-scoped user id (BSUID) like ``US.13491208655302741918`` is always present on
new webhooks; the phone (``wa_id``) only when Meta may share it; a username only when
the user adopted one. Older payloads carry only ``wa_id``.
"""

from __future__ import annotations

import re

import msgspec

from whatsapp_core.errors import InvalidInput

_BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
_WA_ID = re.compile(r"^[1-9][0-9]{6,14}$")  # E.164 digits, no "+"


class CustomerIdentity(msgspec.Struct, frozen=True, kw_only=True):
    bsuid: str | None = None
    wa_id: str | None = None
    username: str | None = None
    name: str | None = None
    parent_bsuid: str | None = None

    def __post_init__(self) -> None:
        if self.bsuid is None and self.wa_id is None:
            raise InvalidInput(
                "a customer needs a business-scoped user id or a phone number", field="bsuid"
            )
        if self.bsuid is not None:
            validate_bsuid(self.bsuid)
        if self.wa_id is not None:
            validate_wa_id(self.wa_id)


def validate_bsuid(value: str, field: str = "bsuid") -> str:
    if not _BSUID.match(value):
        raise InvalidInput(
            f"{value!r} is not a business-scoped user id (like US.13491208655302741918)",
            field=field,
        )
    return value


def validate_wa_id(value: str, field: str = "wa_id") -> str:
    if not _WA_ID.match(value):
        raise InvalidInput(
            f"{value!r} is not a WhatsApp phone number (7-15 digits with country code, no +)",
            field=field,
        )
    return value


def normalize_phone(value: str) -> str:
    """Accept ``+55 (11) 99999-9999`` style input from people; return Meta's ``wa_id`` form."""
    digits = re.sub(r"[\s\-().]", "", value.strip())
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    return validate_wa_id(digits, field="phone")
