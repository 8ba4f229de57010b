"""Exports and the job monitor through HTTP, on the embedded PostgreSQL and real Redis
(production profile, local-folder blob store), with the worker run in-process.

- 5,000 contacts imported over the API, exported by the ``export.build`` job, followed
  in the monitor while it runs, downloaded. The build time is printed (``-s``), not
  asserted.
- An export whose blob store is down keeps failing until it is dead; the monitor shows
  it with its error and correlation id; retry queues it again (and with the store back
  it succeeds), discard removes another; both are audited; another tenant's manager
  sees none of it.
- With the S3 store (moto's server on localhost, real HTTP, real aioboto3) the download
  is a redirect to a presigned link that lives minutes, and that link serves the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import time
import uuid
from collections.abc import AsyncIterable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioboto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from adapters.memory.media import MemoryBlobStore
from adapters.storage.s3 import S3BlobStore
from entrypoints.worker.runner import Worker, build_worker
from tests.integration.http_world import Http, World, redis_reachable, running_app
from whatsapp_core.errors import StorageError
from whatsapp_core.exports import CONTACT_COLUMNS
from whatsapp_core.jobs import RetryPolicy
from whatsapp_core.media import PRESIGNED_URL_SECONDS, StoredBlob

pytestmark = pytest.mark.integration
CONTACTS = 5000


@pytest.fixture
def http(embedded_pg: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Http]:
    """One app and database per test: each drains the whole queue with its worker."""
    if not redis_reachable():
        pytest.fail("Redis is not running on 127.0.0.1:6379 (bash scripts/services.sh starts it)")
    with running_app(embedded_pg, tmp_path_factory.mktemp("jobs")) as running:
        yield running


class DownBlobStore(MemoryBlobStore):
    """A store that cannot be reached: every write fails as S3 or a full disk would."""

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str
    ) -> StoredBlob:
        raise StorageError("the file store is unreachable (connection refused)")


def worker(http: Http, **options: Any) -> Worker:
    runtime = http.runtime
    assert runtime.gateway is not None
    built: Worker = http.run(lambda: _build(runtime, options))
    return built


async def _build(runtime: Any, options: dict[str, Any]) -> Worker:
    return build_worker(runtime, runtime.gateway, **options)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def import_contacts(w: World, n: int) -> None:
    lines = ["name,phone,tags"] + [f"Customer {w.tag} {i},551190{i:07d},vip" for i in range(n)]
    report = ok(
        w.http.call(
            "POST", "/api/contacts/import", {**w.admin, "Content-Type": "text/csv"},
            content="\n".join(lines).encode(),
        )
    )  # fmt: skip
    assert (report["created"], report["rejected"]) == (n, [])


def test_5000_contacts_exported_by_the_job_and_downloaded(http: Http) -> None:
    w = World.register(http)
    import_contacts(w, CONTACTS)
    manager = w.user("manager")
    accepted = ok(http.call("POST", "/api/exports", manager, json={"kind": "contacts"}), 202)
    export_id = accepted["id"]
    assert accepted["status_url"] == f"/api/exports/{export_id}"
    queued = ok(http.call("GET", f"/api/exports/{export_id}", manager))
    assert (queued["status"], queued["download_url"]) == ("queued", None)

    runner = worker(http)
    started = time.perf_counter()
    handled = http.run(runner.drain)
    took = time.perf_counter() - started
    print(f"\nexport of {CONTACTS} contacts: {took * 1000:.0f} ms in the worker ({handled} job)")

    status = ok(http.call("GET", f"/api/exports/{export_id}", manager))
    assert (status["status"], status["rows_done"], status["rows_total"]) == (
        "ready", CONTACTS, CONTACTS,
    )  # fmt: skip
    assert status["download_url"] == f"/api/exports/{export_id}/download"
    job = ok(http.call("GET", f"/api/jobs/{export_id}", manager))
    assert (job["kind"], job["status"], job["attempts"]) == ("export.build", "done", 1)
    assert job["outcome"].startswith(f"exported {CONTACTS} of {CONTACTS} rows (")

    download = http.call("GET", status["download_url"], manager)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert download.headers["cache-control"] == "private, no-store"
    text = download.content.decode()
    assert len(text.splitlines()) == CONTACTS + 1
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CONTACT_COLUMNS)
    assert {len(r) for r in rows} == {len(CONTACT_COLUMNS)}
    assert len({r[1] for r in rows[1:]}) == CONTACTS  # every phone exactly once
    assert all(r[0].startswith(f"Customer {w.tag} ") and r[4] == "vip" for r in rows[1:])

    # an agent may not take the address book, nor follow or download its export
    agent = w.user("agent")
    for path in ("/api/exports", f"/api/exports/{export_id}", status["download_url"]):
        method = "POST" if path == "/api/exports" else "GET"
        body = {"kind": "contacts"} if method == "POST" else None
        assert http.call(method, path, agent, json=body).status_code == 403

    actions = [(e["action"], e["entity_id"]) for e in ok(http.call("GET", "/api/audit", w.admin))]
    for action in ("export.request", "export.build", "export.download"):
        assert (action, export_id) in actions


def test_progress_shows_in_the_monitor_while_an_export_runs(http: Http) -> None:
    w = World.register(http)
    import_contacts(w, CONTACTS)
    manager = w.user("manager")
    export_id = ok(
        http.call("POST", "/api/exports", manager, json={"kind": "contacts", "format": "json"}),
        202,
    )["id"]
    runner = worker(http, poll_interval=0.01)
    task = http.client.blocking_portal.start_task_soon(runner.run)
    seen: list[str] = []
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < 60:
            listed = ok(
                http.call("GET", "/api/jobs?status=running,done&kind=export.build", manager)
            )
            (job,) = [j for j in listed["jobs"] if j["id"] == export_id] or [None]
            if job and job["outcome"]:
                seen.append(job["outcome"])
            if job and job["status"] == "done":
                break
    finally:
        runner.stop()
        task.result(timeout=30)
    took = time.perf_counter() - started
    progress = [o for o in dict.fromkeys(seen) if o.startswith("exporting:")]
    print(f"\nJSON export of {CONTACTS} contacts: {took * 1000:.0f} ms; the monitor saw {progress}")
    assert seen[-1].startswith(f"exported {CONTACTS} of {CONTACTS} rows")
    assert all(o.endswith(f" of {CONTACTS} rows") for o in progress)
    download = http.call("GET", f"/api/exports/{export_id}/download", manager)
    assert download.status_code == 200
    document = download.json()
    assert len(document["contacts"]) == CONTACTS


def test_a_job_that_keeps_failing_ends_dead_then_is_retried_or_discarded(http: Http) -> None:
    a, b = World.register(http), World.register(http)
    a.customer_says()
    manager, theirs = a.user("manager"), b.user("manager")
    correlation = f"monitor-{uuid.uuid4().hex[:12]}"
    exports = [
        ok(http.call("POST", "/api/exports", {**manager, "X-Request-ID": f"{correlation}-{i}"},
                     json={"kind": "contacts"}), 202)["id"]
        for i in range(2)
    ]  # fmt: skip
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, cap=0.001, recipient_delay=0.001,
                         rng=lambda: 0.0)  # fmt: skip
    http.run(worker(http, policy=policy, blobs=DownBlobStore()).drain)

    listed = ok(http.call("GET", "/api/jobs", manager))
    depth = {d["kind"]: d for d in listed["depths"]}["export.build"]
    assert (depth["dead"], depth["queued"], depth["running"], depth["retrying"]) == (2, 0, 0, 0)
    dead = {j["id"]: j for j in listed["jobs"] if j["status"] == "dead"}
    assert set(exports) <= set(dead)
    for i, export_id in enumerate(exports):
        job = dead[export_id]
        assert job["attempts"] == 3
        assert job["correlation_id"] == f"{correlation}-{i}"
        assert job["last_error"].startswith("gave up after 3 attempts: StorageError: ")
        assert "unreachable" in job["last_error"]
        assert job["created_at"]
        assert job["next_run_at"] is None
    failed = ok(http.call("GET", f"/api/exports/{exports[0]}", manager))
    assert failed["status"] == "failed"
    assert "unreachable" in failed["error"]

    # another tenant's manager sees none of it, and can touch none of it
    foreign = ok(http.call("GET", "/api/jobs?status=queued,running,retrying,dead", theirs))
    assert foreign == {"depths": [], "jobs": []}
    for method, path in (
        ("GET", f"/api/jobs/{exports[0]}"),
        ("POST", f"/api/jobs/{exports[0]}/retry"),
        ("DELETE", f"/api/jobs/{exports[1]}"),
        ("GET", f"/api/exports/{exports[0]}"),
    ):
        answer = http.call(method, path, theirs)
        assert answer.status_code == 404, (path, answer.text)
        assert correlation not in answer.text
    # below manager: refused
    assert http.call("GET", "/api/jobs", a.user("agent")).status_code == 403

    retried = ok(http.call("POST", f"/api/jobs/{exports[0]}/retry", manager))
    assert (retried["status"], retried["attempts"]) == ("queued", 0)
    assert retried["next_run_at"] is not None
    again = http.call("POST", f"/api/jobs/{exports[0]}/retry", manager)
    assert again.status_code == 409  # only a dead job
    assert http.call("DELETE", f"/api/jobs/{exports[1]}", manager).status_code == 204
    assert http.call("GET", f"/api/jobs/{exports[1]}", manager).status_code == 404
    assert http.call("DELETE", f"/api/jobs/{exports[1]}", manager).status_code == 404

    http.run(worker(http).drain)  # the store is back: the retried export now succeeds
    assert ok(http.call("GET", f"/api/exports/{exports[0]}", manager))["status"] == "ready"
    assert ok(http.call("GET", "/api/jobs", manager))["jobs"] == []

    manager_actor = f"user:{a.user_ids['manager']}"
    audit = ok(http.call("GET", "/api/audit", a.admin))
    mine = {(e["action"], e["entity_id"]): e for e in audit if e["action"].startswith("job.")}
    assert set(mine) == {("job.retry", exports[0]), ("job.discard", exports[1])}
    assert {e["actor"] for e in mine.values()} == {manager_actor}
    assert mine[("job.retry", exports[0])]["before"]["status"] == "dead"
    assert mine[("job.discard", exports[1])]["before"]["correlation_id"] == f"{correlation}-1"
    assert not [
        e for e in ok(http.call("GET", "/api/audit", b.admin)) if e["action"].startswith("job.")
    ]


def test_the_jobs_page_is_linked_for_managers_only(http: Http) -> None:
    w = World.register(http)
    for role, linked in (("manager", True), ("agent", False)):
        token = w.user(role)["Authorization"].removeprefix("Bearer ")
        page = http.call("GET", "/jobs", {"Cookie": f"wa_access={token}"})
        assert page.status_code == 200, page.text
        assert ('href="/jobs"' in page.text) is linked
        assert ('id="depths-body"' in page.text) is linked
        assert "/static/jobs.js" in page.text


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def s3_blobs(http: Http, endpoint: str, prefix: str) -> Iterator[S3BlobStore]:
    """The app's (and its workers') blob store swapped for S3, opened on the app's loop."""
    session = aioboto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    store = S3BlobStore(
        f"wa-exports-{uuid.uuid4().hex[:8]}", endpoint_url=endpoint, prefix=prefix,
        session=session,
    )  # fmt: skip
    http.run(store.start)
    before, http.runtime.blobs = http.runtime.blobs, store
    try:
        http.run(lambda: store.client.create_bucket(Bucket=store.bucket))
        yield store
    finally:
        http.runtime.blobs = before
        http.run(store.aclose)


def test_with_s3_the_download_is_a_short_presigned_link(http: Http) -> None:
    w = World.register(http)
    import_contacts(w, 300)
    manager = w.user("manager")
    with moto_server() as endpoint, s3_blobs(http, endpoint, prefix="acme-prod") as s3:
        asked = http.call("POST", "/api/exports", manager, json={"kind": "contacts"})
        export_id = ok(asked, 202)["id"]
        assert http.run(worker(http).drain) == 1
        status = ok(http.call("GET", f"/api/exports/{export_id}", manager))
        assert (status["status"], status["rows_done"]) == ("ready", 300)

        # stored under the deployment's prefix and the tenant's folder, encrypted (SSE-S3)
        name = f"acme-prod/tenants/{w.tenant_id}/exports/{export_id}.csv"
        head = http.run(lambda: s3.client.head_object(Bucket=s3.bucket, Key=name))
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentType"].startswith("text/csv")

        # (not through http.call: its client would follow the link into the app)
        answer = http.client.get(status["download_url"], headers=manager, follow_redirects=False)
        assert answer.status_code in (302, 307), answer.text
        assert answer.headers["cache-control"] == "private, no-store"
        link = answer.headers["location"]
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == endpoint
        assert parts.path == f"/{s3.bucket}/{name}"
        query = parse_qs(parts.query)
        assert query["X-Amz-Expires"] == [str(PRESIGNED_URL_SECONDS)]
        assert int(query["X-Amz-Expires"][0]) <= 600  # minutes, not days
        assert "X-Amz-Signature" in query
        assert "attachment" in query["response-content-disposition"][0]

        # The browser follows the link with no credentials of ours: the signature is one.
        fetched = httpx.get(link, timeout=10)
        assert fetched.status_code == 200, fetched.text
        assert fetched.headers["content-disposition"].endswith(f"''{status['filename']}")
        assert fetched.content == http.run(lambda: _read(s3, name.removeprefix("acme-prod/")))
        rows = list(csv.reader(io.StringIO(fetched.content.decode())))
        assert rows[0] == list(CONTACT_COLUMNS)
        assert sorted(r[1] for r in rows[1:]) == sorted(f"551190{i:07d}" for i in range(300))
        assert all(r[0].startswith(f"Customer {w.tag} ") for r in rows[1:])

    audit = ok(http.call("GET", "/api/audit", w.admin))
    (downloaded,) = [
        e for e in audit if (e["action"], e["entity_id"]) == ("export.download", export_id)
    ]
    assert downloaded["after"]["link"] is True  # handed a link, not streamed


async def _read(store: S3BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(key)])
