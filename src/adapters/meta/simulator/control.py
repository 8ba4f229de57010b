"""``/_sim/*``: the control API for tests and for a developer who plays the customer.

Not part of Meta's API and unauthenticated: never expose a simulator publicly.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery

from adapters.meta.simulator.config import SimulatorConfig
from adapters.meta.simulator.runtime import Simulator
from adapters.meta.simulator.state import MediaItem, new_wamid
from adapters.meta.simulator.wire import (
    BSUID,
    MEDIA_TYPES,
    PHONE,
    ClockRequest,
    Faults,
    InboundRequest,
    decode_or_none,
    json_response,
)

MEDIA_MAX_BYTES = 110 * 1024 * 1024


def _bad(reason: str) -> Response[bytes]:
    return json_response({"error": reason}, 400)


def _patched(current: msgspec.Struct, raw: bytes, kind: type[Any]) -> tuple[Any, str | None]:
    """``current`` with the keys given in the JSON object ``raw`` replaced."""
    patch, reason = decode_or_none(raw, dict[str, Any])
    if patch is None:
        return None, reason
    try:
        return msgspec.convert({**msgspec.to_builtins(current), **patch}, kind), None
    except msgspec.ValidationError as exc:
        return None, str(exc)


def build_inbound(sim: Simulator, req: InboundRequest) -> tuple[dict[str, Any], str, str] | str:
    """(webhook body, wamid, BSUID), or why the request cannot be a customer message."""
    state = sim.state
    if req.from_ is None and req.from_user_id is None:
        return "give `from` (phone) and/or `from_user_id` (BSUID)"
    if req.from_ is not None and not PHONE.fullmatch(req.from_):
        return "`from` must be a phone number in international format"
    if req.from_user_id is not None and not BSUID.fullmatch(req.from_user_id):
        return "`from_user_id` must be a BSUID such as US.13491208655302741918"
    kind = req.type or "text"
    if kind == "text" and req.payload is None:
        if not req.text:
            return "a text message needs `text`"
        payload: Any = {"body": req.text}
    elif req.payload is None:
        return f"a {kind} message needs `payload`"
    else:
        payload = req.payload
    if kind in MEDIA_TYPES and isinstance(payload, dict):
        known = state.media.get(str(payload.get("id")))
        if known is not None:
            payload = {"mime_type": known.mime_type, "sha256": known.sha256, **payload}
    wa_id = req.from_.lstrip("+") if req.from_ is not None else None
    bsuid = state.customer(wa_id, req.from_user_id)
    state.record_inbound(req.phone_number_id, bsuid)
    wamid = new_wamid()
    message: dict[str, Any] = {"from": wa_id} if wa_id is not None else {}
    message |= {
        "from_user_id": bsuid,
        "id": wamid,
        "timestamp": str(int(state.clock.now())),
        "type": kind,
        kind: payload,
    }
    if req.reply_to:
        message["context"] = {"from": state.settings.display_phone_number, "id": req.reply_to}
    profile = {"name": req.name or req.username or "Customer"}
    if req.username:
        profile["username"] = req.username
    contact: dict[str, Any] = {"profile": profile}
    if wa_id is not None:
        contact["wa_id"] = wa_id
    contact["user_id"] = bsuid
    value = sim.webhooks.messages_value(req.phone_number_id, contacts=[contact], messages=[message])
    envelope = sim.webhooks.envelope(state.settings.waba_of(req.phone_number_id), "messages", value)
    return envelope, wamid, bsuid


def control_handlers(sim: Simulator) -> list[HTTPRouteHandler]:
    state = sim.state

    @get("/_sim/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @post("/_sim/inbound", status_code=200)
    async def inbound(request: Request[Any, Any, Any]) -> Response[bytes]:
        req, reason = decode_or_none(await request.body(), InboundRequest)
        if req is None:
            return _bad(str(reason))
        built = build_inbound(sim, req)
        if isinstance(built, str):
            return _bad(built)
        envelope, wamid, bsuid = built
        callback_status: int | None = None
        if req.wait:
            callback_status = await sim.webhooks.post(envelope, "inbound")
        else:
            sim.webhooks.spawn(sim.webhooks.post(envelope, "inbound"))
        return json_response(
            {
                "wamid": wamid,
                "user_id": bsuid,
                "wa_id": state.wa_id_by_bsuid.get(bsuid),
                "callback_status": callback_status,
            }
        )

    @get("/_sim/faults")
    async def faults() -> Response[bytes]:
        return json_response(msgspec.to_builtins(state.faults))

    @post("/_sim/faults", status_code=200)
    async def set_faults(request: Request[Any, Any, Any]) -> Response[bytes]:
        patched, reason = _patched(state.faults, await request.body(), Faults)
        if patched is None:
            return _bad(str(reason))
        state.faults = patched
        return json_response(msgspec.to_builtins(state.faults))

    @delete("/_sim/faults")
    async def clear_faults() -> None:
        state.faults = Faults()

    @post("/_sim/settings", status_code=200)
    async def settings(request: Request[Any, Any, Any]) -> Response[bytes]:
        patched, reason = _patched(state.settings, await request.body(), SimulatorConfig)
        if patched is None:
            return _bad(str(reason))
        state.settings = patched
        shown = msgspec.to_builtins(patched)
        shown.pop("access_token")
        shown.pop("app_secret")
        return json_response(shown)

    @get("/_sim/log")
    async def sent_log(phone_number_id: FromQuery[str | None] = None) -> Response[bytes]:
        return json_response(
            [
                r.to_json()
                for r in state.sent
                if phone_number_id is None or r.phone_number_id == phone_number_id
            ]
        )

    @get("/_sim/webhooks")
    async def webhook_log() -> Response[bytes]:
        return json_response(sim.webhooks.deliveries)

    @post("/_sim/media", status_code=200, request_max_body_size=MEDIA_MAX_BYTES)
    async def upload_media(request: Request[Any, Any, Any]) -> Response[bytes]:
        data = await request.body()
        mime_type = request.headers.get("content-type", "application/octet-stream")
        item = MediaItem(
            id=state.new_numeric_id(2_000_000_000_000_000),
            data=data,
            mime_type=mime_type.split(";")[0].strip(),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        state.media[item.id] = item
        return json_response(
            {
                "id": item.id,
                "mime_type": item.mime_type,
                "sha256": item.sha256,
                "file_size": len(data),
            }
        )

    @post("/_sim/clock", status_code=200)
    async def clock(request: Request[Any, Any, Any]) -> Response[bytes]:
        req, reason = decode_or_none(await request.body(), ClockRequest)
        if req is None:
            return _bad(str(reason))
        state.clock.offset_s += req.advance_s
        return json_response({"now": state.clock.now(), "offset_s": state.clock.offset_s})

    @post("/_sim/reset", status_code=200)
    async def reset() -> Response[bytes]:
        await sim.webhooks.cancel_pending()
        state.reset(sim.config)
        sim.webhooks.deliveries.clear()
        return json_response({"ok": True})

    return [
        health, inbound, faults, set_faults, clear_faults, settings,
        sent_log, webhook_log, upload_media, clock, reset,
    ]  # fmt: skip
