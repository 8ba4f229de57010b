"""Per-request context: a correlation id (X-Request-ID in, out, and into every log
line, audit row and job), Prometheus request metrics, and a deadline on a stalled
request body."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import structlog
from litestar.exceptions import HTTPException
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


def stalled_body_refused(receive: Any, seconds: float) -> Any:
    """``receive`` that waits at most ``seconds`` for each next piece of the request body.

    uvicorn has no such deadline: a client that sends its headers and then stops (slow
    loris) holds its connection and the handler forever. It gets a 408 instead, and the
    connection is closed. Once the body is complete, later calls (a streaming response
    listening for the disconnect) wait as long as they need."""
    complete = False

    async def receive_in_time() -> Any:
        nonlocal complete
        if complete:
            return await receive()
        try:
            async with asyncio.timeout(seconds):
                message = await receive()
        except TimeoutError:
            raise HTTPException(
                status_code=408,
                detail=f"the request body stalled: nothing arrived for {seconds:g} s",
                headers={"Connection": "close"},
            ) from None
        complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return receive_in_time


def request_context(metrics: HttpMetrics, *, hsts: bool = False, body_timeout: float = 30.0) -> Any:
    """An ASGI middleware factory for Litestar's ``middleware=[...]``: a request id on
    every response (and in every log line and job it causes), request metrics, the
    headers every answer carries (``nosniff``; HSTS in production, which runs behind
    TLS — a browser that saw it never again talks plain HTTP to the host), and a 408 for
    a body that stops arriving for ``body_timeout`` seconds."""
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
                    await app(scope, stalled_body_refused(receive, body_timeout), send_with_id)
            finally:
                CURRENT_CORRELATION_ID.reset(token)
                route = _route(scope)
                metrics.requests.labels(scope.get("method", ""), route, str(status)).inc()
                metrics.latency.labels(route).observe(time.perf_counter() - started)

        return middleware

    return factory
