"""The importable n8n workflow in examples/n8n: its wiring, and its Code node's signature
check run in Node.js against events signed by the platform's own signer."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from entrypoints.http.schemas import SendTemplateIn
from whatsapp_core.automation import AiClassifiedV1, ContactRef, EventEnvelope, event_headers

pytestmark = pytest.mark.unit
WORKFLOW = Path(__file__).parents[3] / "examples" / "n8n" / "whatsapp-order-status.json"
SECRET = "whsec_test-secret-0123456789"


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(WORKFLOW.read_text())
    return loaded


def node(name_or_type: str) -> dict[str, Any]:
    return next(
        n for n in workflow()["nodes"] if name_or_type in (n["name"], n["type"].split(".")[-1])
    )


def test_webhook_then_signature_check_then_intent_test_then_send_template() -> None:
    wf = workflow()
    chain = {
        source: [c["node"] for c in links["main"][0]] for source, links in wf["connections"].items()
    }
    assert chain == {
        "WhatsApp inbox event": ["Verify signature"],
        "Verify signature": ["Intent is order_status?"],
        "Intent is order_status?": ["Send order_status template"],
    }
    hook = node("webhook")["parameters"]
    assert (hook["httpMethod"], hook["options"]["rawBody"]) == ("POST", True)
    conditions = node("if")["parameters"]["conditions"]["conditions"]
    assert [(c["leftValue"], c["rightValue"]) for c in conditions] == [
        ("={{ $json.type }}", "ai.classified"),
        ("={{ $json.data.intent }}", "order_status"),
    ]
    send = node("httpRequest")["parameters"]
    assert send["url"].endswith("/api/messages/send-template")
    assert send["genericAuthType"] == "httpHeaderAuth"
    headers = {h["name"]: h["value"] for h in send["headerParameters"]["parameters"]}
    assert headers == {"Idempotency-Key": "={{ $json.id }}"}


def classified_event() -> bytes:
    envelope = EventEnvelope(
        id=uuid.uuid4(), type="ai.classified", v=1, occurred_at=datetime.now(UTC),
        tenant_id=uuid.uuid4(),
        data=AiClassifiedV1(
            message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), intent="order_status",
            confidence=0.91, provider="offline", text="Where is my order #123?",
            contact=ContactRef(id=uuid.uuid4(), bsuid=None, wa_id="5511987654321", name="Ana",
                               username=None),
        ),
    )  # fmt: skip
    return msgspec.json.encode(envelope)


RUNNER = """
const [code, bodyB64, headers] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('$input', 'require', code);
const raw = Buffer.from(bodyB64, 'base64');
const context = { helpers: { getBinaryDataBuffer: async () => raw } };
const input = { first: () => ({ json: { headers, body: JSON.parse(raw) } }) };
run.call(context, input, require)
  .then((items) => console.log(JSON.stringify(items)))
  .catch((error) => { console.log('ERROR ' + error.message); process.exitCode = 3; });
"""


def run_code_node(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    code = node("code")["parameters"]["jsCode"].replace(
        "whsec_PASTE_THE_SECRET_SHOWN_WHEN_YOU_CREATED_THE_SUBSCRIPTION", SECRET
    )
    lower = {k.lower(): v for k, v in headers.items()}
    stdin = json.dumps([code, base64.b64encode(body).decode(), lower])
    node_bin = shutil.which("node")
    assert node_bin is not None
    done = subprocess.run(
        [node_bin, "-e", RUNNER], input=stdin, capture_output=True, text=True, timeout=20,
        check=False,
    )  # fmt: skip
    return done.returncode, done.stdout.strip() or done.stderr.strip()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_code_node_accepts_our_signature_and_refuses_forgeries_and_replays() -> None:
    body = classified_event()
    now = int(time.time())
    headers = event_headers(SECRET, now, body, uuid.uuid4(), "ai.classified")

    status, out = run_code_node(body, headers)
    assert status == 0, out
    (item,) = json.loads(out)
    assert item["json"] == json.loads(body)
    # What the HTTP Request node then sends is a valid send-template body.
    expression = (
        node("httpRequest")["parameters"]["jsonBody"].removeprefix("={{").removesuffix("}}")
    )
    evaluated = subprocess.run(
        [str(shutil.which("node")), "-e",
         f"const $json = {json.dumps(item['json'])}; console.log({expression});"],
        capture_output=True, text=True, timeout=20, check=True,
    ).stdout  # fmt: skip
    request = msgspec.json.decode(evaluated.strip(), type=SendTemplateIn)
    assert (request.name, request.body_params) == ("order_status", ["Ana"])
    assert str(request.conversation_id) == item["json"]["data"]["conversation_id"]

    forged = event_headers("whsec_guess", now, body, uuid.uuid4(), "ai.classified")
    status, out = run_code_node(body, forged)
    assert status == 3
    assert out.startswith("ERROR bad X-Signature-256")
    tampered = body.replace(b"order_status", b"order_statux")
    assert run_code_node(tampered, headers)[0] == 3
    stale = event_headers(SECRET, now - 600, body, uuid.uuid4(), "ai.classified")
    assert run_code_node(body, stale) == (3, "ERROR missing or stale X-Webhook-Timestamp")
