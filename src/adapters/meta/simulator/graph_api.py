"""The Graph API subset the product calls: messages, templates, media."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, QueryParameter

from adapters.meta.simulator.phone_numbers import phone_number_json, requested_fields
from adapters.meta.simulator.runtime import Simulator
from adapters.meta.simulator.sending import accept_send, send_problem
from adapters.meta.simulator.state import MediaItem, SimTemplate
from adapters.meta.simulator.wire import (
    NUMERIC_ID,
    TEMPLATE_NAME,
    VERSION,
    SendRequest,
    TemplateCreate,
    decode_or_none,
    json_response,
    meta_error,
)
from whatsapp_core.media import MEDIA_RULES
from whatsapp_core.policies.template_content import placeholders

CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
# What `fields=` may name on the template list; Meta's default page size and cap.
TEMPLATE_FIELDS = frozenset(
    {"id", "name", "language", "status", "category", "components", "rejected_reason",
     "quality_score"}
)  # fmt: skip
DEFAULT_PAGE = 25
MAX_PAGE = 1000
LOOKASIDE = "/lookaside/whatsapp_business/attachments"
# Meta's answer to deleting a template it does not have: code 100 with this subcode.
TEMPLATE_NOT_FOUND_SUBCODE = 2593002
_NO_OBJECT = (
    "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due "
    "to missing permissions, or does not support this operation."
)


UPLOAD_MAX_BYTES = 110 * 1024 * 1024
# Meta's upload limits per type (the same table the product enforces before sending).
_UPLOAD_LIMITS = {mime: rule.max_bytes for rule in MEDIA_RULES.values() for mime in rule.mime_types}


def _upload_problem(form: Mapping[str, Any]) -> tuple[str, int] | str:
    """(mime type, the limit) of an upload, or why Meta would refuse it (code 100)."""
    if form.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be 'whatsapp'."
    if not isinstance(form.get("file"), UploadFile):
        return "The parameter file is required."
    mime = str(form.get("type") or "").split(";")[0].strip().lower()
    if not mime:
        return "The parameter type is required."
    limit = _UPLOAD_LIMITS.get(mime)
    if limit is None:
        accepted = ", ".join(sorted(_UPLOAD_LIMITS))
        return f"Param file must be a file with one of the following types: {accepted}"
    return mime, limit


def _no_object(verb: str, object_id: str) -> Response[bytes]:
    return meta_error(100, message=_NO_OBJECT.format(verb=verb, id=object_id), subcode=33)


def _bearer_ok(sim: Simulator, request: Request[Any, Any, Any]) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = sim.state.settings.access_token
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


def _unauthorized() -> Response[bytes]:
    return meta_error(190, http_status=401)


def _guard(sim: Simulator, request: Request[Any, Any, Any], version: str) -> Response[bytes] | None:
    """What every Graph call goes through: the version and the token."""
    if not VERSION.fullmatch(version):
        return meta_error(2500, message=f"Unknown path components: /{version}")
    if not _bearer_ok(sim, request):
        return _unauthorized()
    return None


def _injected_failure(sim: Simulator) -> Response[bytes] | None:
    faults = sim.state.faults
    if not faults.fail_next:
        return None
    spec = faults.fail_next.pop(0)
    return meta_error(
        spec.code,
        spec.details or "failure injected by /_sim/faults",
        http_status=spec.http_status,
        message=spec.message,
        retry_after=spec.retry_after,
    )


def _template_problem(create: TemplateCreate) -> str | None:
    if not TEMPLATE_NAME.fullmatch(create.name):
        return "Template name must be 1-512 lowercase letters, digits or underscores."
    if create.category not in CATEGORIES:
        return f"category must be one of {', '.join(sorted(CATEGORIES))}"
    if not create.language:
        return "language is required"
    bodies = [c for c in create.components if c.type.upper() == "BODY"]
    if len(bodies) != 1 or not (bodies[0].text or "").strip():
        return "a template needs exactly one BODY component with text"
    return None


def _template_json(template: SimTemplate, fields: list[str] | None = None) -> dict[str, Any]:
    """Meta's default fields, or exactly ``fields`` (and the id) when they are asked for."""
    item: dict[str, Any] = {
        "id": template.id,
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "components": template.components,
    }
    if fields is None:
        if template.reason:
            item["rejected_reason"] = template.reason
        return item
    item["rejected_reason"] = template.reason or "NONE"
    item["quality_score"] = {"score": "UNKNOWN"}  # Meta's score before customers react
    return {key: item[key] for key in dict.fromkeys(["id", *fields])}


def _cursor(template_id: str) -> str:
    return base64.urlsafe_b64encode(template_id.encode()).decode().rstrip("=")


def _page_request(query: Mapping[str, str]) -> tuple[int, str | None, list[str] | None] | str:
    """(limit, id after which the page starts, fields), or why Meta would refuse them."""
    raw_limit = query.get("limit", str(DEFAULT_PAGE))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        return f"limit must be a whole number from 1 to {MAX_PAGE}"
    after: str | None = None
    if query.get("after"):
        cursor = query["after"]
        try:
            after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return f"Invalid cursor: {cursor}"
    fields = [f.strip() for f in query.get("fields", "").split(",") if f.strip()] or None
    if fields is None and "fields" in query:
        return "fields must name at least one field"
    unknown = [f for f in fields or () if f not in TEMPLATE_FIELDS]
    if unknown:
        return f"Tried accessing nonexisting field ({unknown[0]})"
    return int(raw_limit), after, fields


def graph_api_router(sim: Simulator) -> Router:
    """The Graph API routes; under the ``slow_ms`` fault each answer leaves late, after
    the request was processed (so a client timeout leaves a send that did happen)."""
    state = sim.state

    async def answer_late(response: Response[Any]) -> Response[Any]:
        if state.faults.slow_ms > 0:
            await asyncio.sleep(state.faults.slow_ms / 1000)
        return response

    @post("/{version:str}/{phone_number_id:str}/messages", status_code=200)
    async def messages(
        version: FromPath[str], phone_number_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        refused = _guard(sim, request, version) or _injected_failure(sim)
        if refused is not None:
            return refused
        if not NUMERIC_ID.fullmatch(phone_number_id):
            return _no_object("post", phone_number_id)
        raw = await request.body()
        body, _ = decode_or_none(raw, dict[str, Any])
        req, reason = decode_or_none(raw, SendRequest)
        if req is None or body is None:
            return meta_error(100, reason or "the body is not a JSON object")
        if req.status is not None:  # mark as read (and maybe a typing indicator)
            if req.status != "read" or not req.message_id:
                return meta_error(100, "status must be 'read' with a message_id")
            return json_response({"success": True})
        problem = send_problem(req)
        if problem is not None:
            return meta_error(100, problem)
        return accept_send(sim, phone_number_id, req, body)

    @post("/{version:str}/{waba_id:str}/message_templates", status_code=200)
    async def create_template(
        version: FromPath[str], waba_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        refused = _guard(sim, request, version) or _injected_failure(sim)
        if refused is not None:
            return refused
        if not NUMERIC_ID.fullmatch(waba_id):
            return _no_object("post", waba_id)
        create, reason = decode_or_none(await request.body(), TemplateCreate)
        if create is None:
            return meta_error(100, reason)
        problem = _template_problem(create)
        if problem is not None:
            return meta_error(100, problem)
        existing = state.find_template(waba_id, create.name, create.language)
        if existing is not None and existing.status == "DELETED":
            return meta_error(
                100,
                f"New {create.language} content can't be added while the existing "
                f"{create.language} content is being deleted. Try again in 4 weeks or "
                "create a message template with a new name.",
                message="Invalid parameter",
                subcode=2388023,
            )
        if existing is not None:
            return meta_error(
                100,
                f"There is already {create.language} content for this template.",
                message="Content in this language already exists",
                subcode=2388024,
            )
        texts = [c.text or "" for c in create.components if c.type.upper() in ("HEADER", "BODY")]
        template = SimTemplate(
            id=state.new_numeric_id(1_400_000_000_000_000),
            waba_id=waba_id,
            name=create.name,
            language=create.language,
            category=create.category,
            components=[msgspec.to_builtins(c) for c in create.components],
            parameter_count=sum(len(placeholders(text)) for text in texts),
        )
        state.templates[template.id] = template
        sim.webhooks.spawn(sim.webhooks.template_decision(template))
        return json_response({"id": template.id, "status": "PENDING", "category": create.category})

    @get("/{version:str}/{waba_id:str}/message_templates")
    async def list_templates(
        version: FromPath[str], waba_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        refused = _guard(sim, request, version) or _injected_failure(sim)
        if refused is not None:
            return refused
        if not NUMERIC_ID.fullmatch(waba_id):
            return _no_object("get", waba_id)
        page = _page_request(request.query_params)
        if isinstance(page, str):
            return meta_error(100, page)
        limit, after, fields = page
        ours = [
            t for t in state.templates.values() if t.waba_id == waba_id and t.status != "DELETED"
        ]
        start = 0
        if after is not None:
            ids = [t.id for t in ours]
            if after not in ids:
                return meta_error(100, f"Invalid cursor: {request.query_params['after']}")
            start = ids.index(after) + 1
        chosen = ours[start : start + limit]
        answer: dict[str, Any] = {"data": [_template_json(t, fields) for t in chosen]}
        if chosen:
            cursors = {"before": _cursor(chosen[0].id), "after": _cursor(chosen[-1].id)}
            answer["paging"] = {"cursors": cursors}
            if start + limit < len(ours):  # like Meta: no `next` on the last page
                base = (state.settings.public_base_url or str(request.base_url)).rstrip("/")
                query = {"limit": str(limit), "after": cursors["after"]}
                if fields is not None:
                    query["fields"] = ",".join(fields)
                answer["paging"]["next"] = (
                    f"{base}/{version}/{waba_id}/message_templates?{urlencode(query)}"
                )
        return json_response(answer)

    @delete("/{version:str}/{waba_id:str}/message_templates", status_code=200)
    async def delete_template(
        version: FromPath[str], waba_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        """By ``name`` every language of it goes; with ``hsm_id`` only that one."""
        refused = _guard(sim, request, version) or _injected_failure(sim)
        if refused is not None:
            return refused
        if not NUMERIC_ID.fullmatch(waba_id):
            return _no_object("delete", waba_id)
        name = request.query_params.get("name", "")
        hsm_id = request.query_params.get("hsm_id")
        if not name:
            return meta_error(100, "The parameter name is required.")
        doomed = [
            t
            for t in state.templates.values()
            if (t.waba_id, t.name) == (waba_id, name)
            and hsm_id in (None, t.id)
            and t.status != "DELETED"
        ]
        if not doomed:
            return meta_error(
                100,
                f"The message template {name} wasn't found for this account.",
                message="Invalid parameter",
                subcode=TEMPLATE_NOT_FOUND_SUBCODE,
                user_title="Message template not found",
            )
        for template in doomed:
            # Kept, as Meta keeps it: no longer listed, not sendable (132001), its name
            # and language not reusable for a while; a review still running skips it.
            template.status = "DELETED"
            sim.webhooks.spawn(sim.webhooks.template_deleted(template))
        return json_response({"success": True})

    @post(
        "/{version:str}/{phone_number_id:str}/media",
        status_code=200,
        request_max_body_size=UPLOAD_MAX_BYTES,
    )
    async def upload_media(
        version: FromPath[str], phone_number_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        refused = _guard(sim, request, version) or _injected_failure(sim)
        if refused is not None:
            return refused
        if not NUMERIC_ID.fullmatch(phone_number_id):
            return _no_object("post", phone_number_id)
        form = await request.form()
        checked = _upload_problem(form)
        if isinstance(checked, str):
            return meta_error(100, checked)
        mime, limit = checked
        upload: UploadFile = form["file"]
        data = await upload.read()
        if not data or len(data) > limit:
            size = "empty" if not data else f"{len(data)} bytes, over the {limit} allowed"
            return meta_error(131053, f"{mime} file is {size}", message="Media upload error")
        item = MediaItem(
            id=state.new_numeric_id(2_100_000_000_000_000),
            data=data,
            mime_type=mime,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        state.media[item.id] = item
        return json_response({"id": item.id})

    @get("/{version:str}/{media_id:str}")
    async def media_info(
        version: FromPath[str], media_id: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        """A media item's download url, or (the same path) a business phone number. A
        ``phone_number_id`` parameter says the id is a media item's (of that number)."""
        refused = _guard(sim, request, version)
        if refused is not None:
            return refused
        item = state.media.get(media_id)
        as_number = "phone_number_id" not in request.query_params
        if item is None and as_number and state.settings.knows_number(media_id):
            return _injected_failure(sim) or _phone_number(media_id, request)
        if item is None:
            return _no_object("get", media_id)
        token, url = state.media_url_for(media_id)
        base = (state.settings.public_base_url or str(request.base_url)).rstrip("/")
        return json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{base}{LOOKASIDE}?mid={media_id}&ext={int(url.expires_at)}&hash={token}",
                "mime_type": item.mime_type,
                "sha256": item.sha256,
                "file_size": len(item.data),
                "id": media_id,
            }
        )

    def _phone_number(phone_number_id: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        fields = requested_fields(request.query_params.get("fields"))
        if isinstance(fields, str):
            return meta_error(100, fields)
        return json_response(phone_number_json(state.settings, phone_number_id, fields))

    @get(LOOKASIDE)
    async def media_download(
        request: Request[Any, Any, Any],
        mid: FromQuery[str] = "",
        token: Annotated[str, QueryParameter(name="hash")] = "",
    ) -> Response[bytes]:
        if not _bearer_ok(sim, request):
            return _unauthorized()
        item = state.media_for_url(token, mid)
        if item is None:
            return Response(
                content=b"URL signature expired", status_code=404, media_type="text/plain"
            )
        return Response(content=item.data, media_type=item.mime_type)

    return Router(
        path="/",
        route_handlers=[
            messages,
            create_template,
            list_templates,
            delete_template,
            upload_media,
            media_info,
            media_download,
        ],
        after_request=answer_late,
    )
