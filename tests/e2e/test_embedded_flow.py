"""A new user's first minutes on the embedded default, as real processes over HTTP:
register, a simulated customer writes, the agent replies, Meta's statuses come back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_serve import Server, free_port

pytestmark = pytest.mark.e2e
WA = str(Path(sys.executable).with_name("wa"))
PNID = "106540352242922"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return {**clean, "WA_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[Server]:
    srv = Server(env)
    srv.wait_healthy()
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


def wait_for(fetch: Any, ok: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ok(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = fetch()
    assert ok(value), value
    return value


def test_inbound_reply_and_ticks_end_to_end(server: Server) -> None:
    http = httpx.Client(base_url=server.url, timeout=10)
    session = http.post(
        "/api/auth/register",
        json={"tenant_slug": "acme", "tenant_name": "Acme", "email": "ann@acme.test",
              "name": "Ann", "password": "correct horse battery", "waba_id": "100000000000001",
              "phone_number_id": PNID},
    )  # fmt: skip
    assert session.status_code == 201, session.text
    auth = {"Authorization": f"Bearer {session.json()['access_token']}"}

    said = http.post(
        "/meta-sim/_sim/inbound",
        json={"phone_number_id": PNID, "from": "5511999999999", "name": "Ana",
              "text": "Where is my order?", "wait": True},
    )  # fmt: skip
    assert said.json()["callback_status"] == 200, said.text

    (conversation,) = wait_for(
        lambda: http.get("/api/conversations", headers=auth).json(), lambda c: len(c) == 1
    )
    assert conversation["contact"]["display_name"] == "Ana"
    reply = http.post(
        f"/api/conversations/{conversation['id']}/messages", headers=auth,
        json={"text": "It ships today!"},
    )  # fmt: skip
    assert reply.status_code == 202, reply.text

    def outbound() -> dict[str, Any]:
        thread = http.get(f"/api/conversations/{conversation['id']}", headers=auth).json()
        return next(m for m in thread["messages"] if m["direction"] == "outbound")

    sent = wait_for(outbound, lambda m: m["status"] == "read")
    assert sent["wamid"].startswith("wamid.")
    log = http.get("/meta-sim/_sim/log").json()
    assert [entry["wamid"] for entry in log] == [sent["wamid"]]


def test_wa_demo_then_sign_in(env: dict[str, str]) -> None:
    made = subprocess.run(
        [WA, "demo", "--conversations", "30"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "agent@demo.example" in made.stdout
    srv = Server({**env, "WA_PORT": str(free_port())})
    try:
        srv.wait_healthy()
        login = httpx.post(
            srv.url + "/api/auth/login",
            json={"email": "agent@demo.example", "password": "demo-password-123"},
        )
        assert login.status_code == 200, login.text
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        listed = httpx.get(srv.url + "/api/conversations?limit=100", headers=token).json()
        assert len(listed) == 30
    finally:
        srv.stop()
