"""The dashboard's API: one read of a tenant's inbox figures for a period (managers and
admins; see ``whatsapp_core.services.dashboard``)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.model import Principal
from whatsapp_core.services import dashboard
from whatsapp_core.services.dashboard import Dashboard


class DashboardController(Controller):
    path = "/api/dashboard"
    tags = ("reports",)

    @get(
        summary="Conversations now, and messages, agents, intents and templates over a period",
        description="``days``: calendar days, today included (1..90); ``tz``: the IANA time "
        "zone whose midnights start the days (default UTC).",
    )
    async def show(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        days: FromQuery[int] = dashboard.DEFAULT_DAYS,
        tz: FromQuery[str] = "UTC",
    ) -> Dashboard:
        return await dashboard.get_dashboard(runtime.services, principal, days, tz)
