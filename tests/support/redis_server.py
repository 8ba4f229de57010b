"""A redis-server of the test's own on a free port, without persistence: a test may
stop and restart it (an outage) without touching the machine's shared Redis."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server on a free port, no persistence; stopping it harms nobody else."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir),
            "--logfile", str(self.workdir / "redis.log"),
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not await self._answers():
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)

    async def _answers(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await reader.readline()).startswith(b"+PONG")
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def private_redis(workdir: Path) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(workdir)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()
