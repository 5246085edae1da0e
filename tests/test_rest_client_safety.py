"""What the client sends where (issue 12): never a password over plain http:// unless allowed,
never to a host the cluster's answer names unless trusted, never an unbounded read or wait.

A hostile "cluster" here is a real HTTP server on loopback (http.server on a thread) answering
crafted bodies; it records every request and the Authorization header it carried.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modpack.errors import UsageError
from modpack.rest import client
from modpack.rest.cluster import LocalCluster
from tests.support.cli import run_modpack
from tests.support.rest import ADMIN, running_cluster, write_bundle

Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


@contextlib.contextmanager
def fake_cluster(answer: Answer) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(base URL, [(path, authorization)]) of a loopback server answering every GET with `answer`."""
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("authorization", "")))
            answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def json_answer(document: Any) -> Answer:
    body = json.dumps(document).encode()

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def node(addr: Any, port: int = 9443, uid: int = 1) -> dict[str, Any]:
    return {"uid": uid, "addr": addr, "port": port, "software_version": "8.2.0-25"}


@dataclass
class Ran:
    exit_code: int
    output: str


def cli(*args: str) -> Ran:
    """The real command line (a subprocess): exit status and stdout + stderr as a user sees them."""
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    done = run_modpack(*args, env=env)
    return Ran(done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("plain") / "data", https=False) as running:
        yield running


# --- plain http -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["modules", "list"], ["publish"]])
def test_plain_http_cluster_is_refused_without_allow_http(
    plain: LocalCluster, tmp_path: Path, command: list[str]
) -> None:
    extra = [str(write_bundle(tmp_path / "hello.zip"))] if command == ["publish"] else []
    result = cli(*command, *extra, "--cluster", plain.urls[0], "--retries", "0")
    assert result.exit_code == 2, result.output
    assert "plain http://" in result.output
    assert "--allow-http" in result.output
    assert plain.shared.store.modules() == []  # nothing was published


def test_allow_http_works_and_warns(plain: LocalCluster) -> None:
    result = run_modpack(
        "modules", "list", "--cluster", plain.urls[0], "--allow-http",
        env={"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: --allow-http" in result.stderr
    assert "Traceback" not in result.stderr


# --- node addresses from GET /v1/nodes --------------------------------------------------------


def _artifacts_list(base: str, *extra: str) -> Any:
    return cli("artifacts", "list", "--cluster", base, "--allow-http", "--retries", "0", *extra)


@pytest.mark.parametrize(
    ("addr", "message"),
    [
        ("evil@localhost", "not a host name or IP address"),
        ("localhost/x", "not a host name or IP address"),
        (5, "of type int, not a string"),
        (["127.0.0.1"], "of type list, not a string"),
    ],
)
def test_node_address_that_is_not_a_host_is_refused(addr: Any, message: str) -> None:
    with fake_cluster(json_answer([node(addr)])) as (base, seen):
        result = _artifacts_list(base)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "internal error" not in result.output
    assert {path for path, _ in seen} == {"/v1/nodes"}


def test_credentials_go_only_to_the_clusters_host_unless_trusted() -> None:
    with fake_cluster(json_answer([node("127.0.0.2", 1)])) as (base, seen):
        result = _artifacts_list(base)
        assert result.exit_code == 1, result.output
        assert "127.0.0.2" in result.output
        assert "--trust-node-addresses" in result.output
        assert {path for path, _ in seen} == {"/v1/nodes"}
        # Opting in: the client then goes there (and port 1 refuses the connection).
        trusted = _artifacts_list(base, "--trust-node-addresses")
    assert "127.0.0.2:1" in trusted.output
    assert "node addresses" not in trusted.output


def test_credentials_never_go_to_a_name_or_address_only_resolution_ties_to_the_cluster() -> None:
    """A node address GET /v1/nodes gives is trusted only when it is the host the user named: one
    that the user's name resolves to (127.0.0.1 for localhost), or a name the answer gives that
    resolves to the same address, is another Host and SNI, which a shared ingress routes to
    another tenant's backend (a review sent Basic credentials there this way)."""
    base = "https://localhost:9443"
    given = client.Connection(cluster=base, credentials=ADMIN, retries=0)
    for listed in ([node("127.0.0.1")], [node("localhost"), node("vm.invalid", uid=2)]):
        with pytest.raises(client.ClusterError, match="names nodes on other hosts"):
            client.nodes_from(given, base, listed)
    refs = client.nodes_from(given, base, [node("localhost"), node("LOCALHOST", 9444, uid=2)])
    assert [r.url for r in refs] == ["https://localhost:9443", "https://LOCALHOST:9444"]


def test_nodes_only_read_about_are_not_judged_by_address() -> None:
    """RS 7.x places the module on its nodes itself: publish through the cluster's name never
    calls the nodes' addresses, and was refused for them, with a hint (--node) 7.x refuses."""
    base = "https://cluster.example:9443"
    given = client.Connection(cluster=base, credentials=ADMIN, retries=0)
    listed = [node("10.1.2.3"), node("10.1.2.4", uid=2)]
    with pytest.raises(client.ClusterError, match="other hosts"):
        client.nodes_from(given, base, listed)
    refs = client.nodes_from(given, base, listed, contacted=False)
    assert [r.uid for r in refs] == ["1", "2"]


def test_node_urls_are_matched_by_the_addresses_their_host_names_resolve_to() -> None:
    refs = [
        client.NodeRef("node 1", "https://127.0.0.1:9443", "1"),
        client.NodeRef("node 2", "https://127.0.0.1:9444", "2"),
    ]
    assert client.match_node("https://localhost:9444", refs) == refs[1]  # the port tells them apart
    assert client.match_node("https://LOCALHOST:9443", refs) == refs[0]
    assert client.match_node("https://localhost:9445", refs) is None  # no node on that port
    assert client.match_node("https://127.0.0.2:9443", refs) is None  # another address
    assert client.match_node("https://nowhere.invalid:9443", refs) is None  # does not resolve
    assert client.match_node("http://localhost:9443", refs) is None  # another scheme


def test_node_given_with_node_option_is_used_whatever_the_cluster_says() -> None:
    with fake_cluster(json_answer([node("evil@localhost"), node("10.9.9.9", uid=2)])) as (base, seen):
        connection = client.Connection(
            cluster=base, nodes=(base,), credentials=ADMIN, allow_http=True, retries=0
        )
        with client.Api(connection) as api:
            refs = client.nodes_from(connection, base, [node("evil@localhost"), node("10.9.9.9", uid=2)])
    assert [r.url for r in refs] == [base]
    del api, seen


def test_node_count_is_capped() -> None:
    many = [node("127.0.0.1", 9443 + i % 1000, uid=i) for i in range(5000)]
    with fake_cluster(json_answer(many)) as (base, _):
        started = time.monotonic()
        result = _artifacts_list(base)
        capped = _artifacts_list(base, "--max-nodes", "10")
    assert result.exit_code == 1
    assert "lists 5000 nodes, more than the 1000 allowed" in result.output
    assert "--max-nodes" in result.output
    assert "more than the 10 allowed" in capped.output
    assert time.monotonic() - started < 60  # hang guard (normally well under a second)


# --- response size and waits ------------------------------------------------------------------


def _endless(handler: http.server.BaseHTTPRequestHandler) -> None:
    """A chunked JSON body that never ends (no Content-Length to refuse it by)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"[" + b'"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",' * 30000
    try:
        for _ in range(10_000):  # up to about 10 GB
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:
        pass


def test_response_size_is_capped() -> None:
    with fake_cluster(_endless) as (base, _):
        connection = client.Connection(cluster=base, credentials=ADMIN, allow_http=True, retries=0)
        with client.Api(connection) as api, pytest.raises(client.ClusterError) as caught:
            api.json("GET", f"{base}/v1/nodes")
    assert "larger than 16 MiB" in caught.value.message


def test_declared_size_over_the_cap_is_refused_unread() -> None:
    def huge(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(600 * 1024 * 1024))
        handler.end_headers()
        with contextlib.suppress(OSError):
            handler.wfile.write(b"[" * 1024)

    with fake_cluster(huge) as (base, _):
        connection = client.Connection(cluster=base, credentials=ADMIN, allow_http=True, retries=0)
        with client.Api(connection) as api, pytest.raises(client.ClusterError) as caught:
            api.json("GET", f"{base}/v1/nodes")
    assert "larger than 16 MiB" in caught.value.message


def test_upload_answer_wait_is_bounded_by_timeout_and_not_retried(tmp_path: Path) -> None:
    """A node that takes the whole body and never answers: one wait of --timeout, no retry."""
    import socket

    bundle = write_bundle(tmp_path / "hello.zip")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def swallow() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=lambda c=conn: _drain(c), daemon=True).start()

    threading.Thread(target=swallow, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    connection = client.Connection(cluster=url, credentials=ADMIN, allow_http=True, timeout=1.0, retries=3)
    started = time.monotonic()
    try:
        with client.Api(connection, sleep=lambda s: None) as api, pytest.raises(client.ClusterError):
            client.post_bundle(api, url + "/upload", "node 1", bundle)
    finally:
        listener.close()
        for conn in accepted:  # left open, one was collected in a later test: a ResourceWarning there
            conn.close()
    assert len(accepted) == 1  # not sent again
    assert time.monotonic() - started < 30  # hang guard: normally about 1 s


def _drain(conn: Any) -> None:
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


def test_connection_refuses_plain_http_in_the_library_too() -> None:
    with pytest.raises(UsageError, match="plain http://"):
        client.Api(client.Connection(cluster="http://127.0.0.1:1", credentials=ADMIN))


def test_a_port_that_never_speaks_tls_is_told_apart_from_no_connection() -> None:
    """A server that takes the TCP connection and never answers the TLS handshake (a port of
    another protocol, a stuck server) was reported as "no connection ... within 3 s", as if
    nothing listened there."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes the TCP handshake; nobody ever answers
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    connection = client.Connection(cluster=url, credentials=ADMIN, timeout=0.5, retries=0)
    try:
        with (
            client.Api(connection, sleep=lambda s: None) as api,
            pytest.raises(client.ClusterError) as failed,
        ):
            client.list_modules(api)
    finally:
        listener.close()
    assert "took the connection but no TLS handshake came within 0.5 s (is it an HTTPS port?)" in str(
        failed.value.message
    )


def test_node_objects_that_give_one_address_are_refused() -> None:
    """Node objects of one address and no port of their own (a real node object has no `port`;
    behind a proxy, say): publish sent every node's upload to the one URL, reported each node
    for it, and, as such nodes share a machine, each upload waited for its own turn, for ever."""
    base = "https://localhost:9443"
    given = client.Connection(cluster=base, credentials=ADMIN, retries=0)
    listed = [{"uid": n, "addr": "localhost", "software_version": "8.2.0-25"} for n in (1, 2, 3)]
    with pytest.raises(client.ClusterError) as refused:
        client.nodes_from(given, base, listed)
    assert refused.value.message == (
        f"GET {base}/v1/nodes gives nodes 1, 2 and 3 one address, https://localhost:9443: each would be"
        " sent what is meant for another; nothing was changed"
    )
    assert refused.value.hint == "Pass each node with --node URL, at an address that reaches that node alone."
