"""``/api/ws``: a tenant's inbox events, pushed as JSON text frames."""

from __future__ import annotations

import asyncio
import contextlib

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from entrypoints.bootstrap import Runtime
from entrypoints.http.auth import ACCESS_COOKIE
from whatsapp_core.errors import DomainError


@websocket("/api/ws")
async def inbox_events(socket: WebSocket) -> None:  # type: ignore[type-arg]
    runtime: Runtime = socket.app.state.runtime
    token = socket.cookies.get(ACCESS_COOKIE) or socket.query_params.get("token")
    try:
        if not token or runtime.tokens is None:
            raise DomainError("sign in first")
        principal = runtime.tokens.principal(token)
    except DomainError:
        await socket.close(code=4401, reason="sign in first")
        return
    await socket.accept()
    async with runtime.broadcaster.subscribe(principal.tenant_id) as queue:
        reader = asyncio.create_task(_drain(socket))
        try:
            while not reader.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await socket.send_text(getter.result().decode())
                else:
                    getter.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader


async def _drain(socket: WebSocket) -> None:  # type: ignore[type-arg]
    """Read (and ignore) client frames so a disconnect is noticed."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_text()
