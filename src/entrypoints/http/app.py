"""Build the Litestar application around a runtime (the composition root's product)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar, MediaType, Response, asgi, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from entrypoints.bootstrap import SIMULATOR_PATH, Runtime
from entrypoints.http.auth import provide_principal
from entrypoints.http.health import HealthController
from entrypoints.http.middleware import CountersCollector, HttpMetrics, request_context
from entrypoints.http.pages import page_handlers, template_config
from entrypoints.http.problems import EXCEPTION_HANDLERS, document_problems
from entrypoints.http.realtime import inbox_events
from entrypoints.http.routes_admin import AdminController, TemplateController
from entrypoints.http.routes_ai import AI_CONTROLLERS
from entrypoints.http.routes_auth import AuthController
from entrypoints.http.routes_automation import AUTOMATION_CONTROLLERS
from entrypoints.http.routes_contacts import ContactController
from entrypoints.http.routes_dashboard import DashboardController
from entrypoints.http.routes_exports import ExportController
from entrypoints.http.routes_inbox import InboxController
from entrypoints.http.routes_jobs import JobController
from entrypoints.http.routes_media import ConversationMediaController, MediaController
from entrypoints.http.routes_tenant import InvitationController, TenantController
from entrypoints.http.webhooks import WhatsAppWebhookController
from whatsapp_core.services.inbound_coalesce import IngestCoalescer


def create_app(
    runtime: Runtime,
    *,
    lifespans: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
) -> Litestar:
    """The whole HTTP app over ``runtime``; ``lifespans`` run after the runtime starts
    (and stop before it does)."""

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

    registry = CollectorRegistry()
    registry.register(CountersCollector(runtime.counters))
    metrics = HttpMetrics(registry)

    @get("/metrics", media_type=MediaType.TEXT, include_in_schema=False)
    async def prometheus_metrics() -> Response[bytes]:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    handlers: list[Any] = [prometheus_metrics]
    if runtime.settings.profile == "embedded":
        # The simulator is built when the runtime starts, which may be after this app
        # (an ASGI factory): the mount looks it up per request.
        async def simulator(scope: Any, receive: Any, send: Any) -> None:
            if runtime.simulator_app is None:
                body = b'{"detail": "the Meta simulator is starting"}'
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await runtime.simulator_app(scope, receive, send)

        handlers.append(asgi(SIMULATOR_PATH, is_mount=True, copy_scope=True)(simulator))
    app = Litestar(
        route_handlers=[
            *handlers,
            *page_handlers(),
            HealthController,
            WhatsAppWebhookController,
            AuthController,
            InboxController,
            MediaController,
            ConversationMediaController,
            TemplateController,
            AdminController,
            ContactController,
            TenantController,
            InvitationController,
            JobController,
            ExportController,
            DashboardController,
            *AUTOMATION_CONTROLLERS,
            *AI_CONTROLLERS,
            inbox_events,
        ],
        dependencies={
            "runtime": Provide(provide_runtime, use_cache=True),
            "principal": Provide(provide_principal),
        },
        template_config=template_config(),
        middleware=[
            request_context(
                metrics,
                hsts=runtime.settings.profile == "production",
                body_timeout=runtime.settings.http_body_timeout_seconds,
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan, *lifespans],
        openapi_config=OpenAPIConfig(
            title="WhatsApp inbox API",
            version="0.1.0",
            path="/api/docs",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        debug=False,
    )
    app.state.runtime = runtime
    # One per app (its event loop): concurrent webhook deliveries share transactions.
    app.state.ingest = IngestCoalescer()
    document_problems(app.openapi_schema)  # built once here, then served as amended
    return app
