"""A local cluster: N nodes in one process, each a uvicorn server on its own loopback port.

All nodes run in one asyncio event loop on a background thread and share one configuration
store; each node has its own artifact folder. `LocalCluster` is used by `modpack serve` and by
tests alike: it can stop and restart a single node (a node that is down, then back) and
everything it holds is on disk, so a restarted cluster has what the old one had.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modpack.errors import ModpackError, UsageError
from modpack.rest import auth, store, tls

DEFAULT_PORT = 9443
DEFAULT_MAX_UPLOAD = 500 * 1024 * 1024  # MAX_MODULE_SIZE_BYTES per redis-enterprise.md §8
START_TIMEOUT = 15.0
_M_ARENA_MAX = -8  # glibc malloc.h
_M_MMAP_THRESHOLD = -3


@dataclass
class ServeOptions:
    """How to run a local cluster. `port` is the first node's (the next ones follow); 0 = any."""

    data: Path
    nodes: int = 3
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    node_os: dict[int, str] = field(default_factory=dict)
    default_os: str = "ubuntu22"
    architecture: str = "x86_64"
    https: bool = True
    cert: Path | None = None
    key: Path | None = None
    users_file: Path | None = None
    admin_password: str | None = field(default=None, repr=False)
    max_upload: int = DEFAULT_MAX_UPLOAD
    allow_modules_upload: bool | None = None
    access_log: bool = False


@dataclass
class _Running:
    server: Any  # uvicorn.Server
    future: concurrent.futures.Future[None]


class LocalCluster:
    """Start with `start()` (or `with`), stop with `stop()`; `urls` are the nodes' base URLs."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running: dict[int, _Running] = {}
        self._ssl: ssl.SSLContext | None = None
        self.shared: Any = None  # server.Shared, built in start()
        self.nodes: list[Any] = []  # server.Node, kept after stop() for their URLs

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        from modpack.rest import server

        self._prepare_data()
        self.nodes = self._nodes()
        self.shared = server.Shared(self._store(), self._users(), self.nodes, self.options.max_upload)
        self._ssl = self._tls_context()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="modpack-serve", daemon=True)
        self._thread.start()
        try:
            for node in self.nodes:
                self.start_node(node.uid)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for uid in list(self._running):
            self.stop_node(uid)
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=START_TIMEOUT)
            self._loop.close()
            self._loop = None
        if self.shared is not None:
            self.shared.validator.shutdown()
            self.shared.store.close()
            self.shared = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_node(self, uid: int) -> None:
        """Start serving node `uid` (again) on its port."""
        import uvicorn

        from modpack.rest import server

        assert self._loop is not None
        node = self._node(uid)
        sock = _listen(node.host, node.port)
        node.port = sock.getsockname()[1]
        config = uvicorn.Config(
            server.create_app(self.shared, node),
            log_config=None,
            access_log=self.options.access_log,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=3,
            ssl_context_factory=self._ssl_factory() if self._ssl else None,
        )
        instance = uvicorn.Server(config)
        future = asyncio.run_coroutine_threadsafe(instance.serve(sockets=[sock]), self._loop)
        self._running[uid] = _Running(instance, future)
        _wait_started(instance, future, f"node {uid}")

    def stop_node(self, uid: int) -> None:
        """Stop serving node `uid`: its port refuses connections until `start_node`."""
        running = self._running.pop(uid, None)
        if running is None:
            return
        running.server.should_exit = True
        try:
            running.future.result(timeout=START_TIMEOUT)
        except concurrent.futures.TimeoutError:
            running.server.force_exit = True
            running.future.result(timeout=START_TIMEOUT)

    # --- what clients need --------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.options.https else "http"

    @property
    def urls(self) -> list[str]:
        return [f"{self.scheme}://{_url_host(n.host)}:{n.port}" for n in self.nodes]

    @property
    def ca_cert(self) -> Path | None:
        if not self.options.https:
            return None
        return self.options.cert or self.options.data / "tls" / tls.CERT_NAME

    def describe(self) -> dict[str, Any]:
        return {
            "cluster": self.urls[0],
            "nodes": [
                {"uid": n.uid, "url": u, "os": n.os} for n, u in zip(self.nodes, self.urls, strict=True)
            ],
            "ca_cert": str(self.ca_cert) if self.ca_cert else None,
            "pid": os.getpid(),
        }

    def write_ports_file(self, path: Path) -> None:
        """The node URLs as JSON, written atomically (tests and scripts wait for this file)."""
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(json.dumps(self.describe(), indent=1), encoding="utf-8")
        temp.replace(path)

    # --- set-up -------------------------------------------------------------------------------

    def _prepare_data(self) -> None:
        options = self.options
        if options.nodes < 1:
            raise UsageError("--nodes must be at least 1")
        options.data.mkdir(parents=True, exist_ok=True)

    def _store(self) -> store.ConfigStore:
        config = store.ConfigStore(self.options.data / "ccs.sqlite3")
        if self.options.allow_modules_upload is not None:
            config.set_setting("allow_modules_upload", self.options.allow_modules_upload)
        return config

    def _users(self) -> auth.Users:
        options = self.options
        users_file = options.users_file or auth.initial_admin(options.data, options.admin_password)
        return auth.read_users(users_file)

    def _nodes(self) -> list[Any]:
        from modpack.rest import server

        nodes = []
        for uid in range(1, self.options.nodes + 1):
            port = self.options.port + uid - 1 if self.options.port else 0
            artifacts = store.NodeArtifacts(self.options.data / f"node-{uid}")
            artifacts.prepare()
            os_id = _node_os(self.options.node_os.get(uid, self.options.default_os))
            nodes.append(
                server.Node(uid, self.options.host, port, os_id, self.options.architecture, artifacts)
            )
        return nodes

    def _node(self, uid: int) -> Any:
        for node in self.nodes:
            if node.uid == uid:
                return node
        raise UsageError(f"there is no node {uid}")

    def _tls_context(self) -> ssl.SSLContext | None:
        options = self.options
        if not options.https:
            return None
        if (options.cert is None) != (options.key is None):
            raise UsageError("--cert and --key go together")
        if options.cert is not None and options.key is not None:
            cert, key = options.cert, options.key
        else:
            cert, key = tls.ensure_certificate(options.data / "tls", in_child=True)
        try:
            return tls.server_context(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ModpackError(f"cannot use the certificate {cert}: {exc}") from exc

    def _ssl_factory(self) -> Any:
        context = self._ssl

        def factory(config: Any, default: Any) -> ssl.SSLContext:
            assert context is not None
            return context

        return factory


def _node_os(name: str) -> str:
    from modpack import policy

    canonical = policy.canonical_os(name)
    if canonical is None:
        known = ", ".join(policy.operating_systems())
        raise UsageError(f"unknown node OS {name!r}", f"Use one of {known}.")
    return canonical


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
        raise ModpackError(
            f"cannot listen on {host}:{port}: {exc.strerror}", "Choose another --port."
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _wait_started(instance: Any, future: concurrent.futures.Future[None], what: str) -> None:
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


def share_one_malloc_arena() -> None:
    """Tune glibc malloc for a server that handles large uploads on a few threads.

    One arena for every thread (like MALLOC_ARENA_MAX=1): the event loop, the password checks
    and the bundle validations would otherwise each keep an arena holding what they once used.
    A fixed 256 KiB mmap threshold: glibc's sliding threshold would move the validator's
    megabyte buffers into the heap, where fragmentation keeps them. Measured peak RSS of
    `modpack serve` with three parallel 200 MB uploads: 96 MB without these, 65 MB with.
    Called by `modpack serve` before any thread starts; a no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, 1)
        libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):
        return
