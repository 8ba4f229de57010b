"""``GET /{phone_number_id}``: what Meta says about a business phone number."""

from __future__ import annotations

from typing import Any

from adapters.meta.simulator.config import SimulatorConfig

# Meta's fields of the phone number node this simulator can answer.
PHONE_NUMBER_FIELDS = frozenset(
    {"id", "display_phone_number", "verified_name", "quality_rating",
     "code_verification_status", "name_status", "messaging_limit_tier", "throughput",
     "platform_type", "is_official_business_account", "account_mode"}
)  # fmt: skip
# What Meta answers when no ``fields`` are asked for.
DEFAULT_FIELDS = (
    "verified_name", "code_verification_status", "display_phone_number", "quality_rating",
    "platform_type", "throughput", "id",
)  # fmt: skip


def requested_fields(raw: str | None) -> list[str] | str:
    """The fields asked for (Meta's defaults when none), or why Meta refuses them."""
    if raw is None:
        return list(DEFAULT_FIELDS)
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    if not fields:
        return "fields must name at least one field"
    unknown = [f for f in fields if f not in PHONE_NUMBER_FIELDS]
    if unknown:
        node = "WhatsAppBusinessPhoneNumber"
        return f"Tried accessing nonexisting field ({unknown[0]}) on node type ({node})"
    return fields


def phone_number_json(
    config: SimulatorConfig, phone_number_id: str, fields: list[str]
) -> dict[str, Any]:
    """The number's profile, restricted to ``fields`` (and its id, as Meta always adds)."""
    throughput = "HIGH" if config.throughput_per_second > 80 else "STANDARD"
    profile: dict[str, Any] = {
        "id": phone_number_id,
        "display_phone_number": config.display_phone_number,
        "verified_name": config.verified_name,
        "quality_rating": config.quality_rating,
        "code_verification_status": "VERIFIED",
        "name_status": "APPROVED",
        "messaging_limit_tier": config.messaging_limit_tier,
        "throughput": {"level": throughput},
        "platform_type": "CLOUD_API",
        "is_official_business_account": False,
        "account_mode": "LIVE",
    }
    return {key: profile[key] for key in dict.fromkeys([*fields, "id"])}
