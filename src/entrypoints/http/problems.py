"""One table from error type to HTTP status, answered as RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

from entrypoints.observability import report_exception
from whatsapp_core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyViolation,
    RateLimited,
    Unauthenticated,
    UpstreamUnavailable,
)

STATUS_BY_ERROR: tuple[tuple[type[DomainError], int], ...] = (
    (Unauthenticated, 401),
    (RateLimited, 429),
    (InvalidInput, 422),
    (NotFound, 404),
    (Forbidden, 403),
    (PolicyViolation, 409),
    (Conflict, 409),
    (UpstreamUnavailable, 503),
)

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 400)
    extra = {"code": exc.code, **{k: v for k, v in exc.details.items() if _jsonable(v)}}
    headers = {"Retry-After": "5"} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after), "X-RateLimit-Limit": str(exc.limit)}
    response = problem(status, exc.code.replace("_", " "), exc.message, **extra)
    if headers:
        response.headers.update(headers)
    return response


def http_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    response = problem(exc.status_code, _title(exc.status_code), str(exc.detail), **extra)
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 413:
        # The rest of the body is refused unread: close rather than drain it.
        response.headers["Connection"] = "close"
    return response


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Logged with its traceback for us; the client gets no internals.
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    report_exception(exc)
    return problem(500, "Internal Server Error", "an unexpected error occurred; it was logged")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _jsonable(value: object) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


_STR = Schema(type=OpenAPIType.STRING)
PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": _STR,
        "title": _STR,
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": _STR,
        "code": _STR,
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
    description="RFC 9457 problem details; a domain error adds `code` and its details",
)
_METHODS = ("get", "put", "post", "delete", "patch")


def document_problems(openapi: OpenAPI) -> None:
    """Make the generated schema say what the handlers above answer: every error (any
    status the handler table maps to) is ``application/problem+json``, not Litestar's
    default ``{status_code, detail}`` JSON, and a 204 has no body."""
    assert openapi.components is not None
    openapi.components.schemas["ProblemDetails"] = PROBLEM_SCHEMA
    content = {
        PROBLEM_JSON: OpenAPIMediaType(schema=Reference("#/components/schemas/ProblemDetails"))
    }
    for item in (openapi.paths or {}).values():
        for operation in filter(None, (getattr(item, m) for m in _METHODS)):
            responses = operation.responses if operation.responses is not None else {}
            for status, response in responses.items():
                if isinstance(response, OpenAPIResponse) and status.isdigit():
                    if int(status) >= 400:
                        response.content = content
                    elif status == "204":
                        response.content = None
            responses["default"] = OpenAPIResponse(
                description="An error, as problem details", content=content
            )
            operation.responses = responses


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
