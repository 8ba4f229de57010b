"""The tenant's WhatsApp number as Meta describes it (``GET /{phone_number_id}``), and
the outcome of an admin's "test connection": whether Meta accepts the tenant's
credentials for that number, or why not in words an admin can act on."""

from __future__ import annotations

from datetime import datetime

import msgspec

# Meta's codes a connection test meets (see META_CLOUD_API.md, "errors").
INVALID_TOKEN = 190  # OAuthException: expired, revoked or malformed access token
UNKNOWN_OBJECT = 100  # with subcode 33: no such object, or the token cannot see it
UNKNOWN_ALIAS = 803  # "Some of the aliases you requested do not exist"
PERMISSION_CODES = frozenset({10, 200})  # the token lacks a permission on the number


class PhoneNumberInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What Meta says about one business phone number. Meta's strings are kept as they
    come (an unknown value is shown, not refused); absent fields stay ``None``."""

    phone_number_id: str
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None  # GREEN, YELLOW, RED, UNKNOWN
    name_status: str | None = None  # APPROVED, PENDING_REVIEW, DECLINED, NONE...
    code_verification_status: str | None = None  # VERIFIED, NOT_VERIFIED, EXPIRED
    messaging_limit_tier: str | None = None  # TIER_250, TIER_2K... TIER_UNLIMITED
    throughput_level: str | None = None  # throughput.level: STANDARD, HIGH...


class ConnectionCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One connection test. ``ok``: Meta answered for the number with the tenant's
    credentials (``info``); else ``error_code`` (Meta's, ``None`` when Meta was not
    reached) and ``reason``, which says what to check."""

    ok: bool
    checked_at: datetime
    info: PhoneNumberInfo | None = None
    error_code: int | None = None
    reason: str | None = None


def connection_failure_reason(
    phone_number_id: str, meta_code: int | None, http_status: int | None, detail: str
) -> str:
    """Why Meta refused a connection test, and what the admin should check."""
    if meta_code == INVALID_TOKEN:
        return (
            "Meta refused the access token (error 190: expired, revoked or mistyped). "
            "Paste a current system-user token with the whatsapp_business_messaging and "
            "whatsapp_business_management permissions, or remove the tenant's own token "
            "to use the platform's."
        )
    if meta_code in (UNKNOWN_OBJECT, UNKNOWN_ALIAS):
        return (
            f"Meta does not know phone number id {phone_number_id}, or the token cannot "
            f"see it (error {meta_code}). Check the Phone number ID in WhatsApp Manager "
            "(API Setup) and that the token's app has access to this WhatsApp Business "
            "Account."
        )
    if meta_code in PERMISSION_CODES:
        return (
            f"The access token lacks permission on this number (error {meta_code}). Grant "
            "the system user access to the WhatsApp Business Account and its "
            "whatsapp_business_management permission."
        )
    if meta_code is None and http_status is None:
        return f"Meta could not be reached: {detail}. Try again in a moment."
    code = f"error {meta_code}" if meta_code is not None else f"HTTP {http_status}"
    return f"Meta refused the check ({code}): {detail}"
