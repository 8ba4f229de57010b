"""The app on the memory profile: health, readiness and the problem-details shape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from whatsapp_core.errors import UpstreamUnavailable

pytestmark = pytest.mark.unit


class DownProbe:
    name = "queue"

    async def check(self) -> None:
        raise UpstreamUnavailable("redis unreachable: connection refused")


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    runtime = build_runtime(load_settings({"WA_PROFILE": "memory"}))
    with TestClient(app=create_app(runtime)) as test_client:
        test_client.app.state.runtime = runtime
        yield test_client


def test_health_is_200(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_lists_each_check(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


def test_ready_is_503_naming_the_failing_part(client: TestClient) -> None:  # type: ignore[type-arg]
    client.app.state.runtime.probes.append(DownProbe())
    response = client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["queue"]
    assert "connection refused" in body["checks"]["queue"]


def test_unknown_route_is_problem_details(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


def test_openapi_is_served(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/api/docs/openapi.json")
    assert response.status_code == 200
    assert "/api/health" in response.json()["paths"]
