"""Error reporting to Sentry when ``SENTRY_DSN`` is set, with personal data scrubbed.

What leaves the process: the exception type, a message with phone numbers, e-mail
addresses and tokens masked, the stack (without local variables), the request path and
method, and the correlation id. Never: request bodies, cookies, auth headers, query
strings, user e-mails or IP addresses.
"""

from __future__ import annotations

import re
from typing import Any

from entrypoints.settings import Settings

_PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")
_EMAIL = re.compile(r"[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}")
_TOKEN = re.compile(r"(?i)\b(?:bearer\s+)?(?:EAA|wak_|wai_|eyJ)[\w.-]{8,}")
_SAFE_HEADERS = frozenset({"user-agent", "content-type", "x-request-id", "accept"})


def scrub_text(text: str) -> str:
    text = _TOKEN.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send``: keep what helps debugging, mask what names a person."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string", "env"):
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() in _SAFE_HEADERS}
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for value in (event.get("exception") or {}).get("values") or []:
        if isinstance(value.get("value"), str):
            value["value"] = scrub_text(value["value"])
        for frame in (value.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"])
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        if isinstance(logentry.get("message"), str):
            logentry["message"] = scrub_text(logentry["message"])
        logentry.pop("params", None)
    breadcrumbs = event.get("breadcrumbs")
    for crumb in (breadcrumbs or {}).get("values") or [] if isinstance(breadcrumbs, dict) else []:
        if isinstance(crumb.get("message"), str):
            crumb["message"] = scrub_text(crumb["message"])
        crumb.pop("data", None)
    return event


def configure_sentry(settings: Settings, *, release: str | None = None) -> bool:
    """Start reporting when a DSN is configured; ``False`` (and nothing sent) otherwise."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.profile,
        release=release,
        # Errors are captured where we handle them (HTTP 500 handler, worker), once;
        # the auto-enabled framework integrations would report each a second time.
        auto_enabling_integrations=False,
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "stack_frame_variables": False,
            "database_query_data": False,
            "gen_ai": {"inputs": False, "outputs": False},
        },
        max_request_body_size="never",
        traces_sample_rate=0.0,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=lambda crumb, _hint: (
            {**crumb, "message": scrub_text(crumb["message"])}
            if isinstance(crumb.get("message"), str)
            else crumb
        ),
    )
    return True


def report_exception(exc: BaseException) -> None:
    """Send an unexpected error to Sentry if it is configured (a no-op otherwise)."""
    import sentry_sdk

    sentry_sdk.capture_exception(exc)
