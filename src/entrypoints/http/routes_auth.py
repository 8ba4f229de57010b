"""Sign-up, sign-in, sign-out, me, password."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.bootstrap import Runtime
from entrypoints.http.auth import ACCESS_COOKIE, CSRF_COOKIE, count_sign_in_attempt
from entrypoints.http.schemas import LoginIn, PasswordIn, RegisterIn, SessionOut, UserOut
from whatsapp_core.domain.accounts import User
from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Forbidden, Unauthenticated
from whatsapp_core.services import accounts, invitations, sessions

REFRESH_COOKIE = "wa_refresh"
REFRESH_PATH = "/api/auth"


class AuthController(Controller):
    path = "/api/auth"
    tags = ("auth",)

    @post("/register", status_code=201, summary="Create a tenant and its first admin")
    async def register(
        self, data: JSONBody[RegisterIn], runtime: NamedDependency[Runtime]
    ) -> Response[Any]:
        _, admin = await accounts.register_tenant(
            runtime.services,
            runtime.hasher,
            slug=data.tenant_slug,
            name=data.tenant_name,
            admin_email=data.email,
            admin_name=data.name,
            admin_password=data.password,
            waba_id=data.waba_id,
            phone_number_id=data.phone_number_id,
            display_phone_number=data.display_phone_number,
        )
        return await _session(runtime, admin, status=201)

    @post("/login", status_code=200, summary="Sign in; sets the session cookies")
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginIn],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        await count_sign_in_attempt(runtime, request, data.email)
        user = await accounts.authenticate(
            runtime.services, runtime.hasher, data.email, data.password
        )
        return await _session(runtime, user, status=200)

    @post("/refresh", status_code=200, summary="A new access token from the refresh cookie")
    async def refresh(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
    ) -> Response[Any]:
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthenticated("no session to refresh; sign in")
        user, next_token = await sessions.refresh(runtime.services, token)
        return await _session(runtime, user, status=200, refresh_token=next_token)

    @post("/logout", status_code=204, summary="Sign out (ends the session everywhere it was)")
    async def logout(
        self, request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
    ) -> Response[None]:
        token = request.cookies.get(REFRESH_COOKIE)
        if token:
            await sessions.end_session(runtime.services, token)
        return Response(
            None,
            status_code=204,
            cookies=[
                Cookie(key=ACCESS_COOKIE, value="", max_age=0, path="/"),
                Cookie(key=CSRF_COOKIE, value="", max_age=0, path="/"),
                Cookie(key=REFRESH_COOKIE, value="", max_age=0, path=REFRESH_PATH),
            ],
        )

    @get("/me", summary="The signed-in user")
    async def me(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> UserOut:
        if principal.user_id is None:
            raise Forbidden("an API key is not a user; /api/auth/me needs a signed-in user")
        async with runtime.uow() as uow:
            return UserOut.of(await uow.users.get(principal.tenant_id, principal.user_id))

    @post("/accept", status_code=201, summary="Accept an invitation; signs the new user in")
    async def accept(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AcceptIn],
        runtime: NamedDependency[Runtime],
    ) -> Response[Any]:
        # Counted like sign-ins: a guessed token is as bad as a guessed password.
        await count_sign_in_attempt(runtime, request, "invitation")
        user = await invitations.accept_invitation(
            runtime.services, runtime.hasher, data.token, name=data.name, password=data.password
        )
        return await _session(runtime, user, status=201)

    @post("/password", status_code=204, summary="Change my password")
    async def password(
        self,
        data: JSONBody[PasswordIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await accounts.change_password(
            runtime.services, runtime.hasher, principal, data.current_password, data.new_password
        )


class AcceptIn(msgspec.Struct, kw_only=True):
    token: str
    name: str
    password: str


async def _session(
    runtime: Runtime, user: User, *, status: int, refresh_token: str | None = None
) -> Response[Any]:
    assert runtime.tokens is not None
    if refresh_token is None:
        refresh_token = await sessions.start_session(runtime.services, user)
    principal = Principal(tenant_id=user.tenant_id, role=user.role, user_id=user.id)
    token = runtime.tokens.issue(principal, runtime.clock.now())
    csrf = secrets.token_urlsafe(24)
    ttl = int(runtime.tokens.ttl.total_seconds())
    secure = runtime.settings.profile == "production"
    body = SessionOut(
        access_token=token,
        token_type="bearer",  # noqa: S106 (the OAuth token type, not a secret)
        expires_in=ttl,
        csrf_token=csrf,
        user=UserOut.of(user),
    )
    return Response(
        body,
        status_code=status,
        cookies=[
            Cookie(
                key=ACCESS_COOKIE, value=token, max_age=ttl, httponly=True, secure=secure,
                samesite="strict", path="/",
            ),
            Cookie(
                key=CSRF_COOKIE, value=csrf, max_age=ttl, httponly=False, secure=secure,
                samesite="strict", path="/",
            ),
            # Sent only to /api/auth (refresh, logout): never with ordinary API calls.
            Cookie(
                key=REFRESH_COOKIE, value=refresh_token,
                max_age=int(sessions.REFRESH_TTL.total_seconds()), httponly=True,
                secure=secure, samesite="strict", path=REFRESH_PATH,
            ),
        ],
    )  # fmt: skip
