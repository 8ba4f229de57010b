"""Webhook decode throughput: ``decode_webhook`` vs ``json.loads`` + a plain dict walk.

Run: ``.venv/bin/python bench/decode.py [bodies] [rounds]``

Builds webhook bodies shaped like Meta's (one entry, one change, 50 messages of every
fixture type + 50 statuses each, compact, non-ASCII escaped) and times, in one run:

* ours: ``adapters.meta.decode_webhook`` (typed, validated, raw bytes kept per message,
  one bad message cannot sink the batch);
* baseline: ``json.loads`` + a dict walk pulling the same fields (no validation);
* for context: msgspec untyped decode + the same walk, and a single-pass msgspec decode
  of the same Structs without per-message raw bytes (what the Raw two-pass design costs);
* pywa (``pip install pywa``, not a project dependency; the row is skipped without it):
  what its webhook handler does per update, minus logging, dedup hashing and callbacks.

pywa's dispatcher reads only ``messages[0]`` / ``statuses[0]`` of a webhook (Meta sends
one update per webhook in practice), so on these 50 + 50 bodies the pywa contender lets
pywa json-decode each body once (``RawUpdate(body)``), then hands it one single-item view
per message and per status (sharing the decoded dicts, no copies), dispatched by pywa's
own ``_get_handler_type`` to ``Message`` / ``CallbackButton`` / ... / ``MessageStatus``
``.from_update``, as ``WhatsApp._call_handlers`` does. An update pywa fails to build is
caught and dropped, as its server does (logged there); it still counts as handled, so
the updates/s of every row divide the same update count. The client is built offline
(fake token, no server, no callback URL: no network). Before timing, pywa's objects are
checked against the bodies (ids, every text, every status) so the row is no no-op.

Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
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


def build_bodies(count: int, *, single: bool = False) -> list[bytes]:
    """``count`` bodies of ``PER_BODY`` messages + ``PER_BODY`` statuses; ``single``: of one
    update each (a message, then a status, by turns), the shape Meta usually sends."""
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
        value: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": "106540352242922",
            },
        }
        if single and b % 2:
            value["statuses"] = stats[:1]
        elif single:
            value |= {"contacts": contacts, "messages": batch[:1]}
        else:
            value |= {"contacts": contacts, "messages": batch, "statuses": stats}
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


# -- pywa -------------------------------------------------------------------------------


def pywa_contender() -> tuple[Callable[[bytes], int], Callable[[bytes], list[Any]], str] | None:
    """(timed contender, the same returning pywa's objects, pywa's version), or None."""
    try:
        from pywa import WhatsApp, __version__
        from pywa.errors import PywaUnknownEnumMemberWarning
        from pywa.types import RawUpdate
    except ImportError:
        return None
    # Offline: no server, no callback URL, so no route, thread or API call; the token is
    # only ever sent with API calls, which this never makes. phone_id matches the bodies'
    # metadata so pywa's filter_updates keeps them.
    wa = WhatsApp(
        phone_id="106540352242922",
        token="not-a-token",  # noqa: S106
        verify_token="unused",  # noqa: S106
        validate_updates=False,
    )
    # 'poll' is not a MessageType pywa knows: it warns on every such message (once shown).
    warnings.simplefilter("ignore", PywaUnknownEnumMemberWarning)
    handler_type = wa._get_handler_type
    update_types = wa._handlers_to_updates
    new_raw = RawUpdate.__new__
    dict_init = dict.__init__

    def build(body: bytes, keep: list[Any] | None) -> int:
        raw = RawUpdate(body, hmac_header=None, update_hash="bench")  # pywa's json.loads
        handled = 0
        for entry in raw["entry"]:
            for change in entry["changes"]:
                value = change["value"]
                base = {k: v for k, v in value.items() if k not in ("messages", "statuses")}
                for key in ("messages", "statuses"):
                    for item in value.get(key, ()):
                        # One update as pywa expects a webhook to carry it.
                        view = new_raw(RawUpdate)
                        dict_init(
                            view,
                            object=raw["object"],
                            entry=[
                                {
                                    "id": entry["id"],
                                    "changes": [
                                        {"field": change["field"], "value": {**base, key: [item]}}
                                    ],
                                }
                            ],
                        )
                        view.raw, view.hmac_header = body, None
                        view._update_hash, view.shared_data = "bench", {}
                        handled += 1
                        kind = handler_type(view)
                        if kind is None:
                            continue
                        try:
                            update = update_types[kind].from_update(client=wa, update=view)
                        except Exception as exc:  # pywa's server logs these and moves on
                            update = exc
                        if keep is not None:
                            keep.append(update)
        return handled

    def timed(body: bytes) -> int:
        return build(body, None)

    def objects(body: bytes) -> list[Any]:
        keep: list[Any] = []
        build(body, keep)
        return keep

    return timed, objects, __version__


def check_pywa(objects: Callable[[bytes], list[Any]], body: bytes, version: str) -> str:
    """pywa's objects hold the body's data: ids, every text, every status. One line."""
    value = json.loads(body)["entry"][0]["changes"][0]["value"]
    items = value["messages"] + value["statuses"]
    built = objects(body)
    if len(built) != len(items):
        raise SystemExit(f"pywa handled {len(built)} of {len(items)} updates")
    kinds: dict[str, int] = {}
    texts = statuses = 0
    for item, update in zip(items, built, strict=True):
        name = f"raised {update!r}" if isinstance(update, Exception) else type(update).__name__
        kinds[name] = kinds.get(name, 0) + 1
        if isinstance(update, Exception):
            continue
        if update.id != item["id"]:
            raise SystemExit(f"pywa {name} id {update.id!r} != {item['id']!r}")
        if "status" in item:
            if update.status.value != item["status"]:
                raise SystemExit(f"pywa status {update.status!r} != {item['status']!r}")
            statuses += 1
        elif item["type"] == "text":
            if update.text != item["text"]["body"]:
                raise SystemExit(f"pywa text {update.text!r} != {item['text']['body']!r}")
            texts += 1
    first_text = next(u for i, u in zip(items, built, strict=True) if i.get("type") == "text")
    first_status = built[len(value["messages"])]
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return (
        f"pywa {version} check, body 0: {counts}; "
        f"{texts} texts and {statuses} statuses match the body "
        f"(e.g. {first_text.text[:24]!r} from {first_text.from_user.name!r}; "
        f"{first_status.id} {first_status.status.value} at {first_status.timestamp:%H:%M:%S})"
    )


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


PYWA = "pywa Message/MessageStatus.from_update"
OURS = "decode_webhook (ours)"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    bodies = build_bodies(count)
    megabytes = sum(map(len, bodies)) / 1e6
    print(
        f"{count} bodies x ({PER_BODY} messages + {PER_BODY} statuses), "
        f"{megabytes:.1f} MB, best of {rounds} interleaved rounds"
    )
    contenders: dict[str, Callable[[bytes], int]] = {
        OURS: ours,
        "json.loads + dict walk": json_walk,
        "msgspec untyped + dict walk": msgspec_untyped_walk,
        "msgspec single pass, no raw": single_pass,
    }
    pywa = pywa_contender()
    if pywa is None:
        print("pywa not installed: pip install pywa")
    else:
        contenders[PYWA] = pywa[0]
        print(check_pywa(pywa[1], bodies[0], pywa[2]))
    results = race(contenders, bodies, rounds)
    baseline = results["json.loads + dict walk"][0]
    print(f"{'contender':<40}{'updates/s':>14}{'MB/s':>10}{'vs json':>10}")
    for name, (seconds, updates) in results.items():
        print(
            f"{name:<40}{updates / seconds:>14,.0f}{megabytes / seconds:>10.1f}"
            f"{baseline / seconds:>9.2f}x"
        )
    if PYWA not in results:
        return
    print(f"decode_webhook = {_times(results):.1f}x pywa")
    # Meta usually sends one update a webhook: there the fixed cost per body counts.
    singles = build_bodies(count * 2 * PER_BODY, single=True)
    alone = race(
        {k: contenders[k] for k in (OURS, "json.loads + dict walk", PYWA)}, singles, rounds
    )
    rates = ", ".join(f"{name} {n / sec:,.0f}" for name, (sec, n) in alone.items())
    print(f"one update a webhook ({len(singles)} bodies), updates/s: {rates}")
    print(f"decode_webhook = {_times(alone):.1f}x pywa (one update a webhook)")


def _times(results: dict[str, tuple[float, int]]) -> float:
    """How many times pywa's updates/s ours reaches."""
    (ours_s, ours_n), (pywa_s, pywa_n) = results[OURS], results[PYWA]
    return (ours_n / ours_s) / (pywa_n / pywa_s)


if __name__ == "__main__":
    main()
