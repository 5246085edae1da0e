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
- The write timeout bounds a send that makes no progress (bodies go out in SEND_SLICE pieces), so
  a slow but steady link finishes; an answer shorter than its Content-Length is an error.
- A streamed body never goes past its Content-Length, and one that ends short of it is an error;
  errors of its producer (a bundle that cannot be read, an aborted upload) reach the caller as
  they are.
- Proxies: HTTPS_PROXY for https:// URLs, HTTP_PROXY for http:// ones, ALL_PROXY for both (each
  also in lower case, which wins; NO_PROXY lists hosts, domains and networks that go direct). Only
  http:// proxies: an https:// cluster is reached through a CONNECT tunnel, so TLS, the password
  and the bundle stay end to end.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import os
import re
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
SEND_SLICE = 256 * 1024  # what one send() is given: the write timeout bounds each, not a whole chunk
EARLY_ANSWER_WAIT = 2.0  # after a failed send: how long an answer sent before the body ended may take


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

    def __repr__(self) -> str:
        shown = {k: "***" if k.lower() in _SECRET_HEADERS else v for k, v in self.headers.items()}
        return f"Request({self.method} {self.url}, headers={shown}, {self.timeout})"


_SECRET_HEADERS = ("authorization", "proxy-authorization")


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


# --- errors -----------------------------------------------------------------------------------


class TransportError(Exception):
    """No HTTP answer: the exchange failed below HTTP."""


class ConnectError(TransportError):
    """No connection (refused, unreachable, name unknown, TLS handshake or certificate).
    `proxy`: the proxy the environment names, where the connection went through one;
    `credentials_asked`: that proxy refused the tunnel with 407 (RFC 9110 §15.5.8)."""

    def __init__(self, message: str, proxy: Proxy | None = None, *, credentials_asked: bool = False) -> None:
        super().__init__(message)
        self.proxy, self.credentials_asked = proxy, credentials_asked


class ConnectTimeout(ConnectError):
    pass


class ReadTimeout(TransportError):
    """The connection is up, and the answer (or its next bytes) did not come in time."""


class WriteError(TransportError):
    """The request could not be sent whole, and no answer came instead."""


class RemoteProtocolError(TransportError):
    """The peer closed the connection or answered something that is not HTTP/1.1."""


class BodyLengthError(Exception):
    """A streamed body gave more or fewer bytes than its Content-Length: the caller's mistake (a
    file that changed while it was sent), never the network's, so it is not retried."""


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
    variable: str  # the environment variable that names it

    @property
    def shown(self) -> str:
        """host:port, as a URL writes them ([::1]:3128)."""
        return f"{_bracketed(self.host)}:{self.port}"

    def __repr__(self) -> str:
        hidden = "***" if self.authorization else ""
        return f"Proxy(host={self.host!r}, port={self.port}, authorization={hidden!r})"


_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\.[A-Za-z0-9-]{1,63})*\.?")  # RFC 1123


def is_host(host: str) -> bool:
    """A host name (RFC 1123) or an IP address, and nothing else (no space, '%', '@', '/')."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host)) and len(host) <= 253
    return True


def proxy_for(url: str, environ: Mapping[str, str] = os.environ) -> Proxy | None:
    """The proxy the environment names for `url`, or None to go direct (UsageError: one modpack
    cannot use). The lower-case variables win, as with curl and Python's urllib."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if _bypassed(host, port_of(parts, url), _env(environ, "NO_PROXY")):
        return None
    variable = next((v for v in (f"{parts.scheme.upper()}_PROXY", "ALL_PROXY") if _env(environ, v)), None)
    if variable is None:
        return None
    given = _env(environ, variable)
    try:
        proxy = urllib.parse.urlsplit(given if "://" in given else f"http://{given}")
    except ValueError:  # an unclosed or misplaced [ ] of an IPv6 address
        raise UsageError(
            f"{variable} in the environment is not a URL: its '[' and ']' do not enclose an IPv6 address",
            _PROXY_FORM,
        ) from None
    if proxy.scheme == "http" and not proxy.hostname:
        raise UsageError(f"the proxy in {variable} ({_redacted_proxy(given)!r}) names no host", _PROXY_FORM)
    if proxy.scheme != "http" or not proxy.hostname:
        raise UsageError(
            f"the proxy {proxy.scheme}://{proxy.hostname or ''} from {variable} is not an http:// proxy",
            "modpack reaches clusters through http:// proxies (https:// ones through a CONNECT tunnel);"
            " set HTTPS_PROXY=http://host:port, or add the cluster to NO_PROXY.",
        )
    if not is_host(proxy.hostname):
        raise UsageError(
            f"the proxy in {variable} names {proxy.hostname!r}, which is not a host name or IP address",
            _PROXY_FORM,
        )
    if _address(host) is not None and ":" in host:
        # Python 3.11's CONNECT line writes an IPv6 address without its brackets (http.client).
        raise UsageError(
            f"the IPv6 address {host} cannot be reached through the proxy {_bracketed(proxy.hostname or '')}",
            "Add the address to NO_PROXY, or name the cluster by a host name.",
        )
    authorization = ""
    if proxy.username is not None:
        authorization = basic_authorization(
            urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or "")
        )
    return Proxy(
        proxy.hostname, port_of(proxy, f"the proxy in {variable}", default=80), authorization, variable
    )


def basic_authorization(user: str, password: str) -> str:
    """An Authorization (or Proxy-Authorization) value of HTTP Basic: the bytes given, as curl
    sends them (a password from an environment of another encoding reached Python as a lone
    surrogate, and a plain .encode() crashed)."""
    pair = f"{user}:{password}".encode("utf-8", "surrogateescape")
    return "Basic " + base64.b64encode(pair).decode()


def _bracketed(host: str) -> str:
    """A host as a URL writes it: an IPv6 address in brackets ([::1]:3128, not ::1:3128)."""
    return f"[{host}]" if ":" in host else host


def _redacted_proxy(given: str) -> str:
    return "***@" + given.rsplit("@", 1)[1] if "@" in given else given


_PROXY_FORM = "Set it to http://host:port (a host name, an IPv4 address or [IPv6]), or unset it."


def port_of(parts: urllib.parse.SplitResult, what: str, default: int | None = None) -> int:
    """The URL's port, or the scheme's; UsageError for one that is not 1-65535."""
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # urllib takes 0, which connects nowhere
        raise UsageError(f"{what}: the port is not a number from 1 to 65535")
    if port is not None:
        return port
    return default if default is not None else (443 if parts.scheme == "https" else 80)


def _env(environ: Mapping[str, str], name: str) -> str:
    return (environ.get(name.lower()) or environ.get(name) or "").strip()


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """NO_PROXY as curl and Python's urllib read it: `*`; host names, each also covering its
    subdomains (`example.com`, `.example.com`, `*.example.com`), with an optional `:port`; IP
    addresses and networks (`10.0.0.0/8`, `[::1]`). A name never matches part of an address."""
    address = _address(host)
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        pattern, wanted = _entry_port(entry)
        if not pattern or wanted not in (None, port):
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(pattern.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = pattern.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _entry_port(entry: str) -> tuple[str, int | None]:
    """A NO_PROXY entry and its `:port`, if it has one (`[::1]:9443`, `host:9443`)."""
    head, colon, tail = entry.rpartition(":")
    if colon and tail.isdigit() and (entry.count(":") == 1 or head.endswith("]")):
        return head, int(tail)
    return entry, None


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
        self._closed = False

    def close(self) -> None:
        """Close the idle connections, and any a request under way ends with (a stopped run's
        daemon thread): kept after close, it was never closed."""
        with self._lock:
            idle, self._idle, self._closed = self._idle, {}, True
        for connections in idle.values():
            for _, connection in connections:
                connection.close()

    def send(self, request: Request, limit: int) -> Response:
        parts = urllib.parse.urlsplit(request.url)
        scheme = parts.scheme
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConnectError(f"cannot send to {request.url!r}: not an http(s)://host URL")
        try:
            host = parts.hostname.encode("idna").decode("ascii")  # what DNS and the Host header take
        except UnicodeError:
            raise ConnectError(f"{parts.hostname!r} is not a valid international host name") from None
        origin = _Origin(scheme, host, port_of(parts, request.url))
        proxy = proxy_for(request.url, self._environ)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if proxy is not None and scheme == "http":
            target = request.url  # a forward proxy takes the absolute URI
        reuse = True
        while True:
            connection, reused = self._connection(origin, proxy, request.timeout, reuse=reuse)
            try:
                response = _exchange(connection, request, target, proxy, limit)
                break
            except (WriteError, RemoteProtocolError):
                connection.close()
                if not reused or not isinstance(request.body, bytes | None) or request.method == "DELETE":
                    raise
                # A kept-alive connection the peer closed just as it was taken (its FIN still on
                # the way): the request never reached a server that would answer it. Once more,
                # on a new connection; a streamed body cannot be replayed, the caller decides, and so
                # it does for a DELETE, which may have been done (sent again, it met 404, and what
                # the run had deleted was "none found"): it asks the server's list.
                reuse = False
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
        # A failure at the proxy (its name unknown, refused, a CONNECT refused) says so: it read as
        # the cluster's own, "cannot resolve the host name" of a cluster that resolves.
        via = f" (through the proxy {proxy.shown} that {proxy.variable} names)" if proxy else ""
        try:
            connection.connect()
        except TimeoutError as exc:
            # http.client keeps the TCP socket when the TLS handshake on it times out: a server
            # that took the connection and never answered it was "no connection" (a port of
            # another protocol, a stuck server), as if nothing listened there
            handshake = origin.scheme == "https" and proxy is None and connection.sock is not None
            connection.close()
            where_to = f"{_bracketed(origin.host)}:{origin.port}"
            if handshake:
                raise ConnectTimeout(
                    f"{where_to} took the connection but no TLS handshake came within {timeout.connect:g} s"
                    " (is it an HTTPS port?)"
                ) from exc
            raise ConnectTimeout(
                f"no connection to {where_to} within {timeout.connect:g} s{via}", proxy
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            # http.client's CONNECT refused: OSError("Tunnel connection failed: 407 ...")
            asked = proxy is not None and str(exc).startswith("Tunnel connection failed: 407")
            raise ConnectError(_reason(exc) + via, proxy, credentials_asked=asked) from exc
        return connection, False

    def _keep(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(origin, []).append((time.monotonic(), connection))
                return
        connection.close()


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
    failed = _send_request(connection, request, target, proxy)
    wait = request.timeout.read if failed is None else min(request.timeout.read, EARLY_ANSWER_WAIT)
    deadline = None
    if connection.sock is not None:
        connection.sock.settimeout(wait)
        deadline = _Deadline(connection.sock, wait)
    try:
        answer, content = _answer(connection, failed, wait, limit)
    except RemoteProtocolError as exc:
        # The deadline's shutdown ends a read as if the peer closed: bytes kept coming, too slowly
        # to end in time. A request not sent whole keeps its WriteError (retried, and no answer
        # came); a read that timed out on its own says "no answer within".
        if failed is None and deadline is not None and deadline.expired:
            raise ReadTimeout(f"the answer was not whole within {wait:g} s") from exc
        raise
    finally:
        if deadline is not None:
            deadline.cancel()
    headers = {name.lower(): value for name, value in answer.getheaders()}
    if failed is not None or (deadline is not None and deadline.expired):
        headers["connection"] = "close"  # the request was not sent whole: the connection is spent
    return Response(answer.status, headers, content, answer.reason)


def _answer(
    connection: http.client.HTTPConnection, failed: OSError | None, wait: float, limit: int
) -> tuple[http.client.HTTPResponse, bytes]:
    try:
        answer = connection.getresponse()
    except TimeoutError as exc:
        if failed is not None:
            raise WriteError(_reason(failed)) from failed
        raise ReadTimeout(f"no answer within {wait:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        if failed is not None:
            raise WriteError(_reason(failed)) from failed
        raise RemoteProtocolError(_reason(exc)) from exc
    try:
        return answer, _read(answer, limit, wait)
    except (OSError, http.client.HTTPException) as exc:
        raise RemoteProtocolError(_reason(exc)) from exc
    finally:
        # An answer that ends with the connection (HTTP/1.0, `Connection: close`) holds the socket
        # itself: http.client hands it over, and closing the connection would leave it open.
        answer.close()


class _Deadline:
    """One limit for the whole answer, head and body: a socket timeout bounds each read only, and
    a server sending a byte every few seconds held a 5 s --timeout for minutes. At the limit the
    socket is shut down (from a timer thread), which ends the read waiting on it."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire, (sock,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, sock: socket.socket) -> None:
        self.expired = True
        with contextlib.suppress(OSError):  # closed meanwhile
            # the descriptor's own shutdown: an SSLSocket's would first try TLS's close_notify
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _send_request(
    connection: http.client.HTTPConnection, request: Request, target: str, proxy: Proxy | None
) -> OSError | None:
    """Send the request; the socket's error when it could not be sent whole (an answer may still
    have come: a server refusing a body stops reading it). Errors of a streamed body's producer
    (the bundle cannot be read, the upload was aborted) are raised as they are."""
    body = request.body
    given = next((v for k, v in request.headers.items() if k.lower() == "content-length"), None)
    declared = int(given) if given is not None else _implied_length(request)
    try:
        connection.putrequest(request.method, target, skip_accept_encoding=True)
        for name, value in request.headers.items():
            connection.putheader(name, value)
        if given is None and declared is not None:
            connection.putheader("Content-Length", str(declared))
        if proxy is not None and proxy.authorization and urllib.parse.urlsplit(request.url).scheme == "http":
            connection.putheader("Proxy-Authorization", proxy.authorization)
        connection.endheaders()
        sock = connection.sock
        if sock is None:
            return OSError("the connection is closed")
        if isinstance(body, bytes):
            _send_all(sock, body, request.timeout.write)
            return None
    except (OSError, http.client.HTTPException) as exc:
        return exc if isinstance(exc, OSError) else OSError(str(exc))
    if body is None or declared is None:  # a stream always has its length (_implied_length)
        return None
    return _stream(sock, body, declared, request.timeout.write)


def _stream(sock: socket.socket, body: Iterable[bytes], declared: int, timeout: float) -> OSError | None:
    """A streamed body, exactly `declared` bytes long; the socket's error, if sending failed."""
    sent = 0
    for chunk in body:  # the producer's own errors propagate from here
        sent += len(chunk)
        if sent > declared:
            raise BodyLengthError(f"the request body is longer than its Content-Length ({declared} bytes)")
        try:
            _send_all(sock, chunk, timeout)
        except OSError as exc:
            return exc
    if sent != declared:
        raise BodyLengthError(f"the request body ended after {sent} of its {declared} bytes")
    return None


def _implied_length(request: Request) -> int | None:
    """The Content-Length http.client's request() would send: a body's length, 0 for a bodiless
    POST/PUT (RFC 9110 8.6), none for a bodiless GET or DELETE. A streamed body must come with
    its Content-Length: nothing here sends a body chunked."""
    if isinstance(request.body, bytes):
        return len(request.body)
    if request.body is None:
        return 0 if request.method in ("POST", "PUT", "PATCH") else None
    raise BodyLengthError(f"{request.method} {request.url}: a streamed body needs a Content-Length header")


def _send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    """`data` in slices, so the timeout bounds a send that makes no progress, not the whole of a
    large body given at once (sendall's timeout is one deadline for everything it is given)."""
    sock.settimeout(timeout)
    view = memoryview(data)
    while view:
        view = view[sock.send(view[:SEND_SLICE]) :]


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
    if answer.length:  # http.client's read(n) returns what came when the connection ends early
        raise RemoteProtocolError(f"the answer ended after {len(body)} of its {declared} bytes")
    return bytes(body)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER":
        # what OpenSSL says of a peer that answered the ClientHello in plain text
        return "the server does not speak TLS there: an http:// address, or another port?"
    if isinstance(exc, http.client.RemoteDisconnected):  # a BadStatusLine too: asked first
        return "the server closed the connection without answering"
    if isinstance(exc, http.client.BadStatusLine):
        return f"the answer is not HTTP (it began {str(exc)[:40]!r})"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
