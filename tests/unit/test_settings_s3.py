"""The S3 store's settings: server-side encryption (``WA_S3_SSE``) and a key prefix
(``WA_S3_PREFIX``). How the store applies them is in tests/contract/test_blob_store.py."""

from __future__ import annotations

import pytest

from entrypoints.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit

MINIO = {"WA_S3_BUCKET": "wa-media", "WA_S3_ENDPOINT_URL": "http://minio:9000"}
AWS = {"WA_S3_BUCKET": "wa-media"}


@pytest.mark.parametrize(
    ("env", "sse"),
    [
        (AWS, "AES256"),  # AWS: SSE-S3 unless told otherwise
        (MINIO, None),  # an endpoint (MinIO refuses SSE-S3 without a KMS): off by default
        ({**MINIO, "WA_S3_SSE": ""}, None),  # an empty variable is an unset one
        ({**MINIO, "WA_S3_SSE": "AES256"}, "AES256"),  # a MinIO with a KMS
        ({**MINIO, "WA_S3_SSE": "aes256"}, "AES256"),
        ({**AWS, "WA_S3_SSE": "aws:kms"}, "aws:kms"),
        ({**AWS, "WA_S3_SSE": "AWS:KMS"}, "aws:kms"),
        ({**AWS, "WA_S3_SSE": "none"}, None),
        ({**AWS, "WA_S3_SSE": "None"}, None),
    ],
)
def test_server_side_encryption(env: dict[str, str], sse: str | None) -> None:
    assert load_settings(env).s3_server_side_encryption == sse


@pytest.mark.parametrize("prefix", ["", "deploy-1", "team_a/prod", "/acme/wa.v2/", "x" * 200])
def test_a_prefix_of_folder_names_is_accepted(prefix: str) -> None:
    assert load_settings({**AWS, "WA_S3_PREFIX": prefix}).s3_prefix == prefix


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WA_S3_SSE": "yes"}, "WA_S3_SSE must be AES256, aws:kms or none (got 'yes')"),
        ({"WA_S3_SSE": "SSE-S3"}, "WA_S3_SSE must be AES256, aws:kms or none"),
        ({"WA_S3_SSE": "off"}, "WA_S3_SSE must be AES256, aws:kms or none"),
        ({"WA_S3_PREFIX": ".."}, "WA_S3_PREFIX must be '/'-separated folder names"),
        ({"WA_S3_PREFIX": "a/../b"}, "(got 'a/../b')"),
        ({"WA_S3_PREFIX": "a//b"}, "WA_S3_PREFIX"),
        ({"WA_S3_PREFIX": ".hidden"}, "WA_S3_PREFIX"),
        ({"WA_S3_PREFIX": "with space"}, "WA_S3_PREFIX"),
        ({"WA_S3_PREFIX": "ünïcode"}, "WA_S3_PREFIX"),
        ({"WA_S3_PREFIX": "a\\b"}, "WA_S3_PREFIX"),
        ({"WA_S3_PREFIX": "x" * 201}, "at most 200 characters"),
    ],
)
def test_a_bad_s3_setting_is_one_line_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({**AWS, **env})
    text = str(info.value)
    assert message in text
    assert "\n" not in text
