"""What every ``wa`` command shares: one-line errors, settings, the runtime, JSON output,
and acting as a tenant's administrator from a terminal."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import msgspec
import typer

from entrypoints.bootstrap import Runtime, StartupError, build_runtime
from entrypoints.settings import Settings, SettingsError, load_settings
from whatsapp_core.domain.model import Principal
from whatsapp_core.domain.tenants import Tenant
from whatsapp_core.errors import DomainError, InvalidInput, NotFound
from whatsapp_core.policies.access import Role
from whatsapp_core.services.context import CURRENT_CORRELATION_ID

T = TypeVar("T")

ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="memory | embedded | production (WA_PROFILE)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"wa: error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(overrides=overrides)
    except SettingsError as exc:
        fail(str(exc), 2)


def stored_settings(profile: str | None, what: str) -> Settings:
    """Settings for a command whose work must outlive it: the memory profile keeps
    nothing once the command ends, so it is refused rather than reported done."""
    settings = settings_or_exit(profile=profile)
    if settings.profile == "memory":
        fail(
            f"the memory profile keeps nothing after the command ends: {what} "
            "(use embedded or production)",
            2,
        )
    return settings


def run_with_runtime(
    settings: Settings, work: Callable[[Runtime], Awaitable[T]], *, migrate: bool = True
) -> T:
    """Start a runtime, run ``work`` on it, stop it. ``migrate=False``: the embedded
    database keeps its schema as it is (``wa migrate``). Input the product refuses as
    invalid exits 2, as a bad argument does; any other refusal or failure exits 1."""

    async def main() -> T:
        runtime = build_runtime(settings, migrate=migrate)
        await runtime.start()
        try:
            return await work(runtime)
        finally:
            await runtime.stop()

    try:
        return asyncio.run(main())
    except StartupError as exc:
        fail(str(exc))
    except InvalidInput as exc:
        fail(str(exc), 2)
    except DomainError as exc:
        fail(str(exc))


def ensure_port_free(host: str, port: int, option: str = "set WA_PORT or pass --port") -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc})"
            fail(f"port {port} on {host} {reason} ({option})")


def print_json(value: Any) -> None:
    """``value`` (msgspec Structs, uuids and datetimes included) as indented JSON."""
    typer.echo(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False))


@contextmanager
def cli_correlation(command: str) -> Iterator[str]:
    """Audit rows written by this command carry one id, as an API request's do."""
    correlation_id = f"cli-{command}-{uuid.uuid4().hex[:12]}"
    token = CURRENT_CORRELATION_ID.set(correlation_id)
    try:
        yield correlation_id
    finally:
        CURRENT_CORRELATION_ID.reset(token)


async def tenant_by_slug(runtime: Runtime, slug: str) -> Tenant:
    async with runtime.uow() as uow:
        tenants = await uow.tenants.list()
    found = next((t for t in tenants if t.slug == slug), None)
    if found is None:
        raise NotFound(f"no tenant {slug!r} (see `wa tenant list`)", field="tenant")
    return found


def administrator(tenant: Tenant) -> Principal:
    """The operator at the terminal: the tenant's administrator, audited as ``system``."""
    return Principal(tenant_id=tenant.id, role=Role.ADMIN)
