"""Faults: a node down during publish, a connection cut mid-upload, a server killed with SIGKILL."""

from __future__ import annotations

import base64
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import client
from modpack.rest import publish as publishing
from modpack.rest.paths import ARTIFACTS
from tests.support.rest import (
    ADMIN,
    cli,
    connection,
    module_json,
    running_cluster,
    serve_connection,
    serve_processes,
    wait_until,
    write_bundle,
)


def test_node_down_fails_the_publish_naming_it_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node gone before the cluster has noticed (GET /v1/nodes still says active; a node the
    cluster reports down is refused by preflight, tests/test_publish_truth.py)."""
    from modpack.rest import server

    reported = server.Node.as_json
    monkeypatch.setattr(
        server.Node, "as_json", lambda node, *reached: {**reported(node, *reached), "status": "active"}
    )
    bundle = write_bundle(tmp_path / "hello.zip")
    with running_cluster(tmp_path / "data") as cluster:
        down = cluster.urls[2]
        cluster.stop_node(3)
        failed = cli(cluster, "publish", bundle, retries=1)
        assert failed.returncode == 1, failed.stderr
        assert f"node 3 ({down})" in failed.stderr
        assert "node 1" not in failed.stderr.split("publish failed")[1]
        assert f"node 3 ({down}): failed: cannot reach {down}" in failed.stdout
        assert failed.stdout.count(": uploaded: hello.zip") == 2
        assert "module object: created" in failed.stdout  # nodes 1 and 2 took it: no rollback
        assert ADMIN.password not in failed.stdout + failed.stderr

        cluster.start_node(3)
        assert cluster.urls[2] == down
        again = cli(cluster, "publish", bundle, retries=1)
        assert again.returncode == 0, again.stderr
        assert "module object: present" in again.stdout
        assert f"node 3 ({down}): uploaded" in again.stdout
        assert again.stdout.count(": uploaded: hello.zip") == 3  # a listing proves no content
        with client.Api(connection(cluster)) as api:
            for node in client.nodes(api):
                assert client.has_artifact(api, node, "hello", 10203)


def _partial_upload(url: str, ca_cert: Path, declared: int, sent: int) -> ssl.SSLSocket:
    """A multipart upload that announces `declared` bytes and sends only `sent` of them."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca_cert))
    raw = socket.create_connection((host, int(port)))
    conn = context.wrap_socket(raw, server_hostname=host)
    credentials = base64.b64encode(f"{ADMIN.user}:{ADMIN.password}".encode()).decode()
    head = (
        f"POST {ARTIFACTS} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {credentials}\r\n"
        f"Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: {declared}\r\n\r\n"
        '--cut\r\nContent-Disposition: form-data; name="module"; filename="m.zip"\r\n\r\n'
    ).encode()
    conn.sendall(head + b"PK" + b"\0" * (sent - 2))
    return conn


def test_connection_cut_mid_upload_leaves_no_file(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data") as cluster:
        node = cluster.shared.nodes[0]
        assert cluster.ca_cert is not None
        conn = _partial_upload(cluster.urls[0], cluster.ca_cert, declared=5_000_000, sent=300_000)
        wait_until(lambda: any(node.artifacts.temp.iterdir()))  # the upload is being received
        conn.close()
        wait_until(lambda: not any(node.artifacts.temp.iterdir()))
        assert [p.name for p in node.artifacts.root.iterdir()] == [".tmp"]
        with client.Api(connection(cluster)) as api:
            assert client.artifacts(api, client.nodes(api)[0]) == []


# --- SIGKILL and restart ----------------------------------------------------------------------


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Any]:
    """Starts `modpack serve` subprocesses on the same data folder; kills any left running."""
    with serve_processes(tmp_path / "data") as start:
        yield start


def _everything(info: dict[str, Any]) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    with client.Api(serve_connection(info)) as api:
        return client.list_modules(api), [client.artifacts(api, n) for n in client.nodes(api)]


@pytest.mark.slow
def test_sigkilled_server_restarts_with_everything(tmp_path: Path, serve_process: Any) -> None:
    first = serve_process()
    for name in ("alpha", "beta"):
        bundle = write_bundle(tmp_path / f"{name}.zip", module_json(module_name=name))
        assert not publishing.publish(bundle, serve_connection(first)).failed
    before = _everything(first)
    assert [m["module_name"] for m in before[0] if not m["is_bundled"]] == [
        "alpha",
        "beta",
    ]  # beside the shipped ones
    assert all(len(listing) == 2 for listing in before[1])
    cut = _partial_upload(first["nodes"][1]["url"], Path(first["ca_cert"]), declared=10**7, sent=200_000)
    temp = tmp_path / "data" / "node-2" / ".tmp"
    wait_until(lambda: any(temp.iterdir()))

    first["process"].send_signal(signal.SIGKILL)
    first["process"].wait(timeout=10)
    cut.close()

    second = serve_process()
    assert _everything(second) == before
    assert list(temp.iterdir()) == []  # the upload the kill interrupted left nothing
    zipped = tmp_path / "data" / "node-3" / "beta" / "10203" / "module.zip"
    assert zipped.read_bytes() == (tmp_path / "beta.zip").read_bytes()
