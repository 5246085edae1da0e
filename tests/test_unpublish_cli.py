"""unpublish, `artifacts delete` and `modules delete` as a user runs them: a node without the
API, and answers that are not the lists the API gives."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modpack.rest.cluster import LocalCluster
from tests.support.cli import CHECKOUT
from tests.support.rest import (
    cli,
    running_cluster,
)


@pytest.fixture(scope="module")
def cluster(role_users_cluster: LocalCluster) -> LocalCluster:
    return role_users_cluster


def test_a_node_without_the_artifact_api_is_no_node_without_the_artifact(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """A 404 of any kind was "absent": `artifacts delete --node <an RS 7.22 node>` said the node
    holds none, exit 0, of a node that has no such endpoint (404 not_found, not
    artifact_not_found)."""
    with running_cluster(tmp_path / "data", software_version="7.22") as old:
        node = old.urls[1]
        for command in (["artifacts", "delete"], ["unpublish"]):
            run = cli(cluster, *command, "nosuch", "1.2.3", "--node", node, "--insecure")
            assert run.returncode == 1, run.stdout + run.stderr
            assert (
                f"  node {node}: failed: node {node} has no user-defined module API (GET {node}" in run.stdout
            )
            assert "absent" not in run.stdout


@contextlib.contextmanager
def answering(documents: dict[str, object]) -> Iterator[str]:
    """A plain-HTTP server answering each path of `documents` with it as JSON (a proxy or a
    gateway in front of a cluster); yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps(documents.get(self.path.rstrip("/"), {})).encode()
            self.send_response(200 if self.path.rstrip("/") in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("command", "path"),
    [
        (["modules", "list"], "/v1/modules"),
        (["unpublish", "x", "1.2.3"], "/v1/modules"),
        (["artifacts", "list"], "/v1/nodes"),
        (["artifacts", "delete", "x", "1.2.3"], "/v1/nodes"),
    ],
)
def test_an_answer_that_is_no_list_is_no_empty_list(command: list[str], path: str) -> None:
    """A proxy's `{"modules": []}` for GET /v1/modules was "(no module objects)", exit 0; an object
    for GET /v1/nodes was "returned no nodes"."""
    documents = {"/v1/modules": {"modules": []}, "/v1/nodes": {"nodes": []}}
    with answering(documents) as url:
        env = {**os.environ, "MODPACK_USER": "", "MODPACK_PASSWORD": "", "PYTHONPATH": CHECKOUT}
        run = subprocess.run(
            [sys.executable, "-m", "modpack", *command, "--cluster", url, "--allow-http"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        f"modpack: GET {url}{path} answered an object, not the JSON list the Redis Enterprise REST API answers"
        in run.stderr.splitlines()
    ), run.stderr
    assert "no module objects" not in run.stdout
