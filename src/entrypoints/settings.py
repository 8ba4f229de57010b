"""Typed settings read from the environment, validated once at start.

A wrong or missing value raises ``SettingsError`` whose message is one line naming
the variable to change; entry points print it and exit non-zero.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

import msgspec

Profile = Literal["memory", "embedded", "production"]
PROFILES: tuple[str, ...] = get_args(Profile)
# WA_S3_SSE (any case) -> the ServerSideEncryption objects are written with.
S3_SSE_MODES: dict[str, str | None] = {"aes256": "AES256", "aws:kms": "aws:kms", "none": None}
# WA_S3_PREFIX: folder names as blob keys allow them (no "." or ".." to climb out).
_S3_PREFIX = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
_S3_PREFIX_MAX = 200


class SettingsError(Exception):
    """A setting is wrong or missing. ``str()`` is the one line to show."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    profile: Profile = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = ".wa-data"
    # The tables' owner: migrations (`wa migrate`) log in with it. Without
    # database_app_url the application does too, dropping to the role wa_app per
    # transaction (SET LOCAL ROLE).
    database_url: str | None = None
    # The application's own login (API, workers): a role that is NOT the owner, member of
    # wa_app, without BYPASSRLS, so row-level security binds the session itself. The
    # embedded profile makes and uses one (wa_app_login) on its own.
    database_app_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    # Explicit sealing keys for tenants' credentials, "k2:<base64 32 bytes>,k1:…", the
    # first active; without it the key is derived from secret_key.
    secret_keys: str | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    # Server-side encryption: AES256 (SSE-S3), aws:kms (the account's KMS key) or none.
    # Unset: AES256 on AWS, none with an endpoint URL (MinIO refuses SSE-S3 without a KMS).
    s3_sse: str | None = None
    # A folder of a shared bucket the whole deployment is kept under ("": the bucket root).
    s3_prefix: str = ""
    meta_api_base: str = "https://graph.facebook.com"
    meta_api_version: str = "v24.0"
    meta_verify_token: str | None = None
    meta_app_secret: str | None = None
    meta_access_token: str | None = None
    anthropic_api_key: str | None = None
    openai_api_key: str | None = None
    anthropic_model: str = "claude-haiku-4-5"
    openai_model: str = "gpt-5.4-mini"
    ai_embedder: Literal["hashing", "minilm"] = "hashing"
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    sentry_dsn: str | None = None
    # How long the webhook duplicate guard remembers a stored message or status.
    webhook_seen_ttl_seconds: int = 24 * 3600
    # A request body that stops arriving for this long is answered 408 (slow loris).
    http_body_timeout_seconds: float = 30.0
    # Jobs in flight at once in the worker `wa serve` runs in its own process outside
    # production. It shares the API's event loop: every job in flight lengthens each
    # API await (bench/ws_latency.py at 20 webhooks/s: 16 -> ack p99 112 ms, 4 -> 48 ms).
    # 0: no jobs run there; they wait in the outbox for a `wa worker` process.
    serve_jobs: int = 4
    # How jobs reach workers: "taskiq" - a relay moves due outbox rows to a taskiq broker
    # (taskiq-redis in production, taskiq's in-process broker otherwise); "outbox" -
    # workers claim rows straight from the outbox table, no broker between.
    jobs_broker: Literal["taskiq", "outbox"] = "taskiq"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def pg_data_dir(self) -> Path:
        return self.data_path / "pg"

    @property
    def files_dir(self) -> Path:
        return self.data_path / "files"

    @property
    def s3_server_side_encryption(self) -> str | None:
        """What S3 objects are written with (``ServerSideEncryption``); None: nothing asked."""
        if self.s3_sse is None:
            return None if self.s3_endpoint_url else "AES256"
        return S3_SSE_MODES[self.s3_sse.lower()]


# Settings field -> environment variable. AI keys keep their SDKs' usual names.
ENV_NAMES: dict[str, str] = {
    name: ("SENTRY_DSN" if name == "sentry_dsn" else f"WA_{name.upper()}")
    for name in Settings.__struct_fields__
}
ENV_NAMES["anthropic_api_key"] = "ANTHROPIC_API_KEY"
ENV_NAMES["openai_api_key"] = "OPENAI_API_KEY"

_REQUIRED_IN_PRODUCTION = (
    "database_url",
    "redis_url",
    "secret_key",
    "meta_app_secret",
    "meta_verify_token",
)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``) plus explicit overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field, var in ENV_NAMES.items():
        value = env.get(var)
        if value is not None and value != "":
            raw[field] = value
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "profile" in raw and raw["profile"] not in PROFILES:
        raise SettingsError(
            f"{ENV_NAMES['profile']} must be one of {', '.join(PROFILES)} (got {raw['profile']!r})"
        )
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
    _validate(settings)
    return settings


def _explain(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    # msgspec says "Expected `int`, got `str` - at `$.port`": name the variable instead.
    if " - at `$." in message:
        reason, _, path = message.rpartition(" - at `$.")
        field = path.rstrip("`").split(".")[0].split("[")[0]
        return f"{ENV_NAMES.get(field, field)}: {reason.lower()}"
    return message


def _validate(s: Settings) -> None:
    if not 0 < s.port < 65536:
        raise SettingsError(f"{ENV_NAMES['port']} must be between 1 and 65535 (got {s.port})")
    if s.serve_jobs < 0:
        raise SettingsError(f"{ENV_NAMES['serve_jobs']} must be 0 or more (got {s.serve_jobs})")
    if s.profile == "production":
        # Either database URL will do: the API and workers need only the app's login.
        present = {
            f: getattr(s, f) or (f == "database_url" and s.database_app_url)
            for f in _REQUIRED_IN_PRODUCTION
        }
        missing = [ENV_NAMES[f] for f in _REQUIRED_IN_PRODUCTION if not present[f]]
        if missing:
            raise SettingsError(
                f"the production profile needs {', '.join(missing)} "
                "(or set WA_PROFILE=embedded to run without them)"
            )
        assert s.secret_key is not None
        if len(s.secret_key) < 32:
            raise SettingsError(f"{ENV_NAMES['secret_key']} must be at least 32 characters")
    for field, schemes in (
        ("database_url", ("postgres", "postgresql", "postgresql+asyncpg")),
        ("database_app_url", ("postgres", "postgresql", "postgresql+asyncpg")),
        ("redis_url", ("redis", "rediss", "unix")),
    ):
        value = getattr(s, field)
        if value is not None and urlsplit(value).scheme not in schemes:
            raise SettingsError(
                f"{ENV_NAMES[field]} must be a URL starting with {' or '.join(schemes)}://"
            )
    if s.webhook_seen_ttl_seconds < 1:
        raise SettingsError(f"{ENV_NAMES['webhook_seen_ttl_seconds']} must be at least 1")
    if not s.http_body_timeout_seconds > 0:
        raise SettingsError(f"{ENV_NAMES['http_body_timeout_seconds']} must be above 0")
    _validate_s3(s)
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"{ENV_NAMES['log_level']} must be DEBUG, INFO, WARNING or ERROR")


def _validate_s3(s: Settings) -> None:
    if s.s3_sse is not None and s.s3_sse.lower() not in S3_SSE_MODES:
        raise SettingsError(
            f"{ENV_NAMES['s3_sse']} must be AES256, aws:kms or none (got {s.s3_sse!r})"
        )
    prefix = s.s3_prefix.strip("/")
    if prefix and (len(prefix) > _S3_PREFIX_MAX or not _S3_PREFIX.fullmatch(prefix)):
        raise SettingsError(
            f"{ENV_NAMES['s3_prefix']} must be '/'-separated folder names of letters, digits, "
            f"'.', '_' or '-', none starting with '.', at most {_S3_PREFIX_MAX} characters "
            f"(got {s.s3_prefix!r})"
        )


def redact_url(url: str) -> str:
    """A URL safe to print: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
