"""The client's HTTP on the standard library (modpack/rest/transport.py), on the wire: a proxy from
the environment, kept-alive connections, an answer that comes before the body is sent whole.

Every peer is real: `modpack serve` on loopback, an http.server on a thread, and a CONNECT proxy
written here on plain sockets, which records what it relays.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.errors import ModpackError, UsageError
from modpack.rest import client, transport
from modpack.rest.paths import ARTIFACTS
from tests.support.rest import ADMIN, cli, connection, module_json, running_cluster, write_bundle


class Relay:
    """An HTTP CONNECT proxy on loopback: the targets it was asked for, and every byte it relayed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.targets: list[str] = []
        self.relayed = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                peer, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(peer,), daemon=True).start()

    def _tunnel(self, peer: socket.socket) -> None:
        with peer, contextlib.suppress(OSError):
            head = read_head(peer)
            if head is None:
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            with self.lock:
                self.targets.append(f"{method} {target}")
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                peer.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pump(peer, upstream)

    def _pump(self, one: socket.socket, other: socket.socket) -> None:
        while True:
            readable, _, _ = select.select([one, other], [], [], 30)
            if not readable:
                return
            for source in readable:
                data = source.recv(256 * 1024)
                if not data:
                    return
                (other if source is one else one).sendall(data)
                with self.lock:
                    self.relayed += data[:4096]  # enough to look for clear text


@pytest.fixture
def relay() -> Iterator[Relay]:
    proxy = Relay()
    yield proxy
    proxy.close()


def test_publish_goes_through_the_https_proxy_of_the_environment(
    relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY is honoured (as before, when an HTTP library read it): every call goes through a
    CONNECT tunnel, so the password and the bundle cross the proxy only inside TLS."""
    bundle = write_bundle(tmp_path / "hello.zip", module_json(module_name="proxied"))
    monkeypatch.setenv("HTTPS_PROXY", relay.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with running_cluster(tmp_path / "data") as cluster:
        published = cli(cluster, "publish", bundle)
        assert published.returncode == 0, published.stderr
        assert published.stdout.count(": uploaded: hello.zip") == 3
    ports = {url.rsplit(":", 1)[1] for url in cluster.urls}
    assert {t.rsplit(":", 1)[1] for t in relay.targets} == ports
    assert all(t.startswith("CONNECT 127.0.0.1:") for t in relay.targets)
    assert ADMIN.password.encode() not in relay.relayed
    assert b"Authorization" not in relay.relayed and b"module.json" not in relay.relayed


def test_no_proxy_sends_the_cluster_direct(
    relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", relay.url)
    monkeypatch.setenv("no_proxy", "example.com, 127.0.0.0/8")
    with running_cluster(tmp_path / "data") as cluster, client.Api(connection(cluster)) as api:
        assert len(client.nodes(api)) == 3
    assert relay.targets == []


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("cluster.example.com", "example.com", True),
        ("cluster.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("badexample.com", "example.com", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("::1", "::1", True),
        ("::1", "::/127", True),
        ("anything", "*", True),
        ("anything", "", False),
        ("anything", " , other", False),
        ("c.example", "c.example:9443", True),  # the URL's port
        ("c.example", "c.example:443", False),
        ("c.example", "*.example", True),
        ("c.example.", "c.example", True),  # a fully qualified name
        ("10.1.2.3", "2.3", False),  # a name never matches part of an address
        ("::1", "[::1]:9443", True),
    ],
)
def test_no_proxy_entries(host: str, no_proxy: str, bypassed: bool) -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy}
    url = f"https://[{host}]:9443" if ":" in host else f"https://{host}:9443"
    found = transport.proxy_for(url, environ)
    assert (found is None) == bypassed
    if found is not None:
        assert (found.host, found.port) == ("proxy", 3128)


def test_proxy_credentials_travel_only_to_the_proxy() -> None:
    found = transport.proxy_for("https://c:9443", {"ALL_PROXY": "http://ann:s%40cret@proxy:8080"})
    assert found == transport.Proxy("proxy", 8080, "Basic YW5uOnNAY3JldA==", "ALL_PROXY")  # ann:s@cret


@pytest.mark.parametrize("proxy", ["https://proxy:3128", "socks5://proxy:1080"])
def test_a_proxy_modpack_cannot_use_is_a_usage_error(tmp_path: Path, proxy: str) -> None:
    from tests.support.cli import run_modpack

    done = run_modpack(
        "modules",
        "list",
        "--cluster",
        "https://127.0.0.1:1",
        env={"HTTPS_PROXY": proxy, "MODPACK_USER": "ann", "MODPACK_PASSWORD": "x"},
    )
    assert done.returncode == 2, done.stderr
    assert "is not an http:// proxy" in done.stderr
    assert "NO_PROXY" in done.stderr
    assert "Traceback" not in done.stderr


# --- connections ------------------------------------------------------------------------------


@contextlib.contextmanager
def counting_server(*, close_after_answer: bool) -> Iterator[tuple[str, list[int]]]:
    """An HTTP/1.1 server answering `[]`: (its URL, [one entry per connection accepted]). With
    `close_after_answer` it closes each connection after one answer without saying so."""
    accepted: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            accepted.append(1)

        def do_GET(self) -> None:
            body = json.dumps([]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = close_after_answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", accepted
    finally:
        server.shutdown()
        server.server_close()


def _plain(url: str) -> client.Connection:
    return client.Connection(cluster=url, credentials=ADMIN, allow_http=True, retries=0)


def test_calls_to_one_node_share_one_kept_alive_connection() -> None:
    with counting_server(close_after_answer=False) as (url, accepted), client.Api(_plain(url)) as api:
        for _ in range(5):
            assert api.json("GET", f"{url}/v1/modules") == []
    assert len(accepted) == 1


def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    """Without retries, a reused connection the server had closed would fail the second call."""
    with counting_server(close_after_answer=True) as (url, accepted), client.Api(_plain(url)) as api:
        for _ in range(3):
            assert api.json("GET", f"{url}/v1/modules") == []
    assert len(accepted) == 3


def test_an_upload_refused_before_its_body_is_sent_gets_the_refusal(tmp_path: Path) -> None:
    """A node answers 413 from the declared length and stops reading: the client, still sending
    24 MiB, must report the 413 the node sent, not the broken pipe it ran into."""
    big = tmp_path / "big.zip"
    with big.open("wb") as out:
        out.truncate(24 * 1024 * 1024)
    with running_cluster(tmp_path / "data", max_upload=1024) as small:
        with client.Api(connection(small, retries=0)) as api, pytest.raises(client.ClusterError) as refused:
            client.post_bundle(api, small.urls[0] + ARTIFACTS, "node 1", big)
    assert refused.value.status == 413, refused.value.message
    assert "module_too_large" in refused.value.message


def test_usage_errors_name_the_variable_to_change() -> None:
    with pytest.raises(UsageError) as refused:
        transport.proxy_for("https://c:9443", {"HTTPS_PROXY": "https://proxy:3128"})
    assert "https://proxy" in refused.value.message
    assert "HTTPS_PROXY=http://host:port" in refused.value.hint


def test_the_lower_case_variable_wins_as_with_curl() -> None:
    environ = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}
    assert transport.proxy_for("https://c:9443", environ) == transport.Proxy("lower", 2, "", "HTTPS_PROXY")


def test_an_international_host_name_reaches_the_proxy_in_its_ascii_form(relay: Relay) -> None:
    environ = {"HTTPS_PROXY": relay.url}
    sender = transport.StdlibTransport(ssl.create_default_context(), environ)
    request = transport.Request("GET", "https://bücher.example:9443/v1/nodes", {}, None, _TIMEOUT)
    with pytest.raises(transport.ConnectError):  # the proxy cannot reach it: .example is reserved
        sender.send(request, 1024)
    sender.close()
    assert relay.targets == ["CONNECT xn--bcher-kva.example:9443"]


def test_an_ipv6_cluster_behind_a_proxy_is_refused_with_the_way_out() -> None:
    with pytest.raises(UsageError) as refused:
        transport.proxy_for("https://[2001:db8::1]:9443", {"HTTPS_PROXY": "http://proxy:3128"})
    assert "IPv6 address 2001:db8::1" in refused.value.message
    assert "NO_PROXY" in refused.value.hint


@pytest.mark.parametrize(
    ("cluster", "proxy", "message"),
    [
        (
            "https://127.0.0.1:99999",
            "",
            "--cluster 'https://127.0.0.1:99999': the port is not a number from 1",
        ),
        # port 0, which urllib takes: it was "Connection refused" after every retry
        ("https://127.0.0.1:0", "", "--cluster 'https://127.0.0.1:0': the port is not a number from 1"),
        ("https://127.0.0.1:9443", "http://proxy:0", "the proxy in HTTPS_PROXY: the port is not a number"),
        ("https://127.0.0.1:9443", "http://proxy:31x8", "the proxy in HTTPS_PROXY: the port is not a number"),
        # urllib raises ValueError for an unbalanced bracket, and http.client InvalidURL for a
        # space: both were internal errors; a '%' in the host went to the resolver as a name.
        ("https://[::1", "", "--cluster 'https://[::1': its '[' and ']' do not enclose an IPv6 address"),
        ("https://a]b:9443", "", "--cluster 'https://a]b:9443': its '[' and ']' do not enclose an IPv6"),
        ("https://ann:pw@[::1", "", "--cluster '***@[::1': its '[' and ']' do not enclose"),
        (
            "https://clu ster:9443",
            "",
            "--cluster 'https://clu ster:9443': 'clu ster' is not a host name or IP",
        ),
        ("https://%zz:9443", "", "--cluster 'https://%zz:9443': '%zz' is not a host name or IP address"),
        ("https://127.0.0.1:9443", "http://[::1", "HTTPS_PROXY in the environment is not a URL: its '['"),
        (
            "https://127.0.0.1:9443",
            "http://pro xy:3128",
            "the proxy in HTTPS_PROXY names 'pro xy', which is not",
        ),
        ("https://127.0.0.1:9443", "::::", "the proxy in HTTPS_PROXY ('::::') names no host"),
    ],
)
def test_a_malformed_url_is_a_usage_error(cluster: str, proxy: str, message: str) -> None:
    from tests.support.cli import run_modpack

    env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x", "HTTPS_PROXY": proxy}
    done = run_modpack("modules", "list", "--cluster", cluster, env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "hint: " in done.stderr or "port" in message
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "pw" not in done.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "1e999"])
def test_a_client_timeout_that_is_no_finite_number_is_a_usage_error(value: str) -> None:
    """publish, modules, artifacts: nan was an internal error (ValueError: Invalid value NaN),
    inf an internal error (OverflowError: timestamp out of range for platform time_t)."""
    env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x"}
    from tests.support.cli import run_modpack

    result = run_modpack("modules", "list", "--cluster", "https://127.0.0.1:1", "--timeout", value, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    shown = "inf" if value == "1e999" else value
    assert f"modpack: --timeout {shown}: give a positive, finite number of seconds" in result.stderr


def test_a_malformed_cluster_url_from_the_environment_is_named_by_its_variable() -> None:
    """click passes MODPACK_CLUSTER as --cluster: the message said --cluster, which was not given."""
    from tests.support.cli import run_modpack

    env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x", "MODPACK_CLUSTER": "cluster:9443"}
    done = run_modpack("modules", "list", env=env)
    assert done.returncode == 2, done.stderr
    assert "modpack: MODPACK_CLUSTER must be an http(s)://host[:port] URL, not 'cluster:9443'" in done.stderr


def test_a_malformed_node_url_is_a_usage_error_before_any_call() -> None:
    from tests.support.cli import run_modpack

    env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x"}
    done = run_modpack("artifacts", "list", "--node", "https://[x", env=env)
    assert done.returncode == 2, done.stderr
    assert "modpack: --node 'https://[x': its '[' and ']' do not enclose an IPv6 address" in done.stderr


def test_a_proxy_that_cannot_be_reached_is_named_as_the_proxy() -> None:
    """It read "cannot reach https://cluster...: Connection refused", the cluster's fault."""
    from tests.support.cli import run_modpack

    env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x", "HTTPS_PROXY": "http://127.0.0.1:1"}
    done = run_modpack(
        "modules", "list", "--cluster", "https://cluster.invalid:9443", "--timeout", "5", env=env
    )
    assert done.returncode == 1, done.stderr
    assert "Connection refused (through the proxy 127.0.0.1:1 that HTTPS_PROXY names)" in done.stderr
    # and the hint is the proxy's: it said to check that the node is up and the URL right
    assert (
        "hint: Check the proxy 127.0.0.1:1 (HTTPS_PROXY names it), or add the cluster's host to NO_PROXY."
        in done.stderr
    ), done.stderr
    # an IPv6 proxy as a URL writes it, and the message says "modpack" once
    env["HTTPS_PROXY"] = "http://[::1]:1"
    done = run_modpack("modules", "list", "--cluster", "https://[2001:db8::1]:9443", env=env)
    assert done.returncode == 2, done.stderr
    assert (
        "modpack: the IPv6 address 2001:db8::1 cannot be reached through the proxy [::1]\n" in done.stderr
    ), done.stderr


def test_reprs_hide_the_credentials() -> None:
    request = transport.Request(
        "GET", "https://c:9443/", {"Authorization": "Basic YW5uOmh1bnRlcjI=", "Accept": "x"}, None, _TIMEOUT
    )
    proxy = transport.proxy_for("https://c:9443", {"HTTPS_PROXY": "http://ann:hunter2@proxy:3128"})
    shown = repr(request) + repr(proxy)
    assert "YW5u" not in shown and "hunter2" not in shown
    assert "'Authorization': '***'" in repr(request) and "'Accept': 'x'" in repr(request)


_TIMEOUT = transport.Timeout(5.0, 5.0, 5.0)


# --- what the peer does -----------------------------------------------------------------------


@contextlib.contextmanager
def raw_server(handle: Any) -> Iterator[tuple[str, list[bytes]]]:
    """A loopback TCP server calling `handle(connection, heads)` on each connection, on a thread."""
    heads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)

    def serve() -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_guarded, args=(handle, peer, heads), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", heads
    finally:
        listener.close()


def _guarded(handle: Any, peer: socket.socket, heads: list[bytes]) -> None:
    with peer, contextlib.suppress(OSError):
        head = read_head(peer)
        if head is None:
            return
        heads.append(head)
        handle(peer, head)


def read_head(peer: socket.socket) -> bytes | None:
    """What came up to the end of a request's head (with any body bytes after it); None at EOF."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = peer.recv(65536)
        if not data:
            return None
        head += data
    return head


def _declared(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_a_slow_but_steady_upload_is_not_cut_by_the_timeout(tmp_path: Path) -> None:
    """--timeout bounds a send that makes no progress. sendall's timeout is one deadline for all it
    is given: a 4 MiB chunk to a node reading about 1.3 MB/s failed every upload with a 2 s timeout."""
    bundle = tmp_path / "six.zip"
    bundle.write_bytes(bytes(6 * 1024 * 1024))

    def slow_reader(peer: socket.socket, head: bytes) -> None:
        left = _declared(head) - len(head.split(b"\r\n\r\n", 1)[1])
        while left > 0:
            data = peer.recv(min(left, 64 * 1024))
            if not data:
                return
            left -= len(data)
            time.sleep(0.05)
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    with raw_server(slow_reader) as (url, _):
        plain = client.Connection(
            cluster=url, credentials=ADMIN, allow_http=True, timeout=2.0, upload_timeout=20.0, retries=0
        )
        with client.Api(plain) as api:
            assert client.post_bundle(api, f"{url}/upload", "node 1", bundle).status_code == 200


def test_a_bundle_that_cannot_be_read_says_so_and_is_not_retried(tmp_path: Path) -> None:
    unreadable = tmp_path / "hello.zip"
    unreadable.mkdir()  # stat() works, open() fails

    def answer(peer: socket.socket, head: bytes) -> None:
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    with raw_server(answer) as (url, heads):
        plain = client.Connection(cluster=url, credentials=ADMIN, allow_http=True, retries=3)
        with client.Api(plain, sleep=lambda _: None) as api, pytest.raises(ModpackError) as refused:
            client.post_bundle(api, f"{url}/upload", "node 1", unreadable)
    assert refused.value.message == f"cannot read {unreadable}: Is a directory"
    assert len(heads) <= 1


def test_an_answer_cut_short_is_an_error_not_a_short_body() -> None:
    def cut(peer: socket.socket, head: bytes) -> None:
        body = json.dumps([{"uid": 1, "addr": "127.0.0.1"}]).encode()
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body[:-1]))

    with raw_server(cut) as (url, heads):
        plain = client.Connection(cluster=url, credentials=ADMIN, allow_http=True, retries=1)
        with client.Api(plain, sleep=lambda _: None) as api, pytest.raises(client.ClusterError) as failed:
            api.json("GET", f"{url}/v1/nodes")
    assert "the answer ended after 32 of its 33 bytes" in failed.value.message
    assert len(heads) == 2  # a network fault: retried
    assert b"User-Agent: modpack/" in heads[0]


def test_a_bundle_that_changes_size_while_it_uploads_is_an_error(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    size = bundle.stat().st_size
    frame = client._multipart_frame("b", bundle.name)
    with pytest.raises(ModpackError, match="became shorter while it was uploaded"):
        b"".join(client._body(bundle, size + 1, frame, lambda _: None))
    with pytest.raises(ModpackError, match="became longer while it was uploaded"):
        b"".join(client._body(bundle, size - 1, frame, lambda _: None))


def test_a_streamed_body_without_its_length_is_refused_before_a_byte_is_sent() -> None:
    """Nothing here sends a body chunked: without Content-Length the server could not tell where
    the body ends, so the request is refused before it leaves."""

    def answer(peer: socket.socket, head: bytes) -> None:
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with raw_server(answer) as (url, heads):
        sender = transport.StdlibTransport(ssl.create_default_context(), {})
        request = transport.Request("POST", f"{url}/v1/x", {}, iter([b"12345"]), _TIMEOUT)
        with pytest.raises(transport.BodyLengthError, match="needs a Content-Length"):
            sender.send(request, 1024)
        sender.close()
    assert heads == []


def test_a_streamed_body_longer_than_announced_is_never_sent_past_it() -> None:
    def answer(peer: socket.socket, head: bytes) -> None:
        peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with raw_server(answer) as (url, _):
        sender = transport.StdlibTransport(ssl.create_default_context(), {})
        body = iter([b"12345", b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"])
        request = transport.Request("POST", f"{url}/v1/x", {"Content-Length": "5"}, body, _TIMEOUT)
        with pytest.raises(transport.BodyLengthError, match="longer than its Content-Length"):
            sender.send(request, 1024)
        sender.close()


def _trickle(peer: socket.socket, head: bytes) -> None:
    """A whole answer, one byte every 0.2 s: each read gets a byte long before any timeout."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]":
        peer.sendall(bytes([byte]))
        time.sleep(0.2)


def test_an_answer_that_trickles_is_cut_at_the_timeout() -> None:
    """Each read waited at most --timeout, the answer as long as it kept trickling: 144 s for
    `--timeout 5`. The whole answer, head and body, now ends within it."""
    with raw_server(_trickle) as (url, heads):
        plain = client.Connection(cluster=url, credentials=ADMIN, allow_http=True, timeout=1.0, retries=0)
        started = time.monotonic()
        with client.Api(plain) as api, pytest.raises(client.ClusterError) as failed:
            api.json("GET", f"{url}/v1/nodes")
        took = time.monotonic() - started
    assert "the answer was not whole within 1 s" in failed.value.message
    assert took < 3, took
    assert len(heads) == 1


def test_the_cli_ends_a_trickling_answer_at_its_timeout(tmp_path: Path) -> None:
    from tests.support.cli import run_modpack

    with raw_server(_trickle) as (url, _):
        started = time.monotonic()
        done = run_modpack(
            "modules",
            "list",
            "--cluster",
            url,
            "--allow-http",
            "--timeout",
            "1",
            "--retries",
            "1",
            env={"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password},
        )
        took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the answer was not whole within 1 s" in done.stderr and "Traceback" not in done.stderr
    assert took < 10, took  # two tries of 1 s each, a pause between, and the start-up


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"\x00\xffGARBAGE\r\n", "the answer is not HTTP (it began '\\x00"),
        # closed without a byte (an HTTPS node asked in plain http://): it said "the answer is
        # not HTTP (it began 'Remote end closed connection without res')", quoting no answer
        (b"", "the server closed the connection without answering"),
        (
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 38\r\n\r\n"
            b"<html><body><h1>404</h1></body></html>",
            "404 Not Found: an HTML page, not an answer of Redis Enterprise's REST API",
        ),
    ],
)
def test_a_server_that_is_not_the_rest_api_is_named_so(answer: bytes, said: str) -> None:
    """It printed the bytes it got ('cannot reach ...: \\x00ÿGARBAGE'), OpenSSL's
    "[SSL: WRONG_VERSION_NUMBER]" for plain HTTP on an https:// URL, or a whole HTML page."""

    def reply(peer: socket.socket, head: bytes) -> None:
        peer.sendall(answer)

    with raw_server(reply) as (url, _):
        plain = client.Connection(cluster=url, credentials=ADMIN, allow_http=True, retries=0)
        with client.Api(plain) as api, pytest.raises(client.ClusterError) as failed:
            api.json("GET", f"{plain.cluster}/v1/modules")
    assert said in failed.value.message, failed.value.message
    assert "<html>" not in failed.value.message


def test_plain_http_on_an_https_url_is_named_so() -> None:
    """OpenSSL's "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" said nothing of
    the cause: a plain HTTP server answered the TLS handshake."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        with client.Api(client.Connection(cluster=url, credentials=ADMIN, retries=0)) as api:
            with pytest.raises(client.ClusterError) as failed:
                api.json("GET", f"{url}/v1/modules")
    finally:
        server.shutdown()
        server.server_close()
    assert "the server does not speak TLS there: an http:// address, or another port?" in failed.value.message
    assert "WRONG_VERSION_NUMBER" not in failed.value.message


def test_a_send_that_stalls_stays_a_write_error_under_the_answer_deadline() -> None:
    """A peer that never reads: the send fails, the answer deadline (2 s here) fired first and
    turned the WriteError, which is retried, into "the answer was not whole within 2 s"."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    sender = transport.StdlibTransport(ssl.create_default_context(), {})
    body = iter([b"x" * (1 << 20)] * 64)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v2/modules"
    request = transport.Request(
        "POST", url, {"Content-Length": str(64 << 20)}, body, transport.Timeout(5, 30, 1)
    )
    try:
        with pytest.raises(transport.TransportError) as failed:
            sender.send(request, 1 << 20)
    finally:
        sender.close()
        listener.close()
        for peer in held:
            peer.close()
    assert type(failed.value) is transport.WriteError, repr(failed.value)
    assert "not whole" not in str(failed.value)


def test_a_proxy_asking_for_credentials_is_said_to_be_the_proxy() -> None:
    """A plain-HTTP proxy's 407 came with no hint at all, as if the cluster had answered it."""
    from tests.support.cli import run_modpack

    def ask(peer: socket.socket, head: bytes) -> None:
        peer.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")

    with raw_server(ask) as (proxy, heads):
        env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x", "HTTP_PROXY": proxy}
        done = run_modpack(
            "modules",
            "list",
            "--cluster",
            "http://cluster.invalid:8080",
            "--allow-http",
            "--retries",
            "0",
            env=env,
        )
    assert heads and heads[0].startswith(b"GET http://cluster.invalid:8080/"), heads
    assert done.returncode == 1, done.stderr
    assert "407" in done.stderr
    assert "hint: A proxy asks for credentials: give them in its URL" in done.stderr, done.stderr


def test_a_proxy_refusing_the_tunnel_for_credentials_says_so() -> None:
    """An https:// cluster goes through a CONNECT tunnel: a 407 there read 'Tunnel connection
    failed: 407 ...' with the hint to check the proxy, which named HTTP_PROXY too."""
    from tests.support.cli import run_modpack

    def ask(peer: socket.socket, head: bytes) -> None:
        peer.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")

    with raw_server(ask) as (proxy, heads):
        env = {"MODPACK_USER": "ann", "MODPACK_PASSWORD": "x", "HTTPS_PROXY": proxy}
        done = run_modpack(
            "modules", "list", "--cluster", "https://cluster.invalid:9443", "--retries", "0", env=env
        )
    assert heads and heads[0].startswith(b"CONNECT cluster.invalid:9443 "), heads
    assert done.returncode == 1, done.stderr
    port = proxy.rsplit(":", 1)[1]
    assert (
        f"hint: The proxy 127.0.0.1:{port} asks for credentials: give them in HTTPS_PROXY"
        " (http://user:password@host:port), or add the cluster's host to NO_PROXY." in done.stderr
    ), done.stderr
