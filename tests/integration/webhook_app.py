"""The app as Meta's webhook sees it: production profile on a given PostgreSQL, real
Redis, one tenant on the fixture payloads' phone number, an httpx client over ASGI."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

from entrypoints.bootstrap import Runtime, build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.unit.meta.payloads import PNID, WABA
from whatsapp_core.domain.tenants import new_tenant

SECRET = "app-secret-for-tests"
URL = "/api/webhooks/whatsapp"


@contextlib.asynccontextmanager
async def webhook_app(
    database_url: str,
    data_dir: Path,
    *,
    first_starter: Callable[[Runtime], Awaitable[None]] | None = None,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = load_settings(
        {
            "WA_PROFILE": "production",
            "WA_DATABASE_URL": database_url,
            "WA_REDIS_URL": "redis://127.0.0.1:6379/0",
            "WA_SECRET_KEY": "k" * 40,
            "WA_META_APP_SECRET": SECRET,
            "WA_META_VERIFY_TOKEN": "verify-me",
            "WA_DATA_DIR": str(data_dir),
        }
    )
    runtime = build_runtime(settings)
    if first_starter is not None:  # e.g. migrate a brand-new server before the rest
        runtime._starters.insert(1, first_starter)
    # Same event loop as the test: the runtime is started here, not by a lifespan
    # running on the test client's own loop.
    await runtime.start()
    try:
        tenant = new_tenant(
            tenant_id=uuid.uuid4(), slug="acme", name="Acme", waba_id=WABA, phone_number_id=PNID
        )
        async with runtime.uow() as uow:
            await uow.tenants.add(tenant)
            await uow.commit()
        app = create_app(runtime)
        app.state.runtime = runtime
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://wa.test") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http, runtime
    finally:
        await runtime.stop()
