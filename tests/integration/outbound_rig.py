"""The rig of the outbound fault tests (``test_jobs_faults``): the Meta simulator
served in the test's event loop, replies queued through the core on a fresh PostgreSQL
database, and ``wa worker`` processes in the production profile sending to the
simulator over loopback HTTP (with a redis-server of the test's own:
``tests.support.redis_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from msgspec.structs import replace
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.meta.simulator import SimulatorConfig, create_simulator, serving
from adapters.meta.simulator.runtime import Simulator
from adapters.postgres import tables
from adapters.postgres.engine import create_engine
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.domain.webhook import InboundMessage, NumberUpdates, WebhookBatch
from whatsapp_core.jobs import MSG_SEND, JobState
from whatsapp_core.policies.access import Role
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_reply

WA = str(Path(sys.executable).with_name("wa"))
TOKEN = "EAAG-fault-tests-token"
APP_SECRET = "fault-tests-app-secret"
VERSION = "v24.0"
WABA = "102290129399001"
CUSTOMER = CustomerIdentity(bsuid="BR.00000000000000000077", wa_id="5511900000077", name="Rita")


async def wait_for(
    condition: Callable[[], Awaitable[bool]], within: float, what: str, step: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(step)


# -- the simulator -------------------------------------------------------------------


@dataclass
class Sim:
    url: str
    http: httpx.AsyncClient
    simulator: Simulator

    async def open_window(self, phone_number_id: str, customer: CustomerIdentity) -> None:
        """The customer writes to the number (Meta then allows free-form replies)."""
        body = {"phone_number_id": phone_number_id, "from": f"+{customer.wa_id}",
                "from_user_id": customer.bsuid, "text": "hi"}  # fmt: skip
        answer = await self.http.post("/_sim/inbound", json=body)
        assert answer.status_code == 200, answer.text

    async def set_faults(self, **faults: Any) -> None:
        answer = await self.http.post("/_sim/faults", json=faults)
        assert answer.status_code == 200, answer.text

    async def log(self) -> list[dict[str, Any]]:
        answer = await self.http.get("/_sim/log")
        assert answer.status_code == 200, answer.text
        records: list[dict[str, Any]] = answer.json()
        return records

    def count(self) -> int:
        """Sends recorded so far (read in process: cheap enough to poll)."""
        return len(self.simulator.state.sent)


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[Sim]:
    """Meta on a free port. Its own throughput limit is set out of the way: the tests
    measure OUR pacing; no callback, so nothing is posted back."""
    config = SimulatorConfig(
        access_token=TOKEN, app_secret=APP_SECRET, api_version=VERSION,
        default_waba_id=WABA, throughput_per_second=100_000.0, auto_statuses=False,
    )  # fmt: skip
    app = create_simulator(config)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Sim(url, http, app.state.simulator)


def texts_sent(log: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(r["body"]["text"]["body"]) for r in log if r["type"] == "text")


def max_in_any_second(times: list[float]) -> int:
    """The most sends in any closed window [t, t + 1 s] starting at a send."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] <= start + 1.0:
            j += 1
        best = max(best, j - i)
    return best


# -- the product's side: tenants, replies, workers ------------------------------------


@dataclass
class Desk:
    """One tenant with one customer who wrote in; an agent replies through the core."""

    svc: Services
    tenant: Tenant
    conversation_id: uuid.UUID
    agent: Principal

    async def reply(self, text: str) -> None:
        await send_reply(self.svc, self.agent, self.conversation_id, text)

    async def queue_replies(self, count: int, prefix: str) -> list[str]:
        texts = [f"{prefix} {k:04d}" for k in range(count)]
        for text in texts:
            await self.reply(text)
        return texts


async def open_desk(
    engine: AsyncEngine, sim: Sim, phone_number_id: str, *, throughput: int = 80
) -> Desk:
    svc = Services(uow=SqlaUnitOfWorkFactory(engine), clock=SystemClock(), ids=UuidGenerator())
    tenant = new_tenant(
        tenant_id=uuid.uuid4(), slug=f"t{phone_number_id[-6:]}", name="Fault Co",
        waba_id=WABA, phone_number_id=phone_number_id,
    )  # fmt: skip
    tenant = replace(tenant, throughput_per_second=throughput)
    async with svc.uow() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    await sim.open_window(phone_number_id, CUSTOMER)
    hello = InboundMessage(
        wamid=f"wamid.hello.{uuid.uuid4().hex}", customer=CUSTOMER,
        sent_at=svc.clock.now() - timedelta(seconds=1), type="text", text="hi",
    )  # fmt: skip
    await ingest_webhook(
        svc,
        WebhookBatch(numbers=[NumberUpdates(phone_number_id=phone_number_id, messages=[hello])]),
    )
    async with svc.uow() as uow:
        contact = await uow.contacts.by_wa_id(tenant.id, str(CUSTOMER.wa_id))
        assert contact is not None
        conversation = await uow.conversations.for_contact(tenant.id, contact.id)
        assert conversation is not None
    agent = Principal(tenant_id=tenant.id, role=Role.AGENT, user_id=uuid.uuid4())
    return Desk(svc, tenant, conversation.id, agent)


def production_env(
    database_url: str, redis_url: str, sim_url: str, data_dir: Path
) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return {
        **clean,
        "WA_PROFILE": "production",
        "WA_DATABASE_URL": database_url,
        "WA_REDIS_URL": redis_url,
        "WA_SECRET_KEY": "s" * 40,
        "WA_META_APP_SECRET": APP_SECRET,
        "WA_META_VERIFY_TOKEN": "verify-me",
        "WA_META_ACCESS_TOKEN": TOKEN,
        "WA_META_API_BASE": sim_url,
        "WA_META_API_VERSION": VERSION,
        "WA_DATA_DIR": str(data_dir),
    }


class WorkerProcess:
    """``wa worker`` as an operator runs it; its output goes to a file."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int) -> None:
        self.env, self.log, self.concurrency = env, log, concurrency
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                WA, "worker", "--concurrency", str(self.concurrency),
                env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def running(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"wa worker exited early:\n{self.output()}")
        return "wa: worker running" in self.output()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> str:
        """SIGTERM, as a process manager stops it; its whole output."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 30)
        return self.output()


@contextlib.asynccontextmanager
async def workers(
    env: dict[str, str], logs: Path, count: int, concurrency: int
) -> AsyncIterator[list[WorkerProcess]]:
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    procs = [WorkerProcess(env, logs / f"worker-{i}.log", concurrency) for i in range(count)]
    try:
        for proc in procs:
            await proc.start()
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                await proc.stop()


# -- what the database says ------------------------------------------------------------

_outbox, _messages = tables.outbox, tables.messages


async def open_sends(engine: AsyncEngine, kind: str | None = MSG_SEND) -> int:
    """Jobs of ``kind`` (None: any) not done yet (superuser connection: every tenant)."""
    query = sa.select(sa.func.count()).where(_outbox.c.state != JobState.DONE.value)
    if kind is not None:
        query = query.where(_outbox.c.kind == kind)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def jobs_by_state(engine: AsyncEngine) -> dict[str, int]:
    query = sa.select(_outbox.c.state, sa.func.count()).group_by(_outbox.c.state)
    async with engine.connect() as conn:
        return {str(state): int(n) for state, n in (await conn.execute(query)).all()}


async def outbound_rows(engine: AsyncEngine) -> dict[str, tuple[str | None, str]]:
    """Outbound text -> (wamid, status)."""
    query = sa.select(_messages.c.text, _messages.c.wamid, _messages.c.status).where(
        _messages.c.direction == "outbound"
    )
    async with engine.connect() as conn:
        return {str(t): (w, str(s)) for t, w, s in (await conn.execute(query)).all()}


async def in_doubt(engine: AsyncEngine) -> set[str]:
    """Texts whose ``msg.send`` job is claimed (running) while the message has no wamid:
    the ones a dead worker may or may not have handed to Meta."""
    message_id = _outbox.c.payload["message_id"].astext
    query = (
        sa.select(_messages.c.text)
        .join(_outbox, sa.cast(_messages.c.id, sa.Text) == message_id)
        .where(
            _outbox.c.kind == MSG_SEND,
            _outbox.c.state == JobState.RUNNING.value,
            _messages.c.wamid.is_(None),
        )
    )
    async with engine.connect() as conn:
        return {str(t) for (t,) in (await conn.execute(query)).all()}


async def expire_leases(engine: AsyncEngine) -> int:
    """What waiting out the dead worker's leases (60 s) would do, without the wait."""
    stmt = (
        sa.update(_outbox)
        .where(_outbox.c.state == JobState.RUNNING.value)
        .values(locked_until=sa.func.now() - sa.literal_column("interval '1 second'"))
    )
    async with engine.begin() as conn:
        return int((await conn.execute(stmt)).rowcount)


def engine_for(url: str) -> AsyncEngine:
    return create_engine(url, pool_size=2)
