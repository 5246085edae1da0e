"""The HTTP side of a local cluster node: a Starlette app per node, one shared configuration store.

Endpoints (rest-api-user-defined-modules.txt unless noted):

    GET    /v2/local/modules/user-defined/artifacts                     view_cluster_modules
    POST   /v2/local/modules/user-defined/artifacts                     manage_cluster_modules
    DELETE /v2/local/modules/user-defined/artifacts/{name}/{version}    manage_cluster_modules
    POST   /v2/modules/user-defined                                     manage_cluster_modules
    DELETE /v2/modules/user-defined/{uid}                               manage_cluster_modules
    GET    /v1/modules, /v1/modules/{uid}       (redis-enterprise.md §5.1)   view_cluster_modules
    GET    /v1/nodes                            (objects/node.md)            view_all_nodes_info
    GET    /v1/cluster                          (objects/cluster)            view_cluster_info
    PUT    /v1/cluster                          (allow_modules_upload)       update_cluster
    GET    /v1/openapi.json                     (this description; no credentials needed)

Served as Redis Enterprise 8.2 by default. With an older `software_version` (`modpack serve
--software-version 7.22`) the node serves that version's API instead: before 8.0 no user-defined
endpoints, but (re-docs/operate__rs__7.22__references__rest-api__requests__modules___index.md)

    POST   /v2/modules              multipart upload to the cluster, answers action_uid   update_cluster
    DELETE /v2/modules/{uid}        answers action_uid                                    update_cluster
    POST   /v1/modules              (deprecated) the same upload, done before a bare 200  update_cluster
    DELETE /v1/modules/{uid}        (deprecated) the same delete, done before a bare 200  update_cluster
    GET    /v1/actions/{uid}        the action's status                       view_status_of_cluster_action

(the v1 pair deprecated since 7.2, and listed by the 7.4, 7.8 and 7.22 docs alike), and before
8.2 no `allow_modules_upload` switch. From 8.0 on POST /v2/modules answers 405 (redis-enterprise.md
§5.3). From 8.2 the switch is off on a new data folder
and both upload calls answer 403 modules_upload_disabled to every role while it is off (re-docs
release notes 8.2.0, "Custom module upload is disabled by default").

Every error is `{"error_code", "description"}`, on 7.x `{"error_code", "message"}`
(modpack.rest.problems). A path with one trailing slash is served as the path without it, after
authentication like any other request, never a 307 redirect that would tell an unauthenticated
client which endpoints exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import datetime
import gc
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, NotRequired, TypedDict

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, ExceptionHandler, Receive, Scope, Send

from modpack import versions
from modpack.findings import Severity
from modpack.rest import auth, platforms, store, upload
from modpack.rest.paths import ACTIONS, ARTIFACTS, LEGACY_MODULES, MODULES
from modpack.rest.problems import ApiError

if TYPE_CHECKING:
    from modpack.types import JSON, Module
    from modpack.validate import BundleVerdict

MAX_JSON_BODY = 4 * 1024 * 1024
ALLOW_UPLOAD = "allow_modules_upload"
CLUSTER_NAME = "modpack-local"
SOFTWARE_VERSION = "8.2.0-25"  # the release the reference's 8.2 notes describe (rs-8-2-0-25)

# The Redis database versions each Redis Enterprise release offers (GET /v1/nodes,
# supported_database_versions), from the release notes in re-docs: 8.2.0-25 ("includes the following
# Redis database versions"), 8.0.2-17 and 7.8.2-34. 7.22 is taken to offer what 7.8 does, and
# releases before 7.8 what 7.8 offers but 7.4 (7.4 databases came with 7.8.2).
DATABASE_VERSIONS: list[tuple[tuple[int, int], tuple[str, ...]]] = [
    ((8, 2), ("8.6.2", "8.4.0", "8.2.1", "8.0.2", "7.4.3", "7.2.7", "6.2.13")),
    ((8, 0), ("8.2.1", "8.0.2", "7.4.3", "7.2.7", "6.2.13")),
    ((7, 8), ("7.4.0", "7.2.4", "6.2.13")),
    ((0, 0), ("7.2.4", "6.2.13")),
]


ActionStatus = Literal["queued", "running", "completed", "failed"]
# Ended (completed or failed) actions kept for GET /v1/actions/<uid>, the oldest ended dropped
# first; queued and running ones are always kept. A client follows its action until it ends and
# reads it then (modpack publish polls every fraction of a second), so only recent ones are ever
# asked for; 1000 keep the last minutes of even a busy CI's uploads and deletes, at a few hundred
# bytes each (a failed one carries an error message) well under a megabyte.
MAX_ENDED_ACTIONS = 1000

log = logging.getLogger(__name__)


class Action(TypedDict):
    """An action object as GET /v1/actions/<uid> serves it (objects/action, URL in `_as_action`)."""

    action_uid: str
    name: str
    progress: float  # a float since 7.4.2
    status: ActionStatus
    error_code: NotRequired[str]  # when it failed
    error_message: NotRequired[str]


@dataclass
class Node:
    """One node: where it listens, what it runs, where its artifacts are, whether it is up."""

    uid: int
    host: str
    port: int
    os: str
    architecture: str
    artifacts: store.NodeArtifacts
    software_version: str = SOFTWARE_VERSION
    running: bool = False
    started: float = field(default_factory=time.monotonic)
    # One lock per (name, version) being written; asyncio locks belong to the node's own event
    # loop, so they are made afresh each time the node starts.
    locks: defaultdict[tuple[str, int], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )

    def as_json(self, reached: str | None = None) -> dict[str, JSON]:
        """The node object: every field the captured real one has (re-docs/captured__...nodes_1.json),
        named and typed as objects/node.md documents them, plus modpack's `port` of the REST API.
        `reached`: the address the request came in on (`advertised_address`)."""
        name, family, semantic = os_fields(self.os)
        storage = _disk_size(self.artifacts.root)
        return {
            "uid": self.uid,
            "accept_servers": True,
            "addr": advertised_address(self.host, reached),
            "port": self.port,
            "architecture": self.architecture,
            "bigredis_storage_path": str(self.artifacts.root / "flash"),
            "bigstore_enabled": False,
            "cores": os.cpu_count() or 1,
            "ephemeral_storage_path": str(self.artifacts.root / "tmp"),
            "ephemeral_storage_size": storage,
            "external_addr": [],
            "fips_enabled": False,
            "flash_shard_count": 0,
            "max_listeners": 100,
            "max_redis_forks": -1,
            "max_redis_servers": 100,
            "max_slave_full_syncs": -1,
            "os_family": family,
            "os_name": name,
            "os_semantic_version": semantic,
            "os_version": f"{_OS_TITLES.get(name, name)} {semantic}",
            "persistent_storage_path": str(self.artifacts.root),
            "persistent_storage_size": storage,
            "rack_id": "",
            "ram_shard_count": 0,
            "second_rack_id": "",
            "shard_count": 0,
            "shard_list": [],
            "software_version": self.software_version,
            "status": "active" if self.running else "down",
            "supported_database_versions": database_versions(self.software_version),
            "system_time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total_memory": _total_memory(),
            "uptime": int(time.monotonic() - self.started) if self.running else 0,
            "use_internal_ipv6": False,
        }


_OS_TITLES = {"ubuntu": "Ubuntu", "rhel": "Red Hat Enterprise Linux", "amzn": "Amazon Linux"}


def advertised_address(bound: str, reached: str | None = None) -> str:
    """The address a node gives as its `addr` ("Internal IP address of node", objects/node) and
    serve announces: the one it listens on, or for a wildcard bind (0.0.0.0, ::), which is no
    address a client can reach, a real one. That is the address the request came in on
    (`reached`): the node listens on every address of this machine and so does every other node,
    so the address this client reached one on reaches them all, from wherever it is, and it is the
    host the client named, which publish checks node addresses against (client._check_trusted).
    Without a request (serve's announcement, its ports file), the loopback address of the bind's
    family, which the generated certificate names. 0.0.0.0 sent clients to 0.0.0.0."""
    import ipaddress

    try:
        address = ipaddress.ip_address(bound)
    except ValueError:
        return bound  # a host name
    if not address.is_unspecified:
        return bound
    if reached:
        try:
            seen = ipaddress.ip_address(reached.split("%")[0])
        except ValueError:
            seen = None
        if isinstance(seen, ipaddress.IPv6Address) and seen.ipv4_mapped is not None:
            seen = seen.ipv4_mapped  # a dual-stack :: socket reached over IPv4
        if seen is not None and not seen.is_unspecified:
            return str(seen)
    return "127.0.0.1" if address.version == 4 else "::1"


MEMCACHED_VERSION = "1.4.17"  # re-docs/captured__redis-enterprise-rs__GET_v1_nodes_1.json


def database_versions(software_version: str) -> list[JSON]:
    """supported_database_versions as the captured node object writes them: the Redis releases,
    and memcached (Redis Enterprise's memcached databases), whose entry has no redis_version."""
    release = (platforms.version_tuple(software_version) or (0, 0, 0))[:2]
    offered = next(versions for since, versions in DATABASE_VERSIONS if release >= since)
    redis: list[JSON] = [
        {"db_type": "redis", "major": True, "redis_version": v.rsplit(".", 1)[0], "version": v}
        for v in offered
    ]
    return [*redis, {"db_type": "memcached", "version": MEMCACHED_VERSION}]


def _disk_size(folder: Path) -> float:
    try:
        return float(shutil.disk_usage(folder).total)
    except OSError:
        return 0.0


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def os_fields(os_id: str) -> tuple[str, str, str]:
    """`ubuntu22` -> (ubuntu, ubuntu, 22.04); `rhel9` -> (rhel, rhel, 9)."""
    name = os_id.rstrip("0123456789.")
    number = os_id[len(name) :]
    semantic = f"{number}.04" if name == "ubuntu" and "." not in number else number
    return name, name, semantic


@dataclass
class Shared:
    """What every node of the cluster shares."""

    store: store.ConfigStore
    users: auth.Users
    nodes: list[Node]
    max_upload: int
    software_version: str = SOFTWARE_VERSION
    # Bundles are validated on long-lived threads, off every node's event loop: a validation
    # holds megabytes (bundle.stream_binary) and is CPU-bound (hashing). Two: with three, peak
    # RSS under three parallel 200 MB uploads rose from about 72 MB to 89 MB
    # (bench/bench_publish.py), too near the 100 MB budget for a gain lost in the noise.
    validator: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(
            2, thread_name_prefix="modpack-validate"
        )
    )
    guard: auth.Guard = field(default_factory=auth.Guard)
    actions: dict[str, Action] = field(default_factory=dict)
    ended: deque[str] = field(default_factory=deque)  # uids of ended actions, oldest first
    # Held for a dict or deque operation only, never for I/O: node loops take it.
    actions_lock: threading.Lock = field(default_factory=threading.Lock)
    legacy_lock: threading.Lock = field(default_factory=threading.Lock)
    # (name, version) of the 7.x module objects a delete is removing, under legacy_lock: an upload
    # merged into one meanwhile put files on a node that the delete then left with no object
    deleting: set[tuple[str, int]] = field(default_factory=set)
    # (name, version) -> 7.x uploads merged into its module object and still copying to the nodes,
    # under legacy_lock: a delete meanwhile removed the copies before they were made
    installing: dict[tuple[str, int], int] = field(default_factory=dict)
    settings_lock: threading.Lock = field(default_factory=threading.Lock)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # The 8.2 switch as stored, read once here: every upload asks for it on its node's event loop,
    # where the store's lock may be held by a worker thread writing a large module object.
    allow_upload: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        # Only true turns uploads on: a value edited by hand ("false" as a JSON string) is off.
        self.allow_upload = self.store.setting(ALLOW_UPLOAD, False) is True

    @property
    def release(self) -> tuple[int, int]:
        return platforms.release(self.software_version)

    @property
    def legacy(self) -> bool:
        """Before RS 8.0: POST /v2/modules instead of the user-defined endpoints."""
        return self.release < platforms.USER_DEFINED_SINCE

    @property
    def has_switch(self) -> bool:
        return self.release >= platforms.UPLOAD_SWITCH_SINCE

    @property
    def uploads_allowed(self) -> bool:
        """The 8.2 switch; off unless set (a new data folder starts with it off, as RS 8.2 does)."""
        return not self.has_switch or self.allow_upload

    def set_uploads_allowed(self, value: bool) -> None:
        """Store the switch and keep it (blocking: call it off the loop)."""
        with self.settings_lock:
            self.store.set_setting(ALLOW_UPLOAD, value)
            self.allow_upload = value


def create_app(shared: Shared, node: Node) -> Starlette:
    app = Starlette(routes=_routes(legacy=shared.legacy), exception_handlers=_handlers())
    app.router.redirect_slashes = False
    app.add_middleware(_OneTrailingSlash)
    app.state.shared = shared
    app.state.node = node
    return app


class _OneTrailingSlash:
    """Serve `/v1/modules/` as `/v1/modules`: authenticated like it, never a redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path[:-1], "raw_path": scope.get("raw_path", b"/").rstrip(b"/") or b"/"}
        await self.app(scope, receive, send)


def _routes(*, legacy: bool = False) -> list[Route]:
    common = [
        Route("/v1/modules", list_modules, methods=["GET"]),
        Route("/v1/modules/{uid}", get_module, methods=["GET"]),
        Route("/v1/nodes", list_nodes, methods=["GET"]),
        Route("/v1/cluster", get_cluster, methods=["GET"]),
        Route("/v1/cluster", update_cluster, methods=["PUT"]),
        Route("/v1/openapi.json", openapi, methods=["GET"]),
    ]
    if legacy:
        return [
            Route(LEGACY_MODULES, upload_legacy_module, methods=["POST"]),
            Route(f"{LEGACY_MODULES}/{{uid}}", delete_legacy_module, methods=["DELETE"]),
            Route("/v1/modules", upload_v1_module, methods=["POST"]),
            Route("/v1/modules/{uid}", delete_v1_module, methods=["DELETE"]),
            Route(f"{ACTIONS}/{{uid}}", get_action, methods=["GET"]),
            *common,
        ]
    artifacts = ARTIFACTS
    return [
        Route(artifacts, list_artifacts, methods=["GET"]),
        Route(artifacts, upload_artifact, methods=["POST"]),
        Route(artifacts + "/{module_name}/{version}", delete_artifact, methods=["DELETE"]),
        Route(MODULES, create_module, methods=["POST"]),
        Route("/v1/users/role", user_role, methods=["GET"]),
        Route("/v1/users/permissions/{role}", role_permissions, methods=["GET"]),
        Route(f"{MODULES}/{{uid}}", delete_module, methods=["DELETE"]),
        Route(LEGACY_MODULES, upload_removed, methods=["POST"]),
        *common,
    ]


def _handlers() -> dict[type[Exception], ExceptionHandler]:
    return {
        ApiError: _api_error,
        HTTPException: _http_error,
        ClientDisconnect: _client_gone,
        OSError: _system_error,
        sqlite3.OperationalError: _system_error,
        Exception: _internal_error,
    }


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client left mid-body (or was answered 408 by modpack.rest.guard): nobody reads this."""
    return Response(status_code=400)


# The handlers are coroutines: Starlette runs a plain function handler on its thread pool, a
# thread hop per error answer that made a flood of 401/429 answers saturate the event loop (issue 12).
async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="modpack"'
    shared, _ = _context(request)
    return JSONResponse(exc.body(legacy=shared.legacy), status_code=exc.status, headers=headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError("method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        shared, _ = _context(request)
        return JSONResponse(error.body(legacy=shared.legacy), status_code=405, headers=exc.headers)
    return await _api_error(request, ApiError("not_found", f"no endpoint {request.url.path}"))


async def _system_error(request: Request, exc: Exception) -> Response:
    """A full disk is the node's state, not a fault: 507 insufficient_resources (Redis Enterprise's
    error code for a lack of resources, requests/bdbs; 507 Insufficient Storage, RFC 4918) naming
    the node, no traceback; any other error of the system is an internal one, logged with its
    traceback as Starlette logs those."""
    if store.disk_full(exc):
        _, node = _context(request)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)  # no server paths
        return await _api_error(
            request,
            ApiError("insufficient_resources", f"node {node.uid} has no space left on its disk ({why})"),
        )
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return await _internal_error(request, exc)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return await _api_error(request, ApiError("internal_error", f"internal error: {type(exc).__name__}"))


def _context(request: Request) -> tuple[Shared, Node]:
    return request.app.state.shared, request.app.state.node


# --- access -----------------------------------------------------------------------------------


async def authorize_async(request: Request, permission: str, *, uploads: bool = False) -> auth.User:
    """The user behind the request's Basic credentials, when their role has `permission`.

    Credentials verified before are answered on the loop (one HMAC); only new ones go to the
    guard's bounded scrypt pool, after the client's failure budget (429 when spent or when too
    many checks wait). For the two upload calls (`uploads`), the 8.2 switch is checked before the
    role: while it is off they answer 403 modules_upload_disabled "regardless of user role"
    (release notes 8.2.0).
    """
    shared, _ = _context(request)
    attempt = shared.users.attempt(*_basic_credentials(request.headers.get("authorization")))
    user = shared.users.remembered(attempt)
    if user is None:
        user = await _check_password(shared, request.client.host if request.client else "", attempt)
    if uploads:
        require_uploads_allowed(shared)
    if not auth.allowed(user.role, permission):
        raise ApiError("forbidden", f"role {user.role!r} does not have the {permission} permission")
    return user


async def _check_password(shared: Shared, client: str, attempt: auth.Attempt) -> auth.User:
    try:
        user = await shared.guard.authenticate(shared.users, client, attempt)
    except auth.Refused as refused:
        raise ApiError(
            "too_many_requests", refused.description, headers={"Retry-After": str(refused.seconds)}
        ) from None
    if user is None:
        raise ApiError("unauthorized", "missing or wrong credentials (HTTP Basic authentication)")
    return user


def _basic_credentials(header: str | None) -> tuple[str, str]:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise ApiError("unauthorized", "this API needs HTTP Basic authentication")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(
            "unauthorized", "the Basic credentials are not valid base64 of user:password"
        ) from None
    name, colon, password = decoded.partition(":")
    if not colon:
        raise ApiError("unauthorized", "the Basic credentials are not user:password")
    return name, password


def require_uploads_allowed(shared: Shared) -> None:
    if not shared.uploads_allowed:
        raise ApiError(
            "modules_upload_disabled",
            'custom module uploads are disabled: PUT /v1/cluster {"allow_modules_upload": true} enables them',
        )


# --- configuration store endpoints ------------------------------------------------------------


# Fields every module object of a real cluster's listing carries (captured GET /v1/modules;
# objects/module documents each), as it shows them for an object made without them. What else a
# real cluster lists of a user-defined module object (its commands, architecture and
# operating_systems, which objects/module does not document) no capture shows: serve lists what
# was stored, and publish judges only what a listing holds (publish.identity.KEPT_FIELDS).
LISTED_DEFAULTS: dict[str, JSON] = {
    "bigstore_version_2_support": False,
    "config_command": "",
    "crdb": {},
    "dependencies": {},
}


def listed(module: Module) -> Module:
    """A stored module object as GET /v1/modules answers it."""
    return {**LISTED_DEFAULTS, **module}


async def list_modules(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_MODULES)
    shared, _ = _context(request)
    # Every store call runs off the node's loop: it takes the store's lock, which a worker thread
    # may hold while it writes a module object of megabytes and SQLite syncs it to disk.
    modules = await anyio.to_thread.run_sync(shared.store.modules)
    return JSONResponse([listed(m) for m in modules])


async def get_module(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_MODULES)
    shared, _ = _context(request)
    uid = request.path_params["uid"]
    module = await anyio.to_thread.run_sync(shared.store.module, uid)
    if module is None:
        raise ApiError("module_not_found", f"Module does not exist: no module object has uid {uid!r}")
    return JSONResponse(listed(module))


async def create_module(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES, uploads=True)
    shared, _ = _context(request)
    document = await _json_body(request, "invalid_module_object")
    # Off the loop: a module object of a few MB takes seconds to validate, and the loop serves
    # every other request of this node meanwhile (issue 12).
    await anyio.to_thread.run_sync(_check_module_object, document)
    if not isinstance(document, dict):  # _check_module_object refused it; this tells the type checker
        raise ApiError("invalid_module_object", "invalid module object: not a JSON object")
    try:
        # Off the loop too: encoding a module object of a few MB and SQLite's fsync take a while.
        created = await anyio.to_thread.run_sync(shared.store.create_module, document)
    except store.DamagedModuleError as exc:
        raise ApiError("module_exists", exc.describe()) from None
    except store.ModuleExistsError as exc:
        old = exc.existing
        raise ApiError(
            "module_exists",
            f"module {old['module_name']} version {old['version']} already exists (uid {old['uid']})",
        ) from None
    return JSONResponse(listed(created))  # "Returns a module object": as GET /v1/modules lists it


def _check_module_object(document: JSON) -> None:
    """ApiError (invalid_module_object) unless `document` is a valid module object."""
    from modpack.validate import validate_module_object

    try:
        findings = validate_module_object(document)
    except (ValueError, RecursionError, OverflowError) as exc:
        # A number or version past what Python converts (a 5000-digit semantic_version): the
        # object is refused like any invalid one, never a 500 the client would retry.
        raise ApiError("invalid_module_object", f"invalid module object: {store.reason(exc)}") from None
    errors = [f for f in findings if f.severity >= Severity.ERROR]
    if errors:
        raise ApiError("invalid_module_object", "invalid module object: " + upload.describe(errors))
    if not isinstance(document, dict):  # the checks above report it; this tells the type checker
        raise ApiError("invalid_module_object", "invalid module object: not a JSON object")
    try:
        store.module_name(document["module_name"])
        store.version(document["version"])
    except store.UnsafeNameError as exc:
        raise ApiError("invalid_module_object", f"invalid module object: {exc}") from None


async def delete_module(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES)
    shared, _ = _context(request)
    uid = request.path_params["uid"]
    await anyio.to_thread.run_sync(_refuse_bundled, shared, uid)
    if not await anyio.to_thread.run_sync(shared.store.delete_module, uid):
        raise ApiError("module_not_found", f"no module object has uid {uid!r}")
    return Response(status_code=200)


def _refuse_bundled(shared: Shared, uid: str) -> None:
    """A module Redis Enterprise ships is no custom module: the delete endpoints (8.x "Delete
    custom module", user-defined.md) find none of that uid. Deleted, it was gone for good: a
    restart seeds a new data folder only."""
    document = shared.store.module(uid)
    if document is not None and document.get("is_bundled") is True:
        raise ApiError(
            "module_not_found",
            f"module object {uid} ({document.get('module_name')} {document.get('version')}) is bundled"
            " with Redis Enterprise, not a custom module: it cannot be deleted",
        )


async def _json_body(request: Request, error_code: str) -> JSON:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError("invalid_content_type", "send the body as Content-Type: application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise ApiError(error_code, f"the body is larger than {MAX_JSON_BODY} bytes")
    return await anyio.to_thread.run_sync(parse_json, bytes(body), error_code)


def parse_json(body: bytes, error_code: str) -> JSON:
    """A request body as JSON that can be served back: strict UTF-8 (RFC 8259 §8.1), no NaN or
    Infinity (not JSON, RFC 8259 §6), no lone surrogate (`\\ud800` parses but cannot be encoded
    as UTF-8), no integer past Python's 4300-digit limit. What is stored must be servable: a
    stored NaN made every GET /v1/modules answer 500 (issue 12). The rules are the store's own
    (`store.loads`, `store.dumps`), so what is accepted here is what the store writes and serves."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(error_code, f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        document = store.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ApiError(error_code, f"the body is not valid JSON: {store.reason(exc)}") from None
    try:
        store.dumps(document)
    except (ValueError, RecursionError) as exc:
        raise ApiError(error_code, f"the body cannot be stored: {store.reason(exc)}") from None
    return document


# --- cluster and nodes ------------------------------------------------------------------------


async def list_nodes(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_ALL_NODES_INFO)
    shared, _ = _context(request)
    reached = request.scope.get("server")  # (host, port) of the socket the request came in on
    address = str(reached[0]) if isinstance(reached, tuple | list) and reached else None
    return JSONResponse([node.as_json(address) for node in shared.nodes])


def _cluster(shared: Shared) -> dict[str, JSON]:
    """The cluster object: only fields objects/cluster documents (a real one has no node count;
    GET /v1/nodes lists the nodes)."""
    cluster: dict[str, JSON] = {"name": CLUSTER_NAME}
    if shared.has_switch:  # the field came with 8.2 (objects/cluster: allow_modules_upload)
        cluster[ALLOW_UPLOAD] = shared.uploads_allowed
    return cluster


async def get_cluster(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_INFO)
    shared, _ = _context(request)
    return JSONResponse(_cluster(shared))


async def user_role(request: Request) -> Response:
    """The authenticating user's role (RS 8.x openapi.json: GET /v1/users/role, {"role": ...})."""
    user = await authorize_async(request, auth.VIEW_ROLE_INFO)
    return JSONResponse({"role": user.role})


async def role_permissions(request: Request) -> Response:
    """A role's API permissions (RS 8.x openapi.json: GET /v1/users/permissions/{role}): those
    this server enforces, so a client can tell before it calls whether its role may."""
    await authorize_async(request, auth.VIEW_ROLE_INFO)
    role = request.path_params["role"]
    if role not in auth.ROLES:
        raise ApiError("not_found", f"no role {role!r}")
    return JSONResponse({role: {"api_permissions": auth.permissions_of(role), "ui_permissions": []}})


async def update_cluster(request: Request) -> Response:
    await authorize_async(request, auth.UPDATE_CLUSTER)
    shared, _ = _context(request)
    document = await _json_body(request, "invalid_cluster_update")
    if not shared.has_switch:
        raise ApiError(
            "invalid_cluster_update",
            f"Redis Enterprise {shared.software_version} has no {ALLOW_UPLOAD} (it came with 8.2)",
        )
    if not isinstance(document, dict) or set(document) - {ALLOW_UPLOAD}:
        raise ApiError(
            "invalid_cluster_update", f"this cluster accepts only {{{ALLOW_UPLOAD!r}: true|false}}"
        )
    value = document.get(ALLOW_UPLOAD, shared.uploads_allowed)
    if not isinstance(value, bool):
        raise ApiError("invalid_cluster_update", f"{ALLOW_UPLOAD} must be true or false")
    # "If called with the dry_run URL query string, the function will validate the cluster
    # object, but will not apply the requested changes"
    # (https://redis.io/docs/latest/operate/rs/references/rest-api/requests/cluster/). What a dry
    # run answers is not documented: here the cluster object as it stays.
    if "dry_run" not in request.query_params:
        await anyio.to_thread.run_sync(shared.set_uploads_allowed, value)
    return JSONResponse(_cluster(shared))


async def openapi(request: Request) -> Response:
    from modpack.rest.openapi import description

    shared, _ = _context(request)
    return JSONResponse(description(f"{request.url.scheme}://{request.url.netloc}", legacy=shared.legacy))


async def upload_removed(request: Request) -> Response:
    """POST /v2/modules from RS 8.0 on: 405, as a real 8.x cluster answers it (redis-enterprise.md
    §5.3: "On RS 8.x, the redis-enterprise-rs client gets 405 from POST /v2/modules", [RERS-MOD],
    whose src/modules.rs reads a 404 as "try POST /v1/modules" and a 405 as "Module upload via
    REST API is not supported in this Redis Enterprise version"); the 8.x docs no longer list it
    (§0). Answered before any authentication, as every 405 here; the empty Allow says that no
    method is (RFC 9110 §10.2.1)."""
    shared, _ = _context(request)
    raise ApiError(
        "method_not_allowed",
        f"POST {LEGACY_MODULES} is not allowed on Redis Enterprise {shared.software_version} (it went"
        f" with 8.0): POST {MODULES} creates the module object, POST {ARTIFACTS} on each node uploads"
        " the bundle",
        headers={"Allow": ""},
    )


# --- artifacts (local to the node) ------------------------------------------------------------


async def list_artifacts(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_MODULES)
    _, node = _context(request)
    found = await anyio.to_thread.run_sync(node.artifacts.artifacts)
    return JSONResponse([a.as_json() for a in found])


async def delete_artifact(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES)
    _, node = _context(request)
    name, number = _artifact_key(request.path_params["module_name"], request.path_params["version"])
    async with node.locks[(name, number)]:
        removed = await anyio.to_thread.run_sync(node.artifacts.remove, name, number)
    if not removed:
        raise ApiError("artifact_not_found", f"this node has no artifact {name} version {number}")
    return Response(status_code=200)


def _artifact_key(name: str, number: str) -> tuple[str, int]:
    try:
        return store.module_name(name), store.version(number)
    except store.UnsafeNameError as exc:
        raise ApiError("invalid_request", str(exc)) from None


async def upload_artifact(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES, uploads=True)
    shared, node = _context(request)
    boundary = upload.boundary_of(request.headers.get("content-type"))
    upload.check_declared_length(request.headers.get("content-length"), shared.max_upload)
    received = upload.Upload(node.artifacts, boundary, shared.max_upload)
    try:
        path = await _receive(request, received)
        accepted = await _while_syncing(received, _accept(shared, node, path))
        async with node.locks[(accepted.name, accepted.number)]:
            await anyio.to_thread.run_sync(node.artifacts.place, path, accepted.module)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody reads it: the client is gone
    finally:
        received.discard()
    return Response(status_code=200)


async def _while_syncing(received: upload.Upload, judging: Awaitable[Validated]) -> Validated:
    """`judging`'s result once the received file is also synced to disk: the fsync (disk-bound:
    0.29 s for 200 MB alone on the bench machine, about 0.9 s for three at once) runs beside the
    validation (CPU-bound: 0.21 s for the bench's 200 MB bundle), where it ran before it. The
    sync is awaited whatever the verdict (not once the request is cancelled), so the file is not
    discarded under it."""
    syncing = asyncio.ensure_future(anyio.to_thread.run_sync(received.sync))
    try:
        verdict = await judging
    except asyncio.CancelledError:
        # The node is stopping (uvicorn cancels what runs past its graceful shutdown) and its loop
        # stops next: awaiting the sync there left the received file behind. The caller discards
        # it now; a sync holding it open is unharmed, and what the sync ends with is dropped.
        syncing.add_done_callback(_outcome_dropped)
        raise
    except BaseException:
        await asyncio.gather(syncing, return_exceptions=True)
        raise
    await syncing
    return verdict


def _outcome_dropped(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a sync of a file discarded under it is no error to log


async def _receive(request: Request, received: upload.Upload) -> Path:
    async for chunk in request.stream():
        received.feed(chunk)
    return await anyio.to_thread.run_sync(received.finish)


class Validated(NamedTuple):
    """An uploaded bundle's module.json, with its name and version checked safe (`store.module_name`,
    `store.version`) and written back into it as a string and an integer."""

    module: Module
    name: str
    number: int


async def _validated(shared: Shared, path: Path) -> Validated:
    """The upload's module.json, with a safe name and version, when the bundle is valid."""
    loop = asyncio.get_running_loop()
    verdict = await loop.run_in_executor(shared.validator, _validate, path)
    module = versions.integral_version(upload.judge(verdict.module, verdict.findings))  # RAMP's 10203.0
    try:
        name, number = store.module_name(module.get("module_name")), store.version(module.get("version"))
    except store.UnsafeNameError as exc:
        raise ApiError("invalid_module_metadata", str(exc)) from None
    return Validated({**module, "module_name": name, "version": number}, name, number)


def _validate(path: Path) -> BundleVerdict:
    from modpack.validate import validate_bundle

    try:
        return validate_bundle(path)
    finally:
        # pyelftools' ELFFile sits in reference cycles, and with it the parts of the binary the
        # validator kept (megabytes): free them now rather than at some later full collection.
        gc.collect()


async def _accept(shared: Shared, node: Node, path: Path) -> Validated:
    """The upload's module.json when the bundle is valid, matches a module object and this node."""
    validated = await _validated(shared, path)
    name, number = validated.name, validated.number
    try:
        stored = await anyio.to_thread.run_sync(shared.store.find, name, number)
    except store.DamagedModuleError as exc:
        raise ApiError("no_module_object", exc.describe()) from None
    if stored is None:
        raise ApiError(
            "no_module_object",
            f"no module object {name} version {number} in the cluster: POST /v2/modules/user-defined first",
        )
    upload.check_platform(validated.module, node.os, node.architecture)
    return validated


# --- RS 7.x: POST /v2/modules, DELETE /v2/modules/<uid>, GET /v1/actions/<uid> ----------------


async def upload_legacy_module(request: Request) -> Response:
    """Take a zip for the whole cluster; answer the module object and an action copying it to nodes."""
    await authorize_async(request, auth.UPDATE_CLUSTER)
    shared, _ = _context(request)
    received = _legacy_upload(request)
    try:
        path = await _receive(request, received)
        validated, targets, stored = await _legacy_module(shared, path)
        try:
            action = _new_action(shared, "module_upload")
            kept = path.with_name(path.name + ".kept")
            path.replace(kept)  # the action copies it to the nodes after this answer
        except BaseException:
            await anyio.to_thread.run_sync(_install_ended, shared, validated)
            raise
    except ClientDisconnect:
        return Response(status_code=400)
    finally:
        received.discard()
    copying = _installing(shared, validated, _copy_to_nodes(action, kept, validated.module, targets))
    _start(shared, _as_action(shared, action, copying))
    # "a module object with an additional action_uid field", as GET /v1/modules lists it (the
    # 7.22 page's example answer carries dependencies and config_command)
    return JSONResponse({**listed(stored), "action_uid": action["action_uid"]})


async def upload_v1_module(request: Request) -> Response:
    """POST /v1/modules, RS 7.x's deprecated upload (7.22 modules page, "Upload module v1"): the
    upload of POST /v2/modules without an action. The page says "Returns a status code", so a
    200 has no body here, and only 400 for its refusals, one of them its own:
    dependencies_not_supported, "This endpoint does not support dependencies, see v2". It leaves
    open when the nodes get the module: here before the answer (the v2 page alone says
    "Asynchronously"), and a node that cannot take it is this call's error (500 internal_error,
    507 insufficient_resources), the module object kept as a failed v2 action keeps it."""
    await authorize_async(request, auth.UPDATE_CLUSTER)
    shared, _ = _context(request)
    received = _legacy_upload(request)
    try:
        path = await _receive(request, received)
        validated, targets, _ = await _legacy_module(shared, path, v1=True)
        await _installing(shared, validated, _install_all(path, validated.module, targets))
    except _InstallFailed as failure:
        raise ApiError(failure.error_code, str(failure)) from None
    except ClientDisconnect:
        return Response(status_code=400)
    finally:
        received.discard()
    return Response(status_code=200)


async def _install_all(path: Path, module: Module, targets: list[Node]) -> None:
    for node in targets:
        await anyio.to_thread.run_sync(_install, path, module, node)


def _legacy_upload(request: Request) -> upload.Upload:
    """The upload a 7.x POST receives, refused (400 no_module, 413) before a byte is read when
    its headers already say so."""
    shared, node = _context(request)
    boundary = upload.boundary_of(request.headers.get("content-type"))
    upload.check_declared_length(request.headers.get("content-length"), shared.max_upload)
    return upload.Upload(node.artifacts, boundary, shared.max_upload)


async def _legacy_module(
    shared: Shared, path: Path, *, v1: bool = False
) -> tuple[Validated, list[Node], Module]:
    """A received 7.x upload judged: the bundle, the nodes it goes to and its stored module object."""
    validated = await _legacy_validated(shared, path)
    if v1:
        _refuse_dependencies(validated.module, "POST /v1/modules", "POST /v2/modules uploads it", 400)
    targets = _legacy_targets(shared, validated.module)
    # Off the loop: it encodes and stores the module object, under a thread lock.
    stored = await anyio.to_thread.run_sync(_merge_legacy_module, shared, validated, targets)
    return validated, targets, stored


def _refuse_dependencies(module: Module, call: str, instead: str, status: int) -> None:
    """dependencies_not_supported for a module with dependencies: 7.x's v1 calls take none (7.22
    modules page: "This endpoint does not support dependencies, see v2")."""
    names = sorted(_dependencies(module))
    if names:
        raise ApiError(
            "dependencies_not_supported",
            f"{call} does not support dependencies, see v2: {module.get('module_name')}"
            f" {module.get('version')} has {', '.join(names)}; {instead}",
            status=status,
        )


def _dependencies(module: Module) -> set[str]:
    """The names of a module's dependencies: a bundle's own, or those of any platform its
    module object holds."""
    found = module.get("dependencies")
    names = set(found) if isinstance(found, dict) else set()
    platforms_field = module.get("platforms")
    for entry in platforms_field.values() if isinstance(platforms_field, dict) else ():
        more = entry.get("dependencies") if isinstance(entry, dict) else None
        names |= set(more) if isinstance(more, dict) else set()
    return names


async def _legacy_validated(shared: Shared, path: Path) -> Validated:
    """As `_validated`, with 7.x's error: a bundle that does not validate is `invalid_module`,
    "Module either corrupted or packaged files are wrong", answered 400 (7.22 modules page)."""
    try:
        return await _validated(shared, path)
    except ApiError as exc:
        if exc.error_code != "invalid_module_metadata":
            raise
        raise ApiError("invalid_module", exc.description, status=400) from None


def _legacy_targets(shared: Shared, module: Module) -> list[Node]:
    wanted = module.get("min_redis_pack_version")
    needed = platforms.version_tuple(wanted)
    if needed is not None and needed > (platforms.version_tuple(shared.software_version) or (0, 0, 0)):
        raise ApiError(
            "min_redis_pack_version",
            f"Module isn't supported yet in this Redis pack: it needs {wanted},"
            f" this is {shared.software_version}",
        )
    targets = [n for n in shared.nodes if platforms.misfit(module, n.os, n.architecture) is None]
    if not targets:
        systems = ", ".join(sorted({f"{n.os}/{n.architecture}" for n in shared.nodes}))
        raise ApiError(
            "os_not_supported",
            f"This module is not supported for this operating system: it is built for"
            f" {platforms.platform_label(module)}, the nodes run {systems}",
            status=400,
        )
    return targets


def _merge_legacy_module(shared: Shared, validated: Validated, targets: list[Node]) -> Module:
    """Create the module object, or add this build's platforms to the same module's object."""
    module = validated.module
    entry: JSON = {"dependencies": module.get("dependencies") or {}, "sha256": module.get("sha256", "")}
    added: dict[str, JSON] = {f"{n.os}/{n.architecture}": entry for n in targets}
    with shared.legacy_lock:
        try:
            existing = shared.store.find(validated.name, validated.number)
        except store.DamagedModuleError as exc:
            raise ApiError("module_exists", exc.describe(legacy=True), status=400) from None
        if (validated.name, validated.number) in shared.deleting:
            raise ApiError(
                "module_exists",
                f"Module {validated.name} {validated.number} is being deleted: upload it again once"
                " its delete action has ended",
                status=400,
            )
        if existing is None:
            created = shared.store.create_module({**module, "platforms": added})
            _count_install(shared, validated, +1)
            return created
        platforms_field = existing.get("platforms")
        have = platforms_field if isinstance(platforms_field, dict) else {}
        if set(added) & set(have):
            raise ApiError(
                "module_exists",
                f"Module already in system: {validated.name} {validated.number} for"
                f" {', '.join(sorted(set(added) & set(have)))} (uid {existing['uid']})",
                status=400,
            )
        updated: Module = {**existing, "platforms": {**have, **added}}
        shared.store.update_module(updated)
        _count_install(shared, validated, +1)
        return updated


def _count_install(shared: Shared, validated: Validated, step: int) -> None:
    """One more (or one fewer) upload of this module version copying to the nodes; under legacy_lock."""
    key = (validated.name, validated.number)
    count = shared.installing.get(key, 0) + step
    if count > 0:
        shared.installing[key] = count
    else:
        shared.installing.pop(key, None)


def _install_ended(shared: Shared, validated: Validated) -> None:
    with shared.legacy_lock:
        _count_install(shared, validated, -1)


async def _installing(shared: Shared, validated: Validated, work: Coroutine[object, None, None]) -> None:
    """`work`, the copying of an upload to the nodes, counted as in flight until it ends."""
    try:
        await work
    finally:
        await anyio.to_thread.run_sync(_install_ended, shared, validated)


async def _as_action(shared: Shared, action: Action, work: Coroutine[object, None, None]) -> None:
    """Run an action's work: it ends completed, or failed with `error_code` and `error_message`
    as the action object documents
    (https://redis.io/docs/latest/operate/rs/7.22/references/rest-api/objects/action/), whatever
    the work raises: an unforeseen error once left the action `running` for ever."""
    action["status"] = "running"
    try:
        await work
    except _InstallFailed as failure:
        action["error_code"], action["error_message"] = failure.error_code, str(failure)
        action["status"] = "failed"
    except Exception as exc:  # anything unforeseen: the action still ends, and the log says why
        log.exception("action %s (%s) failed", action["action_uid"], action["name"])
        action["error_code"] = "internal_error"
        action["error_message"] = (
            f"{action['name']} failed on an internal error ({type(exc).__name__}: {store.reason(exc)});"
            " the server's log has the details"
        )
        action["status"] = "failed"
    else:
        action["status"], action["progress"] = "completed", 100.0
    _ended(shared, action)


def _ended(shared: Shared, action: Action) -> None:
    """Remember that `action` ended; forget the oldest ended ones past MAX_ENDED_ACTIONS."""
    with shared.actions_lock:
        shared.ended.append(action["action_uid"])
        while len(shared.ended) > MAX_ENDED_ACTIONS:
            shared.actions.pop(shared.ended.popleft(), None)


async def _copy_to_nodes(action: Action, path: Path, module: Module, targets: list[Node]) -> None:
    """Install the bundle on each target node in turn; _InstallFailed at the first node that
    cannot take it. The nodes done before keep their copy, and the module object stays, until
    DELETE /v2/modules/<uid>."""
    try:
        for done, node in enumerate(targets):
            await anyio.to_thread.run_sync(_install, path, module, node)
            action["progress"] = round(100 * (done + 1) / len(targets), 1)
    finally:
        path.unlink(missing_ok=True)


class _InstallFailed(Exception):
    """A node could not take the bundle, or remove it: the action's error_code and error_message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def _install(path: Path, module: Module, node: Node) -> None:
    """Copy the bundle into one node's artifacts; _InstallFailed when the node cannot take it."""
    label = f"{module['module_name']} {module['version']}"
    if not node.running:
        raise _InstallFailed(
            "internal_error", f"node {node.uid} is down: {label} could not be installed on it"
        )
    copy: Path | None = None
    try:
        fd, copy = node.artifacts.new_upload()
        with os.fdopen(fd, "wb") as out, path.open("rb") as source:
            shutil.copyfileobj(source, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())  # as an 8.x upload is synced before it is placed
        node.artifacts.place(copy, module)  # which removes its stage folder when it fails
        copy = None  # placed: renamed into the artifact folder
    except OSError as exc:
        # ENOSPC is the action object's insufficient_resources; anything else has no closer code.
        code = "insufficient_resources" if store.disk_full(exc) else "internal_error"
        raise _InstallFailed(code, f"installing {label} on node {node.uid} failed: {exc}") from None
    finally:
        if copy is not None:  # any error, not only an OSError, leaves no copy behind
            copy.unlink(missing_ok=True)


async def _to_delete(
    request: Request, find: Callable[[Shared, str], tuple[str, int] | None]
) -> tuple[Shared, str, tuple[str, int]]:
    """A 7.x delete's uid and module name and version, as `find` reads them (404 when there is
    no such module object). The object stays until the module is off every node (`_delete_everywhere`)."""
    await authorize_async(request, auth.UPDATE_CLUSTER)
    shared, _ = _context(request)
    uid = request.path_params["uid"]
    await anyio.to_thread.run_sync(_refuse_bundled, shared, uid)
    key = await anyio.to_thread.run_sync(find, shared, uid)
    if key is None:
        raise ApiError("module_not_found", f"Attempting to delete a nonexistent module: {uid!r}")
    return shared, uid, key


async def delete_legacy_module(request: Request) -> Response:
    shared, uid, key = await _to_delete(request, _module_key)
    action = _new_action(shared, "module_delete")
    _start(shared, _as_action(shared, action, _delete_everywhere(shared, uid, key, action)))
    return JSONResponse({"action_uid": action["action_uid"]})


async def delete_v1_module(request: Request) -> Response:
    """DELETE /v1/modules/<uid>, RS 7.x's deprecated delete (7.22 modules page, "Delete module
    v1"): "Returns a status code", 200 once the module object and every node's copy are gone,
    404 for a nonexistent module, 406 dependencies_not_supported for a module with dependencies,
    which DELETE /v2/modules/<uid> deletes. A node that cannot remove its copy is this call's
    error (500 internal_error), the module object kept as a failed v2 action keeps it."""
    shared, uid, key = await _to_delete(request, _module_key_without_dependencies)
    try:
        await _delete_everywhere(shared, uid, key)
    except _InstallFailed as failure:
        raise ApiError(failure.error_code, str(failure)) from None
    return Response(status_code=200)


def _module_key_without_dependencies(shared: Shared, uid: str) -> tuple[str, int] | None:
    document = shared.store.module(uid)  # None for a damaged row, which has none to tell
    if document is not None:
        _refuse_dependencies(
            document, f"DELETE /v1/modules/{uid}", f"DELETE /v2/modules/{uid} deletes it", 406
        )
    return _module_key(shared, uid)


def _module_key(shared: Shared, uid: str) -> tuple[str, int] | None:
    """The name and version of module object `uid`; a damaged row's too: its uid is the only way
    to remove it."""
    return shared.store.module_key(uid)


async def _delete_everywhere(
    shared: Shared, uid: str, key: tuple[str, int], action: Action | None = None
) -> None:
    """Remove the module from every node, then its module object; _InstallFailed naming each node
    that could not remove its copy, and the object then stays, listed, so that a DELETE again
    finishes the job. The 7.22 modules page answers DELETE /v2/modules/<uid> with "an action_uid
    that allows you to track the progress of module deletion" (200: "Success, scheduled module
    deletion"): the deletion is the action's, and one that failed has not deleted the module.
    The object was taken out of the store before the action ran: a failed one left nodes holding
    files that no module object, and so no later DELETE, could reach."""
    name, number = store.module_name(key[0]), store.version(key[1])
    # off the loop: an upload's worker holds legacy_lock across its store writes
    if not await anyio.to_thread.run_sync(_begin_delete, shared, uid, name, number):
        return  # another delete of it, which this one waited for, removed it
    try:
        await _remove_everywhere(shared, uid, name, number, action)
    finally:
        await anyio.to_thread.run_sync(_end_delete, shared, name, number)


def _begin_delete(shared: Shared, uid: str, name: str, number: int) -> bool:
    """Mark the module version as being deleted: True, or False when another delete of it was
    running, this one waited for it, and the module object is gone (the module is deleted, as
    asked). _InstallFailed when an upload of it is still copying to the nodes."""
    while True:  # until no other delete of it runs (checked and marked under one hold of the lock)
        with shared.legacy_lock:
            if (name, number) not in shared.deleting:
                return _mark_deleting(shared, uid, name, number)
        time.sleep(0.05)


def _mark_deleting(shared: Shared, uid: str, name: str, number: int) -> bool:
    """_begin_delete's decision, under legacy_lock."""
    if shared.store.module(uid) is None and shared.store.module_key(uid) is None:
        return False
    if shared.installing.get((name, number)):
        raise _InstallFailed(
            "internal_error",
            f"{name} {number} is being copied to the nodes by an upload: delete it again once that"
            " upload's action has ended",
        )
    shared.deleting.add((name, number))
    return True


def _end_delete(shared: Shared, name: str, number: int) -> None:
    with shared.legacy_lock:
        shared.deleting.discard((name, number))


async def _remove_everywhere(shared: Shared, uid: str, name: str, number: int, action: Action | None) -> None:
    def remove() -> list[str]:
        failed = []
        for done, node in enumerate(shared.nodes):
            if not node.running:
                # a node that is down removes nothing, as it installs nothing (`_install`): the
                # action fails and the object stays, and a delete once it is back finishes the job
                if node.artifacts.exists(name, number):
                    failed.append(f"node {node.uid} (it is down)")
            else:
                try:
                    node.artifacts.remove(name, number)
                except OSError as exc:
                    failed.append(f"node {node.uid} ({exc.strerror or exc})")
            if action is not None:
                action["progress"] = round(100 * (done + 1) / len(shared.nodes), 1)
        return failed

    failed = await anyio.to_thread.run_sync(remove)
    if failed:
        raise _InstallFailed(
            "internal_error",
            f"removing {name} {number} failed on {', '.join(failed)}: the module object {uid} stays until"
            " a delete removes it from every node",
        )
    await anyio.to_thread.run_sync(shared.store.take_module, uid)


def _new_action(shared: Shared, name: str) -> Action:
    """An action object: action_uid, name, progress (a float since 7.4.2), status; its lifecycle
    queued -> running -> completed | failed (objects/action, URL in `_as_action`)."""
    action: Action = {
        "action_uid": str(uuid.uuid4()),
        "name": name,
        "progress": 0.0,
        "status": "queued",
    }
    with shared.actions_lock:
        shared.actions[action["action_uid"]] = action
    return action


def _start(shared: Shared, work: Coroutine[object, None, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    shared.background.add(task)
    task.add_done_callback(shared.background.discard)


async def get_action(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_STATUS_OF_CLUSTER_ACTION)
    shared, _ = _context(request)
    with shared.actions_lock:
        action = shared.actions.get(request.path_params["uid"])
    if action is None:
        raise ApiError("action_not_found", "Action does not exist")
    return JSONResponse(dict(action))
