"""Background workers: the outbox relay's consumer, per-number pacing, retries."""

from entrypoints.worker.handlers import JobHandler, PacedGateway, pace_key
from entrypoints.worker.runner import Worker, build_worker

__all__ = ["JobHandler", "PacedGateway", "Worker", "build_worker", "pace_key"]
