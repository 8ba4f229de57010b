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


# Sign-in attempts, counted per account (e-mail) and per client address over a
# quarter of an hour: slow enough to make password guessing useless, loose enough
# that a person who mistypes a few times is not locked out for long.
LOGIN_WINDOW_SECONDS = 15 * 60


class LoginLimits(msgspec.Struct, frozen=True):
    per_account: int = 10
    per_client: int = 50


def check_login_attempts(
    limits: LoginLimits, *, account_count: int, client_count: int, resets_in: int
) -> None:
    """Refuse the sign-in attempt that goes over either limit in the current window.
    The message is the same whether or not the account exists (no enumeration)."""
    if account_count > limits.per_account or client_count > limits.per_client:
        minutes = max(1, (resets_in + 59) // 60)
        raise RateLimited(
            f"too many sign-in attempts; try again in {minutes} min",
            retry_after=resets_in,
            limit=limits.per_account if account_count > limits.per_account else limits.per_client,
        )
