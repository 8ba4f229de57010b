"""`wa tenant|user|apikey|export` on the memory profile. Each command builds its own
runtime; here they all share one memory database so one command sees another's work."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace
from typer.testing import CliRunner

from adapters.memory.basics import SystemClock, UuidGenerator
from adapters.memory.uow import MemoryUnitOfWorkFactory
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints import bootstrap
from entrypoints.cli import common
from entrypoints.cli.main import app, main
from entrypoints.settings import Settings
from whatsapp_core.domain.identity import CustomerIdentity
from whatsapp_core.domain.model import Contact
from whatsapp_core.domain.webhook import InboundMessage, NumberUpdates, WebhookBatch
from whatsapp_core.errors import Unauthenticated
from whatsapp_core.services import accounts
from whatsapp_core.services.context import Services
from whatsapp_core.services.inbound import ingest_webhook

pytestmark = pytest.mark.unit

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MemoryUnitOfWorkFactory:
    """The commands see the embedded profile (the memory one they refuse: it keeps
    nothing), but run on one shared memory database."""
    shared = MemoryUnitOfWorkFactory()

    def build(settings: Settings, **options: Any) -> bootstrap.Runtime:
        assert settings.profile == "embedded"
        runtime = bootstrap.build_runtime(replace(settings, profile="memory"), **options)
        runtime._uow = shared
        runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
        return runtime

    for name in [n for n in os.environ if n.startswith("WA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WA_PROFILE", "embedded")
    monkeypatch.setenv("WA_DATA_DIR", str(tmp_path / "never-used"))
    monkeypatch.setattr(common, "build_runtime", build)
    return shared


def wa(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def wa_json(*args: str, input: str | None = None) -> Any:
    code, out, err = wa(*args, "--json", input=input)
    assert code == 0, err
    return json.loads(out)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def svc(db: MemoryUnitOfWorkFactory) -> Services:
    return Services(uow=db, clock=SystemClock(), ids=UuidGenerator())


def audit(db: MemoryUnitOfWorkFactory) -> list[Any]:
    async def read() -> list[Any]:
        async with db() as uow:
            tenants = await uow.tenants.list()
            return [e for t in tenants for e in await uow.audit.list(t.id)]

    return run(read())


@pytest.fixture
def acme(db: MemoryUnitOfWorkFactory) -> dict[str, Any]:
    tenant: dict[str, Any] = wa_json("tenant", "create", "--slug", "acme")
    return tenant


def test_tenant_create_and_list_as_json(acme: dict[str, Any]) -> None:
    assert acme["slug"] == "acme"
    listed = wa_json("tenant", "list")
    assert [t["slug"] for t in listed] == ["acme"]
    assert listed[0]["id"] == acme["id"]
    code, out, _ = wa("tenant", "list")
    assert code == 0
    header, row = out.splitlines()
    assert header == "SLUG\tNAME\tPHONE NUMBER ID\tID"
    assert row.startswith("acme\tacme\t-\t")


def test_user_create_acts_as_the_tenants_administrator_and_is_audited(
    db: MemoryUnitOfWorkFactory, acme: dict[str, Any]
) -> None:
    user = wa_json(
        "user", "create", "--tenant", "acme", "--email", "Ann@Acme.test", "--name", "Ann",
        "--role", "manager", "--password", PASSWORD,
    )  # fmt: skip
    assert user["email"] == "ann@acme.test"
    assert user["role"] == "manager"
    assert user["tenant"] == "acme"
    signed_in = run(
        accounts.authenticate(svc(db), Argon2PasswordHasher(), "ann@acme.test", PASSWORD)
    )
    assert str(signed_in.id) == user["id"]
    (entry,) = [e for e in audit(db) if e.action == "user.create"]
    assert entry.actor == "system"
    assert entry.after == {"email": "ann@acme.test", "role": "manager"}
    assert (entry.correlation_id or "").startswith("cli-user-create-")


def test_user_create_reads_a_piped_password(
    db: MemoryUnitOfWorkFactory, acme: dict[str, Any]
) -> None:
    code, out, err = wa(
        "user", "create", "--tenant", "acme", "--email", "bo@acme.test", "--name", "Bo",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("user bo@acme.test (agent) created in acme")
    run(accounts.authenticate(svc(db), Argon2PasswordHasher(), "bo@acme.test", PASSWORD))


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--tenant", "nope"], 1, "wa: error: no tenant 'nope' (see `wa tenant list`)"),
        (["--password", "short"], 2, "wa: error: the password needs at least 10 characters"),
        (["--email", "not-an-email"], 2, "is not an email address"),
    ],
)
def test_user_create_errors_are_one_line(
    acme: dict[str, Any], args: list[str], code: int, needle: str
) -> None:
    base = {"--tenant": "acme", "--email": "cy@acme.test", "--name": "Cy", "--password": PASSWORD}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    got, _, err = wa("user", "create", *[x for pair in base.items() for x in pair])
    assert got == code
    assert len(err.strip().splitlines()) == 1
    assert needle in err


def test_user_create_twice_is_a_conflict_naming_the_email(acme: dict[str, Any]) -> None:
    args = ["user", "create", "--tenant", "acme", "--email", "d@acme.test", "--name", "D"]
    assert wa(*args, "--password", PASSWORD)[0] == 0
    code, _, err = wa(*args, "--password", PASSWORD)
    assert code == 1
    assert err == (
        "wa: error: a user with the e-mail d@acme.test already exists (in tenant acme); "
        "`wa user reset-password` sets a new password\n"
    )


def test_no_password_without_a_terminal_or_pipe(acme: dict[str, Any]) -> None:
    code, _, err = wa("user", "create", "--tenant", "acme", "--email", "e@acme.test",
                      "--name", "E", input="")  # fmt: skip
    assert code == 2
    assert "no password given" in err


def test_reset_password(db: MemoryUnitOfWorkFactory, acme: dict[str, Any]) -> None:
    wa_json("user", "create", "--tenant", "acme", "--email", "f@acme.test", "--name", "F",
            "--password", PASSWORD)  # fmt: skip
    changed = wa_json("user", "reset-password", "--email", "F@acme.test",
                      input="a brand new password\n")  # fmt: skip
    assert changed["email"] == "f@acme.test"
    hasher = Argon2PasswordHasher()
    run(accounts.authenticate(svc(db), hasher, "f@acme.test", "a brand new password"))
    with pytest.raises(Unauthenticated):
        run(accounts.authenticate(svc(db), hasher, "f@acme.test", PASSWORD))
    (entry,) = [e for e in audit(db) if e.action == "user.reset_password"]
    assert entry.actor == "system"
    assert (entry.correlation_id or "").startswith("cli-user-reset-password-")


def test_reset_password_of_nobody(acme: dict[str, Any]) -> None:
    code, _, err = wa("user", "reset-password", "--email", "x@acme.test", "--password", PASSWORD)
    assert code == 1
    assert err.strip() == "wa: error: no user with email x@acme.test"


def test_apikey_create_prints_the_token_once_and_revoke_ends_it(
    db: MemoryUnitOfWorkFactory, acme: dict[str, Any]
) -> None:
    key = wa_json("apikey", "create", "--tenant", "acme", "--name", "n8n prod",
                  "--scope", "message.send_text_api", "--scope", "template.read")  # fmt: skip
    assert key["scopes"] == ["message.send_text_api", "template.read"]
    assert key["token"].startswith(f"wak_{key['prefix']}_")
    principal = run(accounts.authenticate_api_key(svc(db), key["token"]))
    assert str(principal.tenant_id) == acme["id"]
    assert principal.scopes == ("message.send_text_api", "template.read")

    code, out, err = wa("apikey", "revoke", "--tenant", "acme", "--prefix", key["prefix"])
    assert code == 0, err
    assert out.strip() == f"API key 'n8n prod' ({key['prefix']}) revoked in acme"
    with pytest.raises(Unauthenticated):
        run(accounts.authenticate_api_key(svc(db), key["token"]))
    actions = [e.action for e in audit(db) if e.action.startswith("apikey.")]
    assert sorted(actions) == ["apikey.create", "apikey.revoke"]


def test_apikey_defaults_and_human_output(acme: dict[str, Any]) -> None:
    code, out, err = wa("apikey", "create", "--tenant", "acme", "--name", "zapier")
    assert code == 0, err
    assert "scopes: message.send_template_api, template.read" in out
    assert "token (shown once, keep it now): wak_" in out


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["create", "--tenant", "acme", "--name", "x", "--scope", "user.manage"], 2, "scopes must"),
        (["create", "--tenant", "acme", "--name", "  "], 2, "give the key a name"),
        (["revoke", "--tenant", "acme", "--prefix", "nope"], 1, "no API key with prefix 'nope'"),
    ],
)
def test_apikey_errors_are_one_line(
    acme: dict[str, Any], args: list[str], code: int, needle: str
) -> None:
    got, _, err = wa("apikey", *args)
    assert got == code
    assert len(err.strip().splitlines()) == 1
    assert needle in err


def _seed_contacts(db: MemoryUnitOfWorkFactory, tenant_id: str, count: int) -> None:
    now = datetime.now(UTC)

    async def seed() -> None:
        async with db() as uow:
            contacts = [
                Contact(id=uuid.uuid4(), tenant_id=uuid.UUID(tenant_id),
                        wa_id=f"55119{i:08d}", name=f"Person {i}", tags=("vip", "b2b"),
                        created_at=now, updated_at=now)
                for i in range(count)
            ]  # fmt: skip
            await uow.contacts.add_many(contacts)
            await uow.commit()

    run(seed())


def test_export_contacts_pages_through_all_of_them(
    db: MemoryUnitOfWorkFactory, acme: dict[str, Any], tmp_path: Path
) -> None:
    _seed_contacts(db, acme["id"], 1203)  # three pages of 500
    out = tmp_path / "contacts.csv"
    code, stdout, err = wa("export", "contacts", "--tenant", "acme", "--out", str(out))
    assert code == 0, err
    assert stdout == ""
    assert err.strip() == f"1203 contact(s) of acme written to {out}"
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 1203
    assert len({r["phone"] for r in rows}) == 1203
    assert rows[0].keys() == {"name", "phone", "bsuid", "username", "tags", "opted_in"}
    assert {r["tags"] for r in rows} == {"vip;b2b"}
    (entry,) = [e for e in audit(db) if e.action == "contact.export"]  # as the API's export
    assert entry.actor == "system"
    assert (entry.correlation_id or "").startswith("cli-export-contacts-")


def test_export_contacts_to_stdout_and_bad_out(acme: dict[str, Any], tmp_path: Path) -> None:
    code, stdout, _ = wa("export", "contacts", "--tenant", "acme")
    assert code == 0
    assert stdout.splitlines() == ["name,phone,bsuid,username,tags,opted_in"]
    code, _, err = wa("export", "contacts", "--tenant", "acme", "--out",
                      str(tmp_path / "no" / "such" / "dir.csv"))  # fmt: skip
    assert code == 2
    assert "--out: folder" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["user", "create", "--tenant", "x"], "wa: error: Missing option '--email'."),
        (
            ["user", "create", "--tenant", "x", "--email", "a@b.cd", "--name", "n", "--role=boss"],
            "wa: error: Invalid value for '--role': 'boss' is not one of",
        ),
        (["nosuch"], "wa: error: No such command 'nosuch'. (see `wa --help`)"),
    ],
)
def test_usage_errors_are_one_line_from_the_wa_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
    needle: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["wa", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(needle)


def test_shell_completion_stays_enabled() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout


# -- tenants: refusals before anything starts ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--waba-id", "111"], "--waba-id must be Meta's numeric id, 5 to 32 digits (got '111')"),
        (["--phone-number-id", "12ab5"], "--phone-number-id must be Meta's numeric id, 5 to 32"),
        (["--slug", "Bad Slug"], "--slug: slug must be 2-63 lowercase letters"),
        (["--profile", "memory"], "the memory profile keeps nothing after the command ends"),
    ],
)
def test_tenant_create_refusals_are_one_line_and_exit_2(
    db: MemoryUnitOfWorkFactory, args: list[str], needle: str
) -> None:
    base = {"--slug": "acme", **dict(zip(args[::2], args[1::2], strict=True))}
    code, _, err = wa("tenant", "create", *[x for pair in base.items() for x in pair])
    assert code == 2
    assert err.startswith(f"wa: error: {needle}")
    assert len(err.strip().splitlines()) == 1
    assert wa_json("tenant", "list") == []


def test_admin_commands_refuse_the_memory_profile(db: MemoryUnitOfWorkFactory) -> None:
    for args in (
        ["tenant", "list"],
        ["user", "create", "--tenant", "a", "--email", "a@b.cd", "--name", "A"],
        ["apikey", "create", "--tenant", "a", "--name", "k"],
        ["export", "transcript", "--conversation", str(uuid.uuid4())],
    ):
        code, _, err = wa(*args, "--profile", "memory")
        assert code == 2, args
        assert "the memory profile keeps nothing" in err


# -- export transcript ----------------------------------------------------------------------

SHOP_NUMBER = "106540352242922"


@pytest.fixture
def thread(db: MemoryUnitOfWorkFactory) -> str:
    """A conversation of tenant shop: two messages from Ana."""
    wa_json("tenant", "create", "--slug", "shop", "--phone-number-id", SHOP_NUMBER)
    sent = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ana = CustomerIdentity(wa_id="5511988887777", bsuid="BR.1", name="Ana")
    texts = ["Where is my order?", "=1+1 is not a formula here"]
    batch = WebhookBatch(
        numbers=[
            NumberUpdates(
                phone_number_id=SHOP_NUMBER,
                messages=[
                    InboundMessage(wamid=f"wamid.T{i}", customer=ana, type="text", text=text,
                                   sent_at=sent + timedelta(minutes=i))
                    for i, text in enumerate(texts)
                ],
            )
        ]
    )  # fmt: skip
    run(ingest_webhook(svc(db), batch))

    async def only() -> str:
        async with db() as uow:
            (tenant,) = [t for t in await uow.tenants.list() if t.slug == "shop"]
            (conversation,) = await uow.conversations.list(tenant.id)
        return str(conversation.id)

    conversation_id: str = run(only())
    return conversation_id


def test_export_transcript_as_json_to_stdout(db: MemoryUnitOfWorkFactory, thread: str) -> None:
    code, out, err = wa("export", "transcript", "--conversation", thread)
    assert code == 0, err
    data = json.loads(out)
    assert data["conversation"]["id"] == thread
    assert data["contact"]["phone"] == "5511988887777"
    assert [m["text"] for m in data["messages"]] == [
        "Where is my order?", "=1+1 is not a formula here"
    ]  # fmt: skip
    (entry,) = [e for e in audit(db) if e.action == "export.build"]  # as the API's export
    assert entry.actor == "system"
    assert (entry.correlation_id or "").startswith("cli-export-transcript-")


def test_export_transcript_by_phone_as_csv_to_a_file(thread: str, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    code, stdout, err = wa("export", "transcript", "--tenant", "shop", "--contact",
                           "+55 11 98888-7777", "--format", "csv", "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert stdout == ""
    assert err.strip() == f"transcript (2 message(s)) of shop written to {out}"
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert [r["direction"] for r in rows] == ["inbound", "inbound"]
    assert rows[1]["text"] == "'=1+1 is not a formula here"  # the API's CSV-injection guard


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        ([], 2, "give --conversation ID or --contact PHONE"),
        (["--conversation", "x", "--contact", "1"], 2, "give --conversation ID or --contact"),
        (["--conversation", "nope"], 2, "--conversation: 'nope' is not a conversation id"),
        (["--contact", "+5511988887777"], 2, "--contact needs --tenant"),
        (["--tenant", "shop", "--contact", "12"], 2, "--contact: '12' is not a WhatsApp phone"),
        (["--conversation", "00000000-0000-0000-0000-000000000001"], 1, "no conversation 0000"),
        (["--tenant", "shop", "--contact", "+1 415 555 0100"], 1, "no conversation with +1415"),
        (["--tenant", "nope", "--contact", "+1 415 555 0100"], 1, "no tenant 'nope'"),
    ],
)  # fmt: skip
def test_export_transcript_errors_are_one_line(
    thread: str, args: list[str], code: int, needle: str
) -> None:
    got, _, err = wa("export", "transcript", *args)
    assert got == code
    assert len(err.strip().splitlines()) == 1
    assert needle in err
