"""The composition root: the only place that knows which adapter backs which port.

``build_runtime(settings)`` picks adapters by profile. Nothing connects here;
``Runtime.start()`` (called from the Litestar lifespan, worker start-up or the CLI)
opens connections and ``Runtime.stop()`` closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import secrets as secrets_module
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.ai import build_ai, close_ai
from adapters.crypto import build_secret_box
from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.memory.idempotency import MemoryIdempotencyGuard
from adapters.memory.uow import AlwaysReady, MemoryUnitOfWorkFactory
from adapters.quota import MemoryQuota
from adapters.realtime.local import LocalBroadcaster
from adapters.security.passwords import Argon2PasswordHasher
from adapters.security.tokens import JwtTokenIssuer
from entrypoints.settings import ENV_NAMES, Settings, redact_url
from whatsapp_core.ai import AiProviders
from whatsapp_core.errors import InvalidInput, UpstreamUnavailable
from whatsapp_core.media import BlobStore
from whatsapp_core.policies.quota import LoginLimits, QuotaLimits
from whatsapp_core.ports import (
    Clock,
    EventPublisher,
    IdempotencyGuard,
    IdGenerator,
    PasswordHasher,
    Probe,
    SecretBox,
    TokenIssuer,
    UnitOfWorkFactory,
    WhatsAppGateway,
)
from whatsapp_core.services.context import NoEvents, Services


class StartupError(Exception):
    """The runtime could not start. ``str()`` is one line naming the cause and setting."""


@dataclass
class Runtime:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    ids: IdGenerator = field(default_factory=UuidGenerator)
    probes: list[Probe] = field(default_factory=list)
    events: EventPublisher = field(default_factory=NoEvents)
    database_url: str | None = None
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    counters: Counter[str] = field(default_factory=Counter)
    hasher: PasswordHasher = field(default_factory=Argon2PasswordHasher)
    tokens: TokenIssuer | None = None
    secrets: SecretBox | None = None  # seals tenants' Meta credentials at rest
    gateway: WhatsAppGateway | None = None
    broadcaster: LocalBroadcaster = field(default_factory=LocalBroadcaster)
    redis: Any = None
    # Webhook duplicate guard: Redis when configured (shared by replicas), else memory.
    guard: IdempotencyGuard = field(default_factory=lambda: MemoryIdempotencyGuard(SystemClock()))
    quota: Any = field(default_factory=MemoryQuota)
    quota_limits: QuotaLimits = field(default_factory=QuotaLimits)
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    simulator_app: Any = None  # the Meta simulator, mounted at /meta-sim in development
    ai: AiProviders = field(default_factory=lambda: build_ai())  # offline until built
    blobs: BlobStore | None = None  # media and exports: memory, local folder or S3
    _uow: UnitOfWorkFactory | None = None
    _starters: list[Callable[[Runtime], Awaitable[None]]] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack | None = None

    @property
    def uow(self) -> UnitOfWorkFactory:
        if self._uow is None:
            raise RuntimeError("runtime not started: await runtime.start() first")
        return self._uow

    @property
    def services(self) -> Services:
        """What every use case needs, once the runtime has started."""
        return Services(uow=self.uow, clock=self.clock, ids=self.ids, events=self.events)

    @property
    def started(self) -> bool:
        return self._stack is not None

    async def start(self) -> None:
        """Open every resource; idempotent. Raises ``StartupError`` with one clear line."""
        if self._stack is not None:
            return
        self._stack = contextlib.AsyncExitStack()
        static_probes = list(self.probes)
        self._stack.callback(lambda: self.probes.__setitem__(slice(None), static_probes))
        try:
            for starter in self._starters:
                await starter(self)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def on_stop(self, callback: Callable[[], Awaitable[object]]) -> None:
        assert self._stack is not None
        self._stack.push_async_callback(callback)

    async def readiness(self) -> dict[str, str]:
        """``{part: "ok" | reason}`` for every probe."""
        report: dict[str, str] = {}
        for probe in self.probes:
            try:
                await probe.check()
            except UpstreamUnavailable as exc:
                report[probe.name] = str(exc)
            else:
                report[probe.name] = "ok"
        return report


def freeze_startup_heap() -> None:
    """Call once a long-running process (``wa serve``, ``wa worker``) has started: the
    objects alive then (modules, SQLAlchemy's statement caches, the app) live as long as
    the process, yet every full garbage collection walks them all. Moving them out of
    the collector's reach (``gc.freeze``) removed ~40 ms pauses that made the inbox's
    p95 under 20 concurrent callers 45-49 ms instead of 10-14 ms (bench/inbox_query.py)."""
    gc.collect()
    gc.freeze()


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """``migrate=False``: the embedded database starts at whatever revision it is at
    (``wa migrate`` moves it itself), and every profile logs in as the tables' owner."""
    runtime = Runtime(settings=settings)
    runtime.events = runtime.broadcaster
    if settings.profile == "memory":
        runtime._uow = MemoryUnitOfWorkFactory()
        runtime.gateway = MemoryWhatsAppGateway()
        runtime.probes.append(AlwaysReady("database"))
    elif settings.profile == "embedded":
        runtime._starters.append(lambda rt: _start_embedded_database(rt, migrate=migrate))
        runtime._starters.append(_start_local_storage)
    else:
        runtime._starters.append(lambda rt: _start_external_database(rt, schema_only=not migrate))
        runtime._starters.append(_start_redis)
        if not settings.s3_bucket:
            runtime._starters.append(_start_local_storage)
    runtime._starters.append(_load_secrets)
    runtime.ai = build_ai(**ai_options(settings))
    runtime._starters.append(_on_stop_close_ai)
    runtime._starters.append(_start_blob_store)
    if settings.profile == "embedded":
        runtime._starters.append(_start_meta_simulator)
    elif settings.profile == "production" and settings.meta_access_token:
        runtime._starters.append(_start_graph_api_gateway)
    return runtime


async def _start_embedded_database(runtime: Runtime, *, migrate: bool = True) -> None:
    """The server's superuser migrates; the application then logs in as ``wa_app_login``
    (made here, trust authentication on the server's socket), which row-level security
    binds. ``wa migrate`` (``migrate=False``) stays the superuser: the schema may be
    anywhere, even empty."""
    from adapters.embedded.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(runtime.settings.pg_data_dir)
    try:
        url = await server.start()
    except UpstreamUnavailable as exc:
        raise StartupError(f"{exc} (set WA_DATA_DIR to a writable folder)") from exc
    runtime.on_stop(server.stop)
    if migrate:
        from adapters.postgres.engine import with_user
        from adapters.postgres.roles import APP_LOGIN_ROLE

        await _prepare_embedded_schema(url)
        await _open_database(runtime, url, app_url=with_user(url, APP_LOGIN_ROLE))
    else:
        await _open_database(runtime, url)


async def _prepare_embedded_schema(url: str) -> None:
    from adapters.postgres.engine import create_engine
    from adapters.postgres.migrate import upgrade
    from adapters.postgres.roles import ensure_app_login

    owner = create_engine(url, pool_size=1)
    try:
        await upgrade(owner)
        await ensure_app_login(owner)
    except UpstreamUnavailable as exc:
        raise StartupError(
            f"{exc} — database at {redact_url(url)} (check WA_DATABASE_URL)"
        ) from exc
    finally:
        await owner.dispose()


async def _start_external_database(runtime: Runtime, *, schema_only: bool = False) -> None:
    """``WA_DATABASE_APP_URL`` when set (the owner's ``WA_DATABASE_URL`` is then for
    migrations only), else ``WA_DATABASE_URL``. ``schema_only`` (``wa migrate``): the
    owner's URL, whichever is set, and no check of the login."""
    settings = runtime.settings
    owner_url = settings.database_url or settings.database_app_url
    assert owner_url is not None  # settings require one in production
    if schema_only or not settings.database_app_url:
        await _open_database(runtime, owner_url)
    else:
        app_setting = ENV_NAMES["database_app_url"]
        await _open_database(
            runtime, owner_url, app_url=settings.database_app_url, setting=app_setting
        )


async def _open_database(
    runtime: Runtime, url: str, *, app_url: str | None = None, setting: str = "WA_DATABASE_URL"
) -> None:
    """``url`` is the database's (the owner's: migrations, reports); the application's
    units of work log in with ``app_url`` when given, else with ``url`` too.

    Whoever the login is, it is checked once: a role row-level security binds (not the
    owner, member of ``wa_app``, no BYPASSRLS) needs no ``SET LOCAL ROLE`` per
    transaction; any other keeps it. ``app_url`` must be such a role."""
    from adapters.postgres.engine import DatabaseProbe, create_engine
    from adapters.postgres.roles import inspect_login
    from adapters.postgres.uow import SqlaUnitOfWorkFactory

    login_url = app_url or url
    engine = create_engine(login_url)
    runtime.on_stop(engine.dispose)
    probe = DatabaseProbe(engine)
    try:
        await probe.check()
        login = await inspect_login(engine)
    except UpstreamUnavailable as exc:
        raise StartupError(
            f"{exc} — database at {redact_url(login_url)} (check {setting})"
        ) from exc
    if app_url is not None and not login.bound_by_rls:
        raise StartupError(
            f"the application's login must be bound by row-level security, but "
            f"{login.problem()} (check {setting})"
        )
    runtime.database_url = url
    runtime._uow = SqlaUnitOfWorkFactory(engine, enforce_rls=not login.bound_by_rls)
    runtime.probes.append(probe)


async def _start_redis(runtime: Runtime) -> None:
    from redis import asyncio as aioredis

    from adapters.quota import RedisQuota
    from adapters.realtime.redis_pubsub import RedisEventPublisher, RedisRelay
    from adapters.redis.idempotency import RedisIdempotencyGuard, namespace_for
    from adapters.redis.probe import RedisProbe

    assert runtime.settings.redis_url is not None
    client = aioredis.from_url(runtime.settings.redis_url, socket_connect_timeout=3)
    runtime.on_stop(client.aclose)
    probe = RedisProbe(client)
    try:
        await probe.check()
    except UpstreamUnavailable as exc:
        raise StartupError(
            f"{exc} — at {redact_url(runtime.settings.redis_url)} (check WA_REDIS_URL)"
        ) from exc
    runtime.probes.append(probe)
    runtime.redis = client
    # Events reach the inboxes of every replica through Redis pub/sub.
    relay = RedisRelay(client, runtime.broadcaster)
    await relay.start()
    runtime.on_stop(relay.stop)
    runtime.events = RedisEventPublisher(client)
    runtime.quota = RedisQuota(client)  # limits hold across every API replica
    runtime.guard = RedisIdempotencyGuard(
        client, namespace=namespace_for(runtime.database_url), counters=runtime.counters
    )


async def _start_local_storage(runtime: Runtime) -> None:
    from adapters.storage.local import LocalStorageProbe

    probe = LocalStorageProbe(runtime.settings.files_dir)
    try:
        await probe.check()
    except UpstreamUnavailable as exc:
        raise StartupError(f"{exc} (set WA_DATA_DIR to a writable folder)") from exc
    runtime.probes.append(probe)


async def _load_secrets(runtime: Runtime) -> None:
    """Production takes both from the environment (checked by settings). The embedded and
    memory profiles talk to the Meta simulator, so they make their own on first start and
    the embedded one keeps them in the data directory (private to its owner)."""
    settings = runtime.settings
    secrets = {
        "meta_app_secret": settings.meta_app_secret,
        "meta_verify_token": settings.meta_verify_token,
        "secret_key": settings.secret_key,
    }
    missing = [name for name, value in secrets.items() if not value]
    if missing and settings.profile == "embedded":
        secrets |= await asyncio.to_thread(
            _dev_secrets, settings.data_path / "dev-secrets.json", missing
        )
    values = {name: value or secrets_module.token_urlsafe(32) for name, value in secrets.items()}
    runtime.meta_app_secret = values["meta_app_secret"]
    runtime.meta_verify_token = values["meta_verify_token"]
    runtime.tokens = JwtTokenIssuer(values["secret_key"])
    try:
        runtime.secrets = build_secret_box(values["secret_key"], settings.secret_keys)
    except InvalidInput as exc:
        raise StartupError(f"{exc.message} (check {ENV_NAMES['secret_keys']})") from exc


def _dev_secrets(path: Path, names: list[str]) -> dict[str, str]:
    try:
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if any(name not in stored for name in names):
            stored |= {
                name: secrets_module.token_urlsafe(32) for name in names if name not in stored
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(stored, indent=2))
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise StartupError(
            f"data directory {path.parent} is not writable ({reason}) "
            "(set WA_DATA_DIR to a writable folder)"
        ) from exc
    return {name: stored[name] for name in names}


SIMULATOR_PATH = "/meta-sim"


async def _start_meta_simulator(runtime: Runtime) -> None:
    """The embedded default talks to a simulated Meta served by this same process:
    sends go to ``/meta-sim`` over real HTTP and its webhooks come back, signed, to
    ``/api/webhooks/whatsapp``."""
    from adapters.meta.credentials import TenantTokens
    from adapters.meta.gateway import HttpxWhatsAppGateway
    from adapters.meta.simulator import SimulatorConfig, create_simulator

    settings = runtime.settings
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    base = f"http://{host}:{settings.port}"
    token = runtime.meta_verify_token + ".simulated-access-token"
    config = SimulatorConfig(
        access_token=token,
        app_secret=runtime.meta_app_secret,
        callback_url=f"{base}/api/webhooks/whatsapp",
        public_base_url=f"{base}{SIMULATOR_PATH}",  # media download urls under the mount
        api_version=settings.meta_api_version,
    )
    runtime.simulator_app = create_simulator(config, clock=runtime.clock)
    runtime.on_stop(runtime.simulator_app.state.simulator.aclose)

    gateway = HttpxWhatsAppGateway(
        base_url=f"{base}{SIMULATOR_PATH}",
        api_version=settings.meta_api_version,
        token_for=TenantTokens(lambda: runtime.secrets, token),
    )
    runtime.on_stop(gateway.aclose)
    runtime.gateway = gateway


async def _start_graph_api_gateway(runtime: Runtime) -> None:
    """Meta's Graph API with the platform's system-user token (a Tech Provider's token
    reaches every WABA its customers shared with it)."""
    from adapters.meta.credentials import TenantTokens
    from adapters.meta.gateway import HttpxWhatsAppGateway

    settings = runtime.settings
    gateway = HttpxWhatsAppGateway(
        base_url=settings.meta_api_base,
        api_version=settings.meta_api_version,
        token_for=TenantTokens(lambda: runtime.secrets, settings.meta_access_token or ""),
    )
    runtime.on_stop(gateway.aclose)
    runtime.gateway = gateway


async def _start_blob_store(runtime: Runtime) -> None:
    """Memory profile: in memory. Production with ``WA_S3_BUCKET``: S3, under
    ``WA_S3_PREFIX``, encrypted as ``WA_S3_SSE`` says (unset: SSE-S3 on AWS, off for a
    custom endpoint such as MinIO, which refuses it without a KMS). Otherwise the local
    folder ``files_dir`` (checked by ``_start_local_storage``)."""
    settings = runtime.settings
    if settings.profile == "memory":
        from adapters.memory.media import MemoryBlobStore

        runtime.blobs = MemoryBlobStore()
    elif settings.profile == "production" and settings.s3_bucket:
        from adapters.storage.s3 import S3BlobStore

        store = S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            prefix=settings.s3_prefix,
            server_side_encryption=settings.s3_server_side_encryption,
        )
        await store.start()
        runtime.on_stop(store.aclose)
        try:
            await store.check()
        except UpstreamUnavailable as exc:
            raise StartupError(f"{exc} (check WA_S3_BUCKET / WA_S3_ENDPOINT_URL)") from exc
        runtime.probes.append(store)
        runtime.blobs = store
    else:
        from adapters.storage.local import LocalBlobStore

        runtime.blobs = LocalBlobStore(settings.files_dir)


def ai_options(settings: Settings) -> dict[str, Any]:
    """Claude and OpenAI when their keys are set (in that order), offline otherwise."""
    return {
        "anthropic_api_key": settings.anthropic_api_key,
        "openai_api_key": settings.openai_api_key,
        "anthropic_model": settings.anthropic_model,
        "openai_model": settings.openai_model,
        "embedder": settings.ai_embedder,
    }


async def _on_stop_close_ai(runtime: Runtime) -> None:
    ai = runtime.ai
    runtime.on_stop(lambda: close_ai(ai))
