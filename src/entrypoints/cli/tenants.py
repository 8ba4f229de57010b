"""``wa tenant``: create, list and re-seal tenants (one WhatsApp Business Account each)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from entrypoints.bootstrap import Runtime
from entrypoints.cli.common import (
    JsonOpt,
    ProfileOpt,
    fail,
    print_json,
    run_with_runtime,
    stored_settings,
)
from whatsapp_core.domain.tenants import Tenant, new_tenant
from whatsapp_core.errors import InvalidInput

tenant_app = typer.Typer(help="Tenants: one WhatsApp Business Account each.", no_args_is_help=True)

_OPTIONS = {"slug": "--slug", "name": "--name", "waba_id": "--waba-id",
            "phone_number_id": "--phone-number-id"}  # fmt: skip


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Option(help="short unique name, e.g. acme")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    waba_id: Annotated[
        str | None, typer.Option(help="WhatsApp Business Account id (5-32 digits)")
    ] = None,
    phone_number_id: Annotated[
        str | None, typer.Option(help="Meta phone number id (5-32 digits)")
    ] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant."""
    from whatsapp_core.services.tenants import create_tenant

    settings = stored_settings(profile, "the tenant would be gone when the command ends")
    _check(slug, name or slug, waba_id, phone_number_id)

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


def _check(slug: str, name: str, waba_id: str | None, phone_number_id: str | None) -> None:
    """The core's own checks, before a database starts; the message names the option."""
    try:
        new_tenant(
            tenant_id=uuid.uuid4(), slug=slug, name=name, waba_id=waba_id,
            phone_number_id=phone_number_id,
        )  # fmt: skip
    except InvalidInput as exc:
        field = str(exc.details.get("field", ""))
        option = _OPTIONS.get(field)
        value = {"waba_id": waba_id, "phone_number_id": phone_number_id}.get(field)
        if value is not None:  # the core says "Meta's numeric id": say what that is
            fail(f"{option} must be Meta's numeric id, 5 to 32 digits (got {value!r})", 2)
        fail(f"{option}: {exc.message}" if option else exc.message, 2)


@tenant_app.command("list")
def tenant_list(profile: ProfileOpt = None, as_json: JsonOpt = False) -> None:
    """List tenants: slug, name, phone number id, id (tab-separated, under a header)."""
    settings = stored_settings(profile, "it never has tenants to list")

    async def work(runtime: Runtime) -> list[Tenant]:
        async with runtime.uow() as uow:
            return await uow.tenants.list()

    tenants = run_with_runtime(settings, work)
    if as_json:
        print_json([_tenant_json(t) for t in tenants])
        return
    typer.echo("SLUG\tNAME\tPHONE NUMBER ID\tID")
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

    settings = stored_settings(profile, "it has no stored credentials to re-seal")

    async def work(runtime: Runtime) -> str:
        assert runtime.secrets is not None
        changed = await reseal_credentials(runtime.uow, runtime.secrets)
        return f"{changed} tenant(s) re-sealed with key {runtime.secrets.active_key_id}"

    typer.echo(run_with_runtime(settings, work))
