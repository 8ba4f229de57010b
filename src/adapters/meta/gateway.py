"""``WhatsAppGateway`` over Meta's Graph API (Cloud API), with httpx.

Every refusal becomes ``DeliveryError`` carrying Meta's ``error.code`` and the HTTP
status, so ``policies.meta_errors.remedy_for`` can decide retry vs fail. Tokens are
fetched per call through ``token_for`` (they rotate) and never logged or put in errors.
"""

from __future__ import annotations

import email.utils
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

from whatsapp_core.domain.model import Template
from whatsapp_core.domain.outgoing import OutgoingMessage, Recipient, SendReceipt
from whatsapp_core.domain.phone_numbers import PhoneNumberInfo
from whatsapp_core.domain.remote_templates import RemoteTemplate
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DeliveryError, InvalidInput
from whatsapp_core.policies.interactive import InteractiveKind, validate_interactive
from whatsapp_core.policies.template_content import TemplateButton, placeholders

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
_CAPTIONED = frozenset({"image", "video", "document"})
# Meta's "invalid parameter": what it would answer a body we refuse to build.
_INVALID_PARAMETER = 100


class _ErrorData(msgspec.Struct):
    details: str | None = None


class _GraphError(msgspec.Struct):
    message: str = ""
    type: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: _ErrorData | None = None
    fbtrace_id: str | None = None
    error_user_title: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _GraphError


class _SentMessage(msgspec.Struct):
    id: str
    message_status: str | None = None


class _SendAnswer(msgspec.Struct):
    messages: list[_SentMessage]


class _Success(msgspec.Struct):
    success: bool = False


class _TemplateAnswer(msgspec.Struct):
    id: str | int


class _UploadAnswer(msgspec.Struct):
    id: str | int


class _QualityScore(msgspec.Struct):
    score: str | None = None


class _ListedTemplate(msgspec.Struct):
    id: str | int
    name: str
    language: str
    status: str
    category: str = ""
    components: list[dict[str, Any]] = []
    rejected_reason: str | None = None
    quality_score: _QualityScore | None = None


class _Cursors(msgspec.Struct):
    before: str | None = None
    after: str | None = None


class _Paging(msgspec.Struct):
    cursors: _Cursors | None = None
    next: str | None = None


class _TemplatePage(msgspec.Struct):
    data: list[_ListedTemplate] = []
    paging: _Paging | None = None


class _Throughput(msgspec.Struct):
    level: str | None = None


class _PhoneNumber(msgspec.Struct):
    id: str | int
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None
    code_verification_status: str | None = None
    name_status: str | None = None
    messaging_limit_tier: str | None = None
    throughput: _Throughput | None = None


_ERROR = msgspec.json.Decoder(_ErrorBody)
_PHONE_NUMBER = msgspec.json.Decoder(_PhoneNumber)
_SEND = msgspec.json.Decoder(_SendAnswer)
_TEMPLATE = msgspec.json.Decoder(_TemplateAnswer)
_UPLOAD = msgspec.json.Decoder(_UploadAnswer)
_TEMPLATE_PAGE = msgspec.json.Decoder(_TemplatePage)
_SUCCESS = msgspec.json.Decoder(_Success)
# Meta's answer to deleting a template it does not have: code 100, this subcode.
TEMPLATE_NOT_FOUND_SUBCODE = 2593002
TEMPLATE_FIELDS = "id,name,language,status,category,components,rejected_reason,quality_score"
PHONE_NUMBER_FIELDS = (
    "id,display_phone_number,verified_name,quality_rating,code_verification_status,"
    "name_status,messaging_limit_tier,throughput"
)
_ANY = msgspec.json.Decoder(dict[str, Any])


def _refused(reason: str) -> DeliveryError:
    return DeliveryError(
        f"({_INVALID_PARAMETER}) {reason}", meta_code=_INVALID_PARAMETER, http_status=None
    )


def _text_params(params: list[str] | dict[str, str]) -> list[dict[str, str]]:
    """Positional (a list, or a mapping keyed "1", "2"...) or named (``parameter_name``)."""
    if isinstance(params, list):
        return [{"type": "text", "text": value} for value in params]
    if params and all(key.isdigit() for key in params):
        ordered = sorted(params.items(), key=lambda item: int(item[0]))
        return [{"type": "text", "text": value} for _, value in ordered]
    return [{"type": "text", "text": v, "parameter_name": k} for k, v in params.items()]


def _template_payload(message: OutgoingMessage) -> dict[str, Any]:
    if not message.template_name or not message.template_language:
        raise _refused("a template message needs template_name and template_language")
    components: list[dict[str, Any]] = []
    if message.header_params:
        components.append({"type": "header", "parameters": _text_params(message.header_params)})
    if message.body_params:
        components.append({"type": "body", "parameters": _text_params(message.body_params)})
    payload: dict[str, Any] = {
        "name": message.template_name,
        "language": {"code": message.template_language},
    }
    if components:
        payload["components"] = components
    return payload


def _media_payload(message: OutgoingMessage) -> dict[str, Any]:
    if message.media_id:
        payload: dict[str, Any] = {"id": message.media_id}
    elif message.media_link:
        payload = {"link": message.media_link}
    else:
        raise _refused(f"a {message.type} message needs media_id or media_link")
    if message.caption and message.type in _CAPTIONED:
        payload["caption"] = message.caption
    if message.filename and message.type == "document":
        payload["filename"] = message.filename
    return payload


def _interactive_payload(message: OutgoingMessage) -> dict[str, Any]:
    """Meta's ``interactive`` object (``type`` button or list), refused (code 100) where
    the core's policy would refuse it, so nothing over Meta's limits leaves."""
    spec = message.interactive
    if spec is None:
        raise _refused("an interactive message needs its buttons or list")
    try:
        validate_interactive(spec)
    except InvalidInput as exc:
        raise _refused(f"interactive: {exc}") from exc
    payload: dict[str, Any] = {"type": spec.kind.value}
    if spec.header is not None:
        payload["header"] = {"type": "text", "text": spec.header}
    payload["body"] = {"text": spec.body}
    if spec.footer is not None:
        payload["footer"] = {"text": spec.footer}
    if spec.kind is InteractiveKind.BUTTON:
        payload["action"] = {
            "buttons": [
                {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in spec.buttons
            ]
        }
        return payload
    sections: list[dict[str, Any]] = []
    for section in spec.sections:
        wire: dict[str, Any] = {"title": section.title} if section.title is not None else {}
        wire["rows"] = [msgspec.to_builtins(row) for row in section.rows]
        sections.append(wire)
    payload["action"] = {"button": spec.button, "sections": sections}
    return payload


def build_send_body(recipient: Recipient, message: OutgoingMessage) -> dict[str, Any]:
    """The JSON body of ``POST /{phone_number_id}/messages`` for one message."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    # Meta lets `to` win when both are given; sending only one keeps the intent explicit.
    if recipient.wa_id:
        body["to"] = recipient.wa_id
    elif recipient.bsuid:
        body["recipient"] = recipient.bsuid
    else:
        raise _refused("the recipient has neither a phone number (wa_id) nor a BSUID")
    kind = message.type
    body["type"] = kind
    if kind == "text":
        if not message.text:
            raise _refused("a text message needs text")
        body["text"] = {"body": message.text, "preview_url": False}
    elif kind == "template":
        body["template"] = _template_payload(message)
    elif kind in MEDIA_TYPES:
        body[kind] = _media_payload(message)
    elif kind == "interactive":
        body["interactive"] = _interactive_payload(message)
    elif kind == "reaction":
        if not message.reply_to_wamid:
            raise _refused("a reaction needs reply_to_wamid (the message reacted to)")
        # An empty emoji removes the reaction, as in Meta's API.
        body["reaction"] = {"message_id": message.reply_to_wamid, "emoji": message.text or ""}
        return body
    else:
        raise _refused(f"message type {kind!r} cannot be sent by this gateway")
    if message.reply_to_wamid:
        body["context"] = {"message_id": message.reply_to_wamid}
    if message.callback_data:
        body["biz_opaque_callback_data"] = message.callback_data[:512]  # Meta's limit
    return body


def _sample(name: str) -> str:
    return f"sample_{name}"


def _text_component(kind: str, text: str, example_key: str) -> dict[str, Any]:
    component: dict[str, Any] = {"type": kind, "text": text}
    if kind == "HEADER":
        component["format"] = "TEXT"
    names = placeholders(text)
    if not names:
        return component
    if all(name.isdigit() for name in names):
        samples = [_sample(name) for name in names]
        # BODY examples are a list of lists (one per variant), HEADER a flat list.
        component["example"] = {example_key: [samples] if kind == "BODY" else samples}
    else:
        component["example"] = {
            f"{example_key}_named_params": [
                {"param_name": name, "example": _sample(name)} for name in names
            ]
        }
    return component


def _button(button: TemplateButton) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": button.type, "text": button.text}
    if button.url is not None:
        wire["url"] = button.url
        if placeholders(button.url):
            wire["example"] = [_sample("url")]
    if button.phone_number is not None:
        wire["phone_number"] = button.phone_number
    if button.type == "COPY_CODE":
        wire = {"type": "COPY_CODE", "example": button.text}
    return wire


def build_template_body(template: Template) -> dict[str, Any]:
    """The JSON body of ``POST /{waba_id}/message_templates``, examples included."""
    parts = template.components
    components: list[dict[str, Any]] = []
    if parts.header_text is not None:
        components.append(_text_component("HEADER", parts.header_text, "header_text"))
    components.append(_text_component("BODY", parts.body, "body_text"))
    if parts.footer is not None:
        components.append({"type": "FOOTER", "text": parts.footer})
    if parts.buttons:
        components.append({"type": "BUTTONS", "buttons": [_button(b) for b in parts.buttons]})
    names = placeholders(parts.body) + placeholders(parts.header_text or "")
    body: dict[str, Any] = {
        "name": template.name,
        "language": template.language,
        "category": str(template.category),
        "components": components,
    }
    if names and not all(name.isdigit() for name in names):
        body["parameter_format"] = "NAMED"
    return body


def _remote_template(listed: _ListedTemplate) -> RemoteTemplate:
    reason = listed.rejected_reason
    return RemoteTemplate(
        meta_id=str(listed.id),
        name=listed.name,
        language=listed.language,
        status=listed.status.upper(),
        category=listed.category.upper(),
        components=listed.components,
        rejected_reason=None if reason in (None, "", "NONE") else reason,
        quality=listed.quality_score.score if listed.quality_score else None,
    )


def _next_cursor(paging: _Paging | None) -> str | None:
    """The ``after`` cursor of the next page; None on the last page (Meta leaves out
    ``next`` there). Only the cursor is followed, never the ``next`` url itself, so the
    token goes nowhere but our own base url."""
    if paging is None or not paging.next:
        return None
    if paging.cursors is not None and paging.cursors.after:
        return paging.cursors.after
    after = parse_qs(urlsplit(paging.next).query).get("after")
    return after[0] if after else None


def multipart_frame(boundary: str, mime_type: str, filename: str | None) -> tuple[bytes, bytes]:
    """What goes before and after the file's bytes in the multipart body of
    ``POST /{phone_number_id}/media`` (fields ``messaging_product``, ``type``, ``file``)."""
    name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                   for c in filename or "file") or "file"  # fmt: skip
    dash = f"--{boundary}\r\n"
    head = (
        f'{dash}Content-Disposition: form-data; name="messaging_product"\r\n\r\nwhatsapp\r\n'
        f'{dash}Content-Disposition: form-data; name="type"\r\n\r\n{mime_type}\r\n'
        f'{dash}Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {mime_type}\r\n\r\n"
    )
    return head.encode(), f"\r\n--{boundary}--\r\n".encode()


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _template_not_found(response: httpx.Response) -> bool:
    """Meta's "message template not found" (deleting what is already gone)."""
    try:
        error = _ERROR.decode(response.content).error
    except msgspec.DecodeError:
        return False
    return error.code == _INVALID_PARAMETER and (
        error.error_subcode == TEMPLATE_NOT_FOUND_SUBCODE
        or (error.error_user_title or "").lower() == "message template not found"
    )


def _error_from(response: httpx.Response) -> DeliveryError:
    status = response.status_code
    retry_after = _retry_after(response.headers)
    try:
        error = _ERROR.decode(response.content).error
    except msgspec.DecodeError:
        return DeliveryError(
            f"Meta answered HTTP {status} without a Graph API error body",
            meta_code=None,
            http_status=status,
            retry_after=retry_after,
        )
    text = error.message
    # Meta's messages often repeat the code ("(#131047) Re-engagement message").
    if error.code is not None:
        text = text.removeprefix(f"(#{error.code}) ")
    details = error.error_data.details if error.error_data else None
    return DeliveryError(
        f"({error.code}) {text}" + (f": {details}" if details else ""),
        meta_code=error.code,
        http_status=status,
        retry_after=retry_after,
    )


class HttpxWhatsAppGateway:
    """Meta's Cloud API (or the simulator, same wire) for each tenant's number."""

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        token_for: Callable[[Tenant], Awaitable[str]],
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        template_page_size: int = 100,
    ) -> None:
        self._base = f"{base_url.rstrip('/')}/{api_version.strip('/')}"
        self._template_page_size = template_page_size
        self._token_for = token_for
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._timeout = timeout

    async def aclose(self) -> None:
        """Close the HTTP client if this gateway created it."""
        if self._owns_client:
            await self._client.aclose()

    async def _request(
        self,
        tenant: Tenant,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        content: AsyncIterable[bytes] | None = None,
        content_headers: Mapping[str, str] | None = None,
        tolerate: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """The answer; a refusal raises ``DeliveryError`` unless ``tolerate`` takes it."""
        headers = {"Authorization": f"Bearer {await self._token_for(tenant)}"}
        headers.update(content_headers or {})
        body: bytes | AsyncIterable[bytes] | None = content
        if json is not None:
            body = msgspec.json.encode(json)
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method, url, content=body, params=params, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"Meta did not answer within {self._timeout:g} s ({type(exc).__name__})",
                meta_code=None,
                http_status=None,
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Meta could not be reached ({type(exc).__name__})",
                meta_code=None,
                http_status=None,
            ) from exc
        if response.status_code >= 400 and not (tolerate is not None and tolerate(response)):
            raise _error_from(response)
        return response

    @staticmethod
    def _decoded(decoder: msgspec.json.Decoder[Any], response: httpx.Response) -> Any:
        try:
            return decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise DeliveryError(
                f"Meta answered HTTP {response.status_code} with an unexpected body: {exc}",
                meta_code=None,
                http_status=response.status_code,
            ) from exc

    @staticmethod
    def _phone_number_id(tenant: Tenant) -> str:
        if not tenant.phone_number_id:
            raise _refused(f"tenant {tenant.slug} has no WhatsApp phone_number_id")
        return tenant.phone_number_id

    async def send(
        self, tenant: Tenant, recipient: Recipient, message: OutgoingMessage
    ) -> SendReceipt:
        body = build_send_body(recipient, message)
        url = f"{self._base}/{self._phone_number_id(tenant)}/messages"
        response = await self._request(tenant, "POST", url, json=body)
        answer: _SendAnswer = self._decoded(_SEND, response)
        if not answer.messages:
            raise DeliveryError(
                "Meta accepted the send but returned no message id",
                meta_code=None,
                http_status=response.status_code,
            )
        sent = answer.messages[0]
        return SendReceipt(
            wamid=sent.id, held_for_quality=sent.message_status == "held_for_quality_assessment"
        )

    async def submit_template(self, tenant: Tenant, template: Template) -> str:
        if not tenant.waba_id:
            raise _refused(f"tenant {tenant.slug} has no WhatsApp Business Account id")
        url = f"{self._base}/{tenant.waba_id}/message_templates"
        response = await self._request(tenant, "POST", url, json=build_template_body(template))
        answer: _TemplateAnswer = self._decoded(_TEMPLATE, response)
        return str(answer.id)

    async def list_templates(self, tenant: Tenant) -> list[RemoteTemplate]:
        """Every page of ``GET /{waba_id}/message_templates``, following the ``after``
        cursor until Meta gives no ``next``."""
        if not tenant.waba_id:
            raise _refused(f"tenant {tenant.slug} has no WhatsApp Business Account id")
        url = f"{self._base}/{tenant.waba_id}/message_templates"
        params = {"fields": TEMPLATE_FIELDS, "limit": str(self._template_page_size)}
        templates: list[RemoteTemplate] = []
        seen: set[str] = set()
        while True:
            response = await self._request(tenant, "GET", url, params=params)
            page: _TemplatePage = self._decoded(_TEMPLATE_PAGE, response)
            templates.extend(_remote_template(t) for t in page.data)
            cursor = _next_cursor(page.paging)
            if cursor is None:
                return templates
            if cursor in seen:
                raise DeliveryError(
                    "Meta's template list repeats a page cursor; stopped paging",
                    meta_code=None,
                    http_status=response.status_code,
                )
            seen.add(cursor)
            params = {**params, "after": cursor}

    async def delete_template(
        self, tenant: Tenant, *, name: str, meta_id: str | None = None
    ) -> bool:
        """``DELETE /{waba_id}/message_templates?name=…``, with ``hsm_id`` (Meta's id of
        the one language version) when known: by name alone Meta deletes the template in
        every language. False when Meta has no such template (already deleted)."""
        if not tenant.waba_id:
            raise _refused(f"tenant {tenant.slug} has no WhatsApp Business Account id")
        url = f"{self._base}/{tenant.waba_id}/message_templates"
        params = {"name": name, **({"hsm_id": meta_id} if meta_id else {})}
        response = await self._request(
            tenant, "DELETE", url, params=params, tolerate=_template_not_found
        )
        if response.status_code >= 400:
            return False
        answer: _Success = self._decoded(_SUCCESS, response)
        if not answer.success:
            raise DeliveryError(
                "Meta did not confirm the template's deletion",
                meta_code=None,
                http_status=response.status_code,
            )
        return True

    async def upload_media(
        self,
        tenant: Tenant,
        data: AsyncIterable[bytes],
        *,
        mime_type: str,
        size: int,
        filename: str | None = None,
    ) -> str:
        """``POST /{phone_number_id}/media`` as multipart/form-data, the file's ``size``
        bytes streamed from ``data`` as they are read (never held whole)."""
        url = f"{self._base}/{self._phone_number_id(tenant)}/media"
        boundary = f"wa-{secrets.token_hex(16)}"
        head, tail = multipart_frame(boundary, mime_type, filename)

        async def body() -> AsyncIterator[bytes]:
            yield head
            async for chunk in data:
                yield chunk
            yield tail

        framing = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }
        response = await self._request(tenant, "POST", url, content=body(), content_headers=framing)
        answer: _UploadAnswer = self._decoded(_UPLOAD, response)
        return str(answer.id)

    async def phone_number_info(self, tenant: Tenant) -> PhoneNumberInfo:
        """``GET /{phone_number_id}?fields=…`` with the tenant's token."""
        url = f"{self._base}/{self._phone_number_id(tenant)}"
        response = await self._request(tenant, "GET", url, params={"fields": PHONE_NUMBER_FIELDS})
        answer: _PhoneNumber = self._decoded(_PHONE_NUMBER, response)
        return PhoneNumberInfo(
            phone_number_id=str(answer.id),
            display_phone_number=answer.display_phone_number,
            verified_name=answer.verified_name,
            quality_rating=answer.quality_rating,
            name_status=answer.name_status,
            code_verification_status=answer.code_verification_status,
            messaging_limit_tier=answer.messaging_limit_tier,
            throughput_level=answer.throughput.level if answer.throughput else None,
        )

    async def mark_read(self, tenant: Tenant, wamid: str, *, typing: bool = False) -> None:
        """Blue ticks on an inbound message; ``typing`` also shows the typing indicator."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        url = f"{self._base}/{self._phone_number_id(tenant)}/messages"
        await self._request(tenant, "POST", url, json=body)

    async def get_media_url(self, tenant: Tenant, media_id: str) -> dict[str, Any]:
        """``{url, mime_type, sha256, file_size, id}``; the url expires in minutes."""
        params = {"phone_number_id": tenant.phone_number_id} if tenant.phone_number_id else None
        response = await self._request(tenant, "GET", f"{self._base}/{media_id}", params=params)
        answer: dict[str, Any] = self._decoded(_ANY, response)
        return answer

    async def download_media(self, tenant: Tenant, url: str) -> bytes:
        """The bytes behind a url from ``get_media_url``. The tenant's token is sent with
        it, so pass only urls that came from ``get_media_url``."""
        response = await self._request(tenant, "GET", url)
        return response.content

    async def stream_media(
        self, tenant: Tenant, url: str, *, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        """Like ``download_media``, chunk by chunk as the bytes arrive (a 100 MB document
        never sits in memory whole). Refusals raise ``DeliveryError`` before the first
        chunk; the timeout applies to each read, not to the whole download."""
        headers = {"Authorization": f"Bearer {await self._token_for(tenant)}"}
        try:
            async with self._client.stream(
                "GET", url, headers=headers, timeout=self._timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from(response)
                async for chunk in response.aiter_bytes(chunk_size):
                    yield chunk
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"Meta's media download stalled for {self._timeout:g} s ({type(exc).__name__})",
                meta_code=None,
                http_status=None,
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Meta's media download broke off ({type(exc).__name__})",
                meta_code=None,
                http_status=None,
            ) from exc
