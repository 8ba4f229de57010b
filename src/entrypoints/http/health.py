"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from entrypoints.bootstrap import Runtime


class HealthController(Controller):
    path = "/api"
    tags = ("health",)

    @get("/health", summary="Liveness: the process answers")
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", summary="Readiness: database, queue and storage answer")
    async def ready(self, runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
        if not runtime.started:
            return Response({"status": "starting", "checks": {}}, status_code=503)
        checks = await runtime.readiness()
        failing = sorted(name for name, state in checks.items() if state != "ok")
        body: dict[str, Any] = {"status": "ok" if not failing else "unavailable"}
        body["checks"] = checks
        if failing:
            body["failing"] = failing
        return Response(body, status_code=503 if failing else 200)
