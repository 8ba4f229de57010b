"""Which Meta access token a call for a tenant carries."""

from __future__ import annotations

from collections.abc import Callable

from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.ports import SecretBox
from whatsapp_core.services.tenants import ACCESS_TOKEN, open_credential


class TenantTokens:
    """The tenant's own access token, opened from its sealed column at each call (so a
    changed token applies at once), else the platform's system-user token (a Tech
    Provider's token reaches every WABA shared with it). ``box`` is read per call:
    the composition root builds it after the gateway."""

    def __init__(self, box: Callable[[], SecretBox | None], platform_token: str) -> None:
        self._box = box
        self._platform = platform_token

    async def __call__(self, tenant: Tenant) -> str:
        box = self._box()
        own = open_credential(box, tenant, ACCESS_TOKEN) if box is not None else None
        return own or self._platform
