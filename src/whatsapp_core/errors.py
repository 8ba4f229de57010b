"""One error hierarchy for the whole product.

Every error carries a stable machine-readable ``code`` and a message a user can act
on. Adapters translate their library's failures into these (``raise StorageError(...)
from exc``); the HTTP layer has one table from type to status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Root of every error the product raises on purpose."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: Mapping[str, Any] = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(DomainError):
    """The caller sent something that can never be right (bad phone, empty text...)."""

    code = "invalid_input"


class NotFound(DomainError):
    """The thing does not exist in the caller's tenant (foreign ids look the same)."""

    code = "not_found"


class Forbidden(DomainError):
    """The principal's role does not allow the action."""

    code = "forbidden"


class Conflict(DomainError):
    """The request clashes with stored state (duplicate name, illegal transition...)."""

    code = "conflict"


class PolicyViolation(DomainError):
    """A business rule refuses the action now (e.g. the 24 h window is closed)."""

    code = "policy_violation"


class UpstreamUnavailable(DomainError):
    """A dependency (database, queue, Meta, AI provider) cannot be reached right now."""

    code = "upstream_unavailable"


class StorageError(UpstreamUnavailable):
    """The persistence layer failed; nothing was half-written."""

    code = "storage_unavailable"


class DeliveryError(UpstreamUnavailable):
    """Meta refused or could not take a send. ``meta_code``/``http_status`` decide the
    remedy through ``policies.meta_errors.remedy_for``."""

    code = "delivery_failed"

    def __init__(
        self,
        message: str,
        *,
        meta_code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, meta_code=meta_code, http_status=http_status)
        self.meta_code = meta_code
        self.http_status = http_status
        self.retry_after = retry_after


class Unauthenticated(DomainError):
    """Who is calling is unknown: no, wrong or expired credentials."""

    code = "unauthenticated"


class RateLimited(DomainError):
    """Too many requests for now; ``retry_after`` says when to come back (seconds)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, limit: int) -> None:
        super().__init__(message, retry_after=retry_after, limit=limit)
        self.retry_after = retry_after
        self.limit = limit
