"""``wa simulate`` (the product on fakes, in this process) and ``wa simulator`` (the Meta
simulator as a standalone server)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from entrypoints.cli.common import JsonOpt, ensure_port_free, fail, print_json
from entrypoints.cli.fake_meta import DEFAULT_NAME, DEFAULT_PHONE
from entrypoints.settings import Settings
from whatsapp_core.domain.identity import normalize_phone
from whatsapp_core.errors import InvalidInput

if TYPE_CHECKING:
    from entrypoints.cli.records import State, StepReport
    from entrypoints.cli.scenario import Outcome

simulate_app = typer.Typer(
    help="The product on in-memory fakes, in this process: no server, no database.",
    no_args_is_help=True,
)


@simulate_app.command("inbound")
def simulate_inbound(
    text: Annotated[str, typer.Option(help="what the customer writes")],
    from_: Annotated[
        str, typer.Option("--from", help="the customer's phone number")
    ] = f"+{DEFAULT_PHONE}",
    name: Annotated[str, typer.Option(help="the customer's WhatsApp profile name")] = DEFAULT_NAME,
    run_jobs: Annotated[
        bool, typer.Option("--run-jobs", help="then run the queued jobs (AI intent, automation)")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Flow 1: a customer's message arrives as Meta's signed webhook and is ingested."""
    from entrypoints.cli.harness import Harness
    from entrypoints.cli.render import (
        events_table,
        print_report,
        print_state,
        report_json,
        state_json,
    )

    if not text.strip():
        fail("--text is empty", 2)
    try:
        phone = normalize_phone(from_)
    except InvalidInput as exc:
        fail(f"--from: {exc.message}", 2)

    async def work() -> tuple[list[tuple[str, StepReport]], State]:
        harness = Harness()
        await harness.start()
        try:
            steps = [
                (
                    "the customer writes",
                    await harness.act(lambda: harness.customer_says(text, wa_id=phone, name=name)),
                )
            ]
            if run_jobs:
                steps.append(("the worker runs the due jobs", await harness.act(harness.run_jobs)))
            return steps, await harness.state()
        finally:
            await harness.stop()

    steps, state = asyncio.run(work())
    if as_json:
        print_json(
            {
                "steps": [{"description": d, **report_json(r)} for d, r in steps],
                "state": state_json(state),
            }
        )
        return
    console = Console()
    console.print("[bold]Flow 1 on the memory profile[/bold] (no server, no database)")
    for description, report in steps:
        console.print(f"[bold]▶ {description}[/bold]")
        print_report(console, report)
    console.print(events_table([e for _, r in steps for e in r.events]))
    print_state(console, state)


@simulate_app.command("conversation")
def simulate_conversation(
    script: Annotated[Path, typer.Option(help="the YAML script (see examples/scripts)")],
    as_json: JsonOpt = False,
) -> None:
    """Run a scripted exchange and check each step's `expect:`. Exit 0: every expectation
    held; 1: one failed (named on stderr); 2: the script is not valid."""
    from entrypoints.cli.harness import Harness
    from entrypoints.cli.render import print_state, print_step, state_json, step_json
    from entrypoints.cli.scenario import prepare, run_script
    from entrypoints.cli.script import ScriptError, load_script

    try:
        parsed = load_script(script)
    except ScriptError as exc:
        fail(str(exc), 2)
    console = Console()
    started = time.perf_counter()

    async def work() -> tuple[list[str], Outcome]:
        harness = Harness(slug=parsed.head.tenant)
        try:
            await harness.start()
            setup = await prepare(harness, parsed)
            if not as_json:
                console.print(f"[bold]{parsed.title}[/bold] ({script}, memory profile)")
                for note in setup:
                    console.print(f"  [dim]·[/dim] {note}")
            on_step = None if as_json else (lambda result: print_step(console, result))
            return setup, await run_script(harness, parsed, on_step)
        except InvalidInput as exc:  # the tenant's slug
            raise parsed.at(parsed.lines.get("tenant"), f"tenant: {exc.message}") from None
        finally:
            await harness.stop()

    try:
        setup, outcome = asyncio.run(work())
    except ScriptError as exc:
        fail(str(exc), 2)
    elapsed = time.perf_counter() - started
    failed = outcome.failed
    failure = f"{script}:{failed.step.line}: {failed.failure()}" if failed else None
    if as_json:
        print_json(
            {
                "script": str(script),
                "name": parsed.title,
                "passed": failed is None,
                "failure": failure,
                "setup": setup,
                "steps": [step_json(r) for r in outcome.results],
                "state": state_json(outcome.state),
                "seconds": round(elapsed, 3),
            }
        )
    else:
        print_state(console, outcome.state)
        if failed is None:
            console.print(
                f"[green]✓ {len(outcome.results)} steps, every expectation held[/green] "
                f"({elapsed:.2f} s)"
            )
    if failure is not None:
        fail(failure, 1)


def simulator(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8090,
    phone_number_id: Annotated[
        list[str] | None,
        typer.Option(help="a business phone number id (repeatable); any numeric id is accepted"),
    ] = None,
    waba_id: Annotated[str, typer.Option(help="the WABA of those numbers")] = "100000000000001",
    display_phone_number: Annotated[
        str, typer.Option(help="the number customers see")
    ] = "15550001111",
    callback_url: Annotated[
        str | None, typer.Option(help="where webhooks are POSTed, e.g. the app's webhook URL")
    ] = None,
    access_token: Annotated[
        str | None,
        typer.Option(envvar="WA_META_ACCESS_TOKEN", help="the bearer token senders must use"),
    ] = None,
    app_secret: Annotated[
        str | None, typer.Option(envvar="WA_META_APP_SECRET", help="signs the webhooks")
    ] = None,
    api_version: Annotated[
        str, typer.Option(envvar="WA_META_API_VERSION", help="Graph API version")
    ] = Settings().meta_api_version,
    auto_statuses: Annotated[
        bool, typer.Option(help="post sent/delivered/read after every send")
    ] = True,
) -> None:
    """Run the Meta Cloud API simulator standalone (Graph API subset + /_sim control)."""
    import uvicorn

    from adapters.meta.simulator import SimulatorConfig, create_simulator

    numbers = phone_number_id or []
    for value in [*numbers, waba_id]:
        if not value.isdigit():
            fail(f"{value!r} is not a Meta id (digits only)", 2)
    if callback_url is not None:
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(f"--callback-url must be an http(s) URL (got {callback_url!r})", 2)
    token = access_token or secrets.token_urlsafe(24)
    secret = app_secret or secrets.token_urlsafe(24)
    config = SimulatorConfig(
        access_token=token, app_secret=secret, callback_url=callback_url,
        api_version=api_version, waba_ids=dict.fromkeys(numbers, waba_id),
        default_waba_id=waba_id, display_phone_number=display_phone_number,
        auto_statuses=auto_statuses,
    )  # fmt: skip
    ensure_port_free(host, port, "pass --port")
    server = uvicorn.Server(
        uvicorn.Config(
            create_simulator(config), host=host, port=port, log_level="warning", lifespan="on"
        )
    )
    base = f"http://{host}:{port}"
    typer.echo(f"wa: Meta simulator at {base} (Graph API {api_version}), health at /_sim/health")
    typer.echo(f"wa: webhooks go to {callback_url or 'nowhere (no --callback-url)'}")
    if numbers:
        typer.echo(f"wa: phone number ids {', '.join(numbers)} in WABA {waba_id}")
    if access_token is None or app_secret is None:
        typer.echo(
            f"wa: point the app at it: WA_META_API_BASE={base} WA_META_API_VERSION="
            f"{api_version} WA_META_ACCESS_TOKEN={token} WA_META_APP_SECRET={secret}"
        )
    typer.echo(
        f"wa: play the customer: curl -X POST {base}/_sim/inbound -H 'content-type: "
        'application/json\' -d \'{"phone_number_id": "'
        + (numbers[0] if numbers else "106540352242922")
        + '", "from": "+5511999990001", "text": "hi"}\''
    )
    # uvicorn re-raises the SIGTERM it caught after shutting down: unwind instead.
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve())
    typer.echo("wa: simulator stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
