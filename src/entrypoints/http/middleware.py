"""Per-request context: a correlation id (X-Request-ID in, out, and into every log
line, audit row and job) and Prometheus request metrics."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from whatsapp_core.services.context import CURRENT_CORRELATION_ID

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "wa_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "wa_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


class CountersCollector(Collector):
    """Exports the runtime's counters (webhook refusals, unknown numbers, ...)."""

    def __init__(self, counters: Any) -> None:
        self._counters = counters

    def collect(self) -> Any:
        family = CounterMetricFamily("wa_events", "Counted events by kind", labels=["kind"])
        for kind, value in sorted(self._counters.items()):
            family.add_metric([kind], value)
        yield family


def _route(scope: dict[str, Any]) -> str:
    # The matched route's template ("/api/conversations/{conversation_id:uuid}"), so
    # labels stay few whatever the ids in the URL.
    template = scope.get("path_template")
    return template if isinstance(template, str) else "unmatched"


HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
NOSNIFF = (b"x-content-type-options", b"nosniff")


def request_context(metrics: HttpMetrics, *, hsts: bool = False) -> Any:
    """An ASGI middleware factory for Litestar's ``middleware=[...]``: a request id on
    every response (and in every log line and job it causes), request metrics, and the
    headers every answer carries (``nosniff``; HSTS in production, which runs behind
    TLS — a browser that saw it never again talks plain HTTP to the host)."""
    always = [NOSNIFF, HSTS] if hsts else [NOSNIFF]

    def factory(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
            rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
            token = CURRENT_CORRELATION_ID.set(rid)
            started, status = time.perf_counter(), 500

            async def send_with_id(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", rid.encode()),
                        *(h for h in always if h[0] not in present),
                    ]
                await send(message)

            try:
                with structlog.contextvars.bound_contextvars(correlation_id=rid):
                    await app(scope, receive, send_with_id)
            finally:
                CURRENT_CORRELATION_ID.reset(token)
                route = _route(scope)
                metrics.requests.labels(scope.get("method", ""), route, str(status)).inc()
                metrics.latency.labels(route).observe(time.perf_counter() - started)

        return middleware

    return factory
