"""Build the Litestar application around a runtime (the composition root's product)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, MediaType, asgi, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from entrypoints.bootstrap import SIMULATOR_PATH, Runtime
from entrypoints.http.auth import provide_principal
from entrypoints.http.health import HealthController
from entrypoints.http.problems import EXCEPTION_HANDLERS
from entrypoints.http.realtime import inbox_events
from entrypoints.http.routes_admin import AdminController, TemplateController
from entrypoints.http.routes_auth import AuthController
from entrypoints.http.routes_contacts import ContactController
from entrypoints.http.routes_inbox import InboxController
from entrypoints.http.webhooks import WhatsAppWebhookController

_HOME = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>WhatsApp inbox</title></head><body>
<h1>WhatsApp inbox</h1>
<p>The API is running. <a href="/api/docs">API docs</a> ·
<a href="/api/health">health</a> · <a href="/api/ready">readiness</a></p>
</body></html>"""


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def home() -> str:
    return _HOME


def create_app(runtime: Runtime) -> Litestar:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = not runtime.started
        await runtime.start()
        try:
            yield
        finally:
            if owned:
                await runtime.stop()

    async def provide_runtime() -> Runtime:
        return runtime

    handlers: list[Any] = []
    if runtime.simulator_app is not None:
        handlers.append(asgi(SIMULATOR_PATH, is_mount=True, copy_scope=True)(runtime.simulator_app))
    app = Litestar(
        route_handlers=[
            *handlers,
            home,
            HealthController,
            WhatsAppWebhookController,
            AuthController,
            InboxController,
            TemplateController,
            AdminController,
            ContactController,
            inbox_events,
        ],
        dependencies={
            "runtime": Provide(provide_runtime, use_cache=True),
            "principal": Provide(provide_principal),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="WhatsApp inbox API",
            version="0.1.0",
            path="/api/docs",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        debug=False,
    )
    app.state.runtime = runtime
    return app
