"""The AI endpoints on the memory profile (offline provider, hashing embedder)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from entrypoints.worker import build_worker
from tests.unit.test_api import add_user, bearer, inbound, register

pytestmark = pytest.mark.unit


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory"}))
    runtime.hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
    with TestClient(app=create_app(runtime)) as test_client:
        test_client.app.state.runtime = runtime
        yield test_client


def test_suggest_summary_knowledge_and_search(client: TestClient) -> None:  # type: ignore[type-arg]
    auth = bearer(register(client))
    created = client.post(
        "/api/knowledge",
        json={"title": "Delivery times", "body": "Orders arrive in 3 to 5 business days."},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    snippet_id = created.json()["id"]
    assert client.get(f"/api/knowledge/{snippet_id}", headers=auth).json()["title"] == (
        "Delivery times"
    )
    inbound(client)  # "Where is my order?" from Ana
    (conversation,) = client.get("/api/conversations", headers=auth).json()
    cid = (
        conversation["conversation"]["id"] if "conversation" in conversation else conversation["id"]
    )

    suggestion = client.post(f"/api/conversations/{cid}/suggest", headers=auth)
    assert suggestion.status_code == 200, suggestion.text
    body = suggestion.json()
    assert body["provider"] == "offline"
    assert body["text"].startswith("Hi Ana!")

    summary = client.get(f"/api/conversations/{cid}/summary", headers=auth).json()
    assert summary["text"].startswith("Ana sent 1 message")

    found = client.get("/api/search/similar", params={"q": "when do orders arrive"}, headers=auth)
    assert found.status_code == 200, found.text
    assert found.json()["snippets"][0]["snippet"]["id"] == snippet_id

    updated = client.put(
        f"/api/knowledge/{snippet_id}",
        json={"title": "Delivery", "body": "2 to 4 business days."},
        headers=auth,
    )
    assert updated.json()["title"] == "Delivery"
    assert client.delete(f"/api/knowledge/{snippet_id}", headers=auth).status_code == 204
    assert client.get("/api/knowledge", headers=auth).json() == []
    missing = client.get(f"/api/knowledge/{snippet_id}", headers=auth)
    assert missing.status_code == 404
    empty = client.get("/api/search/similar", params={"q": " "}, headers=auth)
    assert empty.status_code == 422


def test_ai_settings_over_http(client: TestClient) -> None:  # type: ignore[type-arg]
    admin = register(client)
    auth = bearer(admin)
    got = client.get("/api/ai/settings", headers=auth)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["enabled"] is True
    assert body["provider_order"] == ["anthropic", "openai", "offline"]
    assert body["configured_providers"] == ["offline"]  # no keys on this server
    assert "other" in body["intents"]
    assert body["auto_reply"]["deny_intents"] == ["complaint", "spam"]
    assert body["monthly_token_budget"] is None
    assert body["tokens_used_this_month"] == 0

    for role in ("agent", "manager"):
        other = add_user(client, admin, role)
        for method in ("GET", "PUT"):
            refused = client.request(method, "/api/ai/settings", headers=other, json={})
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "forbidden"

    bad = client.put("/api/ai/settings", headers=auth, json={"intents": ["Greeting", "other"]})
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "intents"
    assert "snake_case" in bad.json()["detail"]
    zone = client.put("/api/ai/settings", headers=auth, json={"auto_reply": {"timezone": "Mars/X"}})
    assert zone.status_code == 422
    assert zone.json()["field"] == "auto_reply.timezone"
    shape = client.put("/api/ai/settings", headers=auth, json={"enabled": "yes"})
    assert shape.status_code == 400  # a wrong JSON type, as everywhere in this API
    assert "enabled" in shape.text

    changed = client.put(
        "/api/ai/settings", headers=auth,
        json={"auto_reply": {"enabled": True}, "monthly_token_budget": 5000},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_reply"]["enabled"] is True
    assert changed.json()["monthly_token_budget"] == 5000
    assert changed.json()["intents"] == body["intents"]  # left out: kept
    actions = [e["action"] for e in client.get("/api/audit", headers=auth).json()]
    assert "ai.settings.update" in actions

    # the auto-reply shows in the thread as sent by the AI
    inbound(client)
    runtime = client.app.state.runtime
    client.blocking_portal.call(build_worker(runtime, runtime.gateway).drain)
    (conversation,) = client.get("/api/conversations", headers=auth).json()
    cid = conversation["id"]
    thread = client.get(f"/api/conversations/{cid}", headers=auth).json()
    (sent,) = [m for m in thread["messages"] if m["direction"] == "outbound"]
    assert sent["content"]["sent_by"] == "ai"
    assert sent["text"].startswith("Hi Ana!")

    off = client.put("/api/ai/settings", headers=auth, json={"enabled": False})
    assert off.status_code == 200
    suggest = client.post(f"/api/conversations/{cid}/suggest", headers=auth)
    assert suggest.status_code == 409
    assert suggest.json()["code"] == "ai_disabled"
    assert "turned off" in suggest.json()["detail"]
    assert client.get(f"/api/conversations/{cid}/summary", headers=auth).status_code == 409
