"""The signed-in admin's tenant: WhatsApp number ids and the tenant's own Meta
credentials, which are write-only (sealed at rest; the API says only whether set)."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from entrypoints.bootstrap import Runtime
from whatsapp_core.domain.accounts import Invitation
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.phone_numbers import ConnectionCheck
from whatsapp_core.errors import UpstreamUnavailable
from whatsapp_core.ports import SecretBox
from whatsapp_core.services import invitations, tenants


def _box(runtime: Runtime) -> SecretBox:
    if runtime.secrets is None:
        raise UpstreamUnavailable("the server is still starting")
    return runtime.secrets


class TenantController(Controller):
    path = "/api/tenant"
    tags = ("tenant",)

    @get(summary="This tenant's WhatsApp settings (credentials: only whether they are set)")
    async def show(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> tenants.TenantView:
        return await tenants.get_tenant_settings(runtime.services, _box(runtime), principal)

    @patch(summary="Change settings; access_token / app_secret are sealed, never echoed")
    async def update(
        self,
        data: JSONBody[tenants.TenantSettings],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> tenants.TenantView:
        return await tenants.update_tenant_settings(
            runtime.services, _box(runtime), principal, data
        )

    @post(
        "/test-connection",
        status_code=200,
        summary="Ask Meta about this tenant's number with its credentials (admin)",
        description="200 with ok=false and a reason when Meta refuses (190: the token; "
        "100/803: the phone number id) or cannot be reached; 409 when no phone number id "
        "is set yet.",
    )
    async def test_connection(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> ConnectionCheck:
        if runtime.gateway is None:
            raise UpstreamUnavailable("no WhatsApp gateway is configured on this server")
        return await tenants.test_connection(runtime.services, runtime.gateway, principal)


class InviteIn(msgspec.Struct, kw_only=True):
    email: str
    role: str = "agent"


class InvitationOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str
    role: str
    expires_at: datetime

    @classmethod
    def of(cls, i: Invitation) -> InvitationOut:
        return cls(id=i.id, email=i.email, role=i.role.value, expires_at=i.expires_at)


class InvitationCreated(InvitationOut, kw_only=True):
    token: str  # shown once; the invitee posts it to /api/auth/accept
    accept_url: str  # the web page that does that for a person


class InvitationController(Controller):
    path = "/api/invitations"
    tags = ("users",)

    @post(status_code=201, summary="Invite someone by e-mail with a role (admin)")
    async def invite(
        self,
        data: JSONBody[InviteIn],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> InvitationCreated:
        invitation, token = await invitations.invite_user(
            runtime.services, principal, email=data.email, role=data.role
        )
        out = InvitationOut.of(invitation)
        return InvitationCreated(
            **msgspec.structs.asdict(out), token=token, accept_url=f"/accept#{token}"
        )

    @get(summary="Invitations not yet accepted, revoked or expired (admin)")
    async def pending(
        self, principal: NamedDependency[Principal], runtime: NamedDependency[Runtime]
    ) -> list[InvitationOut]:
        found = await invitations.list_invitations(runtime.services, principal)
        return [InvitationOut.of(i) for i in found]

    @delete("/{invitation_id:uuid}", status_code=204, summary="Revoke an invitation (admin)")
    async def revoke(
        self,
        invitation_id: FromPath[uuid.UUID],
        principal: NamedDependency[Principal],
        runtime: NamedDependency[Runtime],
    ) -> None:
        await invitations.revoke_invitation(runtime.services, principal, invitation_id)
