"""The simulator as a Litestar application."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State

from adapters.meta.simulator.config import SimulatorConfig
from adapters.meta.simulator.control import control_handlers
from adapters.meta.simulator.graph_api import graph_api_router
from adapters.meta.simulator.runtime import Simulator
from whatsapp_core.ports import Clock


def create_simulator(config: SimulatorConfig, *, clock: Clock | None = None) -> Litestar:
    """A simulated Meta Cloud API. ``app.state.simulator`` is its ``Simulator`` (state
    and webhook sender); close it with ``await app.state.simulator.aclose()`` when the
    app is mounted inside another one (mounted apps get no shutdown event)."""
    sim = Simulator.create(config, clock)
    return Litestar(
        route_handlers=[graph_api_router(sim), *control_handlers(sim)],
        on_shutdown=[sim.aclose],
        state=State({"simulator": sim}),
        openapi_config=None,
        debug=False,
    )
