"""Encryption at rest for tenant secrets (WhatsApp access tokens, app secrets)."""

from adapters.crypto.secretbox import (
    AesGcmSecretBox,
    build_secret_box,
    from_secret,
    parse_keys,
)

__all__ = ["AesGcmSecretBox", "build_secret_box", "from_secret", "parse_keys"]
