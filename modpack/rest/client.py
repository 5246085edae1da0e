"""Talking to a cluster's user-defined module API: publish, unpublish, list, delete.

Safety rules, all in `Api.send()`:
- retries, with exponential backoff, only on connection errors and 5xx answers, never on 4xx;
- redirects are never followed (an upload answered with a redirect fails and says where to);
- TLS is verified (system trust store, or `ca_cert`) unless `insecure` is asked for;
- credentials travel only in the Authorization header: never in URLs, reprs, logs or errors.

Uploads are streamed from the file in 1 MiB chunks with a known Content-Length: memory stays flat
for any bundle size. `publish()` is resumable: a module object or an artifact that is already in
place is left alone, so re-running after a partial failure finishes the job.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import random
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modpack.errors import ModpackError, UsageError
from modpack.rest.paths import ARTIFACTS, MODULES

if TYPE_CHECKING:
    import httpx

    from modpack.declarations import Settings
    from modpack.rest.publish import PublishResult, UnpublishResult

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
DEFAULT_PORT = 9443
MAX_BACKOFF = 8.0

Progress = Callable[[str, int, int], None]
"""progress(node label, bytes sent, bytes in all) while an artifact uploads."""


class ClusterError(ModpackError):
    """A request the cluster refused or could not answer."""

    def __init__(self, message: str, hint: str = "", status: int | None = None, error_code: str = "") -> None:
        super().__init__(message, hint)
        self.status = status
        self.error_code = error_code


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
    insecure: bool = False
    timeout: float = 30.0
    upload_timeout: float = 600.0
    retries: int = 3
    backoff: float = 0.5
    jobs: int = 4


def base_url(url: str, what: str = "--cluster") -> str:
    """`scheme://host:port` of a user-given URL; refuses credentials in it and odd schemes."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what} must be an http(s)://host[:port] URL, not {_redacted(url)!r}")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{what} must not carry credentials",
            "Use --user and MODPACK_PASSWORD instead of user:pass@ in URLs.",
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(f"{what} must be just scheme://host:port, not {_redacted(url)!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _redacted(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


# --- one HTTP client with the safety rules ----------------------------------------------------


class Api:
    """An httpx client bound to a Connection; `send()` applies retries and the no-redirect rule."""

    def __init__(
        self,
        connection: Connection,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.connection = connection
        self._sleep = sleep
        auth = None
        if connection.credentials is not None:
            auth = httpx.BasicAuth(connection.credentials.user, connection.credentials.password)
        self._http = httpx.Client(
            auth=auth,
            verify=_verify(connection),
            timeout=httpx.Timeout(connection.timeout),
            follow_redirects=False,
            headers={"Accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, method: str, url: str, build: Callable[[], dict[str, Any]] | None = None
    ) -> httpx.Response:
        """One request, retried on connection errors and 5xx; `build()` gives fresh httpx kwargs."""
        import httpx

        attempts = self.connection.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, url, **(build() if build else {}))
            except httpx.TransportError as exc:
                if not _retryable_error(exc) or last:
                    raise _transport_error(method, url, exc) from exc
                self._wait(attempt, f"{method} {url}: {type(exc).__name__}")
                continue
            if response.status_code >= 500 and not last:
                self._wait(attempt, f"{method} {url}: {response.status_code}")
                continue
            return _checked(method, url, response)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, why: str) -> None:
        delay = min(self.connection.backoff * 2**attempt, MAX_BACKOFF) * (1 + random.random() / 4)  # noqa: S311
        log.info("retrying in %.1f s after %s", delay, why)
        self._sleep(delay)

    def json(self, method: str, url: str, body: Any = None) -> Any:
        build = (lambda: {"json": body}) if body is not None else None
        response = self.send(method, url, build)
        try:
            return response.json()
        except ValueError as exc:
            raise ClusterError(f"{method} {url} answered {response.status_code} without a JSON body") from exc


def _verify(connection: Connection) -> ssl.SSLContext | bool:
    from modpack.rest import tls

    if connection.insecure:
        return False
    try:
        return tls.client_context(connection.ca_cert)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use --ca-cert {connection.ca_cert}: {exc}") from exc


def _retryable_error(exc: httpx.TransportError) -> bool:
    import httpx

    return not isinstance(exc, httpx.UnsupportedProtocol) and not _certificate_problem(exc)


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transport_error(method: str, url: str, exc: httpx.TransportError) -> ModpackError:
    if _certificate_problem(exc):
        return ClusterError(
            f"{url}: the TLS certificate is not trusted",
            "Pass the cluster's CA with --ca-cert FILE (or --insecure to skip verification).",
        )
    reason = str(exc) or type(exc).__name__
    return ClusterError(
        f"cannot reach {url} ({method}): {reason}", "Check that the node is up and the URL is right."
    )


def _checked(method: str, url: str, response: httpx.Response) -> httpx.Response:
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


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:500].strip()
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
        406: "Fix what the description names; `modpack validate` shows the same problems locally.",
        413: "The bundle is larger than the node accepts.",
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
    listed = api.json("GET", f"{cluster}/v1/nodes")
    if not isinstance(listed, list) or not listed:
        raise ClusterError(f"GET {cluster}/v1/nodes returned no nodes", "Pass the nodes with --node URL.")
    return nodes_from(connection, cluster, listed)


def nodes_from(connection: Connection, cluster: str, listed: list[Any]) -> list[NodeRef]:
    """NodeRefs for `--node` URLs (matched to node objects by address) or for every node object."""
    refs = [_node_ref(cluster, item) for item in listed]
    if not connection.nodes:
        return refs
    by_url = {ref.url: ref for ref in refs}
    given = [base_url(u, "--node") for u in connection.nodes]
    return [
        NodeRef(f"node {by_url[u].uid} ({u})", u, by_url[u].uid) if u in by_url else NodeRef(f"node {u}", u)
        for u in given
    ]


def cluster_url(connection: Connection) -> str:
    """The URL for cluster-wide calls: --cluster, else the first --node (every node serves them)."""
    if connection.cluster:
        return base_url(connection.cluster)
    if connection.nodes:
        return base_url(connection.nodes[0], "--node")
    raise UsageError("no cluster given", "Pass --cluster https://host:9443 (or MODPACK_CLUSTER).")


def _node_ref(cluster: str, node: Any) -> NodeRef:
    parts = urllib.parse.urlsplit(cluster)
    if not isinstance(node, dict):
        raise ClusterError(f"GET {cluster}/v1/nodes returned an entry that is not an object")
    external = node.get("external_addr")
    host = external[0] if isinstance(external, list) and external else node.get("addr") or parts.hostname
    port = node.get("port") if isinstance(node.get("port"), int) else parts.port or DEFAULT_PORT
    host_text = f"[{host}]" if ":" in str(host) else str(host)
    url = f"{parts.scheme}://{host_text}:{port}"
    uid = str(node.get("uid", "?"))
    return NodeRef(f"node {uid} ({url})", url, uid)


# --- module objects ---------------------------------------------------------------------------


def list_modules(api: Api) -> list[dict[str, Any]]:
    found = api.json("GET", f"{cluster_url(api.connection)}/v1/modules")
    return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []


def find_modules(api: Api, name: str, version: int) -> list[dict[str, Any]]:
    return [m for m in list_modules(api) if m.get("module_name") == name and m.get("version") == version]


def create_module(api: Api, module: dict[str, Any]) -> tuple[str, bool]:
    """(uid, created): a module object with this name and version, made if it is not there yet."""
    existing = find_modules(api, module["module_name"], module["version"])
    if existing:
        return str(existing[0].get("uid", "")), False
    try:
        created = api.json("POST", f"{cluster_url(api.connection)}{MODULES}", module)
    except ClusterError as exc:
        again = find_modules(api, module["module_name"], module["version"]) if exc.status == 406 else []
        if not again:
            raise
        return str(again[0].get("uid", "")), False  # a retried POST that had landed, or a race
    return str(created.get("uid", "")) if isinstance(created, dict) else "", True


def delete_module(api: Api, uid: str) -> bool:
    """Delete a module object; False when there was none."""
    quoted = urllib.parse.quote(uid, safe="")
    try:
        api.send("DELETE", f"{cluster_url(api.connection)}{MODULES}/{quoted}")
    except ClusterError as exc:
        if exc.status == 404:
            return False
        raise
    return True


# --- artifacts --------------------------------------------------------------------------------


def artifacts(api: Api, node: NodeRef) -> list[dict[str, Any]]:
    found = api.json("GET", f"{node.url}{ARTIFACTS}")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def has_artifact(api: Api, node: NodeRef, name: str, version: int) -> bool:
    return any(a.get("module_name") == name and a.get("version") == version for a in artifacts(api, node))


def delete_artifact(api: Api, node: NodeRef, name: str, version: int) -> bool:
    """Delete an artifact from one node; False when it had none."""
    url = f"{node.url}{ARTIFACTS}/{urllib.parse.quote(name, safe='')}/{version}"
    try:
        api.send("DELETE", url)
    except ClusterError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def upload(api: Api, node: NodeRef, bundle: Path, progress: Progress | None = None) -> None:
    """Stream `bundle` to one node's artifact endpoint as the multipart field `module`."""
    post_bundle(api, f"{node.url}{ARTIFACTS}", node.label, bundle, progress)


class Gate:
    """Holds uploads back before their last bytes until `open()`; `abort()` makes them fail.

    The server judges an artifact only once its body is complete, so an upload held before
    its last chunk has changed nothing yet: publish streams while it still validates, and
    aborts (the server then discards the partial file) if validation or a check fails.
    """

    def __init__(self, timeout: float) -> None:
        self._event = threading.Event()
        self._aborted = False
        self._timeout = timeout

    def open(self) -> None:
        self._event.set()

    def abort(self) -> None:
        self._aborted = True
        self._event.set()

    def wait(self) -> None:
        if not self._event.wait(self._timeout) or self._aborted:
            raise UploadAborted("the upload was held back and then aborted; nothing was placed")


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
) -> httpx.Response:
    """POST `bundle` to `url` as the multipart field `module`, streamed with a Content-Length."""
    import httpx

    boundary = secrets.token_hex(16)
    size = bundle.stat().st_size
    head, tail = _multipart_frame(boundary, bundle.name)
    total = len(head) + size + len(tail)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(total),
        "Accept": "*/*",
    }
    timeout = httpx.Timeout(api.connection.timeout, read=api.connection.upload_timeout)

    def build() -> dict[str, Any]:
        body = _body(
            bundle, head, tail, lambda sent: progress(label, sent, total) if progress else None, gate
        )
        return {"content": body, "headers": headers, "timeout": timeout}

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
    bundle: Path, head: bytes, tail: bytes, sent: Callable[[int], None], gate: Gate | None = None
) -> Iterator[bytes]:
    done = len(head)
    yield head
    with bundle.open("rb") as source:
        size = os.fstat(source.fileno()).st_size
        while chunk := source.read(CHUNK):
            if gate is not None and done - len(head) + len(chunk) >= size:
                gate.wait()  # the last chunk: only once the run may change things
            done += len(chunk)
            sent(done)
            yield chunk
    sent(done + len(tail))
    yield tail


# --- publish and unpublish (modpack.rest.publish does the work) -------------------------------


@dataclass
class NodeOutcome:
    node: NodeRef
    status: str  # uploaded | present | failed | would upload | deleted | absent
    detail: str = ""
    bundle: Path | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def check_bundle(bundle: Path, settings: Settings | None = None) -> dict[str, Any]:
    """The bundle's module.json when it validates; FindingsError (with the findings) otherwise."""
    from modpack.rest.publish import check_bundle as checked

    return checked(bundle, settings).module


def publish(
    bundles: Path | list[Path],
    connection: Connection,
    *,
    dry_run: bool = False,
    allow_upload: bool = False,
    replace: bool = False,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> PublishResult:
    """Validate, look, preflight, then create the module object and upload each node's bundle."""
    from modpack.rest import publish as publishing

    paths = [bundles] if isinstance(bundles, Path) else list(bundles)
    options = publishing.PublishOptions(dry_run, allow_upload, replace, settings, progress)
    return publishing.publish(paths, connection, options)


def unpublish(name: str, version: int, connection: Connection) -> UnpublishResult:
    from modpack.rest import publish as publishing

    return publishing.unpublish(name, version, connection)


def each_node(
    connection: Connection, targets: list[NodeRef], work: Callable[[NodeRef], NodeOutcome]
) -> list[NodeOutcome]:
    """`work` on every node, a few at a time; one node's failure never stops the others."""

    def guarded(node: NodeRef) -> NodeOutcome:
        try:
            return work(node)
        except ModpackError as exc:
            return NodeOutcome(node, "failed", exc.message)

    if not targets:
        return []
    workers = max(1, min(connection.jobs, len(targets)))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="modpack-node") as pool:
        return list(pool.map(guarded, targets))


def remove_artifacts(api: Api, connection: Connection, name: str, version: int) -> list[NodeOutcome]:
    def remove(node: NodeRef) -> NodeOutcome:
        return NodeOutcome(node, "deleted" if delete_artifact(api, node, name, version) else "absent")

    return each_node(connection, nodes(api), remove)


def node_artifacts(api: Api, connection: Connection) -> list[tuple[NodeRef, list[dict[str, Any]] | str]]:
    """Each node's artifact listing, or the reason it could not be had."""

    def listing(node: NodeRef) -> tuple[NodeRef, list[dict[str, Any]] | str]:
        try:
            return node, artifacts(api, node)
        except ModpackError as exc:
            return node, exc.message

    targets = nodes(api)
    workers = max(1, min(connection.jobs, len(targets)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(listing, targets))
