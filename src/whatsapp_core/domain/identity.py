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
_PLAUSIBLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,256}$")


class CustomerIdentity(msgspec.Struct, frozen=True, kw_only=True):
    bsuid: str | None = None
    wa_id: str | None = None
    username: str | None = None
    name: str | None = None
    parent_bsuid: str | None = None

    def __post_init__(self) -> None:
        # Webhooks are checked loosely: Meta calls the BSUID format "subject to change",
        # and dropping a customer's message over a format tweak is worse than storing it.
        # People's input goes through ``validate_bsuid`` / ``normalize_phone`` first.
        if self.bsuid is None and self.wa_id is None:
            raise InvalidInput(
                "a customer needs a business-scoped user id or a phone number", field="bsuid"
            )
        for field, value in (("bsuid", self.bsuid), ("wa_id", self.wa_id)):
            if value is not None and not _PLAUSIBLE_ID.match(value):
                raise InvalidInput(f"{value!r} is not a usable {field}", field=field)


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
