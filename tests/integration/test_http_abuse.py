"""Abuse of `wa serve` (uvicorn, embedded profile) over real sockets: oversized bodies,
slow loris, a flood of idle connections. Each must leave the server answering others.

What uvicorn 0.54 (httptools) offers, and what this measures:
- ``timeout_keep_alive`` (5 s): an idle connection *after* a response is closed. Tested.
- no deadline on reading request headers, nor on a connection that never sends a byte:
  such a connection stays open as long as the client keeps it (or until the process
  runs out of file descriptors). Measured, not refused: production runs behind nginx,
  whose ``client_header_timeout`` (60 s) closes it with a 408.
- no deadline on the request body: the app adds one (``WA_HTTP_BODY_TIMEOUT_SECONDS``,
  30 s; 2 s here), answering 408 problem details and closing the connection.
- the body size: Litestar refuses a body over the route's limit (10 MB by default,
  100 MB for a media upload) with 413, before reading it when Content-Length says so,
  or as soon as a chunked one passes the limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from entrypoints.http.routes_media import MAX_UPLOAD_BYTES

pytestmark = pytest.mark.integration
WA = str(Path(sys.executable).with_name("wa"))
MB = 1024 * 1024
APP_LIMIT = 10 * MB  # Litestar's request_max_body_size default, which the app keeps
BODY_TIMEOUT = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        env |= {
            "WA_DATA_DIR": str(data_dir),
            "WA_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "WA_LOG_LEVEL": "WARNING",
        }
        self.during: list[float] = []  # health latencies measured while a test streams
        self.log = data_dir.parent / "serve.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [WA, "serve", "--port", str(self.port)], env=env, stdout=log, stderr=log
            )
        try:
            self._wait_and_register()
        except BaseException:
            self.stop()
            raise

    def _wait_and_register(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"wa serve exited: {self.log.read_text()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("wa serve did not answer in time")
        tag, digits = uuid.uuid4().hex[:8], str(uuid.uuid4().int)[:15]
        registered = httpx.post(
            self.url + "/api/auth/register",
            json={"tenant_slug": f"a-{tag}", "tenant_name": "Abuse", "email": f"a@{tag}.test",
                  "name": "Admin", "password": "correct horse battery",
                  "waba_id": "1" + digits, "phone_number_id": "2" + digits},
            timeout=30,
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        self.token = registered.json()["access_token"]
        self.pnid = "2" + digits

    def conversation(self) -> str:
        """A conversation with an open window: the customer writes through the Meta
        simulator mounted in the embedded profile, which delivers the signed webhook."""
        phone = "5511" + str(uuid.uuid4().int)[:9]
        played = httpx.post(
            self.url + "/meta-sim/_sim/inbound",
            json={"phone_number_id": self.pnid, "from": phone, "text": "hi", "wait": True},
            timeout=30,
        )
        assert played.status_code == 200, played.text
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            listed = httpx.get(
                self.url + "/api/conversations",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            ).json()
            found = [c["id"] for c in listed if c["contact"]["wa_id"] == phone]
            if found:
                return str(found[0])
            time.sleep(0.1)
        raise AssertionError("the simulated inbound message never arrived")

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: the embedded PostgreSQL is stopped with it
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def health_latencies(self, count: int = 10) -> list[float]:
        """Fresh connections, one request each: what a new client sees now."""
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            answer = httpx.get(self.url + "/api/health", timeout=5)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200
        return latencies


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("abuse") / "data")
    try:
        yield server
    finally:
        server.stop()


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body by Content-Length), however the send went."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """False once the server has stopped reading (it answered and closed)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body[:300]
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == expected


# -- oversized bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/register",  # no session needed
        "/api/webhooks/whatsapp",  # Meta's: refused before the signature is checked
        "/api/contacts",
        "/api/contacts/import",  # the CSV import reads its body whole
    ],
)
def test_an_announced_body_over_10_mb_is_413_before_it_is_read(served: Served, path: str) -> None:
    with served.connect() as sock:
        sock.sendall(
            request_head(
                "POST",
                path,
                {
                    "Authorization": f"Bearer {served.token}",
                    "Content-Type": "application/json",
                    "Content-Length": str(APP_LIMIT + 1),
                },
            )
        )
        send_quietly(sock, b"x" * 65536)  # a start; the rest never comes
        status, headers, body = read_response(sock)
        assert_problem(status, headers, body, 413)
        assert headers.get("connection") == "close"  # not kept open to drain 10 MB
    assert max(served.health_latencies(5)) < 1.0


def test_a_media_upload_has_its_own_limits(served: Served) -> None:
    """The upload route takes up to 100 MB (Meta's document limit), each type its own:
    an announced size over the type's limit is refused before reading (422, as the
    route documents); a chunked body is cut off as it passes 100 MB (413)."""
    conversation = served.conversation()
    path = f"/api/conversations/{conversation}/media?filename=big.pdf"
    auth = {"Authorization": f"Bearer {served.token}"}
    with served.connect() as sock:
        sock.sendall(request_head("POST", path, {
            **auth, "Content-Type": "image/png", "Content-Length": str(5 * MB + 1),
        }))  # fmt: skip
        status, headers, body = read_response(sock)
        assert_problem(status, headers, body, 422)
        assert json.loads(body)["reason"] == "too_large"
    sent, (status, headers, body) = stream_chunked(
        served, path, {**auth, "Content-Type": "application/pdf"}, MAX_UPLOAD_BYTES + 8 * MB
    )
    assert_problem(status, headers, body, 413)
    assert MAX_UPLOAD_BYTES <= sent < MAX_UPLOAD_BYTES + 8 * MB, sent


def test_a_chunked_body_is_cut_off_with_413_once_it_passes_10_mb(served: Served) -> None:
    """No Content-Length: read until it passes 10 MB, then refused; the server answers
    other clients while the body streams in."""
    sent, (status, headers, body) = stream_chunked(
        served, "/api/contacts",
        {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"},
        3 * APP_LIMIT, health_every=4 * MB,
    )  # fmt: skip
    assert_problem(status, headers, body, 413)
    # Refused as it passed the limit (``sent`` counts whole chunks), not at the end.
    assert APP_LIMIT <= sent < 2 * APP_LIMIT, sent
    assert served.during
    assert max(served.during) < 1.0


def stream_chunked(
    served: Served, path: str, headers: dict[str, str], up_to: int, health_every: int = 0
) -> tuple[int, tuple[int, dict[str, str], bytes]]:
    """POST a chunked body of up to ``up_to`` bytes, 1 MB a chunk, until the server
    answers; returns how much was sent by then, and the answer."""
    served.during = []
    with served.connect() as sock:
        sock.sendall(request_head("POST", path, {**headers, "Transfer-Encoding": "chunked"}))
        piece, sent = b"%x\r\n%s\r\n" % (MB, b" " * MB), 0
        while sent < up_to and not select.select([sock], [], [], 0)[0]:
            if not send_quietly(sock, piece):
                break
            sent += MB
            if health_every and sent % health_every == 0:
                served.during += served.health_latencies(1)
        return sent, read_response(sock)


# -- slow clients -------------------------------------------------------------------------


def test_a_stalled_body_is_answered_408_and_closed(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(
            request_head("POST", "/api/auth/login", {
                "Content-Type": "application/json", "Content-Length": "100",
            }) + b'{"email": "a@b.c", '
        )  # fmt: skip
        started = time.monotonic()
        status, headers, body = read_response(sock)
        waited = time.monotonic() - started
        assert_problem(status, headers, body, 408)
        assert headers.get("connection") == "close"
        assert sock.recv(1) == b""  # closed: the slot is free again
    assert BODY_TIMEOUT <= waited < BODY_TIMEOUT + 2


def test_slow_loris_headers_do_not_block_other_clients(served: Served) -> None:
    """50 connections send their headers one byte every 0.3 s, never finishing, for
    about 6 s. New clients are answered as fast as before meanwhile. uvicorn has no
    header deadline, so the slow connections are still open at the end (measured and
    reported, not refused: in production nginx's client_header_timeout closes them)."""
    before = statistics.median(served.health_latencies(10))
    head = request_head("POST", "/api/auth/login", {"Content-Type": "application/json"})
    slow = [served.connect() for _ in range(50)]
    stop = threading.Event()

    def trickle() -> None:
        for i in range(len(head) - 2):  # never the last CRLF
            if stop.wait(0.3):
                return
            for sock in slow:
                send_quietly(sock, head[i : i + 1])

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        during: list[float] = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            during += served.health_latencies(5)
            time.sleep(0.2)
        still_open = sum(_is_open(sock) for sock in slow)
    finally:
        stop.set()
        sender.join(timeout=5)
        for sock in slow:
            sock.close()
    print(
        f"\nslow loris: health p50 {before * 1000:.1f} ms before, "
        f"{statistics.median(during) * 1000:.1f} ms (max {max(during) * 1000:.1f} ms) during; "
        f"{still_open}/50 slow connections still open after 6 s"
    )
    assert max(during) < 1.0
    assert statistics.median(during) < max(10 * before, 0.05)


def test_many_idle_connections_do_not_block_health(served: Served) -> None:
    """500 connections that never send a byte (uvicorn keeps them all), then 20
    health checks from new clients."""
    idle = [served.connect() for _ in range(500)]
    try:
        latencies = served.health_latencies(20)
        still_open = sum(_is_open(sock) for sock in idle[:50])
    finally:
        for sock in idle:
            sock.close()
    print(f"\n500 idle connections: health max {max(latencies) * 1000:.1f} ms; "
          f"{still_open}/50 sampled still open")  # fmt: skip
    assert max(latencies) < 1.0


def test_an_idle_keep_alive_connection_is_closed_after_uvicorns_timeout(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(request_head("GET", "/api/health", {}))
        status, _, _ = read_response(sock)
        assert status == 200
        started = time.monotonic()
        sock.settimeout(15)
        assert sock.recv(1) == b""
        closed_after = time.monotonic() - started
    assert 4 <= closed_after < 7  # uvicorn's timeout_keep_alive, 5 s


def _is_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True  # nothing to read and not closed
    except OSError:
        return False
    finally:
        sock.setblocking(True)
