"""An HTTPS relay in front of one node (or the cluster address) of a local cluster, with the
cluster's own certificate: it passes each request on whole, and can lose the node's answer as a
network does, while the node itself answers as usual.

`drop(method, path, index)` picks the requests whose answer is lost (index counts from 1). The
client then waits until it gives up (`close=False`), or its connection ends unanswered
(`close=True`). With `gone_after_drop`, the relay stops listening once it has lost an answer:
the node can no longer be asked anything; with `gone_after_answer`, once it has passed on the
answer to a request it picks (a node stopping just after it answered). `slow` seconds pass per 64 KiB of a request body read
(a slow link). Yields the URL and the log of (method, path, body bytes) of every request passed on,
and ("LOST", path, status) for each answer lost.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import ssl
import threading
import time
from collections.abc import Callable, Iterator

from modpack.rest.cluster import LocalCluster

Picker = Callable[[str, str, int], bool]
Log = list[tuple[str, str, int]]


def first(count: int) -> Picker:
    """The first `count` requests."""
    return lambda method, path, index: index <= count


NONE = first(0)


@contextlib.contextmanager
def relayed(
    cluster: LocalCluster,
    drop: Picker = NONE,
    *,
    target: str | None = None,
    close: bool = False,
    gone_after_drop: bool = False,
    gone_after_answer: Picker = NONE,
    slow: float = 0.0,
) -> Iterator[tuple[str, Log]]:
    host, port = (target or cluster.urls[0]).removeprefix("https://").rsplit(":", 1)
    upstream = ssl.create_default_context(cafile=str(cluster.ca_cert))
    log: Log = []
    count = [0]
    release = threading.Event()
    held: dict[str, http.server.ThreadingHTTPServer] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def relay(self) -> None:
            left = int(self.headers.get("Content-Length") or 0)
            parts = []
            while left:
                part = self.rfile.read(min(65536, left))
                if not part:
                    return
                parts.append(part)
                left -= len(part)
                time.sleep(slow)
            body = b"".join(parts)
            count[0] += 1
            log.append((self.command, self.path, len(body)))
            node = http.client.HTTPSConnection(host, int(port), context=upstream, timeout=120)
            node.request(self.command, self.path, body, dict(self.headers.items()))
            answer = node.getresponse()
            data = answer.read()
            node.close()
            if drop(self.command, self.path, count[0]):  # the node did it; its answer goes nowhere
                log.append(("LOST", self.path, answer.status))
                if gone_after_drop:
                    held["server"].socket.close()
                if not close:
                    release.wait(60)
                self.close_connection = True
                return
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            if gone_after_answer(self.command, self.path, count[0]):
                self.close_connection = True
                held["server"].socket.close()

        do_GET = do_POST = do_PUT = do_DELETE = relay

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    held["server"] = server
    server.daemon_threads = True
    own = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls = cluster.options.data / "tls"
    own.load_cert_chain(tls / "cert.pem", tls / "key.pem")
    server.socket = own.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", log
    finally:
        release.set()
        with contextlib.suppress(OSError):
            server.shutdown()
            server.server_close()
