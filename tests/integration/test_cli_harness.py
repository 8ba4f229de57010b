"""`wa simulate`, `wa simulator` and the admin commands as a user runs them: real
processes; the admin commands on a real embedded PostgreSQL in a temporary data dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
WA = str(Path(sys.executable).with_name("wa"))
SCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "scripts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return {**clean, "WA_DATA_DIR": str(tmp_path / "data")}


def wa(
    *args: str, env: dict[str, str], timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    started = time.perf_counter()
    done = subprocess.run(
        [WA, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False,
        input=stdin,
    )  # fmt: skip
    print(f"wa {' '.join(args[:3])}: {time.perf_counter() - started:.2f} s")  # a figure, not a test
    return done


@pytest.mark.parametrize("name", ["support.yaml", "outreach.yaml", "damaged.yaml"])
def test_simulate_conversation_script_passes(name: str, env: dict[str, str]) -> None:
    result = wa("simulate", "conversation", "--script", str(SCRIPTS / name), env=env)
    assert result.returncode == 0, result.stderr
    assert "every expectation held" in result.stdout
    assert result.stderr == ""
    assert not Path(env["WA_DATA_DIR"]).exists()  # no database, no files


def test_simulate_conversation_failure_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - customer: hi\n    expect: {conversation: resolved}\n")
    result = wa("simulate", "conversation", "--script", str(script), "--json", env=env)
    assert result.returncode == 1
    assert result.stderr == (
        f"wa: error: {script}:2: step 1 (customer) customer says 'hi': "
        "expected conversation resolved, got open\n"
    )
    assert json.loads(result.stdout)["passed"] is False


def test_simulator_answers_health_and_stops_cleanly(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [WA, "simulator", "--port", str(port), "--phone-number-id", "106540352242922",
         "--access-token", "sim-token", "--app-secret", "sim-secret"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the simulator did not answer"
                time.sleep(0.1)
        assert health.json() == {"ok": True}
        sent = httpx.post(
            f"http://127.0.0.1:{port}/v24.0/106540352242922/messages",
            headers={"Authorization": "Bearer sim-token"},
            json={"messaging_product": "whatsapp", "to": "5511999990001", "type": "template",
                  "template": {"name": "hello_world", "language": {"code": "en_US"}}},
            timeout=5,
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
        assert sent.json()["messages"][0]["id"].startswith("wamid.")
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert f"Meta simulator at http://127.0.0.1:{port}" in output
    assert "wa: simulator stopped" in output
    assert "Traceback" not in output


def test_simulator_refuses_a_busy_port(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = wa("simulator", "--port", str(port), env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"wa: error: port {port} on 127.0.0.1 is in use (pass --port)"


def test_user_and_apikey_on_an_embedded_data_dir(env: dict[str, str], tmp_path: Path) -> None:
    created = wa("tenant", "create", "--slug", "acme", "--json", env=env)
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)

    user = wa("user", "create", "--tenant", "acme", "--email", "ann@acme.test", "--name", "Ann",
              "--role", "admin", "--json", env=env, stdin="correct horse battery\n")  # fmt: skip
    assert user.returncode == 0, user.stderr
    assert json.loads(user.stdout)["role"] == "admin"

    reset = wa("user", "reset-password", "--email", "ann@acme.test", "--password",
               "another good password", env=env)  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == "password of ann@acme.test (acme) changed"

    key = wa("apikey", "create", "--tenant", "acme", "--name", "n8n", "--json", env=env)
    assert key.returncode == 0, key.stderr
    shown = json.loads(key.stdout)
    assert shown["tenant"] == "acme"
    assert shown["token"].startswith(f"wak_{shown['prefix']}_")

    revoked = wa("apikey", "revoke", "--tenant", "acme", "--prefix", shown["prefix"], env=env)
    assert revoked.returncode == 0, revoked.stderr

    out = tmp_path / "contacts.csv"
    exported = wa("export", "contacts", "--tenant", "acme", "--out", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().splitlines() == ["name,phone,bsuid,username,tags,opted_in"]

    again = wa("user", "create", "--tenant", "acme", "--email", "ann@acme.test", "--name", "A",
               "--password", "correct horse battery", env=env)  # fmt: skip
    assert again.returncode == 1
    assert again.stderr == (  # PostgreSQL's unique constraint, told in the user's terms
        "wa: error: a user with the e-mail ann@acme.test already exists (in tenant acme); "
        "`wa user reset-password` sets a new password\n"
    )
    listed = wa("tenant", "list", "--json", env=env)
    assert json.loads(listed.stdout) == [tenant]


def test_demo_then_a_second_one_and_a_transcript(env: dict[str, str], tmp_path: Path) -> None:
    built = wa("demo", "--conversations", "30", "--json", env=env)
    assert built.returncode == 0, built.stderr
    demo = json.loads(built.stdout)
    assert demo["slug"] == "demo"
    assert demo["conversations"] == 30
    assert demo["counts"]["replies"] > 0
    assert demo["url"] == "http://127.0.0.1:8000"
    assert demo["logins"]["agent"] == "agent@demo.example"

    again = wa("demo", env=env)
    assert again.returncode == 1
    assert again.stderr == (
        "wa: error: a tenant 'demo' already exists here: sign in with its users, or run "
        "`wa demo --slug demo2` for another demo tenant\n"
    )

    shop = wa("demo", "--slug", "shop", "--conversations", "3", env={**env, "WA_PORT": "8123"})
    assert shop.returncode == 0, shop.stderr
    assert "demo tenant shop: 3 conversations" in shop.stdout
    assert "sign in at http://127.0.0.1:8123/ (run `wa serve`)" in shop.stdout
    assert "3/3 conversations" in shop.stderr  # the progress bar, on stderr

    out = tmp_path / "first.csv"
    exported = wa("export", "transcript", "--tenant", "demo", "--contact", "+5511900000000",
                  "--format", "csv", "--out", str(out), env=env)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    header, *rows = out.read_text().splitlines()
    assert header == "at,direction,author,type,text,status,error,wamid,message_id"
    assert rows
