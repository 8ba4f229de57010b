"""`wa serve` and friends as a user runs them: real processes, real embedded PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
WA = str(Path(sys.executable).with_name("wa"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wa(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WA, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return {**clean, "WA_DATA_DIR": str(tmp_path / "data")}


class Server:
    def __init__(self, env: dict[str, str], *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [WA, "serve", "--port", str(self.port), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_healthy(self, timeout: float = 60) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                return httpx.get(self.url + "/api/health", timeout=1)
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("server did not answer in time")

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[Server]:
    srv = Server(env)
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


def test_embedded_default_serves_health_and_ready(server: Server, env: dict[str, str]) -> None:
    assert server.wait_healthy().status_code == 200
    ready = httpx.get(server.url + "/api/ready", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}
    postmaster = Path(env["WA_DATA_DIR"]) / "pg" / "postmaster.pid"
    assert postmaster.exists()
    output = server.stop()  # SIGTERM, as a process manager sends it
    assert f"ready at {server.url}" in output
    assert "first login" in output
    assert "Traceback" not in output
    assert not postmaster.exists()  # the embedded PostgreSQL was shut down with it


def test_reload_mode_serves_runs_jobs_and_stops_cleanly(env: dict[str, str]) -> None:
    server = Server(env, "--reload")
    try:
        assert server.wait_healthy().status_code == 200
        assert httpx.get(server.url + "/api/ready", timeout=10).status_code == 200
        postmaster = Path(env["WA_DATA_DIR"]) / "pg" / "postmaster.pid"
        assert postmaster.exists()
        admin = httpx.post(server.url + "/api/auth/register", json={
            "tenant_slug": "acme", "tenant_name": "Acme", "email": "a@acme.test",
            "name": "A", "password": "correct horse battery", "phone_number_id": "1234567890",
        }, timeout=30).json()  # fmt: skip
        said = httpx.post(server.url + "/meta-sim/_sim/inbound", json={
            "phone_number_id": "1234567890", "from": "5511999999999", "text": "where is my order?",
            "wait": True,
        }, timeout=30).json()  # fmt: skip
        assert said.get("callback_status") == 200, said
        auth = {"Authorization": f"Bearer {admin['access_token']}"}
        deadline, intent = time.monotonic() + 30, None
        while intent is None and time.monotonic() < deadline:  # the worker's ai.classify
            (conversation,) = httpx.get(server.url + "/api/conversations", headers=auth).json()
            thread = httpx.get(f"{server.url}/api/conversations/{conversation['id']}", headers=auth)
            intent = thread.json()["messages"][0]["intent"]
            time.sleep(0.2)
        assert intent == "order_status"
    finally:
        output = server.stop()
    assert "reloading on changes" in output
    assert "Traceback" not in output
    assert not postmaster.exists()


def test_data_survives_a_restart(env: dict[str, str]) -> None:
    created = wa("tenant", "create", "--slug", "acme", "--phone-number-id", "1234567890", env=env)
    assert created.returncode == 0, created.stderr
    first = Server(env)
    try:
        assert first.wait_healthy().status_code == 200
    finally:
        first.stop()
    listed = wa("tenant", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith("acme\t")  # under the header row
    resealed = wa("tenant", "reseal", env=env)
    assert resealed.returncode == 0, resealed.stderr
    assert resealed.stdout.strip() == "0 tenant(s) re-sealed with key k1"


def test_migrate_current_reports_head(env: dict[str, str]) -> None:
    upgraded = wa("migrate", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    result = wa("migrate", "current", env=env)
    assert result.returncode == 0, result.stderr
    database, head = result.stdout.split("code head:")
    assert head.strip() in database


def test_migrate_moves_the_schema_only_where_it_is_told(env: dict[str, str]) -> None:
    """The migrate commands start the embedded database without the upgrade to head
    every other command does: each revision asked for is the one that stays."""
    fresh = wa("migrate", "current", env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("database: empty (base)  code head: ")  # changed nothing

    up = wa("migrate", "upgrade", "0005", env=env)
    assert up.returncode == 0, up.stderr
    assert up.stdout == "schema at revision 0005; was empty (base)\n"
    assert up.stderr == ""  # Alembic's INFO lines stay quiet without --verbose

    down = wa("migrate", "downgrade", "-1", env=env)  # a step back needs no `--`
    assert down.returncode == 0, down.stderr
    assert down.stdout == "schema at revision 0004; was 0005\n"
    assert wa("migrate", "current", env=env).stdout.startswith("database: 0004  code head: ")

    base = wa("migrate", "downgrade", "base", "--verbose", env=env)
    assert base.returncode == 0, base.stderr
    assert base.stdout == "schema is empty (base); was 0004\n"
    assert "alembic: Running downgrade 0001 -> , " in base.stderr

    for args, needle in (
        (["downgrade", "nonsense"], "unknown revision 'nonsense' (known: 0001…"),
        (["upgrade", "9999"], "unknown revision '9999' (known: 0001…"),
        (["downgrade", "-1"], "the schema is already empty (base): nothing to downgrade"),
    ):
        wrong = wa("migrate", *args, env=env)
        assert wrong.returncode == 2, wrong.stdout
        assert wrong.stderr.startswith(f"wa: error: {needle}")
        assert wrong.stderr.count("\n") == 1
        assert wrong.stdout == ""


@pytest.mark.parametrize(
    ("extra_env", "args", "code", "needle"),
    [
        ({"WA_PROFILE": "staging"}, ["serve"], 2, "WA_PROFILE must be one of"),
        ({"WA_PORT": "x"}, ["serve"], 2, "WA_PORT"),
        ({"WA_PROFILE": "production"}, ["serve"], 2, "WA_DATABASE_URL"),
        ({}, ["tenant", "create", "--slug", "Bad Slug"], 2, "slug must be"),
        ({"WA_PROFILE": "memory"}, ["migrate", "current"], 2, "memory profile has no database"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(
    env: dict[str, str], extra_env: dict[str, str], args: list[str], code: int, needle: str
) -> None:
    result = wa(*args, env={**env, **extra_env})
    assert result.returncode == code
    assert needle in result.stderr
    assert result.stderr.startswith("wa: error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_port_in_use_names_the_setting(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = wa("serve", "--port", str(port), env=env)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use (set WA_PORT" in result.stderr


def test_unwritable_data_dir_names_the_setting(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = wa("serve", "--port", str(free_port()), env={**env, "WA_DATA_DIR": str(blocker)})
    assert result.returncode == 1
    assert "not writable" in result.stderr
    assert "WA_DATA_DIR" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unreachable_database_names_the_setting(env: dict[str, str]) -> None:
    production = {
        **env,
        "WA_PROFILE": "production",
        "WA_DATABASE_URL": f"postgresql://wa:secret-pw@127.0.0.1:{free_port()}/wa",
        "WA_REDIS_URL": "redis://127.0.0.1:6379/0",
        "WA_SECRET_KEY": "x" * 40,
        "WA_META_APP_SECRET": "app-secret",
        "WA_META_VERIFY_TOKEN": "verify-me",
    }
    result = wa("serve", "--port", str(free_port()), env=production)
    assert result.returncode == 1
    assert "database unavailable" in result.stderr
    assert "WA_DATABASE_URL" in result.stderr
    assert "secret-pw" not in result.stderr
    assert result.stderr.count("\n") == 1
