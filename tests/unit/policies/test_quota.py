from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import RateLimited
from whatsapp_core.policies.quota import QuotaLimits, check_quota

pytestmark = pytest.mark.unit
LIMITS = QuotaLimits(per_user=100, per_tenant=1000)


@given(st.integers(0, 100), st.integers(0, 1000))
def test_within_both_limits_is_allowed(user: int, tenant: int) -> None:
    check_quota(LIMITS, user_count=user, tenant_count=tenant, resets_in=5)


@given(st.integers(101, 10_000), st.integers(0, 10_000), st.integers(1, 60))
def test_over_the_user_limit_is_refused_with_retry_after(user: int, tenant: int, wait: int) -> None:
    with pytest.raises(RateLimited) as info:
        check_quota(LIMITS, user_count=user, tenant_count=tenant, resets_in=wait)
    assert (info.value.retry_after, info.value.limit) == (wait, 100)


def test_over_the_tenant_limit_is_refused() -> None:
    with pytest.raises(RateLimited) as info:
        check_quota(LIMITS, user_count=1, tenant_count=1001, resets_in=9)
    assert info.value.limit == 1000


@given(st.integers(0, 200), st.integers(0, 200), st.integers(1, 900))
def test_sign_in_is_refused_exactly_over_either_limit(
    account: int, client: int, resets_in: int
) -> None:
    from whatsapp_core.policies.quota import LoginLimits, check_login_attempts

    limits = LoginLimits(per_account=10, per_client=50)

    def attempt() -> None:
        check_login_attempts(
            limits, account_count=account, client_count=client, resets_in=resets_in
        )

    if account > limits.per_account or client > limits.per_client:
        with pytest.raises(RateLimited, match="try again in") as refused:
            attempt()
        assert refused.value.retry_after == resets_in
    else:
        attempt()
