"""Slow and idle clients against `modpack serve`: header, idle and stalled-body timeouts, the cap.

Real nodes on 127.0.0.1 (in this process, or `python -m modpack serve` for the options), real
sockets written byte by byte. Timeouts are set short through the options so that the tests are
quick; the only time bounds asserted are hang guards, ten times the timeout or more.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import select
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modpack.rest.cluster import LocalCluster
from modpack.rest.guard import MAX_HEAD, GuardedH11
from modpack.rest.limits import ConnectionLimits
from modpack.rest.paths import ARTIFACTS, MODULES
from tests.support.cli import run_modpack
from tests.support.rest import (
    ADMIN,
    module_json,
    running_cluster,
    serve_processes,
    wait_until,
    write_bundle,
)

AUTH = "Basic " + base64.b64encode(f"{ADMIN.user}:{ADMIN.password}".encode()).decode()
QUICK = ConnectionLimits(header_timeout=1.0, idle_timeout=1.0, body_timeout=2.0, max_connections=64)
# Long idle timeout, body timeout three times the pauses the tests make: room for a loaded machine.
PATIENT = ConnectionLimits(header_timeout=1.0, idle_timeout=30.0, body_timeout=3.0, max_connections=64)
GUARD = 20.0  # hang guard: ten times and more any timeout above


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# --- raw HTTP/1.1 over real sockets -----------------------------------------------------------


def connect(cluster: LocalCluster, node: int = 1) -> socket.socket:
    """A connection to `node`, over TLS (verified with the cluster's certificate) when it serves HTTPS."""
    port = cluster.nodes[node - 1].port
    sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
    if cluster.scheme == "http":
        return sock
    context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    return context.wrap_socket(sock, server_hostname="127.0.0.1")


def head(method: str, path: str, *extra: str, length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {AUTH}", *extra]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> Answer:
    """One HTTP/1.1 answer with a Content-Length body; AssertionError if the connection ends first."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(sock)
    top, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += receive(sock)
    return Answer(int(status_line.split()[1]), headers, rest[:length])


def receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the connection closed before a complete answer"
    return chunk


def closed(sock: socket.socket) -> bool:
    """True when the server closed the connection (EOF or reset) within the hang guard."""
    sock.settimeout(GUARD)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def get(sock: socket.socket, path: str = "/v1/nodes") -> Answer:
    sock.sendall(head("GET", path))
    return read_answer(sock)


def trickle_until_answered(sock: socket.socket, data: bytes, every: float) -> tuple[Answer, float]:
    """Send `data` one byte per `every` seconds until the server answers; the answer and when."""
    start = time.monotonic()
    for byte in data:
        readable, _, _ = select.select([sock], [], [], every)
        if readable or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            return read_answer(sock), time.monotonic() - start
        assert time.monotonic() - start < GUARD, "no answer within the hang guard"
        sock.sendall(bytes([byte]))
    raise AssertionError("the whole head was sent without an answer")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-node HTTPS cluster with timeouts of a second or two."""
    with running_cluster(tmp_path_factory.mktemp("slow") / "data", limits=QUICK) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("patient") / "data", limits=PATIENT) as cluster:
        yield cluster


# --- header timeout ---------------------------------------------------------------------------


def test_a_client_trickling_its_headers_gets_408_and_is_closed(quick: LocalCluster) -> None:
    started = time.monotonic()  # before the connect: the server's clock starts at its accept, later
    sock = connect(quick)
    with contextlib.closing(sock):
        slow_head = b"GET /v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000
        answer, _ = trickle_until_answered(sock, slow_head, every=0.1)
        after = time.monotonic() - started
        assert answer.status == 408
        assert answer.headers["connection"] == "close"
        assert answer.json()["error_code"] == "request_timeout"
        assert "headers did not arrive within 1 s" in answer.json()["description"]
        assert closed(sock)
    # The deadline is the header timeout, counted from the accept: never cut short.
    assert after >= QUICK.header_timeout * 0.9


def test_a_connection_that_sends_nothing_gets_408(quick: LocalCluster) -> None:
    with contextlib.closing(connect(quick)) as sock:
        answer = read_answer(sock)
        assert answer.status == 408
        assert closed(sock)


def test_the_header_timer_restarts_for_each_request_on_a_kept_alive_connection(
    patient: LocalCluster,
) -> None:
    """A request sent longer than the header timeout after the accept, on a kept-alive
    connection, is served: its head is timed from its own first byte."""
    with contextlib.closing(connect(patient)) as sock:
        assert get(sock).status == 200
        time.sleep(PATIENT.header_timeout * 1.5)  # idle, well within the keep-alive timeout
        assert get(sock).status == 200


def test_a_head_past_16_kib_gets_431_however_it_arrives(quick: LocalCluster) -> None:
    """h11 checks its limit only on a head still incomplete after a read; whole, it passed."""
    big = head("GET", "/v1/nodes", "X-Big: " + "a" * 65536)
    for pieces in ([big], [big[:3000], big[3000:]]):
        with contextlib.closing(connect(quick)) as sock:
            for piece in pieces:
                sock.sendall(piece)
            answer = read_answer(sock)
            assert answer.status == 431
            assert answer.json()["error_code"] == "headers_too_large"
            assert closed(sock)
    with contextlib.closing(connect(quick)) as sock:  # 15 KiB of headers are fine
        sock.sendall(head("GET", "/v1/nodes", "X-Big: " + "a" * 15000))
        assert read_answer(sock).status == 200


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The QUICK limits over plain HTTP: what arrives in one read is what the client sent at once."""
    with running_cluster(tmp_path_factory.mktemp("plain") / "data", limits=QUICK, https=False) as cluster:
        yield cluster


def test_a_head_that_fills_the_limit_exactly_then_goes_on_gets_431(
    plain: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads that end exactly at 16 KiB, then more head: once, the rest was fed to h11 as an empty
    read, which h11 takes for the end of the stream, so the client got uvicorn's bare 400.

    The server's reads are recorded: the case is only made when a read ended exactly at the limit
    and another followed. Under load the two sends may arrive as one read; the connection is then
    tried again with a longer pause, and the test fails if the boundary was never crossed."""
    reads: dict[int, list[int]] = {}
    nested = [0]
    original = GuardedH11.data_received

    def recorded(self: GuardedH11, data: bytes) -> None:
        # A read from the socket (not the guard feeding itself the rest) before any answer (not
        # what a connection of an earlier try still sends while its 431 lingers).
        if not nested[0] and not self._closing:
            reads.setdefault(id(self), []).append(len(data))
        nested[0] += 1
        try:
            original(self, data)
        finally:
            nested[0] -= 1

    monkeypatch.setattr(GuardedH11, "data_received", recorded)
    big = head("GET", "/v1/nodes", "X-Big: " + "a" * 65536)
    seen = []
    for pause in (0.3, 1.0, 3.0):
        reads.clear()
        with contextlib.closing(connect(plain)) as sock:
            sock.sendall(big[:MAX_HEAD])
            time.sleep(pause)  # for the server to read the first 16 KiB before the rest arrives
            sock.sendall(big[MAX_HEAD:])
            answer = read_answer(sock)
        assert answer.status == 431, answer
        assert answer.json()["error_code"] == "headers_too_large"
        (sizes,) = reads.values()
        seen.append(sizes)
        ends = list(itertools.accumulate(sizes))
        if MAX_HEAD in ends[:-1]:  # a read ended exactly at the limit, and more was read after it
            return
    raise AssertionError(f"no read ended exactly at {MAX_HEAD} bytes: the server read {seen}")


def test_a_refused_head_lingers_so_a_client_still_sending_is_not_reset(plain: LocalCluster) -> None:
    """A client that sends a whole oversized head at once is still writing when the 431 comes.
    Closed at once, the server's socket answered the unread bytes with a reset, and the client's
    write failed, its 431 unread (seen in CI under load); the server now reads and drops them."""
    big = head("GET", "/v1/nodes", "X-Big: " + "a" * 65536)
    with contextlib.closing(connect(plain)) as sock:
        sock.sendall(big[: MAX_HEAD + 1024])
        answer = read_answer(sock)  # the 431 is out: the server has decided
        for start in range(MAX_HEAD + 1024, len(big), 4096):  # the rest of what the client had queued
            sock.sendall(big[start : start + 4096])
            time.sleep(0.01)
        assert answer.status == 431
        assert closed(sock)  # closed after the linger


# --- idle keep-alive --------------------------------------------------------------------------


def test_an_idle_keep_alive_connection_is_closed_without_an_answer(quick: LocalCluster) -> None:
    with contextlib.closing(connect(quick)) as sock:
        start = time.monotonic()  # before the request: the server's idle clock starts after its answer
        assert get(sock).status == 200
        assert closed(sock)  # EOF, not an unsolicited answer a pooled client would misread
        assert time.monotonic() - start >= QUICK.idle_timeout * 0.9


# --- stalled body -----------------------------------------------------------------------------


def multipart(bundle: bytes, boundary: str = "slow0boundary") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="module"; filename="m.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + bundle
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"Content-Type: multipart/form-data; boundary={boundary}"


def test_a_stalled_upload_gets_408_and_leaves_nothing_behind(patient: LocalCluster, tmp_path: Path) -> None:
    node = patient.nodes[0]
    temporary = node.artifacts.root / ".tmp"
    bundle = write_bundle(tmp_path / "hello.zip").read_bytes()
    body, content_type = multipart(bundle)
    with contextlib.closing(connect(patient)) as sock:
        assert get(sock, ARTIFACTS).json() == []  # credentials checked once, before the clock matters
        sock.sendall(head("POST", ARTIFACTS, content_type, length=len(body)) + body[: len(body) // 2])
        # The upload has begun: its temporary file exists while the client is silent.
        wait_until(lambda: any(temporary.iterdir()), timeout=PATIENT.body_timeout)
        answer = read_answer(sock)
        assert answer.status == 408
        assert answer.json()["error_code"] == "request_timeout"
        assert "body stalled" in answer.json()["description"]
        assert closed(sock)
    wait_until(lambda: not any(temporary.iterdir()), timeout=GUARD)
    assert not (node.artifacts.root / "hello").exists()
    with contextlib.closing(connect(patient)) as sock:
        assert get(sock, ARTIFACTS).json() == []


def test_a_stalled_json_body_gets_408_stores_nothing_and_logs_no_traceback(
    quick: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    document = json.dumps(module_json(module_name="stalled")).encode()
    with contextlib.closing(connect(quick)) as sock:
        sock.sendall(head("POST", MODULES, "Content-Type: application/json", length=len(document)))
        sock.sendall(document[: len(document) // 2])
        answer = read_answer(sock)
        assert answer.status == 408
        assert closed(sock)
    with contextlib.closing(connect(quick)) as sock:
        assert [m["module_name"] for m in get(sock, "/v1/modules").json()] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_slow_but_steady_upload_is_not_cut(patient: LocalCluster, tmp_path: Path) -> None:
    """Bytes every half body timeout keep the upload alive: the timer is for silence, not for the total."""
    bundle = write_bundle(tmp_path / "hello.zip").read_bytes()
    body, content_type = multipart(bundle)  # no module object: refused, but only once judged
    step = len(body) // 5 + 1
    pieces = [body[i : i + step] for i in range(0, len(body), step)]
    with contextlib.closing(connect(patient)) as sock:
        sock.sendall(head("POST", ARTIFACTS, content_type, length=len(body)))
        for piece in pieces:  # five pauses of a third of the body timeout: more than it in all
            time.sleep(PATIENT.body_timeout / 3)
            sock.sendall(piece)
        answer = read_answer(sock)
    assert answer.status == 406, answer.body  # judged as a bundle: the whole body arrived
    assert answer.json()["error_code"] == "no_module_object"


# --- the connection cap -----------------------------------------------------------------------


@pytest.fixture(params=["https", "http"])
def capped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalCluster]:
    """Three connections per node, long timeouts: only the cap decides."""
    limits = ConnectionLimits(header_timeout=60, idle_timeout=60, body_timeout=60, max_connections=3)
    with running_cluster(tmp_path / "data", limits=limits, https=request.param == "https") as cluster:
        yield cluster


def test_the_cap_refuses_a_new_connection_only_when_every_slot_holds_a_request(capped: LocalCluster) -> None:
    existing = connect(capped)
    slow = [connect(capped) for _ in range(2)]
    with contextlib.ExitStack() as stack:
        for sock in [existing, *slow]:
            stack.enter_context(contextlib.closing(sock))
        assert get(existing).status == 200  # established, then idle: kept
        for sock in slow:
            sock.sendall(b"GET /v1/nodes HTTP/1.1\r\nHost: 1")  # headers never finished

        # A fourth connection: the oldest slow one gives way, and the new one is served.
        fresh = [stack.enter_context(contextlib.closing(connect(capped))) for _ in range(2)]
        for sock in fresh:
            assert get(sock).status == 200
        for sock in slow:
            assert evicted(sock)

        # Every slot now holds a connection that sent a request: a new one is refused, quickly.
        assert refused(capped)
        # ...while the established connections, and other nodes, still answer.
        assert get(existing).status == 200
        assert get(fresh[0]).status == 200
        with contextlib.closing(connect(capped, node=2)) as other:
            assert get(other).status == 200
    # Closed connections give their slots back.
    wait_until(lambda: capped_node_open(capped) == 0, timeout=GUARD)
    with contextlib.closing(connect(capped)) as again:
        assert get(again).status == 200


def evicted(sock: socket.socket) -> bool:
    """The connection ended: with a 408 when it had got far enough to be answered, else reset."""
    sock.settimeout(GUARD)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, ssl.SSLError):
        return True
    if data:
        assert data.startswith(b"HTTP/1.1 408 "), data
        return closed(sock)
    return True


def refused(cluster: LocalCluster) -> bool:
    """Over HTTPS the connection is closed before the handshake; over HTTP a 503 says when to retry."""
    if cluster.scheme == "https":
        with pytest.raises(OSError):
            sock = connect(cluster)
            sock.close()
        return True
    with contextlib.closing(connect(cluster)) as sock:
        answer = read_answer(sock)  # sent at once, before any request
        assert answer.status == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error_code"] == "too_many_connections"
        return closed(sock)


def capped_node_open(cluster: LocalCluster) -> int:
    """The connections node 1 counts, read from its guard."""
    running = cluster._running[1]  # the node's uvicorn server, for its guard
    guard = running.server.config.http
    return int(guard.gate.open)


# --- the options ------------------------------------------------------------------------------


def test_serve_options_set_the_limits(tmp_path: Path) -> None:
    extra = ("--http", "--header-timeout", "2", "--idle-timeout", "0.5", "--max-connections", "1")
    with serve_processes(tmp_path / "data", *extra) as start:
        info = start()
        port = int(info["nodes"][0]["url"].rsplit(":", 1)[1])
        with contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=GUARD)) as first:
            answer = read_answer(first)  # nothing sent: 408 after two seconds
            assert answer.status == 408
            assert "within 2 s" in answer.json()["description"]
        with contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=GUARD)) as sock:
            assert get(sock).status == 200
            assert closed(sock)  # idle for half a second


@pytest.mark.parametrize(
    "option", ["--header-timeout", "--idle-timeout", "--body-timeout", "--max-connections"]
)
def test_a_limit_of_zero_is_a_usage_error(option: str, tmp_path: Path) -> None:
    result = run_modpack("serve", "--data", tmp_path / "data", option, "0")
    assert result.returncode == 2
    assert option in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize("option", ["--header-timeout", "--idle-timeout", "--body-timeout"])
def test_a_limit_that_is_no_finite_number_is_a_usage_error(option: str, value: str, tmp_path: Path) -> None:
    """click's FloatRange lets nan and inf through: nan was an internal error (ValueError from
    ConnectionLimits), inf was taken and the cluster started with no limit at all."""
    result = run_modpack("serve", "--data", tmp_path / "data", "--port", "0", option, value)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"modpack: {option} {value}: give a positive, finite number of seconds" in result.stderr
    assert not (tmp_path / "data").exists()


# --- memory per connection --------------------------------------------------------------------


def tls_layers(cluster: LocalCluster) -> list[Any]:
    from modpack.rest.guard import LeanTLS

    connections = cluster._running[1].server.server_state.connections  # the node's uvicorn state
    return [c for c in list(connections) if isinstance(c, LeanTLS)]


def test_tls_reads_start_small_and_grow_only_for_bulk(patient: LocalCluster, tmp_path: Path) -> None:
    """An idle HTTPS connection holds a 4 KiB read buffer, not asyncio's 256 KiB; an upload grows it."""
    from modpack.rest.guard import BULK_READ, SMALL_READ

    with contextlib.closing(connect(patient)) as idle, contextlib.closing(connect(patient)) as bulk:
        assert get(idle).status == 200
        assert get(bulk).status == 200
        body, content_type = multipart(b"\0" * (4 * 1024 * 1024))
        bulk.sendall(head("POST", ARTIFACTS, content_type, length=len(body)) + body)
        assert read_answer(bulk).status == 400  # not a zip, judged once complete
        sizes = sorted(layer.max_size for layer in tls_layers(patient))
    assert sizes == [SMALL_READ, BULK_READ]
