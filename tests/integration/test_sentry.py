"""Unexpected errors reach Sentry (here: a local HTTP server speaking its envelope
intake) with personal data scrubbed; with no DSN nothing is sent."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from litestar.testing import TestClient

from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.observability import configure_sentry, scrub_text
from entrypoints.settings import load_settings

pytestmark = pytest.mark.integration

PHONE, EMAIL = "+55 11 99999-0000", "ana@example.com"
META_TOKEN = "EAAG" + "secret" * 4  # a Meta access token leaking into an error message


class Intake(ThreadingHTTPServer):
    envelopes: list[list[dict[str, Any]]]


class _Handler(BaseHTTPRequestHandler):
    server: Intake

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        items = [json.loads(line) for line in body.splitlines() if line.strip().startswith(b"{")]
        self.server.envelopes.append(items)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def intake() -> Iterator[Intake]:
    server = Intake(("127.0.0.1", 0), _Handler)
    server.envelopes = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    sentry_sdk.get_client().close()
    # Back to a client without a DSN for the rest of the session. Not a bare init():
    # that would auto-enable framework integrations, which patch Litestar globally.
    sentry_sdk.init(default_integrations=False, auto_enabling_integrations=False)


def _events(server: Intake) -> list[dict[str, Any]]:
    return [item for items in server.envelopes for item in items if "exception" in item]


def test_a_500_is_reported_without_personal_data(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = f"http://public@127.0.0.1:{intake.server_address[1]}/1"
    settings = load_settings({"WA_PROFILE": "memory", "SENTRY_DSN": dsn})
    assert configure_sentry(settings) is True

    from whatsapp_core.services import contacts

    async def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError(f"lookup failed for {PHONE} <{EMAIL}> with {META_TOKEN}")

    monkeypatch.setattr(contacts, "list_contacts", broken)
    runtime = build_runtime(settings)
    with TestClient(app=create_app(runtime)) as client:
        registered = client.post(
            "/api/auth/register",
            json={"tenant_slug": "acme", "tenant_name": "Acme", "email": "admin@acme.test",
                  "name": "Admin", "password": "correct horse battery"},
        )  # fmt: skip
        token = registered.json()["access_token"]
        client.cookies.clear()
        failed = client.get("/api/contacts?q=ana", headers={"Authorization": f"Bearer {token}"})
    assert failed.status_code == 500
    assert "lookup failed" not in failed.text  # the client sees no internals
    sentry_sdk.flush(timeout=5)

    (event,) = _events(intake)
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "lookup failed for [phone] <[email]> with [token]"
    everything = json.dumps(intake.envelopes)
    for secret in (PHONE, EMAIL, token, META_TOKEN, "correct horse"):
        assert secret not in everything
    request = event.get("request", {})
    assert "Authorization" not in json.dumps(request.get("headers", {}))
    assert "q=ana" not in json.dumps(request)
    assert all("vars" not in f for f in exception["stacktrace"]["frames"])


def test_without_a_dsn_nothing_is_configured() -> None:
    assert configure_sentry(load_settings({"WA_PROFILE": "memory"})) is False


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("call +1 (555) 010-9999 now", "call [phone] now"),
        ("wa_id 5511999999999", "wa_id [phone]"),
        ("mail bob.smith@mail.example.org", "mail [email]"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.payload", "[token]"),
        ("order 1234 of 3 items", "order 1234 of 3 items"),
    ],
)
def test_scrubbing_masks_people_but_not_ordinary_numbers(raw: str, clean: str) -> None:
    assert scrub_text(raw) == clean
