"""Meta's send errors -> what the worker does (the fact sheet's error table)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.policies.meta_errors import PERMANENT, Remedy, remedy_for

pytestmark = pytest.mark.unit

TABLE = {
    190: Remedy.CREDENTIALS,
    4: Remedy.RETRY, 80007: Remedy.RETRY, 130429: Remedy.RETRY,
    131056: Remedy.RETRY_RECIPIENT,
    131047: Remedy.FAIL, 131026: Remedy.FAIL, 131048: Remedy.FAIL, 131049: Remedy.FAIL,
    131052: Remedy.FAIL, 131053: Remedy.FAIL,
    131057: Remedy.RETRY,
    132000: Remedy.FAIL, 132001: Remedy.FAIL, 132005: Remedy.FAIL, 132007: Remedy.FAIL,
    132012: Remedy.FAIL, 132015: Remedy.FAIL, 132016: Remedy.FAIL,
    131000: Remedy.RETRY, 1: Remedy.RETRY, 2: Remedy.RETRY,
}  # fmt: skip
HTTP = st.none() | st.sampled_from([200, 400, 401, 403, 404, 429, 500, 502, 503])
UNLISTED = st.integers(1, 10**6).filter(lambda c: c not in TABLE)


@pytest.mark.parametrize(("code", "remedy"), sorted(TABLE.items()))
def test_every_code_of_the_fact_sheet(code: int, remedy: Remedy) -> None:
    assert remedy_for(code, 400) is remedy


@given(st.sampled_from(sorted(TABLE)), HTTP)
def test_a_listed_code_decides_whatever_the_http_status(code: int, http: int | None) -> None:
    assert remedy_for(code, http) is TABLE[code]


@given(st.sampled_from(sorted(PERMANENT)), HTTP)
def test_permanent_errors_are_never_retried(code: int, http: int | None) -> None:
    assert remedy_for(code, http) is Remedy.FAIL  # e.g. spam limits: never hammer


@given(UNLISTED, HTTP)
def test_an_unknown_code_follows_the_http_status(code: int, http: int | None) -> None:
    expected = Remedy.RETRY if http is not None and http >= 500 else Remedy.FAIL
    assert remedy_for(code, http) is expected


@given(HTTP)
def test_no_meta_error_is_retried_only_when_transient(http: int | None) -> None:
    transient = http is None or http >= 500 or http == 429
    assert remedy_for(None, http) is (Remedy.RETRY if transient else Remedy.FAIL)
