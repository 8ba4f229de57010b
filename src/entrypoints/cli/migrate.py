"""``wa migrate``: move the schema to a revision, or say where it is.

These commands start the database WITHOUT the upgrade to head every other command does
on the embedded profile: ``downgrade -1`` stays down, ``upgrade 0005`` stops at 0005,
``current`` changes nothing.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from entrypoints.bootstrap import Runtime
from entrypoints.cli.common import (
    JsonOpt,
    ProfileOpt,
    fail,
    print_json,
    run_with_runtime,
    settings_or_exit,
)
from entrypoints.settings import Settings
from whatsapp_core.errors import InvalidInput

migrate_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)

VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="show Alembic's log of each migration step")
]
# ``downgrade -1`` without ``--``: a step such as -1 is a revision, not an option.
_STEPS = {"ignore_unknown_options": True}


def describe(revision: str | None, head: str | None) -> str:
    if revision is None:
        return "schema is empty (base)"
    return f"schema at revision {revision}" + (" (head)" if revision == head else "")


@migrate_app.command("upgrade", context_settings=_STEPS)
def migrate_upgrade(
    revision: Annotated[
        str, typer.Argument(help="a revision (0005), head, or a step forward (+1)")
    ] = "head",
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Upgrade the schema to REVISION (default: head). Embedded starts its own server;
    production migrates WA_DATABASE_URL."""
    _move("upgrade", revision, profile, verbose, as_json)


@migrate_app.command("downgrade", context_settings=_STEPS)
def migrate_downgrade(
    revision: Annotated[str, typer.Argument(help="a revision (0005), base, or a step back (-1)")],
    profile: ProfileOpt = None,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Downgrade the schema to REVISION (e.g. 0005, -1, or base: an empty database)."""
    _move("downgrade", revision, profile, verbose, as_json)


@migrate_app.command("current")
def migrate_current(
    profile: ProfileOpt = None, verbose: VerboseOpt = False, as_json: JsonOpt = False
) -> None:
    """Print the schema's revision and the code's head (changes nothing)."""
    from adapters.postgres.migrate import head

    settings = _database_settings(profile, verbose)

    async def work(runtime: Runtime) -> str | None:
        from adapters.postgres.engine import create_engine
        from adapters.postgres.migrate import current

        engine = create_engine(_url(runtime), pool_size=1)
        try:
            return await current(engine)
        finally:
            await engine.dispose()

    revision, code_head = run_with_runtime(settings, work, migrate=False), head()
    if as_json:
        print_json({"revision": revision, "head": code_head, "at_head": revision == code_head})
        return
    line = f"database: {revision or 'empty (base)'}  code head: {code_head}"
    if revision != code_head:
        line += "  (`wa migrate upgrade` brings it to head)"
    typer.echo(line)


def _move(direction: str, revision: str, profile: str | None, verbose: bool, json: bool) -> None:
    from adapters.postgres.migrate import head

    settings = _database_settings(profile, verbose)

    async def work(runtime: Runtime) -> tuple[str | None, str | None]:
        from adapters.postgres.engine import create_engine
        from adapters.postgres.migrate import current, downgrade, upgrade

        engine = create_engine(_url(runtime), pool_size=1)
        try:
            before = await current(engine)
            _check_direction(direction, revision, before)
            await (upgrade if direction == "upgrade" else downgrade)(engine, revision)
            return before, await current(engine)
        finally:
            await engine.dispose()

    before, after = run_with_runtime(settings, work, migrate=False)
    code_head = head()
    if json:
        print_json({"revision": after, "previous": before, "head": code_head})
        return
    change = "unchanged" if before == after else f"was {before or 'empty (base)'}"
    typer.echo(f"{describe(after, code_head)}; {change}")


def _check_direction(direction: str, revision: str, before: str | None) -> None:
    """Alembic silently does nothing for an upgrade to an older revision and answers a
    downgrade to a newer one in its own terms: name the command that would do it."""
    from adapters.postgres.migrate import revisions

    order = revisions()
    step = revision[:1] in ("+", "-") and revision[1:].isdigit()
    known = revision in order or revision == "base" or step
    if direction == "downgrade" and before is None and known:
        raise InvalidInput("the schema is already empty (base): nothing to downgrade")
    if revision not in order:
        return  # Alembic's to judge (head, base, -1, a prefix…) or to call unknown
    at = order.index(before) if before in order else -1
    wanted = order.index(revision)
    if direction == "upgrade" and wanted < at:
        raise InvalidInput(
            f"{revision} is older than the schema ({before}): `wa migrate downgrade {revision}`"
        )
    if direction == "downgrade" and wanted > at:
        shown = before or "empty (base)"
        raise InvalidInput(
            f"{revision} is newer than the schema ({shown}): `wa migrate upgrade {revision}`"
        )


def _database_settings(profile: str | None, verbose: bool) -> Settings:
    settings = settings_or_exit(profile=profile)
    if settings.profile == "memory":
        fail("the memory profile has no database to migrate (use embedded or production)", 2)
    # Alembic narrates every step at INFO, through whatever handler the root logger got
    # (Litestar's, once the simulator app is built): its own one line each, or nothing.
    alembic = logging.getLogger("alembic")
    alembic.propagate = False
    alembic.setLevel(logging.INFO if verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("alembic: %(message)s"))
    alembic.addHandler(handler)
    return settings


def _url(runtime: Runtime) -> str:
    assert runtime.database_url is not None
    return runtime.database_url
