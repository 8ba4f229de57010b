"""The web inbox: server-rendered page shells, their static files and security headers.

Each page is a Jinja shell that names the signed-in user, their role and what that
role may do; small ES modules in ``static/`` then call the REST API (``/api/*``) and
listen on ``/api/ws``. The server still enforces every permission: the role only
decides which controls are drawn. No inline script or style is used, so the CSP
allows nothing but this origin.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from entrypoints.bootstrap import Runtime
from entrypoints.http.auth import ACCESS_COOKIE
from whatsapp_core.errors import DomainError
from whatsapp_core.policies.access import PERMISSIONS

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# 'self' covers ws:/wss: to this same host (CSP level 3), which is all /api/ws needs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _asset_version() -> str:
    """Changes whenever a static file changes, so browsers never mix old and new code."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.glob("*")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


ASSET_VERSION = _asset_version()


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine)


async def security_headers(response: Response[Any]) -> Response[Any]:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//evil`` or ``https://evil``) may be a redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


async def _viewer(request: Request[Any, Any, Any], runtime: Runtime) -> dict[str, Any] | None:
    """The signed-in user for the page, or None when the session is missing or expired."""
    token = request.cookies.get(ACCESS_COOKIE)
    if not token or runtime.tokens is None:
        return None
    try:
        principal = runtime.tokens.principal(token)
        if principal.user_id is None:
            return None
        async with runtime.uow() as uow:
            user = await uow.users.get(principal.tenant_id, principal.user_id)
            tenant = await uow.tenants.get(principal.tenant_id)
    except DomainError:
        return None
    if not user.active:
        return None
    return {
        "id": str(user.id),
        "name": user.name,
        "email": user.email,
        "role": user.role.value,
        "tenant_name": tenant.name,
        "tenant_phone": tenant.display_phone_number or "",
        "perms": " ".join(sorted(a.value for a in PERMISSIONS[user.role])),
    }


async def _page(
    request: Request[Any, Any, Any], runtime: Runtime, name: str, title: str
) -> Template | Redirect:
    viewer = await _viewer(request, runtime)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}")
    return Template(
        template_name=f"{name}.html",
        context={"user": viewer, "page": name, "title": title, "v": ASSET_VERSION},
        headers={"Cache-Control": "no-store"},
    )


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]) -> Redirect:
    viewer = await _viewer(request, runtime)
    return Redirect("/inbox" if viewer else "/login")


@get("/login", include_in_schema=False)
async def login_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    next_path = _safe_next(request.query_params.get("next"))
    if await _viewer(request, runtime) is not None:
        return Redirect(next_path)
    return Template(
        template_name="login.html",
        context={
            "next": next_path,
            "expired": request.query_params.get("expired") == "1",
            "page": "login",
            "title": "Sign in",
            "v": ASSET_VERSION,
        },
        headers={"Cache-Control": "no-store"},
    )


@get("/accept", include_in_schema=False)
async def accept_page() -> Template:
    return Template(
        template_name="accept.html",
        context={"page": "accept", "title": "Join your team", "v": ASSET_VERSION},
        headers={"Cache-Control": "no-store"},
    )


@get("/inbox", include_in_schema=False)
async def inbox_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    return await _page(request, runtime, "inbox", "Inbox")


@get("/contacts", include_in_schema=False)
async def contacts_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    return await _page(request, runtime, "contacts", "Contacts")


@get("/templates", include_in_schema=False)
async def templates_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    return await _page(request, runtime, "templates", "Templates")


@get("/settings", include_in_schema=False)
async def settings_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    return await _page(request, runtime, "settings", "Settings")


@get("/jobs", include_in_schema=False)
async def jobs_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    return await _page(request, runtime, "jobs", "Jobs")


@get("/dashboard", include_in_schema=False)
async def dashboard_page(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Template | Redirect:
    return await _page(request, runtime, "dashboard", "Dashboard")


def page_handlers() -> list[Router]:
    """Fresh routers for one app (a Router must not be shared between two apps)."""
    pages = Router(
        path="/",
        route_handlers=[
            home,
            login_page,
            accept_page,
            inbox_page,
            contacts_page,
            templates_page,
            settings_page,
            jobs_page,
            dashboard_page,
        ],
        after_request=security_headers,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        name="static",
        after_request=security_headers,
        cache_control=CacheControlHeader(no_cache=True),
    )
    return [pages, static]
