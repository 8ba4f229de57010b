"""Readiness on the production profile against real PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from entrypoints.bootstrap import build_runtime
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.support.databases import start_embedded

pytestmark = pytest.mark.integration


def test_ready_turns_503_naming_the_database_when_it_goes_down(tmp_path: Path) -> None:
    server, url = start_embedded(tmp_path / "pg")
    settings = load_settings(
        {
            "WA_PROFILE": "production",
            "WA_DATABASE_URL": url,
            "WA_REDIS_URL": "redis://127.0.0.1:6379/0",
            "WA_SECRET_KEY": "s" * 40,
            "WA_META_APP_SECRET": "app-secret",
            "WA_META_VERIFY_TOKEN": "verify-me",
            "WA_DATA_DIR": str(tmp_path / "data"),
        }
    )
    with TestClient(app=create_app(build_runtime(settings))) as client:
        up = client.get("/api/ready")
        assert up.status_code == 200, up.text
        assert up.json()["checks"] == {"database": "ok", "queue": "ok", "storage": "ok"}

        server.cleanup()  # type: ignore[attr-defined]  # stops the postmaster

        down = client.get("/api/ready")
        assert down.status_code == 503
        body = down.json()
        assert body["failing"] == ["database"]
        assert body["checks"]["database"].startswith("database unavailable")
        assert client.get("/api/health").status_code == 200
