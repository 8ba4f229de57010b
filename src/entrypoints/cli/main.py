"""``wa``: serve, migrate and administer the platform from a terminal.

Every failure a user can cause ends as ``wa: error: <one line>``, never a traceback, and
exit code 2 when the command cannot run as given (bad settings, a bad argument, input
the product refuses as invalid, an unknown revision, a script that is not valid) or 1
when it ran and failed (a part could not start, a conflict, something not found, an
expectation of a script that did not hold).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from entrypoints.bootstrap import Runtime, StartupError, build_runtime, freeze_startup_heap
from entrypoints.cli.admin import apikey_app, user_app
from entrypoints.cli.common import (
    JsonOpt,
    ProfileOpt,
    ensure_port_free,
    fail,
    print_json,
    run_with_runtime,
    settings_or_exit,
    stored_settings,
)
from entrypoints.cli.export import export_app
from entrypoints.cli.migrate import migrate_app
from entrypoints.cli.simulate import simulate_app, simulator
from entrypoints.cli.tenants import tenant_app
from entrypoints.settings import ENV_NAMES, Settings

__all__ = ["app", "fail", "main", "run_with_runtime", "settings_or_exit"]

MAX_CONCURRENCY = 1000  # jobs in flight in one worker process
MAX_DEMO = 100_000  # demo conversations

app = typer.Typer(
    name="wa", help="WhatsApp Business team inbox.", no_args_is_help=True, add_completion=True
)
app.add_typer(migrate_app, name="migrate")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(export_app, name="export")
app.add_typer(simulate_app, name="simulate")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (WA_HOST)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="port (WA_PORT)")] = None,
    profile: ProfileOpt = None,
    reload: Annotated[
        bool, typer.Option(help="development: restart when a file under src/ changes")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=0,
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
    concurrency: Annotated[
        int, typer.Option(min=1, max=MAX_CONCURRENCY, help="jobs in flight at once")
    ] = 16,
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
    conversations: Annotated[
        int, typer.Option(min=1, max=MAX_DEMO, help="how many customers write in")
    ] = 200,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a demo tenant: users for every role, templates, and conversations the team
    has answered, assigned, labelled and resolved (another --slug for a second one)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from entrypoints.cli.demo import PASSWORD, DemoResult, build_demo, demo_numbers, refuse_taken

    settings = stored_settings(profile, "a demo tenant would be gone before you could sign in")

    async def work(runtime: Runtime) -> DemoResult:
        await refuse_taken(runtime.services, slug, demo_numbers(slug)[1])  # before the bar
        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("conversations"), TimeElapsedColumn(),
            console=Console(stderr=True), disable=as_json,
        )  # fmt: skip
        with bar:
            task = bar.add_task(f"demo tenant {slug!r}", total=conversations)
            return await build_demo(
                runtime, slug=slug, conversations=conversations,
                on_progress=lambda done: bar.advance(task, done),
            )  # fmt: skip

    result = run_with_runtime(settings, work)
    url = browser_url(settings)
    if as_json:
        print_json({**vars(result), "password": PASSWORD, "url": url})
        return
    counts = result.counts
    typer.echo(
        f"demo tenant {result.slug}: {result.conversations} conversations, "
        f"{result.messages} messages ({counts['replies']} answered, {counts['assigned']} "
        f"assigned, {counts['resolved']} resolved, {counts['notes']} notes)"
    )
    for role, email in result.logins.items():
        typer.echo(f"  {role:<8} {email}  password: {PASSWORD}")
    typer.echo(f"sign in at {url}/ (run `wa serve`)")


def browser_url(settings: Settings) -> str:
    """Where a browser on this machine reaches ``wa serve`` with these settings."""
    wildcard = settings.host in ("0.0.0.0", "::", "")  # noqa: S104 (not binding here)
    host = "127.0.0.1" if wildcard else settings.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


app.command("simulator")(simulator)


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
