"""Talking to a cluster's user-defined module API: publish, unpublish, list, delete.

Safety rules, all in `Api.send()`:
- retries, with exponential backoff, only on connection errors and 5xx answers, never on 4xx;
- redirects are never followed (an upload answered with a redirect fails and says where to);
- TLS is verified (system trust store, or `ca_cert`) unless `insecure` is asked for;
- credentials travel only in the Authorization header: never in URLs, reprs, logs or errors.

Uploads are streamed from the file in 256 KiB chunks with a known Content-Length: memory stays flat
for any bundle size. `publish()` is resumable: a module object or an artifact that is already in
place is left alone, so re-running after a partial failure finishes the job.
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict, TypeVar

from modpack import __version__
from modpack.errors import ModpackError, UsageError
from modpack.rest.paths import ARTIFACTS, MODULES
from modpack.rest.workers import Workers

if TYPE_CHECKING:
    from modpack.rest.transport import Request, Response, Transport, TransportError
    from modpack.types import JSON, Module


T = TypeVar("T")

# One send's worth (transport.SEND_SLICE, which a send may still split). Against 4 MiB, publish
# of the 200 MB bundle to three nodes (bench/bench_publish.py, 8 alternating pairs) had the same
# wall and client CPU (2.11 s and 1.03 s against 2.11 s and 1.05 s, medians) and a peak of 39 MB,
# not 62: three 4 MiB chunks in flight, each a fresh allocation, where these stay in the arenas.
CHUNK = 256 * 1024
DEFAULT_PORT = 9443
MAX_BACKOFF = 8.0
MAX_RESPONSE = 16 * 1024 * 1024  # a JSON answer larger than this is refused, not read (issue 12)
MAX_NODES = 1000


class RequestOptions(TypedDict, total=False):
    """What a request carries besides its method and URL."""

    json: JSON
    content: Iterable[bytes]
    headers: dict[str, str]
    read_timeout: float  # the wait for the answer, when not the connection's timeout


Progress = Callable[[str, int, int], None]
"""progress(node label, bytes sent, bytes in all) while an artifact uploads."""


class ClusterError(ModpackError):
    """A request the cluster refused or could not answer."""

    def __init__(self, message: str, hint: str = "", status: int | None = None, error_code: str = "") -> None:
        super().__init__(message, hint)
        self.status = status
        self.error_code = error_code


class AnswerLost(ClusterError):
    """The request was sent whole and its answer did not come (none in time, or the connection
    ended): the server may have done what it asked. A node took a 200 MB upload whose answer came
    after --timeout, and publish, told "cannot reach", deleted the module object as if no node had."""


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Connection:
    """Where the cluster is and how to talk to it."""

    cluster: str | None = None
    nodes: tuple[str, ...] = ()
    credentials: Credentials | None = None
    ca_cert: Path | None = None
    ca_cert_from: str = "--ca-cert"  # what gave ca_cert, named in its errors (or MODPACK_CA_CERT)
    insecure: bool = False
    timeout: float = 30.0
    # How long to wait for an upload's answer (the server validates first) and for an RS 7.x
    # action: by default the same bound as every other wait, the user's --timeout.
    upload_timeout: float | None = None
    retries: int = 3
    backoff: float = 0.5
    jobs: int = 4
    allow_http: bool = False  # send credentials over plain http:// (never by default)
    trust_node_addresses: bool = False  # send credentials to hosts GET /v1/nodes names
    max_nodes: int = MAX_NODES
    max_response: int = MAX_RESPONSE
    # The connection options the user typed on the command line, --node aside (`nodes`), as words:
    # ("--cluster", URL, "--ca-cert", PATH). The commands hints name carry them (`command`). Never a
    # password; never an option the environment gave, which gives it to those commands as well.
    typed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from modpack.rest.limits import seconds

        seconds(self.timeout, "--timeout")
        if self.upload_timeout is None:
            object.__setattr__(self, "upload_timeout", self.timeout)
        else:
            seconds(self.upload_timeout, "the upload timeout")
        if not (math.isfinite(self.backoff) and self.backoff >= 0):
            raise UsageError(f"the backoff {self.backoff}: give a finite number of seconds, 0 or more")

    @property
    def answer_timeout(self) -> float:
        return self.timeout if self.upload_timeout is None else self.upload_timeout

    def command(self, *words: str, nodes: bool) -> str:
        """`modpack WORDS` with the connection options typed, quoted for a shell: a hint's command
        that runs as printed. `nodes`: with each --node given; else a command to reach every node,
        sent to the cluster this run used (the first --node when no cluster was given)."""
        import shlex

        if nodes:
            chosen = [word for url in self.nodes for word in ("--node", url)]
        else:
            chosen = ["--cluster", self.nodes[0]] if self.nodes and not self.cluster else []
        return "modpack " + shlex.join([*words, *self.typed, *chosen])


_URL_FORM = "Give the cluster's address as https://host:9443 (a host name, an IPv4 address or [IPv6])."


def base_url(url: str, what: str = "--cluster") -> str:
    """`scheme://host:port` of a user-given URL; refuses credentials in it, odd schemes and a host
    that is no host name or IP address (a space, '%', an unclosed '[')."""
    if what == "--cluster" and url == os.environ.get("MODPACK_CLUSTER"):
        what = "MODPACK_CLUSTER"  # click passes the variable as --cluster: name what to fix
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:  # urllib: "Invalid IPv6 URL" for an unclosed or misplaced bracket
        problem = "its '[' and ']' do not enclose an IPv6 address"
        raise UsageError(f"{what} {_redacted(url)!r}: {problem}", _URL_FORM) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} must be an http(s)://host[:port] URL, not {_redacted(url)!r}", _URL_FORM)
    from modpack.rest.transport import is_host

    if not is_host(parts.hostname):
        raise UsageError(
            f"{what} {_redacted(url)!r}: {parts.hostname!r} is not a host name or IP address", _URL_FORM
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{what} must not carry credentials",
            "Use --user and MODPACK_PASSWORD instead of user:pass@ in URLs.",
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(f"{what} must be just scheme://host:port, not {_redacted(url)!r}")
    from modpack.rest.transport import port_of

    port_of(parts, f"{what} {_redacted(url)!r}")  # 1 to 65535: 0 was "Connection refused" at the end
    return f"{parts.scheme}://{parts.netloc}"


def refuse_plain_http(connection: Connection) -> None:
    """UsageError when credentials would travel in clear text and the user did not allow it."""
    if connection.allow_http or connection.credentials is None:
        return
    given = [(u, "--cluster") for u in (connection.cluster,) if u] + [(u, "--node") for u in connection.nodes]
    plain = [u for u, what in given if base_url(u, what).startswith("http://")]
    if plain:
        raise UsageError(
            f"{_redacted(plain[0])} is plain http://: the password would cross the network in clear text",
            "Use the cluster's https:// address; --allow-http sends it anyway (trusted networks only).",
        )


def _redacted(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # not a URL urllib splits: hide everything before an '@'
        return "***@" + url.rsplit("@", 1)[1] if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


# --- one HTTP client with the safety rules ----------------------------------------------------


class Api:
    """HTTP bound to a Connection; `send()` applies retries and the no-redirect rule."""

    def __init__(
        self,
        connection: Connection,
        sleep: Callable[[float], None] = time.sleep,
        transport: Transport | None = None,
    ) -> None:
        self.connection = connection
        self._sleep = sleep
        refuse_plain_http(connection)
        self._headers = {"Accept": "application/json", "User-Agent": f"modpack/{__version__}"}
        if connection.credentials is not None:
            from modpack.rest.transport import basic_authorization

            credentials = connection.credentials
            self._headers["Authorization"] = basic_authorization(credentials.user, credentials.password)
        if transport is None:
            from modpack.rest.transport import StdlibTransport, proxy_for

            given = [(connection.cluster, "--cluster"), *((node, "--node") for node in connection.nodes)]
            for url, what in given:
                if url:  # a bad URL or a proxy it cannot use: a usage error now, not a failed call later
                    proxy_for(base_url(url, what))
            transport = StdlibTransport(_verify(connection))
        self._transport = transport

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, url: str, build: Callable[[], RequestOptions] | None = None) -> Response:
        """One request, retried on connection errors and 5xx; `build()` gives each attempt's body."""
        from modpack.rest import transport

        attempts = self.connection.retries + 1
        lost: transport.TransportError | None = None  # an earlier attempt's answer that was lost
        for attempt in range(attempts):
            last = attempt == attempts - 1
            options: RequestOptions = build() if build else {}
            try:
                request = self._request(method, url, options)
                response = self._transport.send(request, self.connection.max_response)
            except transport.ResponseTooLarge:
                raise _too_large(method, url, self.connection.max_response) from None
            except transport.TransportError as exc:
                if _answer_lost(method, exc):
                    lost = exc
                # Not sent again: an upload whose answer did not come in time (its wait is bounded
                # by --timeout once, not (retries + 1) times, issue 12), and a DELETE whose answer
                # was lost (sent again, it met 404, and "absent" was said of what the run had
                # deleted): their callers judge them by what the server lists.
                stop = lost is exc and (method == "DELETE" or _is_upload_wait(exc, options))
                if _certificate_problem(exc) or last or stop:
                    # an attempt whose answer was lost may have been done: that is said, not a later
                    # attempt's "cannot reach" (a node that took an upload, then went away)
                    raise _transport_error(method, url, lost or exc) from exc
                self._wait(attempt, f"{method} {url}: {type(exc).__name__}")
                continue
            if response.status_code >= 500 and not last:
                self._wait(attempt, f"{method} {url}: {response.status_code}")
                continue
            return _checked(method, url, response)
        raise AssertionError("unreachable")

    def _request(self, method: str, url: str, options: RequestOptions) -> Request:
        from modpack.rest.transport import Request, Timeout

        headers = {**self._headers, **options.get("headers", {})}
        body: bytes | Iterable[bytes] | None = options.get("content")
        if "json" in options:
            text = json.dumps(options["json"], ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            body = text.encode()
            headers["Content-Type"] = "application/json"
        wait = self.connection.timeout
        return Request(method, url, headers, body, Timeout(wait, options.get("read_timeout", wait), wait))

    def _wait(self, attempt: int, why: str) -> None:
        delay = min(self.connection.backoff * 2**attempt, MAX_BACKOFF) * (1 + random.random() / 4)  # noqa: S311
        import logging  # only here: a retry is rare, and logging costs every start-up about 5 ms

        logging.getLogger(__name__).info("retrying in %.1f s after %s", delay, why)
        self._sleep(delay)

    def json(self, method: str, url: str, body: JSON = None) -> JSON:
        def build() -> RequestOptions:
            return {"json": body}

        response = self.send(method, url, build if body is not None else None)
        try:
            answer: JSON = response.json()
        except ValueError as exc:
            raise ClusterError(
                f"{method} {url} answered {response.status_code} without a JSON body",
                "The Redis Enterprise REST API answers in JSON: check that the address is the cluster's"
                " REST API (port 9443 unless cnm_https_port moves it), not a web page or a proxy.",
            ) from exc
        return answer


def _too_large(method: str, url: str, limit: int) -> ClusterError:
    return ClusterError(
        f"{method} {url}: the answer is larger than {limit // (1024 * 1024)} MiB; modpack stopped reading it",
        "Is this address a Redis Enterprise cluster? Check --cluster / --node.",
    )


def _verify(connection: Connection) -> ssl.SSLContext:
    from modpack.rest import tls

    if connection.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return tls.client_context(connection.ca_cert)
    except OSError as exc:
        from modpack.regular import hint_for

        message = f"cannot use {connection.ca_cert_from} {connection.ca_cert}: {exc.strerror or exc}"
        raise UsageError(message, hint_for(exc)) from None
    except (ValueError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot use {connection.ca_cert_from} {connection.ca_cert}: {exc}",
            "Pass the CA certificate (PEM) that signed the cluster's REST API certificate.",
        ) from None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it came from."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _certificate_problem(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
        for e in _chain(exc)
    )


def _verification(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate refusal behind `exc`, where one is there to say why."""
    return next((e for e in _chain(exc) if isinstance(e, ssl.SSLCertVerificationError)), None)


def _is_upload_wait(exc: TransportError, options: RequestOptions) -> bool:
    from modpack.rest import transport  # imported by the caller already

    return isinstance(exc, transport.ReadTimeout) and "content" in options


def _answer_lost(method: str, exc: TransportError) -> bool:
    """Whether `exc` left a request that changes something (not a GET) sent whole and unanswered:
    no answer in time, or the connection ended after it (not an answer that is no HTTP at all,
    which says the address is not the cluster's)."""
    from modpack.rest import transport  # imported by the caller already

    if method == "GET":
        return False
    if isinstance(exc, transport.ReadTimeout):
        return True
    return isinstance(exc, transport.RemoteProtocolError) and "is not HTTP" not in str(exc)


def _transport_error(method: str, url: str, exc: TransportError) -> ModpackError:
    if _certificate_problem(exc):
        return _certificate_error(url, _verification(exc))
    reason = str(exc) or type(exc).__name__
    if _answer_lost(method, exc):
        return AnswerLost(
            f"{method} {url} was sent, but its answer was lost: {reason}",
            "The server may have done it: check what it holds before running it again.",
        )
    from modpack.rest.transport import ConnectError  # imported by the caller already

    proxy = exc.proxy if isinstance(exc, ConnectError) else None
    if proxy is not None and isinstance(exc, ConnectError) and exc.credentials_asked:
        hint = (
            f"The proxy {proxy.shown} asks for credentials: give them in {proxy.variable}"
            " (http://user:password@host:port), or add the cluster's host to NO_PROXY."
        )
    elif proxy is not None:
        hint = (
            f"Check the proxy {proxy.shown} ({proxy.variable} names it), or add the cluster's host to"
            " NO_PROXY."
        )
    else:
        hint = "Check that the node is up and the URL is right."
    return ClusterError(f"cannot reach {url} ({method}): {reason}", hint)


_TRUST_HINT = (
    "Pass the cluster's CA with --ca-cert FILE or MODPACK_CA_CERT (or --insecure to skip verification)."
)

# OpenSSL's X509_V_ERR_* codes (x509_vfy.h) that say something else than an unknown issuer
_NOT_YET_VALID, _EXPIRED, _HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH = 9, 10, 62, 64


def _certificate_error(url: str, refused: ssl.SSLCertVerificationError | None) -> ClusterError:
    """What is wrong with the certificate, as OpenSSL found it: every refusal was "not trusted,
    pass the CA", also of a certificate for another host name, or an expired one, whose CA was
    given."""
    code = refused.verify_code if refused is not None else None
    said = f" ({refused.verify_message})" if refused is not None and refused.verify_message else ""
    if code in (_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH):
        return ClusterError(
            f"{url}: the TLS certificate is not for this host{said}",
            "Reach the cluster by a name or address its certificate lists (its subjectAltName), or give"
            " the cluster a certificate for this one.",
        )
    if code in (_EXPIRED, _NOT_YET_VALID):
        return ClusterError(
            f"{url}: the TLS certificate is out of its validity period{said}",
            "Renew the cluster's certificate, or check this machine's clock.",
        )
    if code is None or code in (18, 19, 20, 21):  # self-signed, unknown issuer: the usual case
        return ClusterError(f"{url}: the TLS certificate is not trusted{said}", _TRUST_HINT)
    return ClusterError(f"{url}: the TLS certificate was refused{said}", _TRUST_HINT)


def _checked(method: str, url: str, response: Response) -> Response:
    status = response.status_code
    if 200 <= status < 300:
        return response
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        raise ClusterError(
            f"{method} {url} answered {status}, a redirect to {where}",
            "modpack never follows redirects; point --cluster/--node at the final address.",
            status=status,
        )
    error_code, description = _error_body(response)
    raise ClusterError(
        f"{method} {url}: {status} {error_code or response.reason_phrase}: {description}".rstrip(": "),
        _hint(status, error_code),
        status=status,
        error_code=error_code,
    )


def _error_body(response: Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text[:1] == "<":  # a web server's or a proxy's page: its markup filled the terminal
            return "", "an HTML page, not an answer of Redis Enterprise's REST API"
        return "", " ".join(text[:500].split())
    if not isinstance(body, dict):
        return "", str(body)[:500]
    description = body.get("description") or body.get("message") or ""
    return str(body.get("error_code") or ""), str(description)


def _hint(status: int, error_code: str) -> str:
    if error_code == "modules_upload_disabled":
        return "Uploads are off on this cluster: re-run with --allow-upload (admin) or PUT /v1/cluster."
    hints = {
        401: "Check --user and the password (MODPACK_USER / MODPACK_PASSWORD).",
        403: "The user's role lacks the permission; module uploads and deletes need the admin role.",
        406: (
            "Fix what the description names: `modpack validate` checks the documented rules locally,"
            " and a cluster may apply more."
        ),
        # a cluster never asks for a proxy's credentials: a proxy between (RFC 9110 §15.5.8)
        407: (
            "A proxy asks for credentials: give them in its URL (http://user:password@host:port) in"
            " HTTP_PROXY (or ALL_PROXY), or add the cluster's host to NO_PROXY."
        ),
        413: "The bundle is larger than the node accepts.",
        507: "The node's disk is full: free space on it, then publish again.",
    }
    return hints.get(status, "")


# --- nodes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRef:
    label: str
    url: str
    uid: str = ""  # the node object's uid, when GET /v1/nodes named this node


def nodes(api: Api) -> list[NodeRef]:
    """The nodes to talk to: `--node` URLs as given, else each node of GET /v1/nodes."""
    connection = api.connection
    if connection.nodes:
        return nodes_from(connection, cluster_url(connection), [])
    cluster = cluster_url(connection)
    listed = listing(api, f"{cluster}/v1/nodes")
    if not listed:
        raise ClusterError(f"GET {cluster}/v1/nodes returned no nodes", "Pass the nodes with --node URL.")
    return nodes_from(connection, cluster, listed)


def check_node_count(connection: Connection, cluster: str, listed: Sequence[JSON]) -> None:
    if len(listed) > connection.max_nodes:
        raise ClusterError(
            f"GET {cluster}/v1/nodes lists {len(listed)} nodes, more than the {connection.max_nodes} allowed",
            "Pass the nodes with --node URL, or raise --max-nodes if the cluster truly has that many.",
        )


def nodes_from(
    connection: Connection, cluster: str, listed: Sequence[JSON], *, contacted: bool = True
) -> list[NodeRef]:
    """NodeRefs for `--node` URLs (matched to node objects by address) or for every node object.

    Node addresses come from the cluster's answer: each must be a plain host, and unless
    `trust_node_addresses` it must be the cluster's own host, so credentials and bundles go only
    where the user pointed (issue 12).
    `contacted=False`: the nodes are only read about, never called (RS 7.x, where the cluster
    places the module itself), so their addresses are not judged.
    """
    check_node_count(connection, cluster, listed)
    if connection.nodes or not contacted:
        refs = [r for r in (_node_ref(cluster, item, strict=False) for item in listed) if r is not None]
    else:
        refs = [r for r in (_node_ref(cluster, item) for item in listed) if r is not None]
        _check_trusted(connection, cluster, refs)
        _refuse_shared_urls(cluster, refs)
    if not connection.nodes:
        return refs
    given = [base_url(u, "--node") for u in connection.nodes]
    matched = {u: match_node(u, refs) for u in given}
    _refuse_repeated_nodes(given, matched)
    return [
        NodeRef(f"node {ref.uid} ({u})", u, ref.uid)
        if (ref := matched[u]) is not None
        else NodeRef(f"node {u}", u)
        for u in given
    ]


def match_node(url: str, refs: Sequence[NodeRef]) -> NodeRef | None:
    """The listed node a user-given URL reaches: the same address, or else a host name that
    resolves to one node's address on the same port and scheme (`localhost` for 127.0.0.1, a
    node's FQDN for the address GET /v1/nodes gives); None when none, or several, match."""
    lowered = url.lower()
    exact = [r for r in refs if r.url.lower() == lowered]
    if exact:
        return exact[0]
    given = urllib.parse.urlsplit(url)
    same_port = [
        r for r in refs if (n := urllib.parse.urlsplit(r.url)).port == given.port and n.scheme == given.scheme
    ]
    reached = host_addresses(given.hostname or "") if same_port else frozenset()
    found = [r for r in same_port if reached & host_addresses(urllib.parse.urlsplit(r.url).hostname or "")]
    return found[0] if len(found) == 1 else None


def host_addresses(host: str) -> frozenset[str]:
    """The IP addresses `host` stands for: itself when it is one, else what it resolves to
    (empty when it does not resolve)."""
    import ipaddress
    import socket

    try:
        return frozenset({str(ipaddress.ip_address(host.strip("[]")))})
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in found)


def _refuse_shared_urls(cluster: str, refs: Sequence[NodeRef]) -> None:
    """Node objects that give one URL (the same address, and no port of their own: behind a proxy
    that rewrites them, say) would each be sent what is meant for another node, and every node
    reported for what one of them did."""
    by_url: dict[str, list[str]] = {}
    for ref in refs:
        by_url.setdefault(ref.url.lower(), []).append(ref.uid or ref.label)
    for url, uids in by_url.items():
        if len(uids) > 1:
            raise ClusterError(
                f"GET {cluster}/v1/nodes gives nodes {', '.join(uids[:-1])} and {uids[-1]} one address,"
                f" {url}: each would be sent what is meant for another; nothing was changed",
                "Pass each node with --node URL, at an address that reaches that node alone.",
            )


def _refuse_repeated_nodes(given: Sequence[str], matched: dict[str, NodeRef | None]) -> None:
    """One node given twice (`--node URL --node URL/`, or two addresses GET /v1/nodes gives one
    node) was uploaded to, and reported, twice."""
    seen: dict[str, str] = {}
    for url in given:
        ref = matched.get(url)
        key = f"node {ref.uid}" if ref is not None else url.lower()
        if key in seen:
            other = "" if seen[key].lower() == url.lower() else f" (as {seen[key]}: both are {key})"
            raise UsageError(f"--node {url} is given twice{other}", "Give each node once.")
        seen[key] = url


def cluster_url(connection: Connection) -> str:
    """The URL for cluster-wide calls: --cluster, else the first --node (every node serves them)."""
    if connection.cluster:
        return base_url(connection.cluster)
    if connection.nodes:
        return base_url(connection.nodes[0], "--node")
    raise UsageError("no cluster given", "Pass --cluster https://host:9443 (or MODPACK_CLUSTER).")


def node_ref(cluster: str, node: JSON) -> NodeRef | None:
    """The NodeRef of a GET /v1/nodes entry; None when it has no usable address."""
    return _node_ref(cluster, node, strict=False)


def _node_ref(cluster: str, node: JSON, *, strict: bool = True) -> NodeRef | None:
    """The node's URL; ClusterError for an address that is not a plain host (None if not strict)."""
    try:
        return _node_url(cluster, node)
    except ClusterError:
        if strict:
            raise
        return None


def _node_url(cluster: str, node: JSON) -> NodeRef:
    parts = urllib.parse.urlsplit(cluster)
    if not isinstance(node, dict):
        raise ClusterError(f"GET {cluster}/v1/nodes returned an entry that is not an object")
    uid = str(node.get("uid", "?"))[:40]
    external = node.get("external_addr")
    host = external[0] if isinstance(external, list) and external else node.get("addr") or parts.hostname
    host = _plain_host(cluster, uid, host)
    port = node.get("port", parts.port or DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ClusterError(f"GET {cluster}/v1/nodes: node {uid} has port {str(port)[:40]!r}, not 1-65535")
    host_text = f"[{host}]" if ":" in host else host
    url = f"{parts.scheme}://{host_text}:{port}"
    return NodeRef(f"node {uid} ({url})", url, uid)


def _plain_host(cluster: str, uid: str, host: object) -> str:
    """`host` when it is a host name or IP address and nothing else (no user info, path, port)."""
    import ipaddress

    from modpack.rest.transport import is_host

    if not isinstance(host, str):
        raise ClusterError(
            f"GET {cluster}/v1/nodes: node {uid} has an address of type {type(host).__name__}, not a string",
            "Pass the nodes with --node URL.",
        )
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not is_host(host):
        raise ClusterError(
            f"GET {cluster}/v1/nodes: node {uid} has address {host[:80]!r}, which is not a host name or IP"
            " address (user info, paths and ports are refused)",
            "Pass the nodes with --node URL.",
        )
    return host


def _check_trusted(connection: Connection, cluster: str, refs: list[NodeRef]) -> None:
    if connection.trust_node_addresses:
        return
    own = (urllib.parse.urlsplit(cluster).hostname or "").lower().rstrip(".")
    # Only the host the user named: not the addresses its name resolves to, nor a name the answer
    # gives that resolves there. Connecting by another name or by the bare address sends another
    # Host and SNI, which a shared ingress or load balancer routes to another backend.
    hosts = {(urllib.parse.urlsplit(r.url).hostname or "").lower().rstrip(".") for r in refs}
    foreign = sorted(hosts - {own})
    if foreign:
        raise ClusterError(
            f"GET {cluster}/v1/nodes names nodes on other hosts ({', '.join(foreign[:5])}); modpack sends"
            f" credentials only to {own} and to --node addresses",
            "Pass each node with --node URL, or --trust-node-addresses to use the cluster's addresses.",
        )


# --- module objects ---------------------------------------------------------------------------


def listing(api: Api, url: str) -> list[JSON]:
    """GET `url`, which the API answers with a JSON array. Another answer (a proxy's or a
    gateway's `{"modules": []}`, say) was taken for an empty list: "(no module objects)", "no
    node holds it", exit 0, of a cluster never asked; it is an error that names the URL."""
    found = api.json("GET", url)
    if not isinstance(found, list):
        kind = {dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(found), "a number"
        )
        raise ClusterError(
            f"GET {url} answered {kind}, not the JSON list the Redis Enterprise REST API answers",
            "Check that the address is the cluster's REST API (port 9443 unless cnm_https_port moves it),"
            " not a proxy or a gateway that answers for it.",
        )
    return found


def list_modules(api: Api) -> list[Module]:
    found = listing(api, f"{cluster_url(api.connection)}/v1/modules")
    return [m for m in found if isinstance(m, dict)]


def find_modules(api: Api, name: str, version: int) -> list[Module]:
    return [m for m in list_modules(api) if m.get("module_name") == name and m.get("version") == version]


def still_listed(api: Api, name: str, version: int, uid: str, wait: float = 0.0) -> bool | None:
    """Whether the cluster lists module object `uid` of `name` `version` (None when its list
    cannot be read), looked at again for up to `wait` seconds while it does: RS 7.x deletes in an
    action that drops the object once every node removed its copy, so a DELETE whose answer was
    lost leaves it listed for a while (CI run 159)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            listed = find_modules(api, name, version)
        except ModpackError:
            return None
        if not any(str(m.get("uid", "")) == uid for m in listed):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.2)


def create_module(api: Api, module: Module) -> tuple[str, bool]:
    """(uid, created): a module object with this name and version, made if it is not there yet."""
    name, version = module.get("module_name"), module.get("version")
    if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, int):
        # check_bundle validated the module.json it came from; this guards a direct caller
        raise UsageError("a module object needs a string module_name and an integer version")
    existing = find_modules(api, name, version)
    if existing:
        return str(existing[0].get("uid", "")), False
    try:
        created = api.json("POST", f"{cluster_url(api.connection)}{MODULES}", module)
    except ClusterError as exc:
        again = find_modules(api, name, version) if exc.status == 406 else []
        if not again:
            raise
        return str(again[0].get("uid", "")), False  # a retried POST that had landed, or a race
    return str(created.get("uid", "")) if isinstance(created, dict) else "", True


def delete_module(api: Api, uid: str) -> bool:
    """Delete a module object; False when there was none: the cluster said so
    (`module_not_found`), or, for a 404 of another code (no such endpoint), its list does not
    hold `uid`."""
    quoted = urllib.parse.quote(uid, safe="")
    try:
        api.send("DELETE", f"{cluster_url(api.connection)}{MODULES}/{quoted}")
    except ClusterError as exc:
        if absent(exc, "module_not_found", lambda: uid_listed(api, uid)):
            return False
        raise
    return True


def uid_listed(api: Api, uid: str) -> bool:
    """Whether the cluster lists a module object of `uid`."""
    return any(str(m.get("uid", "")) == uid for m in list_modules(api))


def absent(refusal: ClusterError, code: str, still_held: Callable[[], bool]) -> bool:
    """Whether a DELETE's refusal says that what it deletes is not there: a 404 of `code`, the
    endpoint's own for it, or a 404 of another code (a proxy's, no such endpoint) where the list
    `still_held()` reads no longer holds it. Any 404 counted, and a node without the endpoint
    was said to hold none. False: the caller raises `refusal` again."""
    return refusal.status == 404 and (refusal.error_code == code or not still_held())


# --- artifacts --------------------------------------------------------------------------------


def artifacts(api: Api, node: NodeRef) -> list[dict[str, JSON]]:
    url = f"{node.url}{ARTIFACTS}"
    try:
        found = listing(api, url)
    except ClusterError as exc:
        if exc.status == 404 and exc.error_code != "artifact_not_found":
            raise no_artifact_api(node, exc) from None
        raise
    return [a for a in found if isinstance(a, dict)]


def no_artifact_api(node: NodeRef, answer: ClusterError) -> ClusterError:
    """A node whose artifact list is 404: it has no user-defined module API (RS before 8.0, or
    not a Redis Enterprise node at all). Its 404 to a DELETE was taken for "absent"."""
    return ClusterError(
        f"{node.label} has no user-defined module API ({answer.message})",
        "Redis Enterprise has GET and DELETE /v2/local/modules/user-defined/artifacts from 8.0: check"
        " that the address is an 8.0 or later node's REST API; before 8.0, `modpack unpublish`"
        " removes a module from every node with its module object.",
        status=404,
        error_code=answer.error_code,
    )


def has_artifact(api: Api, node: NodeRef, name: str, version: int) -> bool:
    return any(a.get("module_name") == name and a.get("version") == version for a in artifacts(api, node))


def delete_artifact(api: Api, node: NodeRef, name: str, version: int) -> bool:
    """Delete an artifact from one node; False when it had none.

    A 404 means "absent" only when the node says so (`artifact_not_found`) or its list shows it:
    any 404 counted, and a node without the endpoint (RS 7.x; `not_found`) was said to hold none."""
    url = f"{node.url}{ARTIFACTS}/{urllib.parse.quote(name, safe='')}/{version}"
    try:
        api.send("DELETE", url)
    except ClusterError as exc:
        # its list raises when the node has no such API
        if absent(exc, "artifact_not_found", lambda: has_artifact(api, node, name, version)):
            return False
        raise
    return True


def upload(api: Api, node: NodeRef, bundle: Path, progress: Progress | None = None) -> None:
    """Stream `bundle` to one node's artifact endpoint as the multipart field `module`."""
    post_bundle(api, f"{node.url}{ARTIFACTS}", node.label, bundle, progress)


# The signal (Ctrl+C, SIGTERM) a handler raised in the main thread. Python drops an exception
# raised while a weakref callback or __del__ runs ("Exception ignored in ..."), and publish then
# went on to upload everything and exit 0 after a cancelled CI job's SIGTERM: kept here too, every
# upload stops at its next chunk and publish raises it again once the uploads have stopped.
_STOPPED: list[KeyboardInterrupt] = []


def request_stop(signal: KeyboardInterrupt) -> None:
    """Record a signal's stop (from its handler, before it raises `signal`)."""
    _STOPPED.append(signal)


def stop_requested() -> KeyboardInterrupt | None:
    """The first signal recorded since `clear_stop()`, or None."""
    return _STOPPED[0] if _STOPPED else None


def clear_stop() -> None:
    _STOPPED.clear()


# A stopped removal's hint, where a DELETE's fate is unknown: the re-run it advises may find it done.
MAY_BE_DONE = (
    " A DELETE said unknown may have been done: the re-run then finds nothing to remove there"
    " (exit 1 if it finds nothing at all)."
)

ABORTED_BEFORE_BEGINNING = "the upload was aborted before it began; nothing was placed"


class Gate:
    """Holds uploads back before their last bytes until `open()`; `abort()` makes them fail.

    The server judges an artifact only once its body is complete, so an upload held before
    its last chunk has changed nothing yet: publish streams while it still validates, and
    aborts (the server then discards the partial file) if validation or a check fails.

    `after` makes uploads take turns: a node's upload begins only once the one it comes after
    has reached its hold or ended (nodes on one machine, see machine_turns).
    """

    def __init__(self, timeout: float, after: Mapping[str, str] | None = None) -> None:
        self._event = threading.Event()
        self._aborted = False
        self._timeout = timeout
        # The body's last bytes were handed to the connection: the server may take the upload
        # though its answer is never read.
        self.handed_over = False
        # Turns (see take_turn): node URL -> the node URL whose upload it starts after.
        self._after = dict(after or {})
        self._reached = {url: threading.Event() for url in self._after.values()}

    def open(self) -> None:
        self._event.set()

    def abort(self) -> None:
        self._aborted = True
        self._event.set()
        for reached in self._reached.values():  # an upload waiting for its turn stops too
            reached.set()

    def wait(self) -> None:
        if not self._event.wait(self._timeout) or self._aborted or _STOPPED:
            raise UploadAborted("the upload was held back and then aborted; nothing was placed")

    def check(self) -> None:
        """Before each chunk: an aborted upload stops there, not only once it reaches its last one;
        so does every upload once a signal asked to stop."""
        if self._aborted or _STOPPED:
            raise UploadAborted("the upload was aborted before its end; nothing was placed")

    def take_turn(self, url: str) -> None:
        """Wait until the upload to the node `url` starts after has reached its hold (sent all
        but its last chunk) or ended; at once for a node that starts after none."""
        previous = self._after.get(url)
        if previous is not None:
            self._reached[previous].wait()
        if self._aborted or _STOPPED:
            raise UploadAborted(ABORTED_BEFORE_BEGINNING)

    def reached(self, url: str) -> None:
        """The upload to the node `url` has reached its hold, or ended: the next may begin."""
        if url in self._reached:
            self._reached[url].set()


class UploadAborted(ModpackError):
    """An upload stopped on purpose before its last bytes."""


def post_bundle(
    api: Api,
    url: str,
    label: str,
    bundle: Path,
    progress: Progress | None = None,
    *,
    gate: Gate | None = None,
    held: Callable[[], None] | None = None,
) -> Response:
    """POST `bundle` to `url` as the multipart field `module`, streamed with a Content-Length.
    `held`: called once the body has been sent up to its last chunk, where `gate` holds it."""
    boundary = secrets.token_hex(16)
    size = bundle.stat().st_size
    head, tail = _multipart_frame(boundary, bundle.name)
    total = len(head) + size + len(tail)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(total),
        "Accept": "*/*",
    }

    def build() -> RequestOptions:
        body = _body(
            bundle,
            size,
            (head, tail),
            lambda sent: progress(label, sent, total) if progress else None,
            gate=gate,
            held=held,
        )
        return {"content": body, "headers": headers, "read_timeout": api.connection.answer_timeout}

    try:
        return api.send("POST", url, build)
    except OSError as exc:
        raise ModpackError(f"cannot read {bundle}: {exc.strerror or exc}") from exc


def _multipart_frame(boundary: str, filename: str) -> tuple[bytes, bytes]:
    safe = "".join(c for c in filename if c.isprintable() and c not in '"\\') or "module.zip"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="module"; filename="{safe}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


def _body(
    bundle: Path,
    size: int,
    frame: tuple[bytes, bytes],
    sent: Callable[[int], None],
    *,
    gate: Gate | None = None,
    held: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """The multipart body: `size` bytes of the bundle between the frame's head and tail; an error,
    not a body of another length than announced, when the file changes size meanwhile."""
    head, tail = frame
    done = len(head)
    yield head
    with bundle.open("rb") as source:
        left = size
        while left > 0:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise ModpackError(f"{bundle} became shorter while it was uploaded", "Publish it again.")
            left -= len(chunk)
            if left == 0 and held is not None:
                held()
            if gate is not None:
                gate.check()  # aborted: stop now, not at the last chunk
                if left == 0:
                    gate.wait()  # the last chunk: only once the run may change things
            done += len(chunk)
            sent(done)
            if gate is not None:
                gate.check()  # aborted while the progress report ran: this chunk stays unsent
            yield chunk
        if source.read(1):
            raise ModpackError(f"{bundle} became longer while it was uploaded", "Publish it again.")
    sent(done + len(tail))
    if gate is not None:
        gate.handed_over = True
    yield tail


# --- work on every node ---------------------------------------------------------------------


NodeStatus = Literal[
    "uploaded", "present", "failed", "would upload", "deleted", "absent", "unconfirmed", "unknown"
]
"""What became of one node: publish uploads, unpublish and artifacts delete delete. A request
whose answer was lost (AnswerLost) is judged by the node's list: "unconfirmed" when it shows what
the upload would have placed (its answer never said so), "unknown" when the list cannot say."""


@dataclass
class NodeOutcome:
    node: NodeRef
    status: NodeStatus
    detail: str = ""
    bundle: Path | None = None
    http_status: int | None = None  # of a "failed" node's refusal (401, 403, ...), where it answered

    @property
    def unsure(self) -> bool:
        """A request sent whole whose answer was lost: the node may have done it."""
        return self.status in ("unconfirmed", "unknown")

    @property
    def failed(self) -> bool:
        """Not done, or not known to be done: each fails the run."""
        return self.status == "failed" or self.unsure


def each_node(
    connection: Connection, targets: list[NodeRef], work: Callable[[NodeRef], NodeOutcome]
) -> list[NodeOutcome]:
    """`work` on every node, a few at a time; one node's failure never stops the others."""
    return _waited(node_workers(connection, targets, work).start())


def node_workers(
    connection: Connection, targets: list[NodeRef], work: Callable[[NodeRef], NodeOutcome]
) -> Workers[NodeRef, NodeOutcome]:
    """each_node, to start: its `results()` are the nodes' outcomes, in order."""

    def guarded(node: NodeRef) -> NodeOutcome:
        try:
            return work(node)
        except ModpackError as exc:
            return failed(node, exc)

    return Workers(targets, guarded, connection.jobs, "modpack-node")


def failed(node: NodeRef, error: ModpackError) -> NodeOutcome:
    """A node whose work failed, with the HTTP status of its refusal where it answered one."""
    status = error.status if isinstance(error, ClusterError) else None
    return NodeOutcome(node, "failed", error.message, http_status=status)


def _waited(running: Workers[NodeRef, T], *, read_only: bool = False) -> list[T]:
    """The answers; on any way out (Ctrl+C too), not before every node's work has ended. Ctrl+C
    begins no other node: those under way end, and the stop comes then (at once for `read_only`
    work on daemon threads, which a stop need not wait for)."""
    try:
        return running.results()
    except BaseException:
        running.stop()
        raise
    finally:
        if not read_only:
            running.wait()


def module_name_argument(name: str) -> str:
    """`name` when it can be a module_name (what validate's SCH006 allows); else UsageError.

    unpublish and artifacts delete took any text: '' or '../x' went into every node's DELETE
    path (quote() keeps '.' and '..') and came back 'absent', as if there were nothing to do."""
    from modpack.checks.metadata import SAFE_NAME

    if not SAFE_NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a module name",
            "Give module.json's module_name: letters, digits, '.', '_' and '-', starting with a letter,"
            " a digit or '_'.",
        )
    return name


@dataclass
class Removal:
    """Each node's part of a removal as it goes (the threads fill it in): what a stopped run says
    of every node. A stop waits for no DELETE under way, whose answer may take --timeout and
    more (a node that accepts and never answers): those are said to be unknown."""

    targets: list[NodeRef] = field(default_factory=list)
    begun: set[str] = field(default_factory=set)  # the nodes whose DELETE was sent (by url)
    done: dict[str, NodeOutcome] = field(default_factory=dict)
    stopped: bool = False  # once set, no DELETE more is sent: a node not begun is "not asked"
    # The threads go on after a stop (a DELETE under way is not waited for): what they record
    # and what the summary reads of it are taken under this lock.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self, url: str) -> bool:
        """Record that the node's DELETE is sent; False once the run stopped (none is sent)."""
        with self._lock:
            if not self.stopped:
                self.begun.add(url)
            return not self.stopped

    def end(self, url: str, outcome: NodeOutcome) -> None:
        with self._lock:
            self.done[url] = outcome

    def stop(self) -> None:
        with self._lock:
            self.stopped = True

    def lines(self) -> list[str]:
        """One line per node: its outcome, or where the stop left it."""
        with self._lock:
            begun, done = set(self.begun), dict(self.done)
        said: list[str] = []
        for node in self.targets:
            outcome = done.get(node.url)
            if outcome is not None:
                detail = f": {outcome.detail}" if outcome.detail else ""
                said.append(f"{node.label}: {outcome.status}{detail}")
            elif node.url in begun:
                said.append(f"{node.label}: unknown: the run stopped while its DELETE was out")
            else:
                said.append(f"{node.label}: not asked: the run stopped first")
        return said

    @property
    def unknown(self) -> bool:
        """Whether a node's DELETE was out when the run stopped: it may have been done."""
        with self._lock:
            return bool(self.begun - self.done.keys())

    @property
    def changed(self) -> bool:
        """Whether a node may have lost an artifact to this run."""
        with self._lock:
            begun, done = set(self.begun), dict(self.done)
        return any(o.status != "absent" and not o.failed for o in done.values()) or bool(begun - done.keys())


def remove_artifacts(
    api: Api,
    connection: Connection,
    name: str,
    version: int,
    *,
    refs: list[NodeRef] | None = None,
    progress: Removal | None = None,
) -> list[NodeOutcome]:
    """Delete the artifact from each node; `refs`: the nodes as the caller chose them already;
    `progress`: filled in as each node is begun and done."""
    module_name_argument(name)
    track = Removal() if progress is None else progress
    track.targets = nodes(api) if refs is None else refs

    def remove(node: NodeRef) -> NodeOutcome:
        if not track.begin(node.url):  # taken just as the run stopped: not sent
            return NodeOutcome(node, "failed", "not asked: the run stopped first")
        try:
            outcome = _remove_one(api, node, name, version)
        except ModpackError as exc:
            outcome = failed(node, exc)
        track.end(node.url, outcome)
        return outcome

    # daemon threads: a stopped run says what each node did at once, and need not wait for them
    running = Workers(track.targets, remove, connection.jobs, "modpack-node", daemon=True).start()
    try:
        return running.results()
    except BaseException:
        track.stop()  # no other node begun, one a thread has taken already neither
        running.stop()
        raise


def _remove_one(api: Api, node: NodeRef, name: str, version: int) -> NodeOutcome:
    try:
        return NodeOutcome(node, "deleted" if delete_artifact(api, node, name, version) else "absent")
    except AnswerLost as lost:  # the node may have deleted it: its list says
        try:
            still = has_artifact(api, node, name, version)
        except ModpackError as unread:
            why = f"{lost.message}; its list could not be read either ({unread.message})"
            return NodeOutcome(node, "unknown", f"{why}: whether the artifact is gone is not known")
        if still:  # not done: sent once more (a connection the node had closed, say)
            try:
                delete_artifact(api, node, name, version)
            except ModpackError as again:
                return NodeOutcome(node, "failed", f"{lost.message}; sent again: {again.message}")
            return NodeOutcome(node, "deleted", f"its first answer was lost ({lost.message})")
        return NodeOutcome(
            node, "deleted", f"its answer was lost ({lost.message}); the node lists it no more"
        )


def node_artifacts(api: Api, connection: Connection) -> list[tuple[NodeRef, list[dict[str, JSON]] | str]]:
    """Each node's artifact listing, or the reason it could not be had."""

    def listing(node: NodeRef) -> tuple[NodeRef, list[dict[str, JSON]] | str]:
        try:
            return node, artifacts(api, node)
        except ModpackError as exc:
            return node, exc.message

    return _waited(
        Workers(nodes(api), listing, connection.jobs, "modpack-node", daemon=True).start(), read_only=True
    )
