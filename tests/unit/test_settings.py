from __future__ import annotations

import pytest

from entrypoints.settings import ENV_NAMES, SettingsError, load_settings, redact_url

pytestmark = pytest.mark.unit

PROD = {
    "WA_PROFILE": "production",
    "WA_DATABASE_URL": "postgresql://app:pw@db:5432/wa",
    "WA_REDIS_URL": "redis://redis:6379/0",
    "WA_SECRET_KEY": "k" * 40,
    "WA_META_APP_SECRET": "app-secret",
    "WA_META_VERIFY_TOKEN": "verify-me",
}


def test_defaults_run_the_embedded_profile() -> None:
    settings = load_settings({})
    assert settings.profile == "embedded"
    assert settings.port == 8000
    assert settings.serve_jobs == 4
    assert settings.pg_data_dir.name == "pg"


def test_values_come_from_the_environment_and_are_typed() -> None:
    settings = load_settings({"WA_PORT": "9001", "WA_PROFILE": "memory", "WA_DATA_DIR": "/tmp/x"})
    assert (settings.port, settings.profile, str(settings.data_path)) == (9001, "memory", "/tmp/x")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WA_PROFILE": "staging"}, "WA_PROFILE must be one of memory, embedded, production"),
        ({"WA_PORT": "eighty"}, "WA_PORT: expected `int`"),
        ({"WA_PORT": "70000"}, "WA_PORT must be between 1 and 65535"),
        ({"WA_SERVE_JOBS": "-1"}, "WA_SERVE_JOBS must be 0 or more"),
        ({"WA_LOG_FORMAT": "xml"}, "WA_LOG_FORMAT"),
        ({"WA_LOG_LEVEL": "LOUD"}, "WA_LOG_LEVEL"),
        (
            {"WA_PROFILE": "production"},
            "WA_DATABASE_URL, WA_REDIS_URL, WA_SECRET_KEY, WA_META_APP_SECRET, "
            "WA_META_VERIFY_TOKEN",
        ),
        ({**PROD, "WA_SECRET_KEY": "short"}, "WA_SECRET_KEY must be at least 32"),
        ({**PROD, "WA_DATABASE_URL": "mysql://x/y"}, "WA_DATABASE_URL must be a URL"),
        ({**PROD, "WA_REDIS_URL": "localhost:6379"}, "WA_REDIS_URL must be a URL"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_production_with_everything_set_loads() -> None:
    assert load_settings(PROD).profile == "production"


def test_every_setting_has_a_distinct_environment_name() -> None:
    assert len(set(ENV_NAMES.values())) == len(ENV_NAMES)
    assert ENV_NAMES["anthropic_api_key"] == "ANTHROPIC_API_KEY"


def test_redacted_url_hides_the_password_only() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/wa") == "postgresql://app:***@db:5432/wa"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
