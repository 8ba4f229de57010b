"""For ASGI servers that import the app themselves: ``uvicorn entrypoints.http.asgi:app``,
or the factory ``entrypoints.http.asgi:create`` (``--factory``; ``wa serve --reload``).

Settings come from the environment (an error in them stops the import with one line);
the runtime starts in the app's lifespan, and outside production the job worker runs
in the same process, as ``wa serve`` does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar

from entrypoints.bootstrap import build_runtime, freeze_startup_heap
from entrypoints.http.app import create_app
from entrypoints.settings import SettingsError, load_settings


def create() -> Litestar:
    try:
        runtime = build_runtime(load_settings())
    except SettingsError as exc:
        raise SystemExit(f"wa: error: {exc}") from None

    @contextlib.asynccontextmanager
    async def in_process_worker(_: Litestar) -> AsyncIterator[None]:
        # Runs after create_app's own lifespan has started the runtime.
        freeze_startup_heap()
        settings = runtime.settings
        if settings.profile == "production" or settings.serve_jobs == 0 or runtime.gateway is None:
            yield
            return
        from entrypoints.worker.runner import build_jobs

        worker = build_jobs(runtime, runtime.gateway, concurrency=runtime.settings.serve_jobs)
        task = asyncio.create_task(worker.run(), name="in-process-worker")
        try:
            yield
        finally:
            worker.stop()
            await task

    return create_app(runtime, lifespans=[in_process_worker])


_app: Litestar | None = None


def __getattr__(name: str) -> Litestar:
    """``app``, built on first use (importing this module for ``create`` builds none)."""
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        _app = create()
    return _app
