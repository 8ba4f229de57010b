"""A real HTTP receiver for webhook tests: a tiny ASGI app run by uvicorn on 127.0.0.1.

Each request is recorded (headers, raw body, arrival time); answers follow a script
(status, delay, body, headers), then the default (200).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from adapters.meta.simulator.server import serving


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.perf_counter() on arrival


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0
    body: bytes = b'{"ok": true}'
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Receiver:
    received: list[Received] = field(default_factory=list)
    script: deque[Answer] = field(default_factory=deque)
    default: Answer = field(default_factory=Answer)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(self, *answers: Answer | int) -> None:
        for a in answers:
            self.script.append(Answer(status=a) if isinstance(a, int) else a)

    async def wait_for(self, count: int) -> list[Received]:
        """Until ``count`` requests have arrived (5 s at most)."""
        async with asyncio.timeout(5):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(scope["path"], headers, body, time.perf_counter()))
        self.arrived.set()
        answer = self.script.popleft() if self.script else self.default
        if answer.delay:
            await asyncio.sleep(answer.delay)
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.encode(), v.encode()) for k, v in answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver) as base:
        receiver.url = f"{base}/hook"
        yield receiver
