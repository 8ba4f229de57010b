"""`wa simulate`: Flow 1 and scripted exchanges on the memory twins, through typer."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.main import app
from entrypoints.cli.script import ScriptError, parse_duration, parse_script
from entrypoints.cli.script_shapes import EVENT_KINDS
from whatsapp_core.errors import InvalidInput

pytestmark = pytest.mark.unit

SCRIPTS = Path(__file__).resolve().parents[3] / "examples" / "scripts"
runner = CliRunner()


def simulate(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["simulate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def script(tmp_path: Path, text: str) -> str:
    path = tmp_path / "script.yaml"
    path.write_text(text)
    return str(path)


# -- inbound ------------------------------------------------------------------------------


def test_inbound_prints_the_steps_events_and_state() -> None:
    code, out, err = simulate("inbound", "--text", "where is my order?", "--run-jobs")
    assert code == 0, err
    for needle in (
        "X-Hub-Signature-256 verified",
        "ingest_webhook (one transaction): 1 message(s) stored",
        "Domain events",
        "conversation.opened",
        "Outbox jobs",
        "ai.classify",
        "order_status",
    ):
        assert needle in out


def test_inbound_as_json() -> None:
    code, out, err = simulate(
        "inbound", "--text", "hello there", "--from", "+1 415 555 0100", "--name", "Sam", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    kinds = [e["kind"] for e in data["steps"][0]["events"]]
    assert kinds == ["contact.created", "conversation.opened", "message.created"]
    state = data["state"]
    assert state["contact"]["wa_id"] == "14155550100"
    assert state["contact"]["name"] == "Sam"
    assert state["conversation"]["status"] == "open"
    assert state["conversation"]["window_open"] is True
    assert [m["text"] for m in state["messages"]] == ["hello there"]
    assert {j["kind"] for j in state["jobs"]} == {"ai.classify", "n8n.trigger"}
    assert all(j["state"] == "pending" for j in state["jobs"])  # no --run-jobs


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--text", "hi", "--from", "abc"], "--from: 'abc' is not a WhatsApp phone number"),
        (["--text", "  "], "--text is empty"),
    ],
)
def test_inbound_bad_arguments_are_one_line(args: list[str], needle: str) -> None:
    code, _, err = simulate("inbound", *args)
    assert code == 2
    assert err.startswith(f"wa: error: {needle}")
    assert len(err.strip().splitlines()) == 1


# -- conversation scripts -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["support.yaml", "outreach.yaml", "damaged.yaml"])
def test_example_scripts_pass(name: str) -> None:
    code, out, err = simulate("conversation", "--script", str(SCRIPTS / name))
    assert code == 0, err
    assert "every expectation held" in out
    assert err == ""


def test_support_script_as_json_is_the_same_on_every_run() -> None:
    runs = []
    for _ in range(2):
        code, out, err = simulate(
            "conversation", "--script", str(SCRIPTS / "support.yaml"), "--json"
        )
        assert code == 0, err
        data = json.loads(out)
        data.pop("seconds")
        runs.append(data)
    assert runs[0] == runs[1]  # fixed clock and ids: a CI job can diff the output
    data = runs[0]
    assert data["passed"] is True
    assert data["failure"] is None
    refused = next(s for s in data["steps"] if s["error"])
    assert refused["error"]["code"] == "window_closed"
    assert all(c["ok"] for s in data["steps"] for c in s["checks"])
    final = data["state"]["messages"]
    assert [m["status"] for m in final if m["direction"] == "outbound"] == ["read", "failed"]


FAILING = """\
name: failing on purpose
steps:
  - customer: hello
  - title: the window is open, so this expectation is wrong
    agent: hi
    expect: {window: closed, last_message: accepted}
  - agent: never reached
"""


def test_a_failed_expectation_exits_1_naming_the_step(tmp_path: Path) -> None:
    path = script(tmp_path, FAILING)
    code, out, err = simulate("conversation", "--script", path)
    assert code == 1
    assert err.strip().splitlines() == [
        f"wa: error: {path}:4: step 2 (agent) the window is open, so this expectation is "
        "wrong: expected window closed, got open"
    ]
    assert "✗ expected window closed, got open" in out
    assert "never reached" not in out  # stops at the first failing step
    code, out, err = simulate("conversation", "--script", path, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["passed"] is False
    assert len(data["steps"]) == 2
    assert data["failure"] == err.strip().removeprefix("wa: error: ")


def test_an_unexpected_refusal_fails_the_step(tmp_path: Path) -> None:
    path = script(tmp_path, "steps:\n  - customer: hi\n  - advance: 2d\n  - agent: late\n")
    code, _, err = simulate("conversation", "--script", path)
    assert code == 1
    assert f"{path}:4: step 3 (agent)" in err
    assert "expected outcome success, got refused window_closed" in err


def test_an_expected_error_that_does_not_happen_fails(tmp_path: Path) -> None:
    path = script(tmp_path, "steps:\n  - customer: hi\n  - agent: ok\n    expect: {error: x}\n")
    code, _, err = simulate("conversation", "--script", path)
    assert code == 1
    assert "expected error x, got no error" in err


def test_a_status_before_any_send_is_a_refusal_a_step_can_expect(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        "steps:\n  - customer: hi\n  - meta_status: read\n    expect: {error: nothing_sent}\n",
    )
    code, _, err = simulate("conversation", "--script", path)
    assert code == 0, err


MALFORMED = [
    ("steps:\n  - customer: hi\n  - custmer: hi\n", ":3: step 2: unknown step kind 'custmer'"),
    ("steps:\n  - customer: hi\n    expect:\n      windw: open\n", ":4: step 1 (customer)"),
    ("steps:\n  - customer: hi\n    expect: {unread: lots}\n", "`expect.unread`: expected `int"),
    ("steps:\n  - customer: hi\n    agent: x\n", ":2: step 1: a step does exactly one thing"),
    ("steps:\n  - advance: 25 hours\n", ":2: step 1 (advance): '25 hours' is not a duration"),
    ("steps:\n  - meta_status: reed\n", "invalid enum value 'reed'"),
    ("steps:\n  - customer: {text: hi, from: abc}\n", "'abc' is not a WhatsApp phone"),
    ("steps:\n  - resolve: false\n", "leave the step out"),
    ("steps:\n  - 42\n", ":2: step 1: a step is a mapping"),
    ("nme: x\nsteps: [run_jobs]\n", ":1: unknown field 'nme'"),
    ("steps: []\n", ":1: `steps:` is empty"),
    ("name: no steps\n", "`steps:` must be a list"),
    ("", ":1: a script is a mapping"),
    ("steps:\n  - customer: hi\n   agent: x\n", ":3: not valid YAML"),
    ("templates:\n  - name: ok\n    body: hi\n    colour: red\nsteps: [run_jobs]\n", ":4: "),
    ("templates:\n  - {name: Bad Name, body: hi}\nsteps: [run_jobs]\n", ":2: template 'Bad Name'"),
    ("tenant: Bad Slug\nsteps: [run_jobs]\n", ":1: tenant: slug must be"),
    ("customer: {phone: '12'}\nsteps: [run_jobs]\n", "is not a WhatsApp phone number"),
    (
        "steps:\n  - customer: hi\n    expect: {events: [message.recieved]}\n",
        ":3: step 1 (customer): `expect.events`: unknown event 'message.recieved' "
        "(did you mean 'message.created'?",
    ),
    (
        "steps:\n  - customer: hi\n    expect:\n      pending_jobs: {ai.clasify: 1}\n",
        ":4: step 1 (customer): `expect.pending_jobs`: unknown job kind 'ai.clasify' "
        "(did you mean 'ai.classify'?",
    ),
    ("steps:\n  - assign: bob\n", ":2: step 1 (assign): `assign`: invalid enum value 'bob'"),
    ("steps:\n  - media: {type: video}\n", "`media.type`: invalid enum value 'video'"),
    ("steps:\n  - customer: hi\n    expect: {assignee: bob}\n", "invalid enum value 'bob'"),
]


@pytest.mark.parametrize(("text", "needle"), MALFORMED)
def test_a_malformed_script_is_one_line_and_exit_2(tmp_path: Path, text: str, needle: str) -> None:
    path = script(tmp_path, text)
    code, out, err = simulate("conversation", "--script", path)
    assert code == 2, out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"wa: error: {path}:")
    assert needle in lines[0]
    assert "Traceback" not in out + err


def test_a_missing_script_is_one_line(tmp_path: Path) -> None:
    code, _, err = simulate("conversation", "--script", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "cannot read the script" in err


def test_a_close_misspelling_is_suggested() -> None:
    with pytest.raises(ScriptError, match="did you mean 'meta_status'"):
        parse_script("steps:\n  - meta_staus: read\n")


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("25h", timedelta(hours=25)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2d", timedelta(days=2)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "25", "h", "25 hours", "-1h", "1h-"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)


def test_the_team_steps_in_the_state_as_json(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        "steps:\n  - customer: hi\n  - assign: admin\n  - label: VIP\n  - label: billing\n"
        "  - note: call back at 5\n  - media: {type: document, caption: the invoice}\n"
        "  - run_jobs\n",
    )
    code, out, err = simulate("conversation", "--script", path, "--json")
    assert code == 0, err
    conversation = json.loads(out)["state"]["conversation"]
    assert conversation["assignee"] == "admin"
    assert conversation["labels"] == ["billing", "vip"]
    assert conversation["notes"] == 1
    last = json.loads(out)["state"]["messages"][-1]
    assert (last["type"], last["text"]) == ("document", "the invoice")


def test_a_media_step_before_the_fetch_is_pending_and_a_team_step_needs_a_customer(
    tmp_path: Path,
) -> None:
    path = script(tmp_path, "steps:\n  - note: hello?\n    expect: {error: no_focus}\n")
    assert simulate("conversation", "--script", path)[0] == 0
    path = script(
        tmp_path,
        "steps:\n  - media: image\n    expect: {last_message: {media: available}}\n",
    )
    code, _, err = simulate("conversation", "--script", path)
    assert code == 1
    assert "expected last message media available, got pending" in err


def test_every_event_the_core_publishes_may_be_expected() -> None:
    """``expect.events`` refuses names the product never publishes: the list must
    follow the core (a new event kind there fails here until it is added)."""
    core = Path(__file__).resolve().parents[3] / "src" / "whatsapp_core"
    source = "\n".join(f.read_text() for f in core.rglob("*.py"))
    published = set(re.findall(r"(?:\.event|emit)\(\s*\"([a-z_]+\.[a-z_.]+)\"", source))
    published |= set(re.findall(r"event=\"([a-z_]+\.[a-z_.]+)\"", source))
    assert published
    assert published <= EVENT_KINDS, published - EVENT_KINDS
