"""``POST /{phone_number_id}/messages``: Meta's checks, in Meta's words, then a wamid."""

from __future__ import annotations

import time
from typing import Any

from litestar import Response

from adapters.meta.simulator.interactive import interactive_problem
from adapters.meta.simulator.runtime import Simulator
from adapters.meta.simulator.state import SentRecord, new_wamid
from adapters.meta.simulator.wire import (
    BSUID,
    MEDIA_TYPES,
    PHONE,
    SEND_TYPES,
    TEMPLATE_NAME,
    Media,
    SendRequest,
    TemplateRef,
    json_response,
    meta_error,
)

TEXT_MAX = 4096
CAPTION_MAX = 1024
_NO_CAPTION = frozenset({"audio", "sticker"})


def _template_problem(template: TemplateRef) -> str | None:
    if not TEMPLATE_NAME.fullmatch(template.name):
        return f"template name {template.name!r} is not lowercase letters, digits, underscores"
    if not template.language.code:
        return "template.language.code is required"
    for component in template.components:
        named = [p.parameter_name is not None for p in component.parameters]
        if any(named) and not all(named):
            return f"{component.type}: mix of named and positional parameters"
        for parameter in component.parameters:
            if parameter.type == "text" and not (parameter.text or "").strip():
                return f"{component.type}: a text parameter needs non-empty text"
    return None


def _media_problem(kind: str, media: Media) -> str | None:
    if (media.id is None) == (media.link is None):
        return f"{kind} needs exactly one of id or link"
    if media.caption is not None and kind in _NO_CAPTION:
        return f"{kind} messages cannot have a caption"
    if media.caption is not None and len(media.caption) > CAPTION_MAX:
        return f"caption is longer than {CAPTION_MAX} characters"
    return None


def send_problem(req: SendRequest) -> str | None:
    """Why Meta would refuse this body with code 100, or None."""
    if req.messaging_product != "whatsapp":
        return "messaging_product must be 'whatsapp'"
    if req.recipient_type != "individual":
        return "recipient_type must be 'individual' (groups are not simulated)"
    if req.to is None and req.recipient is None:
        return "The parameter to or recipient is required."
    # Meta: when both are given, `to` wins.
    if req.to is not None and not PHONE.fullmatch(req.to):
        return f"to {req.to!r} is not a phone number in international format"
    if req.to is None and not BSUID.fullmatch(req.recipient or ""):
        return f"recipient {req.recipient!r} is not a BSUID (CC.digits)"
    if req.type not in SEND_TYPES:
        return f"Unsupported message type {req.type!r}"
    payload = getattr(req, req.type)
    if payload is None:
        return f"The parameter {req.type} is required."
    if req.context is not None and not req.context.message_id:
        return "context.message_id is required"
    if req.text is not None and req.type == "text":
        if not req.text.body.strip():
            return "text.body must not be empty"
        if len(req.text.body) > TEXT_MAX:
            return f"text.body is longer than {TEXT_MAX} characters"
    if req.template is not None and req.type == "template":
        return _template_problem(req.template)
    if req.type in MEDIA_TYPES:
        return _media_problem(req.type, payload)
    if req.reaction is not None and req.type == "reaction" and not req.reaction.message_id:
        return "reaction.message_id is required"
    if req.type == "interactive":
        return interactive_problem(payload)
    return None


def _parameter_count(template: TemplateRef) -> int:
    return sum(
        len(c.parameters) for c in template.components if c.type.lower() in ("header", "body")
    )


def _template_refusal(
    sim: Simulator, phone_number_id: str, ref: TemplateRef
) -> Response[bytes] | None:
    """Only templates submitted to this simulator are checked; unknown names pass."""
    waba_id = sim.state.settings.waba_of(phone_number_id)
    known = sim.state.find_template(waba_id, ref.name, ref.language.code)
    if known is None:
        return None
    if known.status != "APPROVED":
        return meta_error(132001, f"template {ref.name} ({ref.language.code}) is {known.status}")
    given = _parameter_count(ref)
    if given != known.parameter_count:
        return meta_error(
            132000, f"template {ref.name} expects {known.parameter_count} parameters, got {given}"
        )
    return None


def accept_send(
    sim: Simulator, phone_number_id: str, req: SendRequest, body: dict[str, Any]
) -> Response[bytes]:
    """Limits and windows, then record the send and schedule its status webhooks."""
    state = sim.state
    wa_id = req.to.lstrip("+") if req.to is not None else None
    user_id = state.customer(wa_id, None) if wa_id is not None else str(req.recipient)
    if not state.take_throughput(phone_number_id):
        return meta_error(130429, "Cloud API message throughput has been reached.")
    if req.type == "template" and req.template is not None:
        refusal = _template_refusal(sim, phone_number_id, req.template)
        if refusal is not None:
            return refusal
    elif not state.window_open(phone_number_id, user_id):
        return meta_error(
            131047,
            "Message failed to send because more than 24 hours have passed since the "
            "customer last replied to this number.",
        )
    if not state.take_pair(phone_number_id, user_id):
        return meta_error(
            131056,
            "Message failed to send because there were too many "
            "messages sent from this phone number to the same phone number "
            "in a short period of time.",
        )
    category: str | None = None
    if req.template is not None:
        waba_id = state.settings.waba_of(phone_number_id)
        known = state.find_template(waba_id, req.template.name, req.template.language.code)
        category = known.category if known is not None else None
    record = SentRecord(
        wamid=new_wamid(),
        phone_number_id=phone_number_id,
        user_id=user_id,
        wa_id=wa_id if wa_id is not None else state.wa_id_by_bsuid.get(user_id),
        type=req.type,
        template_category=category,
        at=state.clock.now(),
        monotonic=time.monotonic(),
        body=body,
    )
    state.sent.append(record)
    failure = state.faults.fail_async_next.pop(0) if state.faults.fail_async_next else None
    if failure is not None or state.settings.auto_statuses:
        sim.webhooks.spawn(sim.webhooks.statuses_after_send(record, failure))
    held = state.faults.hold_for_quality and req.type == "template"
    contact = (
        {"input": req.to, "wa_id": wa_id}
        if req.to is not None
        else {"input": req.recipient, "user_id": user_id}
    )
    return json_response(
        {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [
                {
                    "id": record.wamid,
                    "message_status": "held_for_quality_assessment" if held else "accepted",
                }
            ],
        }
    )
