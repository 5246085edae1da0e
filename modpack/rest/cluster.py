"""A local cluster: N nodes in one process, each a uvicorn server on its own loopback port.

Each node runs its own asyncio event loop on its own thread, so uploads to three nodes are
received side by side (TLS, multipart parsing and file writes of one node never wait for
another's); bundle validation runs on a shared pool of threads off every loop. The nodes share
one configuration store; each node has its own artifact folder. `LocalCluster` is used by
`modpack serve` and by tests alike: it can stop and restart a single node (a node that is down,
then back) and everything it holds is on disk, so a restarted cluster has what the old one had.
Each node's connections go through `modpack.rest.guard`: header, idle and stalled-body timeouts
and a cap on connections (`ServeOptions.limits`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import json
import logging
import os
import socket
import sqlite3
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

from modpack.errors import ModpackError, UsageError
from modpack.rest import auth, platforms, store, tls
from modpack.rest.limits import ConnectionLimits

if TYPE_CHECKING:
    import uvicorn

    from modpack.policy import OperatingSystem
    from modpack.rest import server
    from modpack.types import Module

DEFAULT_PORT = 9443
DEFAULT_MAX_UPLOAD = 500 * 1024 * 1024  # MAX_MODULE_SIZE_BYTES per redis-enterprise.md §8
START_TIMEOUT = 15.0
_M_ARENA_MAX = -8  # glibc malloc.h
ARCHITECTURES = ("x86_64", "aarch64")  # what a node object's architecture says (captured GET /v1/nodes/1)


@dataclass
class ServeOptions:
    """How to run a local cluster. `port` is the first node's (the next ones follow); 0 = any."""

    data: Path
    nodes: int = 3
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    node_os: dict[int, str] = field(default_factory=dict)  # uid -> OS, where not default_os
    default_os: str = "ubuntu22"
    node_architecture: dict[int, str] = field(default_factory=dict)  # uid -> one, where not architecture
    architecture: str = "x86_64"
    https: bool = True
    cert: Path | None = None
    key: Path | None = None
    users_file: Path | None = None
    admin_password: str | None = field(default=None, repr=False)
    max_upload: int = DEFAULT_MAX_UPLOAD
    allow_modules_upload: bool | None = None
    bundled_modules: bool = True  # a new RS 8.x data folder lists the modules Redis Enterprise ships
    access_log: bool = False
    software_version: str = ""  # default: server.SOFTWARE_VERSION (8.2)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)  # slow and idle clients


class NodeEntry(TypedDict):
    uid: int
    url: str
    os: str
    architecture: str


class Description(TypedDict):
    """What `modpack serve` announces and writes to its ports file (`LocalCluster.describe`)."""

    cluster: str
    nodes: list[NodeEntry]
    ca_cert: str | None
    pid: int


@dataclass
class _Running:
    server: uvicorn.Server
    future: concurrent.futures.Future[None]
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread


def bundled_modules() -> list[Module]:
    """The module objects a Redis Enterprise 8.x cluster lists beside custom ones, `is_bundled`
    true: RedisBloom, RediSearch, RedisJSON and RedisTimeSeries, one object per Redis version its
    databases may run (GET /v1/modules of a real RS 8.x cluster, captured in the reference's
    re-docs; 7.x lists another set, which no capture shows, so a 7.x data folder starts empty)."""
    from modpack import read_packaged

    loaded = json.loads(read_packaged("data", "bundled_modules.json"))
    return [m for m in loaded if isinstance(m, dict)]


class LocalCluster:
    """Start with `start()` (or `with`), stop with `stop()`; `urls` are the nodes' base URLs."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self._running: dict[int, _Running] = {}
        self._ssl: ssl.SSLContext | None = None
        self._shared: server.Shared | None = None  # built in start(), dropped by stop()
        self.nodes: list[server.Node] = []  # server.Node, kept after stop() for their URLs
        self.skipped: list[tuple[str, str]] = []  # (uid, why) of stored rows that cannot be served
        self.password_changed = False  # the given admin password replaced the stored one
        self._lock: int | None = None  # the data folder's lock file, held while the cluster runs

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        from modpack.rest import server

        version = _software_version(self.options.software_version or server.SOFTWARE_VERSION)
        for uid in range(1, self.options.nodes + 1):  # before anything is made on disk
            os_id, architecture = self._platform(uid)
            per_node = uid in self.options.node_os or uid in self.options.node_architecture
            _refuse_unreleased(uid, os_id, architecture, version, per_node=per_node)
        self._prepare_data()
        try:  # from here on the data folder is locked: a failed start lets it go
            self.nodes = self._nodes(version)
            self._shared = server.Shared(
                self._store(legacy=platforms.release(version) < platforms.USER_DEFINED_SINCE),
                self._users(),
                self.nodes,
                self.options.max_upload,
                version,
            )
            self._ssl = self._tls_context()
            _enough_file_descriptors(self.options.nodes * self.options.limits.max_connections)
            for node in self.nodes:
                self.start_node(node.uid)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Every node starts its graceful shutdown (up to 3 s for requests still running) at once:
        # one after the other, three nodes with uploads under way took 10 s to stop.
        for running in self._running.values():
            running.server.should_exit = True
        for uid in list(self._running):
            self.stop_node(uid)
        if self._shared is not None:
            self._shared.validator.shutdown()
            self._shared.guard.close()
            self._shared.store.close()
            self._shared = None
        if self._lock is not None:
            os.close(self._lock)  # the lock goes with the descriptor
            self._lock = None

    @property
    def shared(self) -> server.Shared:
        """What the nodes share (store, users, guard, actions); only while the cluster runs."""
        if self._shared is None:
            raise ModpackError("the local cluster is not running: start() it first")
        return self._shared

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_node(self, uid: int) -> None:
        """Start serving node `uid` (again) on its port."""
        from collections import defaultdict

        import uvicorn

        from modpack.rest import server
        from modpack.rest.guard import ConnectionGuard

        node = self._node(uid)
        _quiet_cancellations()
        sock = _listen(node.host, node.port)
        node.port = sock.getsockname()[1]
        limits = self.options.limits
        # TLS is the guard's, not uvicorn's: it admits a connection before any handshake work
        # and keeps an idle connection's TLS buffers small (modpack.rest.guard).
        config = uvicorn.Config(
            server.create_app(self.shared, node),
            log_config=None,
            access_log=self.options.access_log,
            lifespan="off",
            ws="none",
            # Config.load() takes any protocol factory as is; timeouts may be fractions of a second.
            http=ConnectionGuard(limits, self._ssl, f"node {uid}", legacy=self.shared.legacy),  # type: ignore[arg-type]
            timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=3,
        )
        instance = uvicorn.Server(config)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"modpack-node-{uid}", daemon=True)
        thread.start()
        node.locks = defaultdict(asyncio.Lock)  # asyncio locks of the old loop cannot serve the new
        future = asyncio.run_coroutine_threadsafe(instance.serve(sockets=[sock]), loop)
        self._running[uid] = _Running(instance, future, loop, thread)
        _wait_started(instance, future, f"node {uid}")
        node.started, node.running = time.monotonic(), True

    def stop_node(self, uid: int) -> None:
        """Stop serving node `uid`: its port refuses connections until `start_node`."""
        running = self._running.pop(uid, None)
        if running is None:
            return
        self._node(uid).running = False
        running.server.should_exit = True
        try:
            running.future.result(timeout=START_TIMEOUT)
        except concurrent.futures.TimeoutError:
            running.server.force_exit = True
            running.future.result(timeout=START_TIMEOUT)
        finally:
            _abort_connections(running)
            running.loop.call_soon_threadsafe(running.loop.stop)
            running.thread.join(timeout=START_TIMEOUT)
            if not running.thread.is_alive():  # a loop still running cannot be closed (RuntimeError)
                running.loop.close()

    # --- what clients need --------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.options.https else "http"

    @property
    def urls(self) -> list[str]:
        from modpack.rest.server import advertised_address

        return [f"{self.scheme}://{_url_host(advertised_address(n.host))}:{n.port}" for n in self.nodes]

    @property
    def ca_cert(self) -> Path | None:
        if not self.options.https:
            return None
        return self.options.cert or self.options.data / "tls" / tls.CERT_NAME

    def describe(self) -> Description:
        return {
            "cluster": self.urls[0],
            "nodes": [
                {"uid": n.uid, "url": u, "os": n.os, "architecture": n.architecture}
                for n, u in zip(self.nodes, self.urls, strict=True)
            ],
            # absolute: a client runs from another folder (the module's), where a relative
            # cluster/tls/cert.pem named nothing ("cannot use MODPACK_CA_CERT ...: No such file")
            "ca_cert": str(self.ca_cert.absolute()) if self.ca_cert else None,
            "pid": os.getpid(),
        }

    def write_ports_file(self, path: Path) -> None:
        """The node URLs as JSON, written atomically (tests and scripts wait for this file)."""
        from modpack.atomic import write_text

        write_text(path, json.dumps(self.describe(), indent=1))

    # --- set-up -------------------------------------------------------------------------------

    def _prepare_data(self) -> None:
        options = self.options
        if options.nodes < 1:
            raise UsageError("--nodes must be at least 1")
        if options.port and options.port + options.nodes - 1 > 65535:
            raise UsageError(
                f"--port {options.port} with --nodes {options.nodes}: node {options.nodes} would listen on"
                f" port {options.port + options.nodes - 1}, past 65535",
                "Choose a lower --port (node N listens on port+N-1), or --port 0 for any free ports.",
            )
        for option, what, given in (
            ("--os", "OS", options.node_os),
            ("--arch", "ARCH", options.node_architecture),
        ):
            strays = sorted(uid for uid in given if not 1 <= uid <= options.nodes)
            if strays:
                raise UsageError(
                    f"{option} {strays[0]}={given[strays[0]]}: there is no node {strays[0]}"
                    f" (--nodes {options.nodes} makes nodes 1 to {options.nodes})",
                    f"Give NODE={what} for a node that exists, or raise --nodes.",
                )
        tls.private_folder(options.data)
        if self._lock is None:
            self._lock = _lock_data(options.data)

    def _store(self, *, legacy: bool) -> store.ConfigStore:
        """The store; on a new data folder allow_modules_upload starts off, as on RS 8.2."""
        config = store.ConfigStore(self.options.data / "ccs.sqlite3")
        try:
            self._settle(config, legacy=legacy)
        except sqlite3.Error as exc:  # SQLITE_FULL writing the switch on a full disk: no internal error
            config.close()
            raise store.unusable(config.path, exc, "use") from None
        return config

    def _settle(self, config: store.ConfigStore, *, legacy: bool) -> None:
        """Name the rows no response can carry; set the switch as the options say; on a new data
        folder, the module objects the release ships."""
        # new: neither a switch nor a module object yet (a folder of an older modpack has one)
        new = config.setting("allow_modules_upload", None) is None and not config.has_modules()
        self.skipped = config.unservable()
        for uid, why in self.skipped:
            logging.getLogger(__name__).warning(
                "module object %s in %s cannot be served (%s): GET /v1/modules skips it; %s removes it",
                uid,
                config.path,
                why,
                store.delete_route(uid, legacy=legacy),
            )
        if self.options.allow_modules_upload is not None:
            config.set_setting("allow_modules_upload", self.options.allow_modules_upload)
        elif config.setting("allow_modules_upload", None) is None:
            config.set_setting("allow_modules_upload", False)
        if new and self.options.bundled_modules and not legacy:
            config.add_bundled(bundled_modules())

    def _users(self) -> auth.Users:
        options = self.options
        if options.users_file is not None:
            return auth.read_users(options.users_file)
        users_file, self.password_changed = auth.initial_admin(options.data, options.admin_password)
        return auth.read_users(users_file)

    def _nodes(self, version: str) -> list[server.Node]:
        from modpack.rest import server

        nodes = []
        for uid in range(1, self.options.nodes + 1):
            port = self.options.port + uid - 1 if self.options.port else 0
            artifacts = store.NodeArtifacts(self.options.data / f"node-{uid}")
            artifacts.prepare()
            os_id, architecture = self._platform(uid)
            node = server.Node(uid, self.options.host, port, os_id, architecture, artifacts)
            node.software_version = version
            nodes.append(node)
        return nodes

    def _platform(self, uid: int) -> tuple[str, str]:
        """Node `uid`'s OS (canonical id) and architecture, as the options give them."""
        options = self.options
        os_id = _node_os(options.node_os.get(uid, options.default_os))
        return os_id, _node_architecture(options.node_architecture.get(uid, options.architecture))

    def _node(self, uid: int) -> server.Node:
        for node in self.nodes:
            if node.uid == uid:
                return node
        raise UsageError(f"there is no node {uid}")

    def _tls_context(self) -> ssl.SSLContext | None:
        options = self.options
        if not options.https:
            return None
        if (options.cert is None) != (options.key is None):
            given, missing = ("--cert", "--key") if options.key is None else ("--key", "--cert")
            raise UsageError(
                f"{given} was given without {missing}: the two go together",
                "Give --cert the certificate (PEM) and --key its private key (PEM), or neither for a"
                f" certificate serve makes in {options.data / 'tls'}.",
            )
        if options.cert is not None and options.key is not None:
            cert, key = options.cert, options.key
        else:
            cert, key = tls.ensure_certificate(options.data / "tls", in_child=True)
        try:
            return tls.server_context(cert, key)
        except ssl.SSLError as exc:  # OpenSSL's "[SSL] PEM lib (_ssl.c:3905)" names no file
            raise ModpackError(
                f"cannot use the certificate {cert} and key {key}: {exc.reason or exc}",
                "Give --cert a PEM certificate and --key its PEM private key.",
            ) from None
        except OSError as exc:
            from modpack.regular import hint_for

            message = f"cannot use the certificate {exc.filename}: {exc.strerror or exc}"
            raise ModpackError(message, hint_for(exc)) from None


def _abort_connections(running: _Running) -> None:
    """Abort what uvicorn left open: a request still running when its graceful shutdown ran out
    is cancelled, and its connection stayed open after the node's loop stopped, a socket no one
    closes (a ResourceWarning at some later garbage collection, in whatever ran then)."""

    from modpack.rest.guard import LeanTLS

    async def abort() -> None:
        for connection in list(running.server.server_state.connections):
            if isinstance(connection, LeanTLS):  # a TLS connection: cut its socket
                connection.abort()
                continue
            transport = getattr(connection, "transport", None)  # uvicorn's HTTP protocols
            if isinstance(transport, asyncio.Transport) and not transport.is_closing():
                transport.abort()
        await asyncio.sleep(0)  # connection_lost, called soon, runs before the loop stops

    if running.loop.is_running():
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(abort(), running.loop).result(timeout=START_TIMEOUT)


def _node_os(name: str) -> str:
    from modpack import policy

    canonical = policy.canonical_os(name)
    if canonical is None:
        known = ", ".join(policy.operating_systems())
        raise UsageError(f"unknown node OS {name!r}", f"Use one of {known}.")
    return canonical


def _node_architecture(name: str) -> str:
    if name not in ARCHITECTURES:
        raise UsageError(
            f"unknown node architecture {name!r}",
            f"Use {' or '.join(ARCHITECTURES)} (amd64 is x86_64, arm64 is aarch64).",
        )
    return name


def _refuse_unreleased(
    uid: int, os_id: str, architecture: str, version: str, *, per_node: bool = False
) -> None:
    """A node no Redis Enterprise release makes: an OS on an architecture it has no packages for
    (aarch64 rhel8), before its first release there (aarch64 before 8.0.10, Amazon Linux 2023
    before 8.0.20) or from the one that dropped it (Amazon Linux 2 from 8.0.22): pipelines were
    tested green against a cluster that cannot exist. platforms.json `architectures`, `since`,
    `dropped_in`. `per_node`: the node's OS or architecture was given for it alone (--os 3=...)."""
    from modpack import policy

    release = version.split("-", maxsplit=1)[0]
    why = _not_released(os_id, policy.operating_systems()[os_id], architecture, release)
    if why:
        hint = _released_hint(uid, os_id, architecture, release, per_node=per_node)
        raise UsageError(f"node {uid} ({os_id}, {architecture}, RS {release}): {why}", hint)


def _released_hint(uid: int, os_id: str, architecture: str, release: str, *, per_node: bool) -> str:
    """What to give instead: an OS RS `release` has packages for on `architecture`; for node `uid`
    alone when its OS or architecture was given for it alone, or the architecture `os_id` is made for."""
    from modpack import policy

    systems = policy.operating_systems()
    offered = [
        name for name, system in systems.items() if not _not_released(name, system, architecture, release)
    ]
    if not offered:
        return (
            f"No Redis Enterprise {release} runs on {architecture}: choose another --software-version"
            " or --arch."
        )
    if not per_node:
        return f"Choose --os among {', '.join(offered)} for {architecture} on this --software-version."
    others = [
        a for a in ARCHITECTURES if a != architecture and not _not_released(os_id, systems[os_id], a, release)
    ]
    instead = f", or --arch {uid}={others[0]} for {os_id}" if others else ""
    return (
        f"Choose node {uid}'s OS among {', '.join(offered)} for {architecture} on this --software-version"
        f" (--os {uid}={offered[0]}){instead}."
    )


def _not_released(os_id: str, system: OperatingSystem, architecture: str, release: str) -> str:
    """Why RS `release` has no packages for `os_id` on `architecture` ("" when it has)."""
    from modpack.versions import parse_redis_version

    number = parse_redis_version(release) or ()
    first, dropped = system.get("since", {}).get(architecture), system.get("dropped_in")
    if architecture not in system["architectures"] or system["status"] == "not-yet":
        return f"no Redis Enterprise release has packages for {os_id} on {architecture}"
    if first and number < (parse_redis_version(first) or ()):
        return f"Redis Enterprise has packages for {os_id} on {architecture} from {first} on"
    if dropped and number >= (parse_redis_version(dropped) or ()):
        return f"Redis Enterprise has no packages for {os_id} from {dropped} on"
    return ""


# The first release of a major.minor where it is not .0: 8.0's first (its GA, the one with the
# user-defined module endpoints) is 8.0.2-17; there was no 8.0.0 or 8.0.1 (redis-enterprise.md §1).
FIRST_RELEASE = {(8, 0): (2, 17)}


def _software_version(text: str) -> str:
    """`7.22` -> `7.22.0-0`, `8.0` -> `8.0.2-17`; a full `8.2.0-25` as given; UsageError for
    anything else, and for an 8.0 release before the first."""
    import re

    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(?:-(\d+))?", text.strip())
    if match is None or (int(match[1]), int(match[2])) < (7, 2):
        raise UsageError(
            f"--software-version {text!r}: give a Redis Enterprise version from 7.2 on, e.g. 7.22 or 8.2.0-25"
        )
    release = (int(match[1]), int(match[2]))
    first_patch, first_build = FIRST_RELEASE.get(release, (0, 0))
    patch = first_patch if match[3] is None else int(match[3])
    build = int(match[4]) if match[4] is not None else first_build if patch == first_patch else 0
    if (patch, build) < (first_patch, first_build):
        raise UsageError(
            f"--software-version {text!r}: Redis Enterprise {match[1]}.{match[2]} was first released as"
            f" {match[1]}.{match[2]}.{first_patch}-{first_build}",
            f"Give {match[1]}.{match[2]} or {match[1]}.{match[2]}.{first_patch}-{first_build}.",
        )
    return f"{match[1]}.{match[2]}.{patch}-{build}"


class _CancelledAtStop(logging.Filter):
    """uvicorn logs a request its graceful shutdown cancelled as "Exception in ASGI application"
    with a 40-line CancelledError traceback: stopping serve during an upload looked like a crash.
    Such a record becomes one line; the upload is discarded as for any cut connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if "timeout graceful shutdown exceeded" in record.getMessage():  # what it does, not an error
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        if isinstance(error, asyncio.CancelledError):
            record.msg, record.args, record.exc_info = (
                "a request still running at the stop was cancelled",
                (),
                None,
            )
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_cancellations() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _CancelledAtStop) for f in logger.filters):
        logger.addFilter(_CancelledAtStop())


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every response waits out the client's delayed ACK (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        # EADDRNOTAVAIL: an address no interface of this machine has (--host 8.8.8.8)
        host_problem = isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL
        raise ModpackError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            "Check --host: an address of this machine." if host_problem else "Choose another --port.",
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _enough_file_descriptors(connections: int) -> None:
    """Raise the soft open-file limit towards the hard one so the connection caps can be reached.

    A common soft limit is 1024: three nodes of 512 connections would meet EMFILE first, and
    asyncio then stops accepting for a second at a time. Warn when even the hard limit is short.
    """
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    wanted = connections + 256  # the store, the artifacts being written, the listening sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < wanted:
        logging.getLogger(__name__).warning(
            "open-file limit %d is below the %d connections the nodes may hold: lower"
            " --max-connections or raise the limit (ulimit -n)",
            target,
            connections,
        )


class _Starting(Protocol):
    """What _wait_started reads of a uvicorn.Server."""

    started: bool


def _wait_started(instance: _Starting, future: concurrent.futures.Future[None], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not instance.started:
        if future.done():
            future.result()
            raise ModpackError(f"{what} stopped while starting")
        if time.monotonic() > deadline:
            raise ModpackError(f"{what} did not start within {START_TIMEOUT:.0f} s")
        time.sleep(0.01)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


LOCK_FILE = "serve.lock"


def _lock_data(data: Path) -> int:
    """An exclusive lock on `data` (flock on data/serve.lock, which records the holder's pid),
    held until the descriptor is closed: a second serve on a folder in use cleared the first's
    `.tmp/` under uploads still arriving, and the two shared one store with two caches of it."""
    import fcntl

    path = data / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ModpackError(
            f"cannot open {path}: {exc.strerror or exc}", "Give a --data folder you can write."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        who = f"another modpack serve (pid {holder})" if holder.isdigit() else "another modpack serve"
        raise ModpackError(
            f"the data folder {data} is in use by {who}",
            "Stop that one first, or give this one another --data folder.",
        ) from None
    except OSError:
        return fd  # a file system without locks (ENOLCK): served unlocked, as before
    try:  # the pid only names the holder in the refusal above: a full disk does not stop serve
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    return fd


def share_one_malloc_arena() -> None:
    """One glibc malloc arena for every thread (like MALLOC_ARENA_MAX=1); a no-op off glibc.

    Each node's event loop, the password checks and the bundle validations would otherwise each
    keep an arena holding what they once used. The mmap threshold is left to glibc: fixing it at
    256 KiB made every large buffer a fresh mmap, and page faults were then about 70% of the
    server's CPU time (three parallel 150 MB uploads: 8.6 s of server CPU, 3.0 s without it;
    issue 14). Called by `modpack serve` before any thread starts.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        return
