"""API request limits (seed: 100 per minute per user, 1000 per minute per tenant)."""

from __future__ import annotations

import msgspec

from whatsapp_core.errors import RateLimited

WINDOW_SECONDS = 60


class QuotaLimits(msgspec.Struct, frozen=True):
    per_user: int = 100
    per_tenant: int = 1000


def check_quota(limits: QuotaLimits, *, user_count: int, tenant_count: int, resets_in: int) -> None:
    """Refuse the request that goes over either limit in the current window."""
    if user_count > limits.per_user:
        raise RateLimited(
            f"more than {limits.per_user} requests a minute from you; retry in {resets_in} s",
            retry_after=resets_in,
            limit=limits.per_user,
        )
    if tenant_count > limits.per_tenant:
        raise RateLimited(
            f"more than {limits.per_tenant} requests a minute from your team; "
            f"retry in {resets_in} s",
            retry_after=resets_in,
            limit=limits.per_tenant,
        )
