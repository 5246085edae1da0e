"""Hostile HTTP requests to `modpack serve`: malformed multipart, odd headers, cut bodies, path tricks.

Every request goes over a raw socket to a 3-node cluster on 127.0.0.1 (plain HTTP, so the bytes
are exactly the ones written here; one test repeats the worst cases over HTTPS). After each one:
the answer was not a 5xx and came (or the connection closed) within a few seconds, the server
still answers, no node's `.tmp/` holds a file, no file appeared or vanished anywhere around the
data folder, and every listing is what it was.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import client
from modpack.rest import publish as publishing
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ARTIFACTS, MODULES
from tests.support.rest import (
    ADMIN,
    ROLE_USERS,
    connection,
    module_json,
    running_cluster,
    write_bundle,
    write_role_users,
)

ANSWER_WITHIN = 5.0
QUIET = 0.3  # seconds a node's .tmp/ must stay empty after a request
BOUNDARY = "hostile0boundary"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ADMIN_AUTH = basic(ADMIN.user, ADMIN.password)
VIEWER_AUTH = basic(ROLE_USERS["cluster_viewer"].user, ROLE_USERS["cluster_viewer"].password)
NONE_AUTH = basic(ROLE_USERS["none"].user, ROLE_USERS["none"].password)


@dataclass
class Served:
    """The cluster under attack and what it held before."""

    cluster: LocalCluster
    around: Path  # the folder holding the data folder: nothing in it may change
    bundle: bytes  # a valid bundle for hello 10203, already published
    evil: bytes  # a valid-looking bundle whose module_name climbs out of the artifact folder
    baseline: Any = None

    @property
    def port(self) -> int:
        return int(self.cluster.nodes[0].port)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    around = tmp_path_factory.mktemp("hostile")
    data = around / "deep" / "er" / "data"  # `..` up to three levels still lands inside `around`
    users = write_role_users(around / "users.json")
    bundle = write_bundle(around / "hello.zip")
    with running_cluster(data, users, https=False) as cluster:
        assert not publishing.publish(bundle, connection(cluster, ca_cert=None)).failed
        evil = write_bundle(around / "evil.zip", module_json(module_name="../../../escaped"))
        state = Served(cluster, around, bundle.read_bytes(), evil.read_bytes())
        state.baseline = snapshot(state)
        assert all(len(listing) == 1 for listing in state.baseline[1])
        yield state


def snapshot(state: Served) -> tuple[Any, ...]:
    """Listings of every node and of the module objects, and every path around the data folder."""
    with httpx.Client(auth=(ADMIN.user, ADMIN.password), timeout=ANSWER_WITHIN) as http:
        listings = [http.get(url + ARTIFACTS).json() for url in state.cluster.urls]
        modules = http.get(state.cluster.urls[0] + "/v1/modules").json()
    files = sorted(str(p.relative_to(state.around)) for p in state.around.rglob("*"))
    return modules, listings, files


def temp_files(state: Served) -> list[Path]:
    return [p for node in state.cluster.nodes for p in node.artifacts.temp.iterdir()]


def assert_unharmed(state: Served, sent: bytes = b"") -> None:
    """Temp folders empty, nothing changed. After an upload the temp folders must stay empty
    a moment: the handler may still be starting when the client has already gone."""
    quiet = QUIET if sent.startswith(b"POST " + ARTIFACTS.encode()) else 0.0
    deadline = time.monotonic() + ANSWER_WITHIN
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet and time.monotonic() < deadline:
        if temp_files(state):
            quiet_since = time.monotonic()
        time.sleep(0.02)
    left = [p.name for p in temp_files(state)]
    assert left == [], f"temporary files left after the request: {left}"
    assert snapshot(state) == state.baseline


# --- raw HTTP ---------------------------------------------------------------------------------


def request(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    auth: str | None = ADMIN_AUTH,
    length: int | None = None,
    chunked: bool = False,
) -> bytes:
    """A complete HTTP/1.1 request; `length` overrides the Content-Length sent."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None or body:
        lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(sock: socket.socket, data: bytes, *, close_write: bool = False) -> int | None:
    """Send `data`, return the status of the answer, or None when the server closed without one."""
    sock.settimeout(ANSWER_WITHIN)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):  # answered early
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
    received = b""
    deadline = time.monotonic() + ANSWER_WITHIN
    while b"\r\n" not in received:
        assert time.monotonic() < deadline, f"no answer within {ANSWER_WITHIN} s"
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            return None
        except TimeoutError:
            pytest.fail(f"no answer within {ANSWER_WITHIN} s")
        if not chunk:
            return None
        received += chunk
    return int(received.split(b" ", 2)[1])


def send_plain(state: Served, data: bytes, *, close_write: bool = False) -> int | None:
    with socket.create_connection(("127.0.0.1", state.port), timeout=ANSWER_WITHIN) as sock:
        return exchange(sock, data, close_write=close_write)


def multipart(*parts: tuple[str, bytes], boundary: str = BOUNDARY, end: bool = True) -> bytes:
    """Parts as (header lines, content); the closing boundary unless `end` is False."""
    body = b"".join(f"--{boundary}\r\n{head}\r\n\r\n".encode() + content + b"\r\n" for head, content in parts)
    return body + (f"--{boundary}--\r\n".encode() if end else b"")


def file_part(content: bytes, name: str = "module") -> tuple[str, bytes]:
    head = f'Content-Disposition: form-data; name="{name}"; filename="m.zip"\r\nContent-Type: application/zip'
    return head, content


def upload(
    body: bytes,
    content_type: str | None = f"multipart/form-data; boundary={BOUNDARY}",
    *,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> bytes:
    sent = {"Content-Type": content_type} if content_type is not None else {}
    return request("POST", ARTIFACTS, body, headers={**sent, **(headers or {})}, **kw)


# --- the cases --------------------------------------------------------------------------------

GOOD = multipart(file_part(b"@bundle"))  # b"@bundle" stands for the published bundle's bytes


def with_bundle(state: Served, data: bytes) -> bytes:
    return data.replace(b"@bundle", state.bundle).replace(b"@evil", state.evil)


MULTIPART: dict[str, tuple[bytes, set[int | None]]] = {
    "no_boundary": (upload(GOOD, "multipart/form-data"), {400}),
    "empty_boundary": (upload(GOOD, "multipart/form-data; boundary="), {400}),
    "wrong_boundary": (upload(GOOD, "multipart/form-data; boundary=other"), {400}),
    "truncated_part_headers": (upload(f"--{BOUNDARY}\r\nContent-Disposition: form-da".encode()), {400}),
    "headers_never_end": (upload(f"--{BOUNDARY}\r\nX: {'y' * 70_000}".encode()), {400}),
    "missing_final_boundary": (upload(multipart(file_part(b"@bundle"), end=False)), {400}),
    "two_module_parts": (upload(multipart(file_part(b"@bundle"), file_part(b"@bundle"))), {400}),
    "module_not_a_file": (upload(multipart(('Content-Disposition: form-data; name="module"', b"hi"))), {400}),
    "only_other_fields": (upload(multipart(file_part(b"@bundle", name="other"))), {400}),
    "empty_module": (upload(multipart(file_part(b""))), {400}),
    "no_body": (upload(b""), {400}),
    "garbage_body": (upload(b"\x00\xff" * 5000), {400}),
    "not_a_zip": (upload(multipart(file_part(b"PK\x03\x04" + b"\x00" * 4000))), {400}),
    "bundle_named_out_of_folder": (upload(multipart(file_part(b"@evil"))), {400, 406}),
    "no_content_type": (upload(GOOD, None), {400}),
    "json_content_type": (upload(b'{"module": 1}', "application/json"), {400}),
    "raw_zip_content_type": (upload(b"@bundle", "application/zip"), {400}),
    "multipart_mixed": (upload(GOOD, f"multipart/mixed; boundary={BOUNDARY}"), {400}),
    "urlencoded": (upload(b"module=PK", "application/x-www-form-urlencoded"), {400}),
}

HEADERS: dict[str, tuple[bytes, set[int | None]]] = {
    "header_value_64k": (request("GET", ARTIFACTS, headers={"X-Big": "a" * 65536}), {200, 400, 431, None}),
    "authorization_64k": (request("GET", ARTIFACTS, auth="Basic " + "QUFB" * 16384), {400, 401, 431, None}),
    "many_headers": (
        request("GET", ARTIFACTS, headers={f"X-H{i}": "v" for i in range(5000)}),
        {200, 400, 431, None},
    ),
    "hundred_headers": (request("GET", ARTIFACTS, headers={f"X-H{i}": "v" for i in range(100)}), {200}),
    "path_64k": (request("GET", ARTIFACTS + "?" + "q" * 65536), {200, 400, 414, 431, None}),
    "absurd_length": (upload(GOOD, length=10**30), {400, 413}),
    "length_over_limit_20_digits": (upload(GOOD, length=10**19), {413}),
    "length_over_limit": (upload(GOOD, length=600 * 1024 * 1024), {413}),
    "negative_length": (upload(GOOD, length=-1), {400}),
    "two_lengths": (upload(GOOD, headers={"Content-Length": "3"}), {400}),
    "length_not_a_number": (upload(b"", headers={"Content-Length": "12abc"}), {400}),
    "bad_chunk_size": (upload(b"zz\r\nabc\r\n0\r\n\r\n", chunked=True), {400}),
    "chunk_size_absurd": (upload(b"f" * 40 + b"\r\nabc", chunked=True), {400, 413, None}),
    "length_and_chunked": (
        upload(b"3\r\nabc\r\n0\r\n\r\n", chunked=True, headers={"Content-Length": "5"}),
        {400},
    ),
    "chunked_good_upload_of_garbage": (upload(b"4\r\nabcd\r\n0\r\n\r\n", chunked=True), {400}),
    "bad_request_line": (b"POST\r\n\r\n", {400}),
    "binary_request_line": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200, {400}),
    "json_body_too_large": (
        request(
            "POST",
            MODULES,
            b"[" + b" " * (5 * 1024 * 1024) + b"]",
            headers={"Content-Type": "application/json"},
        ),
        {400, 406, 413, None},
    ),
    "json_nested_deep": (
        request(
            "POST", MODULES, b"[" * 200_000 + b"]" * 200_000, headers={"Content-Type": "application/json"}
        ),
        {400, 406},
    ),
    "json_not_json": (
        request("POST", MODULES, b"\xff\xfe{", headers={"Content-Type": "application/json"}),
        {400, 406},
    ),
    "cluster_update_nonsense": (
        request(
            "PUT",
            "/v1/cluster",
            b'{"allow_modules_upload": "yes"}',
            headers={"Content-Type": "application/json"},
        ),
        {400},
    ),
}

# Bodies cut short: the declared length (or the chunk stream) is never completed, then the client
# closes its side. The server may answer or just close; it must not keep a temp file.
CUT_SHORT: dict[str, bytes] = {
    "length_larger_than_body": upload(GOOD[:40], length=100_000),
    "cut_inside_the_file": upload(GOOD.replace(b"@bundle", b"PK\x03\x04" + b"\x00" * 50_000), length=400_000),
    "chunked_cut_short": upload(b"%x\r\n" % len(GOOD[:60]) + GOOD[:60] + b"\r\n", chunked=True),
    "chunked_cut_mid_chunk": upload(b"10000\r\n" + b"x" * 300, chunked=True),
    "headers_cut_short": b"POST " + ARTIFACTS.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",
}

PATHS = {
    "dotdot": "/../../../deep/10203",
    "dotdot_name": "/../10203",
    "dot_name": "/./10203",
    "encoded_dotdot": "/%2e%2e/10203",
    "encoded_dotdot_both": "/%2e%2e/%2e%2e",
    "encoded_slash": "/..%2F..%2F..%2Fdeep/10203",
    "encoded_slash_into_name": "/hello%2F10203/10203",
    "encoded_backslash": "/..%5C..%5Cdeep/10203",
    "nul": "/hello%00/10203",
    "nul_version": "/hello/10203%00",
    "absolute": "//tmp/10203",
    "absolute_encoded": "/%2Ftmp%2Fx/10203",
    "version_dotdot": "/hello/..",
    "version_negative": "/hello/-1",
    "version_huge": "/hello/99999999999999999999999",
    "version_hex": "/hello/0x10",
    "name_too_long": "/" + "a" * 5000 + "/1",
    "unicode_name": "/h%C3%A9llo/10203",
    "double_encoded": "/%252e%252e/10203",
    "extra_segment": "/hello/10203/module.zip",
}

MODULE_PATHS = {
    "uid_dotdot": "/..%2F..%2Fccs.sqlite3",
    "uid_nul": "/x%00",
    "uid_quote": "/x'%20OR%201=1--",
}


def routes() -> list[tuple[str, str, bytes, dict[str, str]]]:
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return [
        ("GET", ARTIFACTS, b"", {}),
        ("POST", ARTIFACTS, GOOD, form_type),
        ("DELETE", ARTIFACTS + "/hello/10203", b"", {}),
        ("POST", MODULES, json.dumps(module_json()).encode(), json_type),
        ("DELETE", MODULES + "/anything", b"", {}),
        ("GET", "/v1/modules", b"", {}),
        ("GET", "/v1/modules/anything", b"", {}),
        ("GET", "/v1/nodes", b"", {}),
        ("GET", "/v1/cluster", b"", {}),
        ("PUT", "/v1/cluster", b'{"allow_modules_upload": false}', json_type),
    ]


def route_id(route: tuple[str, str, bytes, dict[str, str]]) -> str:
    return f"{route[0]} {route[1]}"


MANAGE = {"POST", "DELETE", "PUT"}


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(MULTIPART) + sorted(HEADERS))
def test_malformed_request_is_refused_cleanly(served: Served, case: str) -> None:
    data, expected = MULTIPART.get(case) or HEADERS[case]
    status = send_plain(served, with_bundle(served, data))
    assert status in expected, f"{case}: {status}"
    assert_unharmed(served, data)


@pytest.mark.parametrize("case", sorted(CUT_SHORT))
def test_body_cut_short_leaves_nothing(served: Served, case: str) -> None:
    status = send_plain(served, CUT_SHORT[case], close_write=True)
    assert status is None or 400 <= status < 500, f"{case}: {status}"
    assert_unharmed(served, CUT_SHORT[case])


@pytest.mark.parametrize("case", sorted(PATHS))
def test_delete_artifact_path_trick_deletes_nothing(served: Served, case: str) -> None:
    status = send_plain(served, request("DELETE", ARTIFACTS + PATHS[case]))
    assert status is not None
    assert status in {400, 404, 405, 406}, f"{case}: {status}"
    assert_unharmed(served)


@pytest.mark.parametrize(
    ("method", "path", "auth", "expected"),
    [
        ("DELETE", ARTIFACTS + "/hello/10203/", None, 401),
        ("DELETE", ARTIFACTS + "/hello/10203/", VIEWER_AUTH, 403),
        ("GET", "/v1/modules/", None, 401),
        ("GET", ARTIFACTS + "/", None, 401),
        ("DELETE", ARTIFACTS + "/nothing/1/", ADMIN_AUTH, 404),
        ("GET", "/v1/nodes/", ADMIN_AUTH, 200),
    ],
)
def test_a_trailing_slash_is_the_same_path_never_a_redirect(
    served: Served, method: str, path: str, auth: str | None, expected: int
) -> None:
    """RS 8.2 fidelity: no 307 that answers, before authentication, which endpoints exist."""
    status = send_plain(served, request(method, path, auth=auth))
    assert status == expected, f"{method} {path}: {status}"
    assert_unharmed(served)


@pytest.mark.parametrize("case", sorted(MODULE_PATHS))
def test_delete_module_path_trick_deletes_nothing(served: Served, case: str) -> None:
    status = send_plain(served, request("DELETE", MODULES + MODULE_PATHS[case]))
    assert status in {400, 404}, f"{case}: {status}"
    assert_unharmed(served)


@pytest.mark.parametrize("route", routes(), ids=route_id)
@pytest.mark.parametrize(
    ("who", "auth"),
    [
        ("nobody", None),
        ("wrong_password", basic(ADMIN.user, "not-the-password")),
        ("unknown_user", basic("mallory", ADMIN.password)),
        ("not_basic", "Bearer " + ADMIN.password),
        ("not_base64", "Basic %%%"),
        ("no_colon", "Basic " + base64.b64encode(b"admin").decode()),
        ("not_utf8", "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()),
        ("role_none", NONE_AUTH),
        ("viewer", VIEWER_AUTH),
    ],
)
def test_unauthorised_request_changes_nothing(
    served: Served, route: tuple[str, str, bytes, dict[str, str]], who: str, auth: str | None
) -> None:
    method, path, body, headers = route
    status = send_plain(served, request(method, path, with_bundle(served, body), headers=headers, auth=auth))
    if who == "viewer" and method not in MANAGE:
        assert status in {200, 404}, f"{who} {method} {path}: {status}"
    else:
        expected = 403 if who in {"viewer", "role_none"} else 401
        assert status == expected, f"{who} {method} {path}: {status}"
    assert_unharmed(served)


def test_server_still_serves_a_good_upload_after_the_abuse(served: Served) -> None:
    status = send_plain(served, upload(with_bundle(served, GOOD)))
    assert status == 200
    assert_unharmed(served)  # the same artifact again: listings and files unchanged


def test_hostile_requests_over_https(tmp_path: Path) -> None:
    """The cut and malformed cases that matter most, through TLS; and TLS-level garbage."""
    data = tmp_path / "data"
    bundle = write_bundle(tmp_path / "hello.zip").read_bytes()
    with running_cluster(data) as cluster:
        assert cluster.ca_cert is not None
        port = cluster.nodes[0].port
        context = ssl.create_default_context(cafile=str(cluster.ca_cert))

        def tls_exchange(payload: bytes, close_write: bool = False) -> int | None:
            raw = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN)
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                if close_write:  # TLS has no half-close: send, then drop the connection
                    sock.sendall(payload)
                    return None
                return exchange(sock, payload)

        assert tls_exchange(upload(GOOD.replace(b"@bundle", bundle[:100]), length=500_000), True) is None
        assert tls_exchange(upload(GOOD.replace(b"@bundle", bundle), "multipart/form-data")) == 400
        assert tls_exchange(upload(GOOD, length=10**19)) == 413
        assert tls_exchange(request("GET", ARTIFACTS, headers={"X-Big": "a" * 65536})) in {400, 431}
        with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as plain:
            status = exchange(plain, request("GET", ARTIFACTS))  # plain HTTP to a TLS port
            assert status is None or status < 500
        with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as half:
            half.sendall(b"\x16\x03\x01\x00\xff\x01")  # a ClientHello cut short, then close
        deadline = time.monotonic() + ANSWER_WITHIN
        temps = [node.artifacts.temp for node in cluster.nodes]
        while any(any(t.iterdir()) for t in temps) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(any(t.iterdir()) for t in temps)
        with client.Api(connection(cluster)) as api:
            assert [client.artifacts(api, n) for n in client.nodes(api)] == [[], [], []]
            assert client.list_modules(api) == []
