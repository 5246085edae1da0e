"""HTTP/1.1 for the cluster client, on the standard library's http.client.

What the client needs from HTTP is small: a request with a JSON or streamed body, its answer read
whole under a size cap, kept-alive connections, TLS with the caller's context, the environment's
proxies, and errors sorted into "could not connect", "no answer in time" and "the peer broke the
exchange". http.client gives the wire format (status line, headers, chunked answers); this module
adds the rest. Its import costs about a third of an HTTP library's, paid before the first byte of
every `modpack publish` (bench/bench_publish.py).

- Connections are kept per origin and reused while idle for less than IDLE_EXPIRY; one the peer
  has closed meanwhile is seen (readable while idle) and dropped before it is used.
- An upload the server answers before taking the whole body (401, 413, ...) gets that answer: a
  write that fails is followed by an attempt to read the response, as servers that refuse a body
  early send one and close.
- Redirects are answers like any other: nothing here follows them.
- Proxies: HTTPS_PROXY for https:// URLs, HTTP_PROXY for http:// ones, ALL_PROXY for both (each
  also in lower case; NO_PROXY lists hosts, domains and networks that go direct, `*` all). Only
  http:// proxies: an https:// cluster is reached through a CONNECT tunnel, so TLS, the password
  and the bundle stay end to end.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from modpack.errors import UsageError

if TYPE_CHECKING:
    from modpack.types import JSON

IDLE_EXPIRY = 5.0  # seconds; below modpack serve's idle_timeout (rest/limits.py), as real servers' 15+
READ = 64 * 1024


class Timeout(NamedTuple):
    connect: float
    read: float  # waiting for the answer, and between its bytes
    write: float  # a send that makes no progress


class Request(NamedTuple):
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | Iterable[bytes] | None
    timeout: Timeout


class Response:
    """A complete answer: status, headers (names in lower case), and the body read whole."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
        reason: str = "",
    ) -> None:
        self.status_code = status_code
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.content = content
        self.reason_phrase = reason or http.client.responses.get(status_code, "")

    def json(self) -> JSON:
        """The body as JSON; ValueError when it is not JSON."""
        answer: JSON = json.loads(self.content)
        return answer

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason_phrase}>"


def json_answer(status_code: int, document: JSON) -> Response:
    """A JSON Response, as a test's stand-in transport answers."""
    return Response(status_code, {"content-type": "application/json"}, json.dumps(document).encode())


# --- errors -----------------------------------------------------------------------------------


class TransportError(Exception):
    """No HTTP answer: the exchange failed below HTTP."""


class ConnectError(TransportError):
    """No connection (refused, unreachable, name unknown, TLS handshake or certificate)."""


class ConnectTimeout(ConnectError):
    pass


class ReadTimeout(TransportError):
    """The connection is up, and the answer (or its next bytes) did not come in time."""


class WriteError(TransportError):
    """The request could not be sent whole, and no answer came instead."""


class RemoteProtocolError(TransportError):
    """The peer closed the connection or answered something that is not HTTP/1.1."""


class ResponseTooLarge(TransportError):
    """The answer's body is longer than the caller's limit; it was not read further."""


class Transport(Protocol):
    """Sends one request and returns the complete answer; `limit` caps the body's bytes."""

    def send(self, request: Request, limit: int) -> Response: ...

    def close(self) -> None: ...


# --- proxies ----------------------------------------------------------------------------------


class Proxy(NamedTuple):
    host: str
    port: int
    authorization: str  # a Proxy-Authorization value, or ""


def proxy_for(url: str, environ: Mapping[str, str] = os.environ) -> Proxy | None:
    """The proxy the environment names for `url`, or None to go direct."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if _bypassed(host, _env(environ, "NO_PROXY")):
        return None
    given = _env(environ, f"{parts.scheme.upper()}_PROXY") or _env(environ, "ALL_PROXY")
    if not given:
        return None
    proxy = urllib.parse.urlsplit(given if "://" in given else f"http://{given}")
    if proxy.scheme != "http" or not proxy.hostname:
        raise UsageError(
            f"the proxy {proxy.scheme}://{proxy.hostname or ''} from the environment is not an http:// proxy",
            "modpack reaches clusters through http:// proxies (https:// ones through a CONNECT tunnel);"
            " set HTTPS_PROXY=http://host:port, or add the cluster to NO_PROXY.",
        )
    authorization = ""
    if proxy.username is not None:
        pair = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(proxy.hostname, proxy.port or 80, authorization)


def _env(environ: Mapping[str, str], name: str) -> str:
    return (environ.get(name) or environ.get(name.lower()) or "").strip()


def _bypassed(host: str, no_proxy: str) -> bool:
    """NO_PROXY as curl and Python read it: `*`, host names, `.domain` suffixes, IPs and networks."""
    address = _address(host)
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.lstrip(".").strip("[]")
        if host == name or host.endswith("." + name):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


# --- the transport ----------------------------------------------------------------------------


class _Origin(NamedTuple):
    scheme: str
    host: str
    port: int


class StdlibTransport:
    """Kept-alive http.client connections per origin, safe to share between threads."""

    def __init__(self, context: ssl.SSLContext, environ: Mapping[str, str] = os.environ) -> None:
        self._context = context
        self._environ = dict(environ)
        self._idle: dict[_Origin, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, connection in connections:
                connection.close()

    def send(self, request: Request, limit: int) -> Response:
        parts = urllib.parse.urlsplit(request.url)
        scheme = parts.scheme
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConnectError(f"cannot send to {request.url!r}: not an http(s)://host URL")
        origin = _Origin(scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        proxy = proxy_for(request.url, self._environ)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if proxy is not None and scheme == "http":
            target = request.url  # a forward proxy takes the absolute URI
        connection, reused = self._connection(origin, proxy, request.timeout)
        try:
            response = _exchange(connection, request, target, proxy, limit)
        except (WriteError, RemoteProtocolError):
            connection.close()
            if not reused or not isinstance(request.body, bytes | None):
                raise
            # A kept-alive connection the peer closed just as it was taken (its FIN still on the
            # way): the request never reached a server that would answer it. Once more, on a new
            # connection; a streamed body cannot be replayed, and the caller decides about those.
            connection, _ = self._connection(origin, proxy, request.timeout, reuse=False)
            try:
                response = _exchange(connection, request, target, proxy, limit)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        if response.headers.get("connection", "").lower() == "close":
            connection.close()
        else:
            self._keep(origin, connection)
        return response

    def _connection(
        self, origin: _Origin, proxy: Proxy | None, timeout: Timeout, *, reuse: bool = True
    ) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to `origin` and whether it was kept from an earlier request."""
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(origin, []) if reuse else []
            while idle:
                since, kept = idle.pop()
                if now - since < IDLE_EXPIRY and _still_open(kept):
                    return kept, True
                kept.close()
        connection: http.client.HTTPConnection
        where = (proxy.host, proxy.port) if proxy is not None else (origin.host, origin.port)
        if origin.scheme == "https":
            connection = http.client.HTTPSConnection(*where, timeout=timeout.connect, context=self._context)
            if proxy is not None:
                headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                connection.set_tunnel(origin.host, origin.port, headers=headers)
        else:
            connection = http.client.HTTPConnection(*where, timeout=timeout.connect)
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            where_to = f"{origin.host}:{origin.port}"
            raise ConnectTimeout(f"no connection to {where_to} within {timeout.connect:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ConnectError(_reason(exc)) from exc
        return connection, False

    def _keep(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append((time.monotonic(), connection))


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle connection is readable only when the peer closed it (or sent what nobody asked for)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _exchange(
    connection: http.client.HTTPConnection, request: Request, target: str, proxy: Proxy | None, limit: int
) -> Response:
    sock = connection.sock
    if sock is not None:
        sock.settimeout(request.timeout.write)
    body = request.body
    failed: OSError | None = None
    try:
        connection.putrequest(request.method, target, skip_accept_encoding=True)
        for name, value in request.headers.items():
            connection.putheader(name, value)
        if not any(name.lower() == "content-length" for name in request.headers):
            # What http.client's request() would add: a body's length, and 0 for a bodiless POST/PUT
            # (RFC 9110 8.6); a streamed body comes with its length (it is never sent chunked).
            if isinstance(body, bytes):
                connection.putheader("Content-Length", str(len(body)))
            elif body is None and request.method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", "0")
        if proxy is not None and proxy.authorization and urllib.parse.urlsplit(request.url).scheme == "http":
            connection.putheader("Proxy-Authorization", proxy.authorization)
        if isinstance(body, bytes):
            connection.endheaders(body)
        else:
            connection.endheaders()
            for chunk in body or ():
                _send(connection, chunk)
    except _SendFailed as exc:
        failed = exc.error
    except (OSError, http.client.HTTPException) as exc:
        failed = exc if isinstance(exc, OSError) else OSError(str(exc))
    if connection.sock is not None:
        connection.sock.settimeout(request.timeout.read)
    try:
        answer = connection.getresponse()
    except TimeoutError as exc:
        if failed is not None:
            raise WriteError(_reason(failed)) from failed
        raise ReadTimeout(f"no answer within {request.timeout.read:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        if failed is not None:
            raise WriteError(_reason(failed)) from failed
        raise RemoteProtocolError(_reason(exc)) from exc
    try:
        content = _read(answer, limit, request.timeout.read)
    except (OSError, http.client.HTTPException) as exc:
        raise RemoteProtocolError(_reason(exc)) from exc
    finally:
        # An answer that ends with the connection (HTTP/1.0, `Connection: close`) holds the socket
        # itself: http.client hands it over, and closing the connection would leave it open.
        answer.close()
    headers = {name.lower(): value for name, value in answer.getheaders()}
    if failed is not None:
        headers["connection"] = "close"  # the request was not sent whole: the connection is spent
    return Response(answer.status, headers, content, answer.reason)


class _SendFailed(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _send(connection: http.client.HTTPConnection, chunk: bytes) -> None:
    """One body chunk; errors of the socket are told apart from those of the chunk's producer."""
    sock = connection.sock
    if sock is None:
        raise _SendFailed(OSError("the connection is closed"))
    try:
        sock.sendall(chunk)
    except OSError as exc:
        raise _SendFailed(exc) from exc


def _read(answer: http.client.HTTPResponse, limit: int, timeout: float) -> bytes:
    declared = answer.getheader("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(f"the answer declares {declared} bytes")
    body = bytearray()
    try:
        while chunk := answer.read(READ):
            body += chunk
            if len(body) > limit:
                raise ResponseTooLarge(f"the answer is longer than {limit} bytes")
    except TimeoutError as exc:
        raise ReadTimeout(f"the answer stopped for {timeout:g} s") from exc
    return bytes(body)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
