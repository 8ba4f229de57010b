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
# Named in the fact sheet as permanent for the message, whatever the HTTP status says:
# re-engagement, undeliverable, spam/health limits (never hammer), media steps,
# template problems.
PERMANENT = frozenset(
    {131047, 131026, 131048, 131049, 131052, 131053,
     132000, 132001, 132005, 132007, 132012, 132015, 132016}
)  # fmt: skip


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
    if code in PERMANENT:
        return Remedy.FAIL
    if http_status is not None and http_status >= 500:
        return Remedy.RETRY
    return Remedy.FAIL
