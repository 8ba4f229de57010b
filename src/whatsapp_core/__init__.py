"""whatsapp_core: the pure domain of a WhatsApp Business team inbox.

Depends only on the standard library and msgspec. Adapters implement the
``typing.Protocol`` ports in :mod:`whatsapp_core.ports`.
"""

from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyViolation,
    StorageError,
    UpstreamUnavailable,
)

__all__ = [
    "Conflict",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PolicyViolation",
    "StorageError",
    "Tenant",
    "UpstreamUnavailable",
    "new_tenant",
]
