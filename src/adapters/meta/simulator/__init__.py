"""A real-HTTP simulator of Meta's WhatsApp Cloud API for tests and local development.

It speaks the Graph API subset the product uses (send, templates, media), enforces
the 24 h window and the throughput/pair limits, and posts signed webhooks (inbound
messages, statuses, template decisions) to a callback. ``/_sim/*`` lets a test or a
developer play the customer and switch faults on.
"""

from adapters.meta.simulator.app import create_simulator
from adapters.meta.simulator.config import SimulatorConfig
from adapters.meta.simulator.runtime import Simulator
from adapters.meta.simulator.server import serving
from adapters.meta.simulator.webhooks_out import encode_like_meta

__all__ = ["Simulator", "SimulatorConfig", "create_simulator", "encode_like_meta", "serving"]
