"""schemathesis over the generated OpenAPI, against the app on real PostgreSQL and Redis.

The app is called in-process over ASGI (schemathesis drives its lifespan). Every call is
authenticated: the automation endpoints with a tenant API key holding every scope, the
rest with a registered admin's bearer token. Each operation gets a few derandomised
examples, positive and negative, and an id in the path is either generated or one of
the tenant's real ones (a conversation, a template, a contact...), so the handlers run
past the lookup. Any 5xx, or an answer whose status, content type or body the schema
does not describe, fails.

Meta's webhook needs a signature, so it is fuzzed on its own below: real-shaped
deliveries with leaves replaced, and arbitrary JSON, all signed correctly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.memory.gateway import MemoryWhatsAppGateway
from adapters.meta import sign
from adapters.postgres.engine import with_database
from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.integration.http_world import APP_SECRET, REDIS_URL, redis_reachable
from tests.support.databases import TEMPLATE, run_sync
from tests.unit.meta.payloads import ALL_FIXTURES, PNID, WABA, body_of
from whatsapp_core.policies.access import API_KEY_ACTIONS
from whatsapp_core.policies.quota import LoginLimits, QuotaLimits

pytestmark = pytest.mark.integration

EXAMPLES = 15  # per operation: under a minute for the whole API on 2 cores
PASSWORD = "correct horse battery"
WEBHOOK = "/api/webhooks/whatsapp"
# Answered for an API key only (its scopes); everything else for the admin's session.
API_KEY_PATHS = ("/api/messages/send-text", "/api/messages/send-template")
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Live:
    app: Litestar
    admin: dict[str, str] = field(default_factory=dict)
    api_key: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> a real value

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with asgi.get_client(self.app) as client:
            return client.request(method, path, **kwargs)

    def made(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        answer = self.call("POST", path, headers=headers or self.admin, json=body)
        assert answer.status_code in (200, 201, 202), (path, answer.text)
        return answer.json()

    def headers_for(self, path: str) -> dict[str, str]:
        return self.api_key if path in API_KEY_PATHS else self.admin


async def _admin_sql(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def live(embedded_pg: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if not redis_reachable():
        pytest.fail("Redis is not running on 127.0.0.1:6379 (bash scripts/services.sh starts it)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    run_sync(_admin_sql(embedded_pg, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    try:
        runtime = build_runtime(
            load_settings(
                {
                    "WA_PROFILE": "production",
                    "WA_DATABASE_URL": with_database(embedded_pg, name),
                    "WA_REDIS_URL": REDIS_URL,
                    "WA_SECRET_KEY": "s" * 40,
                    "WA_META_APP_SECRET": APP_SECRET,
                    "WA_META_VERIFY_TOKEN": "verify-me",
                    "WA_DATA_DIR": str(tmp_path_factory.mktemp("schemathesis")),
                }
            )
        )
        runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
        runtime.gateway = MemoryWhatsAppGateway()  # Meta's side: nothing leaves the machine
        # Hundreds of calls from one caller in a minute: the limits have their own tests.
        runtime.login_limits = LoginLimits(per_account=10**6, per_client=10**6)
        runtime.quota_limits = QuotaLimits(per_user=10**6, per_tenant=10**6)
        yield _seeded(Live(create_app(runtime)))
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan, started by the first call
        run_sync(_admin_sql(embedded_pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"}


def _seeded(live: Live) -> Live:
    """A tenant on the Meta fixtures' number, holding one of everything an id names."""
    tag = uuid.uuid4().hex[:8]
    session = live.made(
        "/api/auth/register",
        {"tenant_slug": f"s-{tag}", "tenant_name": "Fuzz", "email": f"admin@{tag}.test",
         "name": "Admin", "password": PASSWORD, "waba_id": WABA, "phone_number_id": PNID},
    )  # fmt: skip
    live.admin = {"Authorization": f"Bearer {session['access_token']}"}
    scopes = sorted(a.value for a in API_KEY_ACTIONS)
    key = live.made("/api/api-keys", {"name": "n8n", "scopes": scopes})
    live.api_key = {"Authorization": f"Bearer {key['token']}"}
    inbound = body_of("text")
    assert live.call("POST", WEBHOOK, data=inbound, headers=_signed(inbound)).status_code == 200
    (conversation,) = live.call("GET", "/api/conversations", headers=live.admin).json()
    thread = live.call("GET", f"/api/conversations/{conversation['id']}", headers=live.admin)
    live.made(f"/api/conversations/{conversation['id']}/labels", {"label": "vip"})
    export = live.made("/api/exports", {"kind": "contacts"})
    (job, *_) = live.call("GET", "/api/jobs?status=queued", headers=live.admin).json()["jobs"]
    live.ids = {
        "conversation_id": conversation["id"],
        "message_id": thread.json()["messages"][0]["id"],
        "label": "vip",
        "template_id": live.made(
            "/api/templates",
            {
                "name": f"order_{tag}",
                "language": "en",
                "category": "utility",
                "body": "Your order {{1}} has shipped",
            },
        )["id"],
        "key_id": live.made("/api/api-keys", {"name": "spare"})["id"],
        "contact_id": live.made("/api/contacts", {"name": "Bea", "phone": "5511912345678"})["id"],
        "invitation_id": live.made(
            "/api/invitations", {"email": f"new@{tag}.test", "role": "agent"}
        )["id"],
        "export_id": export["id"],
        "job_id": job["id"],
        "subscription_id": live.made(
            "/api/webhooks",
            {"url": "https://hooks.example.com/n8n", "events": ["message.received"]},
        )["id"],
        "snippet_id": live.made("/api/knowledge", {"title": "Returns", "body": "Free, 30 days"})[
            "id"
        ],
    }
    return live


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the schema, read from an app that is never
    started (the schema does not depend on the profile). Deletions last, so the real
    ids stay alive for the operations that use them."""
    app = create_app(build_runtime(load_settings({"WA_PROFILE": "memory"})))
    paths = app.openapi_schema.to_schema()["paths"]
    operations = [
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
        and (method.upper(), path) != ("POST", WEBHOOK)  # signed: fuzzed on its own below
    ]
    return sorted(operations, key=lambda op: op[0] == "DELETE")


@pytest.fixture(scope="module")
def api_schema(live: Live) -> Any:
    return schemathesis.openapi.from_asgi("/api/docs/openapi.json", live.app)


@pytest.mark.parametrize(("method", "path"), _operations(), ids=str)
def test_every_operation_answers_within_its_schema(
    api_schema: Any, live: Live, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    real = {name: value for name, value in live.ids.items() if "{" + name + "}" in path}
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if real:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real))
    headers = live.headers_for(path)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def answers_within_schema(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    answers_within_schema()


# -- Meta's webhook, signed ---------------------------------------------------------------

# Leaves a fuzzed delivery puts where a real one has a value: text with NUL and other
# controls, huge and negative numbers, wrong types.
LEAVES = (
    st.text(max_size=30)
    | st.sampled_from(["\x00", "a\x00b", "\ud7ff", "9" * 40, "-1", "", "wamid." + "A" * 300])
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.none()
    | st.booleans()
    | st.just([])
    | st.just({})
)


def _leaf_paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, (*at, k))] or [at]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaf_paths(v, (*at, i))] or [at]
    return [at]


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(node)]


@st.composite
def mutated_deliveries(draw: st.DrawFn) -> bytes:
    """A real-shaped delivery (every fixture from Meta's docs) to the seeded tenant's
    number, with a few leaves replaced: it passes the signature and often the decoder,
    so the core's ingest sees it."""
    payload = json.loads(body_of(draw(st.sampled_from(ALL_FIXTURES))))
    paths = _leaf_paths(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        payload = _replace(payload, draw(st.sampled_from(paths)), draw(LEAVES))
    return json.dumps(payload).encode()


ANY_JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
).map(lambda v: json.dumps(v).encode())


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(body=mutated_deliveries() | ANY_JSON)
def test_signed_fuzzed_webhooks_never_answer_5xx(live: Live, body: bytes) -> None:
    answer = live.call("POST", WEBHOOK, data=body, headers=_signed(body))
    assert answer.status_code < 500, answer.text


def test_a_nul_character_is_the_callers_error_and_dropped_from_meta(live: Live) -> None:
    """PostgreSQL cannot store U+0000: it was a 503 (an "outage") for a contact search."""
    for method, path, body in [
        ("GET", "/api/contacts?q=a%00b", None),
        ("POST", "/api/contacts", {"name": "a\x00b", "phone": "5511999990000"}),
        ("POST", "/api/knowledge", {"title": "t\x00", "body": "b"}),
    ]:
        answer = live.call(method, path, headers=live.admin, json=body)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    # From Meta it is dropped instead: refusing the delivery would lose the whole batch.
    payload = json.loads(body_of("text"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = "Ana\x00"
    value["messages"][0] |= {"id": f"wamid.{uuid.uuid4().hex}", "text": {"body": "a\x00b"}}
    body = json.dumps(payload).encode()
    answer = live.call("POST", WEBHOOK, data=body, headers=_signed(body))
    assert (answer.status_code, answer.json()["stored"]) == (200, 1), answer.text


def test_a_query_with_no_words_scores_zero_not_nan(live: Live) -> None:
    """pgvector's cosine distance to a zero vector is NaN, which JSON renders as null
    where the schema promises a number."""
    live.made("/api/knowledge", {"title": "Shipping", "body": "Two days"})
    answer = live.call("GET", "/api/search/similar?q=%3A%3A", headers=live.admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["snippets"], answer.text
    assert all(hit["score"] == 0.0 for hit in answer.json()["snippets"])


def test_editing_a_template_into_an_unknown_category_is_refused(live: Live) -> None:
    """It was a 500: the category was converted before it was validated."""
    template = live.made(
        "/api/templates",
        {"name": f"edit_{uuid.uuid4().hex[:8]}", "language": "en", "category": "utility",
         "body": "Your order {{1}} has shipped"},
    )  # fmt: skip
    answer = live.call(
        "PATCH", f"/api/templates/{template['id']}", headers=live.admin,
        json={"body": "Your order {{1}} has shipped", "category": "gossip"},
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "category"
