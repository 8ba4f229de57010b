"""``wa``: serve, migrate and administer the platform from a terminal.

Every failure a user can cause ends as ``wa: error: <one line>`` and exit code 2
(bad settings or arguments) or 1 (a part could not start), never a traceback.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from entrypoints.bootstrap import Runtime, StartupError, build_runtime, freeze_startup_heap
from entrypoints.cli.admin import apikey_app, export_app, user_app
from entrypoints.cli.common import (
    JsonOpt,
    ProfileOpt,
    ensure_port_free,
    fail,
    print_json,
    run_with_runtime,
    settings_or_exit,
)
from entrypoints.cli.simulate import simulate_app, simulator
from entrypoints.settings import ENV_NAMES, Settings
from whatsapp_core.domain.tenants import Tenant

__all__ = ["app", "fail", "main", "run_with_runtime", "settings_or_exit"]

app = typer.Typer(
    name="wa", help="WhatsApp Business team inbox.", no_args_is_help=True, add_completion=True
)
migrate_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants: one WhatsApp Business Account each.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(export_app, name="export")
app.add_typer(simulate_app, name="simulate")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (WA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (WA_PORT)")] = None,
    profile: ProfileOpt = None,
    reload: Annotated[
        bool, typer.Option(help="development: restart when a file under src/ changes")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            help="jobs in flight at once in the in-process worker, not in production "
            "(WA_SERVE_JOBS, default 4: each one slows the API it shares a loop with; "
            "0: none, run `wa worker` beside it)",
        ),
    ] = None,
) -> None:
    """Run the API, inbox and workers in one process."""
    import uvicorn

    from entrypoints.http.app import create_app
    from entrypoints.logging import configure_logging
    from entrypoints.observability import configure_sentry

    settings = settings_or_exit(host=host, port=port, profile=profile, serve_jobs=jobs)
    configure_logging(settings.log_level, settings.log_format)
    configure_sentry(settings)
    ensure_port_free(settings.host, settings.port)
    if reload:
        _serve_reloading(settings)
        return

    async def main() -> None:
        runtime = build_runtime(settings)
        await runtime.start()
        # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default
        # handler that kills the process before ``runtime.stop()`` (the embedded
        # PostgreSQL would be left running). Turn it into an interrupt we unwind from.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            url = f"http://{settings.host}:{settings.port}"
            typer.echo(f"wa: {settings.profile} profile ready at {url}")
            if settings.profile == "embedded":
                typer.echo(f"wa: data in {settings.data_path} (PostgreSQL {runtime.database_url})")
            typer.echo(f"wa: API docs at {url}/api/docs — health at {url}/api/health")
            typer.echo(
                "wa: first login: register at POST /api/auth/register, or run "
                "`wa demo` for a tenant with sample conversations"
            )
            config = uvicorn.Config(
                create_app(runtime),
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level.lower(),
                lifespan="on",
            )
            worker_task = None
            if settings.profile == "production" or settings.serve_jobs == 0:
                typer.echo("wa: jobs wait in the outbox for `wa worker` (none run here)")
            elif runtime.gateway is not None:
                # One process runs everything in development: the jobs run here too.
                from entrypoints.worker.runner import build_jobs

                worker = build_jobs(runtime, runtime.gateway, concurrency=settings.serve_jobs)
                worker_task = asyncio.create_task(worker.run(), name="in-process-worker")
            freeze_startup_heap()
            try:
                await uvicorn.Server(config).serve()
            finally:
                if worker_task is not None:
                    worker.stop()
                    await worker_task
        finally:
            await runtime.stop()

    try:
        asyncio.run(main())
    except StartupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def _serve_reloading(settings: Settings) -> None:
    """uvicorn's reloader imports the app in a child process it restarts on changes;
    the settings travel there through the environment."""
    import os
    from pathlib import Path

    import uvicorn

    import entrypoints

    for name, var in ENV_NAMES.items():
        value = getattr(settings, name)
        if value is not None:
            os.environ[var] = str(value)
    typer.echo(f"wa: {settings.profile} profile, reloading on changes, at "
               f"http://{settings.host}:{settings.port}")  # fmt: skip
    uvicorn.run(
        "entrypoints.http.asgi:create",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=True,
        reload_dirs=[str(Path(entrypoints.__file__).resolve().parents[1])],
        log_level=settings.log_level.lower(),
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="jobs in flight at once")] = 16,
    profile: ProfileOpt = None,
) -> None:
    """Run job workers (sends, automation, AI, media) until stopped."""

    from entrypoints.logging import configure_logging
    from entrypoints.observability import configure_sentry
    from entrypoints.worker.runner import build_jobs

    settings = settings_or_exit(profile=profile)
    configure_logging(settings.log_level, settings.log_format)
    configure_sentry(settings)

    async def work(runtime: Runtime) -> None:
        if runtime.gateway is None:
            fail("no WhatsApp gateway: set WA_META_ACCESS_TOKEN (production) to send", 2)
        jobs = build_jobs(runtime, runtime.gateway, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, jobs.stop)
        typer.echo(
            f"wa: worker running ({settings.profile} profile, concurrency {concurrency}, "
            f"jobs via {settings.jobs_broker})"
        )
        freeze_startup_heap()
        await jobs.run()

    run_with_runtime(settings, work)


@app.command()
def demo(
    slug: Annotated[str, typer.Option(help="the demo tenant's short name")] = "demo",
    conversations: Annotated[int, typer.Option(help="how many customers write in")] = 200,
    profile: ProfileOpt = None,
) -> None:
    """Create a demo tenant with users for every role, templates and conversations."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from entrypoints.cli.demo import PASSWORD, build_demo

    settings = settings_or_exit(profile=profile)

    async def work(runtime: Runtime) -> None:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as bar:
            bar.add_task(f"building demo tenant {slug!r}…", total=None)
            result = await build_demo(runtime, slug=slug, conversations=conversations)
        typer.echo(
            f"demo tenant {result.slug}: {result.conversations} conversations, "
            f"{result.messages} messages"
        )
        for role, email in result.logins.items():
            typer.echo(f"  {role:<8} {email}  password: {PASSWORD}")
        typer.echo(f"sign in at http://{settings.host}:{settings.port}/ (run `wa serve`)")

    run_with_runtime(settings, work)


app.command("simulator")(simulator)


@migrate_app.command("upgrade")
def migrate_upgrade(
    revision: Annotated[str, typer.Argument()] = "head", profile: ProfileOpt = None
) -> None:
    """Upgrade the schema (embedded starts its server; production uses WA_DATABASE_URL)."""
    settings = _database_settings(profile)

    async def work(runtime: Runtime) -> str | None:
        from adapters.postgres.engine import create_engine
        from adapters.postgres.migrate import current, upgrade

        engine = create_engine(_url(runtime), pool_size=1)
        try:
            await upgrade(engine, revision)
            return await current(engine)
        finally:
            await engine.dispose()

    typer.echo(f"schema at revision {run_with_runtime(settings, work)}")


@migrate_app.command("downgrade")
def migrate_downgrade(
    revision: Annotated[str, typer.Argument()], profile: ProfileOpt = None
) -> None:
    """Downgrade the schema to REVISION (e.g. 'base' or '-1')."""
    settings = _database_settings(profile)

    async def work(runtime: Runtime) -> str | None:
        from adapters.postgres.engine import create_engine
        from adapters.postgres.migrate import current, downgrade

        engine = create_engine(_url(runtime), pool_size=1)
        try:
            await downgrade(engine, revision)
            return await current(engine)
        finally:
            await engine.dispose()

    typer.echo(f"schema at revision {run_with_runtime(settings, work)}")


@migrate_app.command("current")
def migrate_current(profile: ProfileOpt = None) -> None:
    """Print the schema's revision and the code's head."""
    from adapters.postgres.migrate import head

    settings = _database_settings(profile)

    async def work(runtime: Runtime) -> str | None:
        from adapters.postgres.engine import create_engine
        from adapters.postgres.migrate import current

        engine = create_engine(_url(runtime), pool_size=1)
        try:
            return await current(engine)
        finally:
            await engine.dispose()

    typer.echo(f"database: {run_with_runtime(settings, work)}  code head: {head()}")


def _database_settings(profile: str | None) -> Settings:
    settings = settings_or_exit(profile=profile)
    if settings.profile == "memory":
        fail("the memory profile has no database to migrate (use embedded or production)", 2)
    return settings


def _url(runtime: Runtime) -> str:
    assert runtime.database_url is not None
    return runtime.database_url


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Option(help="short unique name, e.g. acme")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    waba_id: Annotated[str | None, typer.Option(help="WhatsApp Business Account id")] = None,
    phone_number_id: Annotated[str | None, typer.Option(help="Meta phone number id")] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant."""
    from whatsapp_core.services.tenants import create_tenant

    settings = settings_or_exit(profile=profile)

    async def work(runtime: Runtime) -> Tenant:
        return await create_tenant(
            runtime.uow,
            runtime.ids,
            slug=slug,
            name=name or slug,
            waba_id=waba_id,
            phone_number_id=phone_number_id,
        )

    tenant = run_with_runtime(settings, work)
    if as_json:
        print_json(_tenant_json(tenant))
    else:
        typer.echo(f"tenant {tenant.slug} created (id {tenant.id})")


@tenant_app.command("list")
def tenant_list(profile: ProfileOpt = None, as_json: JsonOpt = False) -> None:
    """List tenants (slug, name, phone number id, id)."""
    settings = settings_or_exit(profile=profile)

    async def work(runtime: Runtime) -> list[Tenant]:
        async with runtime.uow() as uow:
            return await uow.tenants.list()

    tenants = run_with_runtime(settings, work)
    if as_json:
        print_json([_tenant_json(t) for t in tenants])
        return
    for t in tenants:
        typer.echo(f"{t.slug}\t{t.name}\t{t.phone_number_id or '-'}\t{t.id}")


def _tenant_json(tenant: Tenant) -> dict[str, object]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "waba_id": tenant.waba_id,
        "phone_number_id": tenant.phone_number_id,
        "display_phone_number": tenant.display_phone_number,
    }


@tenant_app.command("reseal")
def tenant_reseal(profile: ProfileOpt = None) -> None:
    """After adding a key to WA_SECRET_KEYS: re-seal every tenant's Meta credentials
    under the active key, so the old key can be retired."""
    from whatsapp_core.services.tenants import reseal_credentials

    settings = settings_or_exit(profile=profile)

    async def work(runtime: Runtime) -> str:
        assert runtime.secrets is not None
        changed = await reseal_credentials(runtime.uow, runtime.secrets)
        return f"{changed} tenant(s) re-sealed with key {runtime.secrets.active_key_id}"

    typer.echo(run_with_runtime(settings, work))


def main() -> None:
    """``wa``: usage errors (a missing option, a bad choice) become one line too."""
    command = typer.main.get_command(app)
    try:
        code = command.main(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as typer vendors them
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was shown
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = exc.format_message().replace("Value error, ", "")
        typer.echo(f"wa: error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("wa: error: aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
