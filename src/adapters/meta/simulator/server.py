"""Serve an ASGI app (the simulator, a webhook receiver) with uvicorn inside this loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def serving(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 5.0
) -> AsyncIterator[str]:
    """Run ``app`` on ``host:port`` (0: a free port) as a task; yield its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="auto")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()  # raises why it could not start
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{host}:{bound[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5.0)
