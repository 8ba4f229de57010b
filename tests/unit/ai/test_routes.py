"""The AI endpoints on the memory profile (offline provider, hashing embedder)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from adapters.security.passwords import Argon2PasswordHasher
from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.unit.test_api import bearer, inbound, register

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
