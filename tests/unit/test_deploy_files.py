"""No Docker engine runs here, so the production files are checked by reading them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.settings import ENV_NAMES

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_service_of_the_design_is_there(compose: dict[str, Any]) -> None:
    assert {"api", "worker", "postgres", "redis", "minio", "n8n", "nginx"} <= set(
        compose["services"]
    )


def test_api_runs_two_replicas_behind_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert "ports" not in services["api"], "only nginx publishes ports"
    assert "443:443" in services["nginx"]["ports"]


def test_postgres_image_has_pgvector(compose: dict[str, Any]) -> None:
    assert compose["services"]["postgres"]["image"].startswith("pgvector/pgvector:")


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name != "migrate":
            assert "healthcheck" in service, name


def test_app_environment_names_are_settings(compose: dict[str, Any]) -> None:
    known = set(ENV_NAMES.values())
    for name in ("api", "worker", "migrate"):
        env = compose["services"][name]["environment"]
        unknown = {key for key in env if key.startswith("WA_")} - known
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"


def test_env_example_names_are_settings_or_container_variables() -> None:
    container_vars = {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names - container_vars <= set(ENV_NAMES.values())
    assert {"WA_DATABASE_URL", "WA_REDIS_URL", "WA_SECRET_KEY"} <= names


def test_nginx_routes_api_and_upgrades_the_websocket() -> None:
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    locations = dict(re.findall(r"location\s+((?:= )?[^\s{]+)\s*\{(.*?)\}", conf, re.S))
    assert "proxy_pass http://wa_api" in locations["/api/"]
    ws = locations["/api/ws"]
    assert "proxy_pass http://wa_api" in ws
    assert "proxy_set_header Upgrade $http_upgrade" in ws
    assert "proxy_set_header Connection $connection_upgrade" in ws
    assert "listen 443 ssl" in conf
    assert "return 404" in locations["= /metrics"]


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users
    assert users[-1] not in ("root", "0")
