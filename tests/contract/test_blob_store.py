"""One ``BlobStore`` suite over the memory twin, a local folder and S3.

S3 is moto's server on localhost (real HTTP, real aioboto3). Known, commented
differences: only S3 hands out presigned URLs (the others return ``None`` and the
API streams the bytes instead).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aioboto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from adapters.memory.media import MemoryBlobStore
from adapters.storage.local import LocalBlobStore
from adapters.storage.s3 import MIN_PART_SIZE, S3BlobStore
from entrypoints.bootstrap import Runtime, _start_blob_store
from entrypoints.settings import load_settings
from whatsapp_core.errors import InvalidInput, NotFound
from whatsapp_core.media import BlobStore

pytestmark = pytest.mark.contract

BACKENDS = ["memory", "local", "s3"]
REGION = "us-east-1"
HOSTILE_KEYS = [
    "",
    ".",
    "..",
    "../etc/passwd",
    "tenants/../../etc/passwd",
    "tenants/./x",
    "/etc/passwd",
    "tenants//x",
    "tenants/x/",
    ".hidden",
    "tenants/.x",
    "tenants\\..\\x",
    "tenants/x\x00.png",
    "%2e%2e/x",
    "tenants/ü",
    "tenants/a b",
    "~/x",
    "x" * 1025,
]


class Boom(Exception):
    """A source that breaks part-way."""


def _session() -> aioboto3.Session:
    return aioboto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )


# One session for the module: botocore loads the S3 service model once per session.
SESSION = _session()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def s3_store(endpoint: str, **options: object) -> AsyncIterator[S3BlobStore]:
    store = S3BlobStore(
        f"wa-test-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        region=REGION,
        part_size=MIN_PART_SIZE,
        session=SESSION,
        **options,  # type: ignore[arg-type]
    )
    async with store:
        await store.client.create_bucket(Bucket=store.bucket)
        yield store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "local":
        yield LocalBlobStore(tmp_path / "files")
    else:
        async with s3_store(request.getfixturevalue("moto_endpoint")) as s3:
            yield s3


def key() -> str:
    return f"tenants/{uuid.uuid4()}/media/{uuid.uuid4()}"


async def chunks(*parts: bytes, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise Boom("the source broke")
        yield part


async def read(store: BlobStore, k: str, chunk_size: int = 64 * 1024) -> bytes:
    return b"".join([c async for c in store.open(k, chunk_size=chunk_size)])


async def test_put_bytes_then_read_stat_and_exists(store: BlobStore) -> None:
    k, data = key(), b"\x89PNG\r\n\x1a\n" + os.urandom(1000)
    stored = await store.put(k, data, content_type="image/png")
    assert (stored.key, stored.size, stored.content_type) == (k, len(data), "image/png")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read(store, k) == data
    info = await store.stat(k)
    assert info is not None
    assert (info.key, info.size, info.content_type) == (k, 1008, "image/png")
    assert await store.exists(k)


async def test_put_stream_keeps_every_byte_in_order(store: BlobStore) -> None:
    parts = [os.urandom(n) for n in (1, 0, 70_000, 3, 0, 65_536)]
    k = key()
    stored = await store.put(k, chunks(*parts), content_type="application/pdf")
    whole = b"".join(parts)
    assert stored.size == len(whole)
    assert stored.sha256 == hashlib.sha256(whole).hexdigest()
    got = [c async for c in store.open(k, chunk_size=10_000)]
    assert b"".join(got) == whole
    assert all(0 < len(c) <= 10_000 for c in got)


async def test_a_stream_bigger_than_one_part(store: BlobStore) -> None:
    """S3 takes this as a multipart upload (parts of 5 MiB here); the others as a stream."""
    piece = os.urandom(1024 * 1024)
    k = key()
    stored = await store.put(k, chunks(*[piece] * 11), content_type="video/mp4")
    assert stored.size == 11 * len(piece)
    assert stored.sha256 == hashlib.sha256(piece * 11).hexdigest()
    assert (await store.stat(k)) is not None
    assert hashlib.sha256(await read(store, k)).hexdigest() == stored.sha256


async def test_empty_blob(store: BlobStore) -> None:
    k = key()
    stored = await store.put(k, chunks(), content_type="text/plain")
    assert stored.size == 0
    assert await read(store, k) == b""


async def test_overwrite_replaces(store: BlobStore) -> None:
    k = key()
    await store.put(k, b"first version", content_type="text/plain")
    await store.put(k, b"second", content_type="text/csv")
    assert await read(store, k) == b"second"
    info = await store.stat(k)
    assert info is not None
    assert (info.size, info.content_type) == (6, "text/csv")


@pytest.mark.parametrize("size", [1000, 7 * 1024 * 1024], ids=["small", "multipart"])
async def test_a_source_that_fails_leaves_nothing_new(store: BlobStore, size: int) -> None:
    k, other = key(), key()
    await store.put(k, b"old", content_type="text/plain")
    half = os.urandom(size // 2)
    for target in (k, other):
        with pytest.raises(Boom):
            await store.put(target, chunks(half, half, half, fail_after=2), content_type="x/y")
    assert await read(store, k) == b"old"
    assert not await store.exists(other)
    assert await store.stat(other) is None


async def test_missing_blobs(store: BlobStore) -> None:
    k = key()
    assert await store.stat(k) is None
    assert not await store.exists(k)
    with pytest.raises(NotFound):
        await read(store, k)
    await store.delete(k)  # absent: no error


async def test_delete(store: BlobStore) -> None:
    k = key()
    await store.put(k, b"bye", content_type="text/plain")
    await store.delete(k)
    assert not await store.exists(k)
    with pytest.raises(NotFound):
        await read(store, k)


async def test_keys_are_independent(store: BlobStore) -> None:
    tenant = f"tenants/{uuid.uuid4()}"
    await store.put(f"{tenant}/media/a", b"A", content_type="text/plain")
    await store.put(f"{tenant}/media/a.b", b"AB", content_type="text/plain")
    await store.put(f"{tenant}/exports/a", b"EA", content_type="text/plain")
    assert await read(store, f"{tenant}/media/a") == b"A"
    assert await read(store, f"{tenant}/media/a.b") == b"AB"
    assert await read(store, f"{tenant}/exports/a") == b"EA"


async def test_hostile_keys_are_refused_everywhere(store: BlobStore) -> None:
    for hostile in HOSTILE_KEYS:
        with pytest.raises(InvalidInput):
            await store.put(hostile, b"x", content_type="text/plain")
        with pytest.raises(InvalidInput):
            await store.stat(hostile)
        with pytest.raises(InvalidInput):
            await store.exists(hostile)
        with pytest.raises(InvalidInput):
            await read(store, hostile)
        with pytest.raises(InvalidInput):
            await store.delete(hostile)
        with pytest.raises(InvalidInput):
            await store.presigned_url(hostile)


async def test_presigned_url(store: BlobStore) -> None:
    k = key()
    await store.put(k, b"%PDF-1.7 invoice", content_type="application/pdf")
    url = await store.presigned_url(k, expires_in=60, filename="fatura março.pdf")
    if not isinstance(store, S3BlobStore):
        # Known difference: no direct links; the API streams these bytes itself.
        assert url is None
        return
    assert url is not None
    assert "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)  # no credentials: the signature is the credential
    assert answer.status_code == 200
    assert answer.content == b"%PDF-1.7 invoice"
    assert "attachment" in answer.headers["content-disposition"]
    assert "mar%C3%A7o.pdf" in answer.headers["content-disposition"]
    # (moto does not check signatures, so a tampered link is not tested here.)


# ------------------------------------------------------------------- backend specific


async def test_local_store_never_leaves_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not touch")
    store = LocalBlobStore(tmp_path / "files")
    for hostile in HOSTILE_KEYS:
        with pytest.raises(InvalidInput):
            await store.put(hostile, b"x", content_type="text/plain")
    # Even a key that passes the syntax check cannot follow a link out of the folder.
    await store.put("tenants/t/ok", b"ok", content_type="text/plain")
    (tmp_path / "files" / "blobs" / "tenants" / "evil").symlink_to(outside)
    with pytest.raises(InvalidInput):
        await store.put("tenants/evil/secret", b"overwritten", content_type="text/plain")
    with pytest.raises(InvalidInput):
        await read(store, "tenants/evil/secret")
    assert (outside / "secret").read_bytes() == b"do not touch"
    assert {p.name for p in outside.iterdir()} == {"secret"}
    assert not list((tmp_path / "files" / "tmp").iterdir())  # no temporary file left


async def test_s3_encrypts_prefixes_and_cleans_up_multipart(moto_endpoint: str) -> None:
    async with s3_store(moto_endpoint, prefix="deploy-1") as store:
        k = key()
        await store.put(k, b"secret bytes", content_type="text/plain")
        head = await store.client.head_object(Bucket=store.bucket, Key=f"deploy-1/{k}")
        assert head["ServerSideEncryption"] == "AES256"
        big = os.urandom(3 * 1024 * 1024)
        # A stream of more than one part goes up as a multipart upload: encrypted too.
        multipart = key()
        stored = await store.put(multipart, chunks(big, big), content_type="video/mp4")
        assert stored.size == 2 * len(big)
        head = await store.client.head_object(Bucket=store.bucket, Key=f"deploy-1/{multipart}")
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ETag"].strip('"').endswith("-2")  # S3's mark of a 2-part upload
        with pytest.raises(Boom):
            await store.put(key(), chunks(*[big] * 5, fail_after=4), content_type="text/plain")
        uploads = await store.client.list_multipart_uploads(Bucket=store.bucket)
        assert not uploads.get("Uploads")  # the failed multipart upload was aborted
        listed = await store.client.list_objects_v2(Bucket=store.bucket)
        assert sorted(o["Key"] for o in listed["Contents"]) == sorted(
            [f"deploy-1/{k}", f"deploy-1/{multipart}"]
        )


@pytest.mark.parametrize(
    ("env", "sse"),
    [
        ({}, None),  # with an endpoint URL (MinIO; here moto): no encryption unless asked
        ({"WA_S3_SSE": "AES256"}, "AES256"),
    ],
)
async def test_the_composition_root_builds_s3_from_settings(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], sse: str | None
) -> None:
    """``WA_S3_*`` reach the store ``wa serve`` and ``wa worker`` use."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = f"wa-test-{uuid.uuid4().hex[:12]}"
    async with SESSION.client("s3", endpoint_url=moto_endpoint, region_name=REGION) as admin:
        await admin.create_bucket(Bucket=bucket)
    settings = load_settings(
        {
            "WA_PROFILE": "production",
            "WA_DATABASE_URL": "postgresql://unused/wa",
            "WA_REDIS_URL": "redis://unused",
            "WA_SECRET_KEY": "s" * 40,
            "WA_META_APP_SECRET": "unused",
            "WA_META_VERIFY_TOKEN": "unused",
            "WA_S3_BUCKET": bucket,
            "WA_S3_ENDPOINT_URL": moto_endpoint,
            "WA_S3_PREFIX": "/acme/prod/",
            **env,
        }
    )
    runtime = Runtime(settings=settings, _starters=[_start_blob_store])  # the store alone
    await runtime.start()
    try:
        store = runtime.blobs
        assert isinstance(store, S3BlobStore)
        k = key()
        await store.put(k, b"kept", content_type="text/plain")
        head = await store.client.head_object(Bucket=bucket, Key=f"acme/prod/{k}")
        assert head.get("ServerSideEncryption") == sse
        assert (await runtime.readiness())["storage"] == "ok"
    finally:
        await runtime.stop()


async def test_s3_without_encryption_and_readiness(moto_endpoint: str) -> None:
    async with s3_store(moto_endpoint, server_side_encryption=None) as store:
        k = key()
        await store.put(k, b"plain", content_type="text/plain")
        head = await store.client.head_object(Bucket=store.bucket, Key=k)
        assert "ServerSideEncryption" not in head
        await store.check()
    missing = S3BlobStore("no-such-bucket-here", endpoint_url=moto_endpoint, session=SESSION)
    async with missing:
        from whatsapp_core.errors import UpstreamUnavailable

        with pytest.raises(UpstreamUnavailable):
            await missing.check()
