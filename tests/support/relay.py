"""An HTTPS relay in front of one node of a local cluster, with the cluster's own certificate: it
passes each request on whole, and can withhold the node's answer, as a network that loses it does
(the node itself answers as usual)."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import ssl
import threading
from collections.abc import Iterator

from modpack.rest.cluster import LocalCluster


@contextlib.contextmanager
def relayed(
    cluster: LocalCluster, drop: int = 0, refuse_after: bool = False
) -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    """An HTTPS URL that reaches node 1: the answers to the first `drop` requests are never sent (the
    client waits until it gives up); with `refuse_after`, every request after those gets its
    connection closed unanswered (the node cannot be asked anything). Yields the URL and the list
    of (method, path, body bytes) of every request that reached the relay."""
    target = cluster.urls[0].removeprefix("https://")
    host, port = target.rsplit(":", 1)
    upstream = ssl.create_default_context(cafile=str(cluster.ca_cert))
    seen = [0]
    requests: list[tuple[str, str, int]] = []
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen[0] += 1
            requests.append((self.command, self.path, len(body)))
            number = seen[0]
            if number > drop and refuse_after:
                self.close_connection = True
                return
            node = http.client.HTTPSConnection(host, int(port), context=upstream, timeout=30)
            node.request(self.command, self.path, body, dict(self.headers.items()))
            answer = node.getresponse()
            data = answer.read()
            node.close()
            if number <= drop:  # the node did it; its answer goes nowhere
                release.wait(30)
                self.close_connection = True
                return
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = relay

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    own = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls = cluster.options.data / "tls"
    own.load_cert_chain(tls / "cert.pem", tls / "key.pem")
    server.socket = own.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", requests
    finally:
        release.set()
        server.shutdown()
        server.server_close()
