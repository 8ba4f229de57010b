"""Wire shapes the simulator reads, and Meta's error answer.

Request bodies are decoded by hand (not by Litestar) so that a bad body gets Meta's
error shape (code 100) rather than the framework's.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import msgspec
from litestar import Response

BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
PHONE = re.compile(r"\+?[0-9]{5,20}")
NUMERIC_ID = re.compile(r"[0-9]{1,32}")
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
VERSION = re.compile(r"v[0-9]{1,3}(?:\.[0-9]{1,2})?")
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
SEND_TYPES = MEDIA_TYPES | {"text", "template", "reaction", "interactive", "location", "contacts"}


class _Wire(msgspec.Struct, kw_only=True):
    """Unknown keys are ignored, like Meta does for most of them."""


# ---------------------------------------------------------------- Graph API bodies


class Context(_Wire):
    message_id: str


class Text(_Wire):
    body: str
    preview_url: bool = False


class Language(_Wire):
    code: str
    policy: str | None = None


class Parameter(_Wire):
    type: str
    text: str | None = None
    parameter_name: str | None = None


class Component(_Wire):
    type: str
    sub_type: str | None = None
    index: int | str | None = None
    parameters: list[Parameter] = []


class TemplateRef(_Wire):
    name: str
    language: Language
    components: list[Component] = []


class Media(_Wire):
    id: str | None = None
    link: str | None = None
    caption: str | None = None
    filename: str | None = None


class Reaction(_Wire):
    message_id: str
    emoji: str = ""


class SendRequest(_Wire):
    messaging_product: str
    recipient_type: str = "individual"
    to: str | None = None
    recipient: str | None = None
    type: str = "text"
    # mark-as-read (and typing indicator) share the endpoint
    status: str | None = None
    message_id: str | None = None
    typing_indicator: dict[str, Any] | None = None
    context: Context | None = None
    text: Text | None = None
    template: TemplateRef | None = None
    image: Media | None = None
    video: Media | None = None
    audio: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    reaction: Reaction | None = None
    interactive: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    biz_opaque_callback_data: str | None = None  # echoed in this message's statuses


class TemplateComponentDef(_Wire):
    type: str
    text: str | None = None
    format: str | None = None
    example: dict[str, Any] | None = None
    buttons: list[dict[str, Any]] = []


class TemplateCreate(_Wire):
    name: str
    language: str
    category: str
    components: list[TemplateComponentDef]
    parameter_format: str | None = None


# ---------------------------------------------------------------- control bodies


class InboundRequest(_Wire):
    """The developer (or a test) is the customer writing to a business number."""

    phone_number_id: str
    from_: str | None = msgspec.field(default=None, name="from")
    from_user_id: str | None = None
    name: str | None = None
    username: str | None = None
    text: str | None = None
    type: str | None = None
    payload: Any = None
    reply_to: str | None = None
    wait: bool = False


class FailSpec(_Wire):
    code: int
    http_status: int = 400
    message: str | None = None
    details: str | None = None
    retry_after: float | None = None


class AsyncFailSpec(_Wire):
    code: int
    title: str = "Message undeliverable"
    details: str | None = None


class Faults(_Wire):
    duplicate_webhooks: bool = False
    shuffle_statuses: bool = False
    batch_statuses: bool = False
    fail_next: list[FailSpec] = []
    fail_async_next: list[AsyncFailSpec] = []
    slow_ms: int = 0
    hold_for_quality: bool = False


class ClockRequest(_Wire):
    advance_s: float


# ---------------------------------------------------------------- answers

_TITLES = {
    100: ("Invalid parameter", "OAuthException"),
    190: ("Invalid OAuth access token - Cannot parse access token", "OAuthException"),
    2500: ("Unknown path components", "OAuthException"),
    130429: ("Rate limit hit", "OAuthException"),
    131047: ("Re-engagement message", "OAuthException"),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", "OAuthException"),
    132000: ("Number of parameters does not match the expected number of params", "OAuthException"),
    132001: ("Template name does not exist in the translation", "OAuthException"),
}


def fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def meta_error(
    code: int,
    details: str | None = None,
    *,
    http_status: int = 400,
    message: str | None = None,
    subcode: int | None = None,
    retry_after: float | None = None,
    user_title: str | None = None,
) -> Response[bytes]:
    """Meta's error body: ``{"error": {message, type, code, error_subcode, error_data,
    fbtrace_id}}``, with ``Retry-After`` when given."""
    title, kind = _TITLES.get(code, ("Generic error", "OAuthException"))
    error: dict[str, Any] = {
        "message": message or f"(#{code}) {title}",
        "type": kind,
        "code": code,
        "fbtrace_id": fbtrace_id(),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_title is not None:
        error["error_user_title"] = user_title
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return json_response({"error": error}, http_status, headers)


def decode_or_none(raw: bytes, kind: type[Any]) -> tuple[Any, str | None]:
    """(value, None) or (None, msgspec's reason)."""
    try:
        return msgspec.json.decode(raw, type=kind), None
    except msgspec.DecodeError as exc:
        return None, str(exc)
