"""unpublish, `artifacts delete` and `modules delete` as a user runs them: what a stopped run
says it removed, a name and version the cluster has nothing of, a node without the API, a
refusal of the user's role, and answers that are not the lists the API gives."""

from __future__ import annotations

import contextlib
import http.server
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modpack.rest.cluster import LocalCluster
from tests.support.cli import run_modpack, start_modpack
from tests.support.rest import (
    ADMIN,
    ROLE_USERS,
    cli,
    cli_options,
    module_json,
    running_cluster,
    stored_zip,
    wait_until,
    write_bundle,
)


@pytest.fixture(scope="module")
def cluster(role_users_cluster: LocalCluster) -> LocalCluster:
    return role_users_cluster


@contextlib.contextmanager
def silent_listener(port: int = 0) -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP port on 127.0.0.1 that takes every connection and never answers (a stuck node):
    yields the port and the connections taken so far."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    server.settimeout(0.05)
    taken: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:  # a close does not wake a blocked accept(): the port stayed taken
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                taken.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], taken
    finally:
        done.set()
        thread.join()
        server.close()
        for connection in taken:
            connection.close()


def started(*args: str) -> subprocess.Popen[str]:
    """`python -m modpack ARGS` as the admin, as a user runs it in a terminal: SIGINT is Ctrl+C
    even when the tests run in the background (which passes SIGINT on ignored)."""
    return start_modpack(*args, env={"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password})


@pytest.mark.parametrize(
    ("signame", "word", "status"), [("SIGTERM", "terminated", 143), ("SIGINT", "interrupted", 130)]
)
def test_a_stopped_unpublish_says_what_it_removed_and_what_is_left(
    tmp_path: Path, signame: str, word: str, status: int
) -> None:
    """SIGTERM (a cancelled CI job) ended unpublish at once, silent, exit 143, after it had
    deleted the module object and two artifacts; Ctrl+C said "the module object may still be
    there" of one it had deleted. Node 2 takes the connection and never answers: the stop says
    what each node did, at once, not once node 2's wait (--timeout 20) ends."""
    with running_cluster(tmp_path / "data") as cluster:
        bundle = write_bundle(tmp_path / "stopme.zip", module_json(module_name="stopme"))
        assert cli(cluster, "publish", bundle).returncode == 0
        uid = cli(cluster, "modules", "list").stdout.split()[0]
        cluster.stop_node(2)
        port = int(cluster.urls[1].rsplit(":", 1)[1])
        with silent_listener(port) as (_, taken):
            process = started("unpublish", "stopme", "1.2.3", *cli_options(cluster), "--timeout", "20")
            wait_until(lambda: taken and not stored_zip(cluster, 1, "stopme").exists())
            wait_until(lambda: not stored_zip(cluster, 3, "stopme").exists())
            time.sleep(0.5)  # their answers read
            process.send_signal(getattr(signal, signame))
            stopped = time.monotonic()
            out, err = process.communicate(timeout=30)
            assert time.monotonic() - stopped < 5
        assert process.returncode == status, err
        assert out == ""
        lines = err.splitlines()
        assert lines[:5] == [
            f"modpack: {word}: unpublish of stopme 10203 stopped part-way",
            f"  module object {uid}: deleted",
            f"  node 1 ({cluster.urls[0]}): deleted",
            f"  node 2 ({cluster.urls[1]}): unknown: the run stopped while its DELETE was out",
            f"  node 3 ({cluster.urls[2]}): deleted",
        ], err
        assert lines[5].startswith("  hint: Run `modpack unpublish stopme 10203 --cluster"), err
        assert lines[5].endswith("(exit 1 if it finds nothing at all)."), err
        cluster.start_node(2)
        again = cli(cluster, "unpublish", "stopme", "1.2.3")  # what was left: node 2's artifact
        assert again.returncode == 0, again.stderr
        assert f"  node 2 ({cluster.urls[1]}): deleted" in again.stdout


@pytest.mark.parametrize(
    ("command", "said", "signame", "status"),
    [
        (
            ["unpublish", "x", "1.2.3"],
            [
                "modpack: interrupted: unpublish of x 10203 stopped before it removed anything",
                "  module object: not looked up yet (the run stopped while it asked the cluster)",
                "  hint: Nothing was removed; run `modpack unpublish x 10203",
            ],
            "SIGINT",
            130,
        ),
        (
            ["unpublish", "x", "1.2.3"],
            ["modpack: terminated: unpublish of x 10203 stopped before it removed anything"],
            "SIGTERM",
            143,
        ),
        (
            ["artifacts", "delete", "x", "1.2.3"],
            [
                "modpack: terminated: artifacts delete of x 10203 stopped before it removed anything",
                "  hint: Nothing was removed; run `modpack artifacts delete x 1.2.3",
            ],
            "SIGTERM",
            143,
        ),
        (
            ["modules", "delete", "abc"],
            [
                "modpack: terminated: modules delete of abc stopped before it deleted anything",
                "  hint: Nothing was deleted; run `modpack modules delete abc",
            ],
            "SIGTERM",
            143,
        ),
        (["modules", "list"], ["modpack: terminated"], "SIGTERM", 143),
        (["artifacts", "list"], ["modpack: terminated"], "SIGTERM", 143),
    ],
)
def test_a_command_stopped_before_it_changed_anything_says_so(
    command: list[str], said: list[str], signame: str, status: int
) -> None:
    """Stopped while the cluster's first answer is awaited (a cluster that takes the connection
    and never answers): SIGTERM ended these silently (exit 143), and Ctrl+C of unpublish said the
    module object "may still be there" and nodes "may still hold" an artifact it never touched."""
    with silent_listener() as (port, taken):
        address = ["--cluster", f"https://127.0.0.1:{port}", "--insecure", "--timeout", "20"]
        process = started(*command, *address)
        wait_until(lambda: taken or process.poll() is not None)
        time.sleep(0.3)  # the TLS handshake under way
        process.send_signal(getattr(signal, signame))
        _, err = process.communicate(timeout=30)
    assert process.returncode == status, err
    # click writes an empty line on a KeyboardInterrupt; --insecure a warning
    lines = [line for line in err.splitlines() if line and not line.startswith("modpack: warning:")]
    assert len(lines) >= len(said), err
    for line, start in zip(lines, said, strict=False):
        assert line.startswith(start), err
    assert "Traceback" not in err


def test_unpublish_of_what_the_cluster_has_nothing_of_fails_and_says_why(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """`unpublish nosuch 1.2.3` (a typo, a name in another case, another version) printed
    "module object deleted: none found" and every node "absent", exit 0, as if it had removed
    something; so did a run after one that removed everything, and `artifacts delete`."""
    options = " ".join(cli_options(cluster))
    nothing = cli(cluster, "unpublish", "nosuch", "1.2.3")
    assert nothing.returncode == 1, nothing.stdout + nothing.stderr
    assert nothing.stdout.count(": absent") == 3
    assert nothing.stderr.splitlines() == [
        "modpack: nothing to remove: the cluster has no module object of nosuch 10203, and none of the 3"
        " nodes asked holds an artifact of it",
        "  hint: Check the name and the version, or a run before removed nosuch 10203 already;"
        f" `modpack modules list {options}` shows the names and versions of its module objects.",
    ]
    bundle = write_bundle(tmp_path / "casey.zip", module_json(module_name="casey"))
    assert cli(cluster, "publish", bundle).returncode == 0
    cased = cli(cluster, "unpublish", "CASEY", "1.2.3")
    assert cased.returncode == 1
    assert (
        "  hint: The cluster has casey, which differs from CASEY only in case: names are case-sensitive;"
        in (cased.stderr)
    )
    other = cli(cluster, "unpublish", "casey", "1.2.4")
    assert other.returncode == 1
    assert "  hint: The cluster has casey in version 1.2.3 (10203), not 1.2.4 (10204);" in other.stderr
    assert cli(cluster, "unpublish", "casey", "1.2.3").returncode == 0
    again = cli(cluster, "unpublish", "casey", "1.2.3")  # a run before removed everything
    assert again.returncode == 1
    assert "modpack: nothing to remove: the cluster has no module object of casey 10203" in again.stderr
    assert "a run before removed casey 10203 already" in again.stderr

    artifacts = cli(cluster, "artifacts", "delete", "nosuch", "1.2.3")
    assert artifacts.returncode == 1
    assert artifacts.stderr.splitlines()[0] == (
        "modpack: nothing to remove: none of the 3 nodes asked holds an artifact of nosuch 10203"
    )


def test_unpublish_with_some_nodes_of_nothing_says_no_module_object_is_kept(cluster: LocalCluster) -> None:
    """With --node, "module object kept (none found): ... or `modpack modules delete UID` once no
    node holds it" was said of a module object that does not exist."""
    run = cli(cluster, "unpublish", "nosuch", "1.2.3", "--node", cluster.urls[1])
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.splitlines()[1] == (
        "  module object: none found (--node reached 1 of the 3 nodes GET /v1/nodes lists (matched by address))"
    )
    assert "kept" not in run.stdout and "modules delete" not in run.stdout
    assert run.stderr.startswith(
        "modpack: nothing to remove: the cluster has no module object of nosuch 10203, and the node asked"
        " holds no artifact of it\n"
    )


def test_unpublish_on_7x_of_nothing_fails(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", software_version="7.22") as old:
        run = cli(old, "unpublish", "nosuch", "1.2.3")
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        run.stderr.splitlines()[0]
        == "modpack: nothing to remove: the cluster has no module object of nosuch 10203"
    )


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
            if command == ["artifacts", "delete"]:
                assert run.stderr.splitlines()[-1].startswith(
                    "  hint: A node without the user-defined module API (Redis Enterprise before 8.0) holds"
                    " no artifacts: check the --node address"
                ), run.stderr


def test_artifacts_delete_refused_by_the_role_says_so_not_that_nodes_are_down(cluster: LocalCluster) -> None:
    """403 on each node: the hint said "Run the same command again when they are up" of nodes
    that were up and refused the user's role."""
    viewer = ROLE_USERS["cluster_viewer"]
    env = {"MODPACK_USER": viewer.user, "MODPACK_PASSWORD": viewer.password}
    run = run_modpack("artifacts", "delete", "x", "1.2.3", *cli_options(cluster), env=env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.count(": failed: ") == 3
    assert run.stderr.splitlines()[-1] == (
        "  hint: The user's role lacks manage_cluster_modules, which deleting an artifact needs: run it as"
        " a user whose role has it (admin does)."
    )


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
        env = {"MODPACK_USER": "", "MODPACK_PASSWORD": ""}
        run = run_modpack(*command, "--cluster", url, "--allow-http", env=env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        f"modpack: GET {url}{path} answered an object, not the JSON list the Redis Enterprise REST API answers"
        in run.stderr.splitlines()
    ), run.stderr
    assert "no module objects" not in run.stdout
