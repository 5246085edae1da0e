"""Stopping `modpack serve` (Ctrl+C) while uploads are under way on every node.

uvicorn gives a request still running 3 s to end, then cancels it and logs "Exception in ASGI
application" with a 40-line CancelledError traceback, once per node: the user saw three
tracebacks and thought it had crashed. And the nodes stopped one after the other, 3 s each.
"""

from __future__ import annotations

import base64
import signal
import socket
import ssl
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path

from tests.support.rest import ADMIN, serve_processes, wait_until

ARTIFACTS = "/v2/local/modules/user-defined/artifacts"


def _stalled_upload(url: str, ca_cert: str) -> ssl.SSLSocket:
    """An upload whose head and first body bytes are sent, and then nothing: it stays running."""
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=ca_cert)
    raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock = context.wrap_socket(raw, server_hostname=parts.hostname)
    auth = base64.b64encode(f"{ADMIN.user}:{ADMIN.password}".encode()).decode()
    head = (
        f"POST {ARTIFACTS} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Basic {auth}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="module"; filename="m.zip"\r\n\r\nPK'
    )
    sock.sendall(head.encode())
    return sock


def test_ctrl_c_during_uploads_stops_every_node_at_once_without_tracebacks(tmp_path: Path) -> None:
    log = tmp_path / "data-serve.log"
    with serve_processes(tmp_path / "data") as start, ExitStack() as held:
        info = start()
        for node in info["nodes"]:
            held.callback(_stalled_upload(node["url"], info["ca_cert"]).close)
        wait_until(lambda: len(list((tmp_path / "data").glob("node-*/.tmp/*"))) == 3)
        process = info["process"]
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        took = time.monotonic() - began
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text
    assert "Traceback" not in text and "Exception in ASGI application" not in text, text
    assert " ERROR " not in text, text  # uvicorn's "Cancel 1 running task(s)" too: it is no error
    assert text.count("a request still running at the stop was cancelled") == 3, text
    assert took < 7, took  # one graceful 3 s for all the nodes, not 3 s each
    assert list((tmp_path / "data").glob("node-*/.tmp/*")) == []
