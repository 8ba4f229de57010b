"""Meta WhatsApp Cloud API wire layer: webhook payload decoding and signatures."""

from adapters.meta.gateway import HttpxWhatsAppGateway, build_send_body, build_template_body
from adapters.meta.signature import sign, verify_signature
from adapters.meta.webhook_payload import (
    KNOWN_TYPES,
    ChangeValue,
    ContactInfo,
    DecodedChange,
    DecodedWebhook,
    Identity,
    InboundMessage,
    MessagesValue,
    MetaError,
    StatusInfo,
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UnknownChange,
    decode_webhook,
    identity_of,
)

__all__ = [
    "KNOWN_TYPES",
    "ChangeValue",
    "ContactInfo",
    "DecodedChange",
    "DecodedWebhook",
    "HttpxWhatsAppGateway",
    "Identity",
    "InboundMessage",
    "MessagesValue",
    "MetaError",
    "StatusInfo",
    "TemplateCategoryUpdate",
    "TemplateQualityUpdate",
    "TemplateStatusUpdate",
    "UnknownChange",
    "build_send_body",
    "build_template_body",
    "decode_webhook",
    "identity_of",
    "sign",
    "verify_signature",
]
