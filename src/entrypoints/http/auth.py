"""Who is calling: a bearer access token, a tenant API key, or the session cookie.

Cookie sessions must echo the CSRF cookie in ``X-CSRF-Token`` on every mutation
(double submit); bearer tokens and API keys are not sent by browsers on their own,
so they need no CSRF token.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Forbidden, Unauthenticated
from whatsapp_core.policies.quota import (
    LOGIN_WINDOW_SECONDS,
    WINDOW_SECONDS,
    check_login_attempts,
    check_quota,
)
from whatsapp_core.ports import TokenIssuer
from whatsapp_core.services.accounts import authenticate_api_key

ACCESS_COOKIE = "wa_access"
CSRF_COOKIE = "wa_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_principal(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Principal:
    principal = await _identify(request, runtime)
    await _count_request(runtime, principal)
    return principal


async def count_sign_in_attempt(
    runtime: Runtime, request: Request[Any, Any, Any], email: str
) -> None:
    """Before checking a password: throttle guessing per account and per client address
    (counters shared across replicas through Redis when configured)."""
    client = request.client.host if request.client else "unknown"
    account_count, resets_in = await runtime.quota.hit(
        f"login:a:{email.strip().lower()}", LOGIN_WINDOW_SECONDS
    )
    client_count, _ = await runtime.quota.hit(f"login:c:{client}", LOGIN_WINDOW_SECONDS)
    check_login_attempts(
        runtime.login_limits,
        account_count=account_count,
        client_count=client_count,
        resets_in=resets_in,
    )


async def _count_request(runtime: Runtime, principal: Principal) -> None:
    caller = principal.user_id or principal.api_key_id
    user_count, resets_in = await runtime.quota.hit(f"u:{caller}", WINDOW_SECONDS)
    tenant_count, _ = await runtime.quota.hit(f"t:{principal.tenant_id}", WINDOW_SECONDS)
    check_quota(
        runtime.quota_limits, user_count=user_count, tenant_count=tenant_count, resets_in=resets_in
    )


async def _identify(request: Request[Any, Any, Any], runtime: Runtime) -> Principal:
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential:
        if credential.startswith("wak_"):
            return await authenticate_api_key(runtime.services, credential.strip())
        return _tokens(runtime).principal(credential.strip())
    api_key = request.headers.get("x-api-key")
    if api_key:
        return await authenticate_api_key(runtime.services, api_key.strip())
    cookie = request.cookies.get(ACCESS_COOKIE)
    if cookie:
        principal = _tokens(runtime).principal(cookie)
        if request.method not in SAFE_METHODS:
            _check_csrf(request)
        return principal
    raise Unauthenticated("sign in first (send a bearer token, an API key or the session cookie)")


def _tokens(runtime: Runtime) -> TokenIssuer:
    if runtime.tokens is None:
        raise Unauthenticated("the server is still starting")
    return runtime.tokens


def _check_csrf(request: Request[Any, Any, Any]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise Forbidden(
            "missing or wrong X-CSRF-Token header (copy it from the wa_csrf cookie)",
            code="csrf_failed",
        )
