"""The public API of ``whatsapp_core``: every name in ``__all__`` imports, every port
(``typing.Protocol``) the core defines is exported, and every exported port has an
in-memory twin in ``adapters.memory`` offering all of the port's methods."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import whatsapp_core
from adapters.memory.ai import memory_ai
from adapters.memory.uow import MemoryUnitOfWorkFactory

pytestmark = pytest.mark.unit

# Protocols of the core that are not ports: nothing outside implements them.
NOT_PORTS = {
    # the signature of the ingest callable ``ingest_unless_seen`` is handed (a function)
    "whatsapp_core.services.inbound_guard.Ingest",
}

# port -> its twin in adapters.memory ("module:attribute"; memory_ai() for the router)
TWINS = {
    "AiEngine": "ai:OfflineProvider",
    "AiSettingsStore": "ai:MemoryAiSettingsStore",
    "AiUsageStore": "ai:MemoryAiUsageStore",
    "ApiKeyStore": "accounts:MemoryApiKeyStore",
    "AuditStore": "stores:MemoryAuditStore",
    "AutoReplyLog": "ai:MemoryAutoReplyLog",
    "AutomationSink": "automation:RecordingAutomationSink",
    "BlobStore": "media:MemoryBlobStore",
    "Clock": "basics:FrozenClock",
    "ContactStore": "stores:MemoryContactStore",
    "ConversationStore": "stores:MemoryConversationStore",
    "DeliveryLog": "automation:MemoryDeliveryLog",
    "Embedder": "ai:HashingEmbedder",
    "EmbeddingStore": "ai:MemoryEmbeddingStore",
    "EventPublisher": "gateway:MemoryEventPublisher",
    "IdGenerator": "basics:UuidGenerator",
    "IdempotencyGuard": "idempotency:MemoryIdempotencyGuard",
    "IdempotencyStore": "automation:MemoryIdempotencyStore",
    "InboxStatistics": "statistics:MemoryInboxStatistics",
    "IntentClassifier": "ai:OfflineProvider",
    "InvitationStore": "accounts:MemoryInvitationStore",
    "KnowledgeStore": "ai:MemoryKnowledgeStore",
    "MediaFetcher": "media:MemoryMediaFetcher",
    "MediaObjectStore": "media:MemoryMediaObjectStore",
    "MessageStore": "stores:MemoryMessageStore",
    "NoteStore": "accounts:MemoryNoteStore",
    "OutboxRelay": "jobs:MemoryOutboxRelay",
    "OutboxStore": "stores:MemoryOutboxStore",
    "PasswordHasher": "security:MemoryPasswordHasher",
    "Probe": "uow:AlwaysReady",
    "ProviderRouter": "memory_ai().router",
    "RateLimiter": "jobs:MemoryRateLimiter",
    "RefreshTokenStore": "accounts:MemoryRefreshTokenStore",
    "ReplySuggester": "ai:OfflineProvider",
    "SecretBox": "security:MemorySecretBox",
    "SubscriptionStore": "automation:MemorySubscriptionStore",
    "Summarizer": "ai:OfflineProvider",
    "TemplateStore": "stores:MemoryTemplateStore",
    "TenantStore": "stores:MemoryTenantStore",
    "TokenIssuer": "security:MemoryTokenIssuer",
    "UnitOfWork": "uow:MemoryUnitOfWork",  # checked entered: it opens its stores then
    "UnitOfWorkFactory": "uow:MemoryUnitOfWorkFactory",
    "UserStore": "accounts:MemoryUserStore",
    "WhatsAppGateway": "gateway:MemoryWhatsAppGateway",
}


def core_protocols() -> dict[str, type[Any]]:
    """Every Protocol class defined in a whatsapp_core module, by qualified name."""
    found: dict[str, type[Any]] = {}
    modules = pkgutil.walk_packages(whatsapp_core.__path__, f"{whatsapp_core.__name__}.")
    for info in modules:
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and getattr(obj, "_is_protocol", False)
            ):
                found[f"{module.__name__}.{name}"] = obj
    return found


def members(port: type[Any]) -> set[str]:
    """The methods and properties a port asks for (its data attributes, such as a unit
    of work's stores, are set per instance and not checked here)."""
    names = set()
    for klass in port.__mro__:
        if klass is object or not getattr(klass, "_is_protocol", False):
            continue
        names |= {
            n
            for n, v in vars(klass).items()
            if (not n.startswith("_") or n in ("__aenter__", "__aexit__", "__call__"))
            and (inspect.isfunction(v) or isinstance(v, property))
        }
    return names


def twin(spec: str) -> object:
    if spec == "memory_ai().router":
        return memory_ai().router
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(f"adapters.memory.{module}"), name)


def test_every_name_in_all_imports_once() -> None:
    assert len(whatsapp_core.__all__) == len(set(whatsapp_core.__all__))
    for name in whatsapp_core.__all__:
        assert getattr(whatsapp_core, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from whatsapp_core import *", namespace)  # noqa: S102 - the star import itself
    assert set(whatsapp_core.__all__) <= set(namespace)


def test_the_names_create_template_needs_are_exported() -> None:
    for name in ("TemplateComponents", "TemplateCategory", "TemplateButton", "Services"):
        assert name in whatsapp_core.__all__


def test_every_port_of_the_core_is_exported() -> None:
    protocols = core_protocols()
    assert "whatsapp_core.ports.UnitOfWork" in protocols  # the walk found the ports
    missing = {
        qualified
        for qualified, port in protocols.items()
        if qualified not in NOT_PORTS and getattr(whatsapp_core, port.__name__, None) is not port
    }
    assert missing == set()


async def test_every_exported_port_has_a_memory_twin_with_all_its_methods() -> None:
    ports = {
        name: obj
        for name in whatsapp_core.__all__
        if getattr(obj := getattr(whatsapp_core, name), "_is_protocol", False)
    }
    assert set(ports) == set(TWINS)
    for name, port in ports.items():
        implementation = twin(TWINS[name])
        if name == "UnitOfWork":
            async with MemoryUnitOfWorkFactory()() as implementation:
                pass
        lacking = {m for m in members(port) if not hasattr(implementation, m)}
        assert lacking == set(), f"{TWINS[name]} lacks {sorted(lacking)} of {name}"
