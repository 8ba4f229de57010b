"""Webhook decode throughput: ``decode_webhook`` vs ``json.loads`` + a plain dict walk.

Run: ``.venv/bin/python bench/decode.py [bodies] [rounds]``

Builds webhook bodies shaped like Meta's (one entry, one change, 50 messages of every
fixture type + 50 statuses each, compact, non-ASCII escaped) and times, in one run:

* ours: ``adapters.meta.decode_webhook`` (typed, validated, raw bytes kept per message,
  one bad message cannot sink the batch);
* baseline: ``json.loads`` + a dict walk pulling the same fields (no validation);
* for context: msgspec untyped decode + the same walk, and a single-pass msgspec decode
  of the same Structs without per-message raw bytes (what the Raw two-pass design costs).

pywa (4.5.0 is on PyPI) was not compared: the brief keeps it out of the project venv.
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from adapters.meta import InboundMessage, MessagesValue, StatusInfo, decode_webhook
from adapters.meta.webhook_payload import Metadata, WebhookEnvelope

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "meta"
PER_BODY = 50


def _fixture_items(key: str) -> list[dict[str, Any]]:
    items = []
    for path in sorted(FIXTURES.glob("*.json")):
        for entry in json.loads(path.read_bytes())["entry"]:
            for change in entry["changes"]:
                if change["field"] == "messages":
                    items.extend(change["value"].get(key, []))
    return items


def build_bodies(count: int) -> list[bytes]:
    messages, statuses = _fixture_items("messages"), _fixture_items("statuses")
    contacts = [
        {
            "profile": {"name": "Ana Souza"},
            "wa_id": "5511987654321",
            "user_id": "BR.48201957730016452291",
        }
    ]
    bodies = []
    for b in range(count):
        batch = [
            {**messages[(b + k) % len(messages)], "id": f"wamid.B{b}M{k}"} for k in range(PER_BODY)
        ]
        stats = [
            {**statuses[(b + k) % len(statuses)], "id": f"wamid.B{b}S{k}"} for k in range(PER_BODY)
        ]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": "106540352242922",
            },
            "contacts": contacts,
            "messages": batch,
            "statuses": stats,
        }
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}
            ],
        }
        bodies.append(json.dumps(envelope, separators=(",", ":")).encode())
    return bodies


def ours(body: bytes) -> int:
    total = 0
    for change in decode_webhook(body).changes:
        if isinstance(change.value, MessagesValue):
            total += len(change.value.messages) + len(change.value.statuses)
    return total


_MEDIA = ("image", "video", "audio", "document", "sticker")


def _walk(doc: dict[str, Any]) -> int:
    """The fields an ingest needs, read from plain dicts, with timestamps made ints."""
    out: list[tuple[Any, ...]] = []
    for entry in doc["entry"]:
        for change in entry["changes"]:
            if change["field"] != "messages":
                continue
            value = change["value"]
            pnid = value["metadata"]["phone_number_id"]
            names = {
                c.get("user_id") or c.get("wa_id"): c.get("profile", {}).get("name")
                for c in value.get("contacts", [])
            }
            for m in value.get("messages", []):
                kind = m["type"]
                payload = m.get(kind)
                payload = payload if isinstance(payload, dict) else {}
                text = payload.get("body") if kind == "text" else payload.get("caption")
                media = payload.get("id") if kind in _MEDIA else None
                sender = m.get("from_user_id") or m.get("from")
                out.append(
                    (
                        pnid,
                        m["id"],
                        sender,
                        names.get(sender),
                        int(m["timestamp"]),
                        kind,
                        text,
                        media,
                        (m.get("context") or {}).get("id"),
                    )
                )
            for s in value.get("statuses", []):
                pricing = s.get("pricing") or {}
                out.append(
                    (
                        pnid,
                        s["id"],
                        s["status"],
                        int(s["timestamp"]),
                        s.get("recipient_user_id"),
                        s.get("recipient_id"),
                        pricing.get("category"),
                        [e["code"] for e in s.get("errors", [])],
                    )
                )
    return len(out)


def json_walk(body: bytes) -> int:
    return _walk(json.loads(body))


def msgspec_untyped_walk(body: bytes) -> int:
    return _walk(msgspec.json.decode(body))


class _SinglePassValue(msgspec.Struct, kw_only=True):
    metadata: Metadata
    messages: list[InboundMessage] = []
    statuses: list[StatusInfo] = []


_SINGLE = msgspec.json.Decoder(_SinglePassValue, strict=False)
_SINGLE_ENVELOPE = msgspec.json.Decoder(WebhookEnvelope, strict=False)


def single_pass(body: bytes) -> int:
    total = 0
    for entry in _SINGLE_ENVELOPE.decode(body).entry:
        for change in entry.changes:
            value = _SINGLE.decode(change.value)
            total += len(value.messages) + len(value.statuses)
    return total


def race(
    contenders: dict[str, Callable[[bytes], int]], bodies: list[bytes], rounds: int
) -> dict[str, tuple[float, int]]:
    """Best time of each contender; rounds interleave them so CPU noise hits all alike."""
    best = dict.fromkeys(contenders, float("inf"))
    updates = dict.fromkeys(contenders, 0)
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            updates[name] = sum(fn(body) for body in bodies)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], updates[name]) for name in contenders}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    bodies = build_bodies(count)
    megabytes = sum(map(len, bodies)) / 1e6
    print(
        f"{count} bodies x ({PER_BODY} messages + {PER_BODY} statuses), "
        f"{megabytes:.1f} MB, best of {rounds} interleaved rounds"
    )
    results = race(
        {
            "decode_webhook (ours)": ours,
            "json.loads + dict walk": json_walk,
            "msgspec untyped + dict walk": msgspec_untyped_walk,
            "msgspec single pass, no raw": single_pass,
        },
        bodies,
        rounds,
    )
    baseline = results["json.loads + dict walk"][0]
    print(f"{'contender':<30}{'updates/s':>14}{'MB/s':>10}{'vs json':>10}")
    for name, (seconds, updates) in results.items():
        print(
            f"{name:<30}{updates / seconds:>14,.0f}{megabytes / seconds:>10.1f}"
            f"{baseline / seconds:>9.2f}x"
        )


if __name__ == "__main__":
    main()
