"""Helpers of the REST, serve and publish tests: bundles built with zipfile from the fixture modules,
clusters, and the two ways a test talks to one: `http` (an HTTPS client) and `cli` (the real
command line in a subprocess).

Every cluster listens on 127.0.0.1 only, on ports the kernel picks, and is stopped by the
context manager that started it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modpack.errors import ModpackError
from modpack.rest import auth
from modpack.rest.client import Connection, Credentials
from modpack.rest.cluster import LocalCluster, ServeOptions
from modpack.rest.transport import Request, Response
from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, HELLO, SO  # noqa: F401 (SO: the REST tests import it from here)

if TYPE_CHECKING:
    import httpx

EXPECTED = FIXTURES / "expected" / "redis-7.0.15.json"
ADMIN = Credentials("admin", "admin-secret-pw")
ROLE_USERS = {role: Credentials(f"{role}@example.com", f"{role}-secret-pw") for role in auth.ROLES}


def hello_commands() -> list[dict[str, Any]]:
    """hello.so's commands as redis-server 7.0.15 reported them (fixtures/expected)."""
    info = json.loads(EXPECTED.read_text())["fixtures"]["hello.so"]["command_info"]
    return [
        {
            "command_name": c[0],
            "command_arity": c[1],
            "flags": c[2],
            "first_key": c[3],
            "last_key": c[4],
            "step": c[5],
        }
        for c in info.values()
    ]


def module_json(so: Path = HELLO, **overrides: Any) -> dict[str, Any]:
    """A valid module.json for hello.so (module hello, version 10203, 1.2.3)."""
    document = {
        "module_name": "hello",
        "version": 10203,
        "semantic_version": "1.2.3",
        "display_name": "Hello",
        "commands": hello_commands(),
        "command_line_args": "",
        "capabilities": ["types"],
        "min_redis_version": "7.0",
        "compatible_redis_version": "7.4",
        "module_file": "hello.so",
        "sha256": hashlib.sha256(so.read_bytes()).hexdigest(),
        "architecture": "x86_64",
        "operating_systems": ["ubuntu22", "rhel9"],
    }
    document.update(overrides)
    return document


def write_bundle(
    path: Path,
    module: dict[str, Any] | None = None,
    so: Path = HELLO,
    *,
    module_bytes: bytes | None = None,
    with_module_json: bool = True,
    so_name: str = "hello.so",
) -> Path:
    """A bundle zip: module.json (given, or valid for `so`) and the .so, mode 0755."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if with_module_json:
            body = (
                module_bytes if module_bytes is not None else json.dumps(module or module_json(so)).encode()
            )
            archive.writestr("module.json", body)
        entry = zipfile.ZipInfo(so_name, date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100755 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, so.read_bytes())
    return path


def write_role_users(path: Path) -> Path:
    """A users file with the admin and one user per role of the reference's table."""
    users = {ADMIN.user: ("admin", ADMIN.password)}
    users.update({c.user: (role, c.password) for role, c in ROLE_USERS.items()})
    auth.write_users(path, users)
    return path


@contextlib.contextmanager
def running_cluster(data: Path, users: Path | None = None, **options: Any) -> Iterator[LocalCluster]:
    """A 3-node HTTPS cluster on 127.0.0.1 (generated certificate), uploads allowed, stopped on exit.

    Its ports lie below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default):
    a node a test stops and starts again took its port back, and from that range an outgoing
    connection of another test could hold it meanwhile as its source port ("cannot listen on
    127.0.0.1:39443: Address already in use", one CI run in many)."""
    options.setdefault("allow_modules_upload", True)
    # only the test's own module objects (tests/test_serve_fidelity.py lists the shipped ones)
    options.setdefault("bundled_modules", False)
    for attempt in range(50):
        port = random.randrange(20000, 32000)
        settings = ServeOptions(
            data=data, port=port, users_file=users, admin_password=ADMIN.password, **options
        )
        try:
            cluster = LocalCluster(settings).start()
        except ModpackError as exc:
            if "cannot listen on" not in exc.message or attempt == 49:
                raise
            continue  # another test's cluster has one of these ports: try others
        break
    try:
        yield cluster
    finally:
        cluster.stop()


def connection(cluster: LocalCluster, credentials: Credentials = ADMIN, **overrides: Any) -> Connection:
    settings: dict[str, Any] = {
        "cluster": cluster.urls[0],
        "credentials": credentials,
        "ca_cert": cluster.ca_cert,
        "retries": 1,
        "backoff": 0.01,
        # Tests serve plain HTTP on loopback only when they say so (https=False).
        "allow_http": cluster.scheme == "http",
    }
    settings.update(overrides)
    return Connection(**settings)


def serve_connection(info: dict[str, Any]) -> Connection:
    """A connection as the admin to a `modpack serve` process, from its ports file (`serve_processes`)."""
    return Connection(
        cluster=info["cluster"], credentials=ADMIN, ca_cert=Path(info["ca_cert"]), retries=1, backoff=0.01
    )


def http(cluster: LocalCluster, credentials: Credentials | None = ADMIN) -> httpx.Client:
    """An HTTPS client trusting the cluster's certificate, as `credentials` (None: no Authorization
    header). Relative paths go to node 1 (`session.get("/v1/modules")`); a full URL goes where it
    says (`session.get(cluster.urls[2] + ARTIFACTS)`). The timeout is a hang guard only."""
    import ssl

    import httpx

    context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    auth_pair = (credentials.user, credentials.password) if credentials else None
    return httpx.Client(base_url=cluster.urls[0], verify=context, auth=auth_pair, timeout=60)


def cli(
    cluster: LocalCluster, *args: str | Path, retries: int | None = 0, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m modpack ARGS --cluster <node 1> --ca-cert <the cluster's>` as the admin (user and
    password in the environment, as a user's script would pass them), with `--retries retries`
    (None: the command's default), run in `cwd` (None: the current folder)."""
    env = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    return run_modpack(*args, *cli_options(cluster, retries), env=env, cwd=cwd)


def cli_options(cluster: LocalCluster, retries: int | None = 0) -> list[str]:
    """The options `cli` gives after the command's own arguments, in the order of `--help`."""
    options = ["--cluster", cluster.urls[0], "--ca-cert", str(cluster.ca_cert)]
    return options + (["--retries", str(retries)] if retries is not None else [])


def typed(cluster: LocalCluster, retries: int | None = 0) -> str:
    """`cli_options` as a hint's command repeats them."""
    return shlex.join(cli_options(cluster, retries))


def hinted(text: str, start: str) -> list[str]:
    """The words, `modpack` left out, of the first command in backquotes in `text` that starts
    with `start`, split as a shell splits them: to run as printed."""
    import re

    found = re.search(r"`(" + re.escape(start) + r"[^`]*)`", text)
    assert found, text
    words = shlex.split(found.group(1))
    assert words[0] == "modpack", words
    return words[1:]


def as_printed(words: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A hint's command run as printed: the admin's user and password in the environment (`env`
    adds to it), and no MODPACK_CLUSTER or MODPACK_CA_CERT there, so that the command must name
    the cluster itself."""
    given = {"MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password, "MODPACK_CLUSTER": ""}
    return run_modpack(*words, env={**given, "MODPACK_CA_CERT": "", **(env or {})})


def rebuilt(folder: Path, tail: bytes = b"\0" * 16) -> Path:
    """hello.so rebuilt into `folder`: the same module, other bytes (a different sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    so = folder / "hello.so"
    so.write_bytes(HELLO.read_bytes() + tail)
    return so


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextlib.contextmanager
def serve_processes(data: Path, *extra: str) -> Iterator[Callable[[], dict[str, Any]]]:
    """`start()` runs `python -m modpack serve` (3 nodes, HTTPS, uploads allowed, `extra` options)
    on `data` as a subprocess and returns its ports file with "process" added; every process still
    running is killed at exit."""
    started: list[subprocess.Popen[bytes]] = []
    ports = data.parent / f"{data.name}-ports.json"
    log = data.parent / f"{data.name}-serve.log"

    def start() -> dict[str, Any]:
        ports.unlink(missing_ok=True)
        command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0"]
        command += ["--ports-file", str(ports), "--admin-password", ADMIN.password]
        command += ["--allow-modules-upload", *extra]
        with log.open("ab") as output:  # a file, not a pipe: a busy server never blocks on it
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=output)
        started.append(process)
        wait_until(lambda: ports.exists() or process.poll() is not None)
        assert process.poll() is None, log.read_text(errors="replace")
        info: dict[str, Any] = json.loads(ports.read_text())
        info["process"] = process
        return info

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def json_reply(status_code: int, document: Any) -> Response:
    """A JSON answer, as a FakeTransport's `answer` gives it."""
    return Response(status_code, {"content-type": "application/json"}, json.dumps(document).encode())


class FakeTransport:
    """The client's transport replaced by `answer(request) -> Response`, for unit tests of the
    retry, redirect and error logic above HTTP (a stand-in: what goes on the wire is tested against
    modpack serve and http.server on loopback). A streamed body is read whole before `answer`."""

    def __init__(self, answer: Callable[[Request], Response]) -> None:
        self.answer = answer

    def send(self, request: Request, limit: int) -> Response:
        if request.body is not None and not isinstance(request.body, bytes):
            request = request._replace(body=b"".join(request.body))
        return self.answer(request)

    def close(self) -> None:
        pass


def stored_zip(cluster: LocalCluster, node: int, name: str) -> Path:
    """The bundle node `node` stores for `name` 10203 (the example version)."""
    return cluster.options.data / f"node-{node}" / name / "10203" / "module.zip"


def listing_nodes(cluster: LocalCluster, name: str) -> list[str]:
    """The uids of the nodes whose GET .../artifacts lists `name` 10203."""
    from modpack.rest import client

    with client.Api(connection(cluster)) as api:
        return [ref.uid for ref in client.nodes(api) if client.has_artifact(api, ref, name, 10203)]


def assert_each_node_holds(cluster: LocalCluster, stdout: str, name: str, given: dict[int, Path]) -> None:
    """Each node of `given` said "uploaded" of its own bundle, holds it byte for byte, and lists it."""
    for uid, bundle in given.items():
        line = f"node {uid} ({cluster.urls[uid - 1]}): uploaded: {bundle.name}, "
        assert line in stdout, stdout
        assert stored_zip(cluster, uid, name).read_bytes() == bundle.read_bytes()
    assert stdout.count(": uploaded: ") == len(given), stdout
    assert sorted(listing_nodes(cluster, name), key=int) == [str(uid) for uid in sorted(given)]
