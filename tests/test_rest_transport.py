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
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.errors import UsageError
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
            head = b""
            while b"\r\n\r\n" not in head:
                data = peer.recv(4096)
                if not data:
                    return
                head += data
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
    assert found == transport.Proxy("proxy", 8080, "Basic YW5uOnNAY3JldA==")  # ann:s@cret


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
