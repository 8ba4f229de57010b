"""One running simulator: its state and its webhook sender, shared by the routes."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.memory.basics import SystemClock
from adapters.meta.simulator.config import SimulatorConfig
from adapters.meta.simulator.state import SimClock, SimState
from adapters.meta.simulator.webhooks_out import WebhookSender
from whatsapp_core.ports import Clock


@dataclass
class Simulator:
    config: SimulatorConfig
    state: SimState
    webhooks: WebhookSender

    @classmethod
    def create(cls, config: SimulatorConfig, clock: Clock | None = None) -> Simulator:
        state = SimState(settings=config, clock=SimClock(clock or SystemClock()))
        return cls(config=config, state=state, webhooks=WebhookSender(state))

    async def aclose(self) -> None:
        await self.webhooks.aclose()
