"""Templates, users, API keys, audit log, and the automation send endpoint."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from entrypoints.bootstrap import Runtime
from entrypoints.http.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    AuditOut,
    ButtonIn,
    MessageOut,
    RecipientIn,
    SendTemplateIn,
    SendTextIn,
    TemplateEditIn,
    TemplateIn,
    TemplateOut,
    UserIn,
    UserOut,
    UserPatch,
)
from whatsapp_core.domain.identity import CustomerIdentity, normalize_phone, validate_bsuid
from whatsapp_core.domain.model import Message, Principal
from whatsapp_core.domain.remote_templates import TemplateSyncReport
from whatsapp_core.errors import InvalidInput, UpstreamUnavailable
from whatsapp_core.policies.templates import TemplateButton, TemplateComponents
from whatsapp_core.services import accounts, automation, templates
from whatsapp_core.services.outbound import send_template, send_text


def _recipient(to: RecipientIn | None) -> CustomerIdentity | None:
    if to is None:
        return None
    if not to.phone and not to.bsuid:
        raise InvalidInput("to needs a phone or a bsuid", field="to")
    return CustomerIdentity(
        wa_id=normalize_phone(to.phone) if to.phone else None,
        bsuid=validate_bsuid(to.bsuid, "to.bsuid") if to.bsuid else None,
    )


def _components(
    body: str, header_text: str | None, footer: str | None, buttons: list[ButtonIn]
) -> TemplateComponents:
    return TemplateComponents(
        body=body,
        header_text=header_text,
        footer=footer,
        buttons=tuple(
            TemplateButton(type=b.type, text=b.text, url=b.url, phone_number=b.phone_number)
            for b in buttons
        ),
    )


class TemplateController(Controller):
    path = "/api/templates"
    tags = ("templates",)

    @get()
    async def list_(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> list[TemplateOut]:
        return [
            TemplateOut.of(t) for t in await templates.list_templates(runtime.services, principal)
        ]

    @post(status_code=201)
    async def create(
        self,
        data: JSONBody[TemplateIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> TemplateOut:
        template = await templates.create_template(
            runtime.services, principal, name=data.name, language=data.language,
            category=data.category.upper(),
            components=_components(data.body, data.header_text, data.footer, data.buttons),
        )  # fmt: skip
        return TemplateOut.of(template)

    @patch("/{template_id:uuid}")
    async def edit(
        self,
        template_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateEditIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> TemplateOut:
        template = await templates.edit_template(
            runtime.services, principal, template_id,
            components=_components(data.body, data.header_text, data.footer, data.buttons),
            category=data.category.upper() if data.category else None,
        )  # fmt: skip
        return TemplateOut.of(template)

    @post("/{template_id:uuid}/submit", status_code=200, summary="Send to Meta for review")
    async def submit(
        self,
        template_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> TemplateOut:
        if runtime.gateway is None:
            raise UpstreamUnavailable("no WhatsApp gateway is configured on this server")
        return TemplateOut.of(
            await templates.submit_template(
                runtime.services, runtime.gateway, principal, template_id
            )
        )

    @delete(
        "/{template_id:uuid}",
        status_code=204,
        summary="Delete a template (at Meta, then here)",
        description="A draft never submitted is removed without calling Meta; any other "
        "template is deleted at Meta (this language version) and kept here as DELETED. "
        "409 when it is already PENDING_DELETION or DELETED. Managers and admins.",
    )
    async def delete_(
        self,
        template_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await templates.delete_template(runtime.services, runtime.gateway, principal, template_id)

    @post(
        "/sync",
        status_code=200,
        summary="Reconcile templates with Meta",
        description="Reads every template of the WhatsApp Business Account at Meta: "
        "statuses missed by webhook are repaired, templates made in WhatsApp Manager are "
        "imported, drafts are left alone. Managers and admins.",
    )
    async def sync(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> TemplateSyncReport:
        if runtime.gateway is None:
            raise UpstreamUnavailable("no WhatsApp gateway is configured on this server")
        return await templates.sync_templates(runtime.services, runtime.gateway, principal)


class AdminController(Controller):
    path = "/api"
    tags = ("admin",)

    @get("/users")
    async def users(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> list[UserOut]:
        return [UserOut.of(u) for u in await accounts.list_users(runtime.services, principal)]

    @post("/users", status_code=201)
    async def create_user(
        self,
        data: JSONBody[UserIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> UserOut:
        user = await accounts.create_user(
            runtime.services, runtime.hasher, principal, email=data.email, name=data.name,
            role=data.role, password=data.password,
        )  # fmt: skip
        return UserOut.of(user)

    @patch(
        "/users/{user_id:uuid}",
        summary="Change a teammate's role or name, or deactivate / reactivate them",
        description="Admins. The last active admin can be neither demoted nor deactivated "
        "(409 last_admin). Deactivating ends the person's sessions; an access token already "
        "issued, and the old role after a role change, last until it expires (15 min).",
    )
    async def update_user(
        self,
        user_id: FromPath[uuid.UUID],
        data: JSONBody[UserPatch],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> UserOut:
        user = await accounts.update_user(
            runtime.services, principal, user_id, role=data.role, active=data.active,
            name=data.name,
        )  # fmt: skip
        return UserOut.of(user)

    @get("/api-keys")
    async def api_keys(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> list[ApiKeyOut]:
        return [ApiKeyOut.of(k) for k in await accounts.list_api_keys(runtime.services, principal)]

    @post("/api-keys", status_code=201, summary="Create an API key (the token is shown once)")
    async def create_api_key(
        self,
        data: JSONBody[ApiKeyIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ApiKeyOut:
        key, token = await accounts.create_api_key(
            runtime.services, principal, data.name, data.scopes
        )
        return ApiKeyOut.of(key, token)

    @delete("/api-keys/{key_id:uuid}", status_code=200)
    async def revoke_api_key(
        self,
        key_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> ApiKeyOut:
        return ApiKeyOut.of(await accounts.revoke_api_key(runtime.services, principal, key_id))

    @get("/audit")
    async def audit(
        self,
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        limit: FromQuery[int] = 100,
    ) -> list[AuditOut]:
        entries = await accounts.list_audit(runtime.services, principal, limit=limit)
        return [
            AuditOut(
                id=e.id,
                actor=e.actor,
                action=e.action,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                at=e.at,
                before=e.before,
                after=e.after,
                correlation_id=e.correlation_id,
            )
            for e in entries
        ]

    @post(
        "/messages/send-template",
        status_code=202,
        summary="Send an approved template",
        description="With an Idempotency-Key header, a repeat of the same request returns "
        "the first message and sends nothing; another request under the key gets 409.",
    )
    async def send_template(
        self,
        data: JSONBody[SendTemplateIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> MessageOut:
        to = _recipient(data.to)

        async def send() -> Message:
            return await send_template(
                runtime.services, principal, name=data.name, language=data.language,
                body_params=data.body_params, header_params=data.header_params,
                conversation_id=data.conversation_id, to=to,
            )  # fmt: skip

        if idempotency_key is None:
            return MessageOut.of(await send())
        message, _ = await automation.send_once(
            runtime.services, principal, idempotency_key, data, send
        )
        return MessageOut.of(message)

    @post(
        "/messages/send-text",
        status_code=202,
        summary="Send free-form text inside the 24 h window (API key scope message.send_text_api)",
        description="To a conversation or a customer by phone/BSUID who wrote in the last "
        "24 hours; otherwise 409 window_closed (send a template instead). Idempotency-Key "
        "works as for send-template.",
    )
    async def send_text(
        self,
        data: JSONBody[SendTextIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> MessageOut:
        to = _recipient(data.to)

        async def send() -> Message:
            return await send_text(
                runtime.services, principal, data.text,
                conversation_id=data.conversation_id, to=to,
            )  # fmt: skip

        if idempotency_key is None:
            return MessageOut.of(await send())
        message, _ = await automation.send_once(
            runtime.services, principal, idempotency_key, data, send
        )
        return MessageOut.of(message)
