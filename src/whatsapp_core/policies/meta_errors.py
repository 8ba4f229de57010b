"""What to do about an error Meta answers a send with (fact sheet's error table)."""

from __future__ import annotations

import enum


class Remedy(enum.StrEnum):
    RETRY = "retry"  # transient or throughput limit: back off and try again
    RETRY_RECIPIENT = "retry_recipient"  # pair limit: only this recipient waits
    FAIL = "fail"  # permanent for this message: mark failed, tell the agent why
    CREDENTIALS = "credentials"  # the tenant's token is broken: fail and alert


_RETRY = frozenset({1, 2, 4, 80007, 130429, 131000, 131057})
_CREDENTIALS = frozenset({190})


def remedy_for(code: int | None, http_status: int | None = None) -> Remedy:
    """``code`` is Meta's ``error.code``; ``http_status`` the HTTP answer (None if no answer)."""
    if code in _CREDENTIALS:
        return Remedy.CREDENTIALS
    if code == 131056:
        return Remedy.RETRY_RECIPIENT
    if code in _RETRY:
        return Remedy.RETRY
    if code is None and (http_status is None or http_status >= 500 or http_status == 429):
        return Remedy.RETRY
    if http_status is not None and http_status >= 500 and code not in (131047, 131026):
        return Remedy.RETRY
    return Remedy.FAIL
