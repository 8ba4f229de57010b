"""``wa user``, ``wa apikey``: a tenant's administration from a terminal.

Each command runs on the configured profile and acts through the core's use cases as the
tenant's administrator (audited as ``system``, with a ``cli-…`` correlation id), exactly
as the same change made through the API would be checked and recorded.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from entrypoints.bootstrap import Runtime
from entrypoints.cli.common import (
    JsonOpt,
    ProfileOpt,
    administrator,
    cli_correlation,
    fail,
    print_json,
    run_with_runtime,
    stored_settings,
    tenant_by_slug,
)
from whatsapp_core.domain.accounts import ApiKey, User, normalize_email
from whatsapp_core.errors import Conflict, InvalidInput, NotFound
from whatsapp_core.policies.access import API_KEY_ACTIONS, Role
from whatsapp_core.services import accounts

user_app = typer.Typer(help="A tenant's users (people who sign in).", no_args_is_help=True)
apikey_app = typer.Typer(help="A tenant's API keys (automation, n8n).", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="the tenant's slug (wa tenant list)")]


def _password(given: str | None) -> str:
    """``--password``, else typed twice at a terminal, else one line piped on stdin."""
    if given is not None:
        return given
    if not sys.stdin.isatty():
        piped = sys.stdin.readline().rstrip("\r\n")
        if not piped:
            fail("no password given: pass --password, type it at a terminal or pipe it", 2)
        return piped
    try:
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    except typer.Abort:
        fail("no password given: pass --password or type it at the prompt", 2)
    return value


def _user_json(user: User, tenant_slug: str) -> dict[str, object]:
    return {
        "id": str(user.id),
        "tenant": tenant_slug,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "active": user.active,
    }


@user_app.command("create")
def user_create(
    tenant: TenantOpt,
    email: Annotated[str, typer.Option(help="sign-in email (unique on the platform)")],
    name: Annotated[str, typer.Option(help="the person's name")],
    role: Annotated[Role, typer.Option(help="what the user may do")] = Role.AGENT,
    password: Annotated[
        str | None, typer.Option(help="at least 10 characters (asked for when omitted)")
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user in a tenant."""
    settings = stored_settings(profile, "it has no tenants to add users to")
    secret = _password(password)

    async def work(runtime: Runtime) -> User:
        with cli_correlation("user-create"):
            found = await tenant_by_slug(runtime, tenant)
            try:
                return await accounts.create_user(
                    runtime.services, runtime.hasher, administrator(found),
                    email=email, name=name, role=role, password=secret,
                )  # fmt: skip
            except Conflict as exc:
                raise await _taken(runtime, email) or exc from None

    user = run_with_runtime(settings, work)
    if as_json:
        print_json(_user_json(user, tenant))
    else:
        typer.echo(f"user {user.email} ({user.role.value}) created in {tenant} (id {user.id})")


@user_app.command("reset-password")
def user_reset_password(
    email: Annotated[str, typer.Option(help="the user's sign-in email")],
    password: Annotated[
        str | None, typer.Option(help="the new password (asked for when omitted)")
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a new password for a user (their other sessions stay signed in)."""
    settings = stored_settings(profile, "it has no users")
    try:
        address = normalize_email(email)
    except InvalidInput as exc:
        fail(exc.message, 2)
    secret = _password(password)

    async def work(runtime: Runtime) -> tuple[User, str]:
        with cli_correlation("user-reset-password"):
            async with runtime.uow() as uow:  # sign-in's lookup: before any tenant is known
                user = await uow.users.by_email(address)
                if user is None:
                    raise NotFound(f"no user with email {address}", field="email")
                tenant = await uow.tenants.get(user.tenant_id)
            updated = await accounts.reset_password(
                runtime.services, runtime.hasher, administrator(tenant), user.id, secret
            )
            return updated, tenant.slug

    user, slug = run_with_runtime(settings, work)
    if as_json:
        print_json(_user_json(user, slug))
    else:
        typer.echo(f"password of {user.email} ({slug}) changed")


async def _taken(runtime: Runtime, email: str) -> Conflict | None:
    """The store says only that a unique value clashed: say which, when it is the e-mail
    (unique on the platform: one sign-in, one tenant)."""
    address = normalize_email(email)
    async with runtime.uow() as uow:
        holder = await uow.users.by_email(address)
        if holder is None:
            return None
        owner = await uow.tenants.get(holder.tenant_id)
    return Conflict(
        f"a user with the e-mail {address} already exists (in tenant {owner.slug}); "
        "`wa user reset-password` sets a new password",
        field="email",
    )


def _key_json(key: ApiKey, tenant_slug: str, token: str | None = None) -> dict[str, object]:
    shown: dict[str, object] = {
        "id": str(key.id),
        "tenant": tenant_slug,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
    if token is not None:
        shown["token"] = token
    return shown


@apikey_app.command("create")
def apikey_create(
    tenant: TenantOpt,
    name: Annotated[str, typer.Option(help="what the key is for, e.g. 'n8n production'")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="repeatable; one of "
            + ", ".join(sorted(a.value for a in API_KEY_ACTIONS))
            + " (default: templates only)"
        ),
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its token is printed once and never stored."""
    settings = stored_settings(profile, "the key would be gone when the command ends")

    async def work(runtime: Runtime) -> tuple[ApiKey, str]:
        with cli_correlation("apikey-create"):
            found = await tenant_by_slug(runtime, tenant)
            return await accounts.create_api_key(
                runtime.services, administrator(found), name, scope or None
            )

    key, token = run_with_runtime(settings, work)
    if as_json:
        print_json(_key_json(key, tenant, token))
        return
    typer.echo(f"API key {key.name!r} created in {tenant} (prefix {key.prefix})")
    typer.echo(f"scopes: {', '.join(key.scopes)}")
    typer.echo(f"token (shown once, keep it now): {token}")


@apikey_app.command("revoke")
def apikey_revoke(
    tenant: TenantOpt,
    prefix: Annotated[str, typer.Option(help="the key's prefix (the part after wak_)")],
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    settings = stored_settings(profile, "it has no API keys")
    wanted = prefix.removeprefix("wak_").split("_", 1)[0]

    async def work(runtime: Runtime) -> ApiKey:
        with cli_correlation("apikey-revoke"):
            found = await tenant_by_slug(runtime, tenant)
            admin = administrator(found)
            keys = await accounts.list_api_keys(runtime.services, admin)
            key = next((k for k in keys if k.prefix == wanted), None)
            if key is None:
                raise NotFound(f"no API key with prefix {wanted!r} in {tenant}", field="prefix")
            return await accounts.revoke_api_key(runtime.services, admin, key.id)

    key = run_with_runtime(settings, work)
    if as_json:
        print_json(_key_json(key, tenant))
    else:
        typer.echo(f"API key {key.name!r} ({key.prefix}) revoked in {tenant}")
