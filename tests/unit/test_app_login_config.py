"""The production files give the API and workers the application's login, never the
tables' owner; only the migrate job gets the owner's URL (checked by reading them: no
Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from entrypoints.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
INIT = "deploy/postgres/10-app-login.sh"
PRODUCTION = {
    "WA_PROFILE": "production",
    "WA_REDIS_URL": "redis://redis:6379/0",
    "WA_SECRET_KEY": "k" * 40,
    "WA_META_APP_SECRET": "app-secret",
    "WA_META_VERIFY_TOKEN": "verify",
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(data["services"])


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_api_and_workers_get_the_app_login_and_not_the_owner(services: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["WA_DATABASE_URL"] == "", f"{name} must not see the owner's URL"
        assert env["WA_DATABASE_APP_URL"] == "${WA_DATABASE_APP_URL}"


def test_only_the_migrate_job_logs_in_as_the_owner(services: dict[str, Any]) -> None:
    owner = services["postgres"]["environment"]["POSTGRES_USER"]
    url = services["migrate"]["environment"]["WA_DATABASE_URL"]
    assert urlsplit(url).username == owner


def test_the_app_login_is_made_by_an_init_step(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert f"./{INIT}:/docker-entrypoint-initdb.d/10-app-login.sh:ro" in postgres["volumes"]
    assert postgres["environment"]["WA_DATABASE_APP_URL"] == "${WA_DATABASE_APP_URL}"
    script = (ROOT / INIT).read_text()
    for clause in ("NOSUPERUSER", "NOBYPASSRLS", "NOCREATEROLE", "GRANT wa_app TO"):
        assert clause in script


def test_env_example_names_two_different_logins() -> None:
    env = env_example()
    owner, app = urlsplit(env["WA_DATABASE_URL"]), urlsplit(env["WA_DATABASE_APP_URL"])
    assert app.username == "wa_app_login"
    assert owner.username != app.username
    assert (owner.hostname, owner.path) == (app.hostname, app.path)


def test_production_starts_with_only_the_app_login() -> None:
    settings = load_settings({**PRODUCTION, "WA_DATABASE_APP_URL": "postgresql://a:b@db/wa"})
    assert settings.database_url is None
    assert settings.database_app_url == "postgresql://a:b@db/wa"


def test_production_needs_one_of_the_database_urls() -> None:
    with pytest.raises(SettingsError, match="WA_DATABASE_URL"):
        load_settings(PRODUCTION)
    with pytest.raises(SettingsError, match="WA_DATABASE_APP_URL must be a URL"):
        load_settings({**PRODUCTION, "WA_DATABASE_APP_URL": "mysql://x/y"})
