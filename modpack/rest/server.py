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

Every error is `{"error_code", "description"}` (modpack.rest.problems).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import gc
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modpack.findings import Severity
from modpack.rest import auth, store, upload
from modpack.rest.paths import ARTIFACTS, MODULES
from modpack.rest.problems import ApiError

MAX_JSON_BODY = 4 * 1024 * 1024
ALLOW_UPLOAD = "allow_modules_upload"
CLUSTER_NAME = "modpack-local"
SOFTWARE_VERSION = "8.2.0-0"  # the API generation served: user-defined modules plus the 8.2 switch


@dataclass
class Node:
    """One node: where it listens, what it runs, where its artifacts are."""

    uid: int
    host: str
    port: int
    os: str
    architecture: str
    artifacts: store.NodeArtifacts

    def as_json(self) -> dict[str, Any]:
        name, family, semantic = os_fields(self.os)
        return {
            "uid": self.uid,
            "addr": self.host,
            "port": self.port,
            "external_addr": [],
            "status": "active",
            "accept_servers": True,
            "architecture": self.architecture,
            "os_name": name,
            "os_family": family,
            "os_semantic_version": semantic,
            "os_version": f"{name} {semantic}",
            "software_version": SOFTWARE_VERSION,
            "shard_count": 0,
            "shard_list": [],
        }


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
    locks: defaultdict[tuple[int, str, int], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    # Bundles are validated on two long-lived threads: a validation holds megabytes
    # (bundle.stream_binary) and is CPU-bound (hashing), so more at once would only cost memory,
    # while two let one node's validation overlap another's.
    validator: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(
            2, thread_name_prefix="modpack-validate"
        )
    )

    @property
    def uploads_allowed(self) -> bool:
        return bool(self.store.setting(ALLOW_UPLOAD, True))


def create_app(shared: Shared, node: Node) -> Starlette:
    app = Starlette(routes=_routes(), exception_handlers=_handlers())
    app.state.shared = shared
    app.state.node = node
    return app


def _routes() -> list[Route]:
    artifacts = ARTIFACTS
    return [
        Route(artifacts, list_artifacts, methods=["GET"]),
        Route(artifacts, upload_artifact, methods=["POST"]),
        Route(artifacts + "/{module_name}/{version}", delete_artifact, methods=["DELETE"]),
        Route(MODULES, create_module, methods=["POST"]),
        Route(f"{MODULES}/{{uid}}", delete_module, methods=["DELETE"]),
        Route("/v1/modules", list_modules, methods=["GET"]),
        Route("/v1/modules/{uid}", get_module, methods=["GET"]),
        Route("/v1/nodes", list_nodes, methods=["GET"]),
        Route("/v1/cluster", get_cluster, methods=["GET"]),
        Route("/v1/cluster", update_cluster, methods=["PUT"]),
        Route("/v1/openapi.json", openapi, methods=["GET"]),
    ]


def _handlers() -> dict[Any, Any]:
    return {ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error}


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": 'Basic realm="modpack"'} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError("method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        return JSONResponse(error.body(), status_code=405, headers=exc.headers)
    return _api_error(request, ApiError("not_found", f"no endpoint {request.url.path}"))


def _internal_error(request: Request, exc: Exception) -> Response:
    return _api_error(request, ApiError("internal_error", f"internal error: {type(exc).__name__}"))


def _context(request: Request) -> tuple[Shared, Node]:
    return request.app.state.shared, request.app.state.node


# --- access -----------------------------------------------------------------------------------


def authorize(request: Request, permission: str) -> auth.User:
    """The user behind the request's Basic credentials, when their role has `permission`."""
    shared, _ = _context(request)
    name, password = _basic_credentials(request.headers.get("authorization"))
    user = shared.users.authenticate(name, password)
    if user is None:
        raise ApiError("unauthorized", "missing or wrong credentials (HTTP Basic authentication)")
    if not auth.allowed(user.role, permission):
        raise ApiError("forbidden", f"role {user.role!r} does not have the {permission} permission")
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


async def authorize_async(request: Request, permission: str) -> auth.User:
    """`authorize` off the event loop: checking a password runs scrypt."""
    return await anyio.to_thread.run_sync(authorize, request, permission)


def require_uploads_allowed(shared: Shared) -> None:
    if not shared.uploads_allowed:
        raise ApiError(
            "modules_upload_disabled",
            'custom module uploads are disabled: PUT /v1/cluster {"allow_modules_upload": true} enables them',
        )


# --- configuration store endpoints ------------------------------------------------------------


async def list_modules(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_MODULES)
    shared, _ = _context(request)
    return JSONResponse(shared.store.modules())


async def get_module(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_MODULES)
    shared, _ = _context(request)
    uid = request.path_params["uid"]
    module = shared.store.module(uid)
    if module is None:
        raise ApiError("module_not_found", f"Module does not exist: no module object has uid {uid!r}")
    return JSONResponse(module)


async def create_module(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES)
    shared, _ = _context(request)
    require_uploads_allowed(shared)
    document = await _json_body(request, "invalid_module_object")
    _check_module_object(document)
    try:
        created = shared.store.create_module(document)
    except store.ModuleExistsError as exc:
        old = exc.existing
        raise ApiError(
            "module_exists",
            f"module {old['module_name']} version {old['version']} already exists (uid {old['uid']})",
        ) from None
    return JSONResponse(created)


def _check_module_object(document: Any) -> None:
    from modpack.validate import validate_module_object

    findings = validate_module_object(document)
    errors = [f for f in findings if f.severity >= Severity.ERROR]
    if errors:
        raise ApiError("invalid_module_object", "invalid module object: " + upload.describe(errors))
    try:
        store.module_name(document["module_name"])
        store.version(document["version"])
    except store.UnsafeNameError as exc:
        raise ApiError("invalid_module_object", f"invalid module object: {exc}") from None


async def delete_module(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES)
    shared, _ = _context(request)
    uid = request.path_params["uid"]
    if not shared.store.delete_module(uid):
        raise ApiError("module_not_found", f"no module object has uid {uid!r}")
    return Response(status_code=200)


async def _json_body(request: Request, error_code: str) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError("invalid_content_type", "send the body as Content-Type: application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise ApiError(error_code, f"the body is larger than {MAX_JSON_BODY} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(error_code, f"the body is not valid JSON: {exc}") from None


# --- cluster and nodes ------------------------------------------------------------------------


async def list_nodes(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_ALL_NODES_INFO)
    shared, _ = _context(request)
    return JSONResponse([node.as_json() for node in shared.nodes])


def _cluster(shared: Shared) -> dict[str, Any]:
    return {"name": CLUSTER_NAME, ALLOW_UPLOAD: shared.uploads_allowed, "nodes": len(shared.nodes)}


async def get_cluster(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_INFO)
    shared, _ = _context(request)
    return JSONResponse(_cluster(shared))


async def update_cluster(request: Request) -> Response:
    await authorize_async(request, auth.UPDATE_CLUSTER)
    shared, _ = _context(request)
    document = await _json_body(request, "invalid_cluster_update")
    if not isinstance(document, dict) or set(document) - {ALLOW_UPLOAD}:
        raise ApiError(
            "invalid_cluster_update", f"this cluster accepts only {{{ALLOW_UPLOAD!r}: true|false}}"
        )
    value = document.get(ALLOW_UPLOAD, shared.uploads_allowed)
    if not isinstance(value, bool):
        raise ApiError("invalid_cluster_update", f"{ALLOW_UPLOAD} must be true or false")
    shared.store.set_setting(ALLOW_UPLOAD, value)
    return JSONResponse(_cluster(shared))


async def openapi(request: Request) -> Response:
    from modpack.rest.openapi import description

    return JSONResponse(description(f"{request.url.scheme}://{request.url.netloc}"))


# --- artifacts (local to the node) ------------------------------------------------------------


async def list_artifacts(request: Request) -> Response:
    await authorize_async(request, auth.VIEW_CLUSTER_MODULES)
    _, node = _context(request)
    found = await anyio.to_thread.run_sync(node.artifacts.artifacts)
    return JSONResponse([a.as_json() for a in found])


async def delete_artifact(request: Request) -> Response:
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES)
    shared, node = _context(request)
    name, number = _artifact_key(request.path_params["module_name"], request.path_params["version"])
    async with shared.locks[(node.uid, name, number)]:
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
    await authorize_async(request, auth.MANAGE_CLUSTER_MODULES)
    shared, node = _context(request)
    require_uploads_allowed(shared)
    boundary = upload.boundary_of(request.headers.get("content-type"))
    upload.check_declared_length(request.headers.get("content-length"), shared.max_upload)
    received = upload.Upload(node.artifacts, boundary, shared.max_upload)
    try:
        path = await _receive(request, received)
        module = await _accept(shared, node, path)
        async with shared.locks[(node.uid, module["module_name"], module["version"])]:
            await anyio.to_thread.run_sync(node.artifacts.place, path, module)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody reads it: the client is gone
    finally:
        received.discard()
    return Response(status_code=200)


async def _receive(request: Request, received: upload.Upload) -> Path:
    async for chunk in request.stream():
        received.feed(chunk)
    return await anyio.to_thread.run_sync(received.finish)


def _validate(path: Path) -> tuple[dict[str, Any] | None, list[Any]]:
    from modpack.validate import validate_bundle

    try:
        return validate_bundle(path)
    finally:
        # pyelftools' ELFFile sits in reference cycles, and with it the parts of the binary the
        # validator kept (megabytes): free them now rather than at some later full collection.
        gc.collect()


async def _accept(shared: Shared, node: Node, path: Path) -> dict[str, Any]:
    """The upload's module.json when the bundle is valid, matches a module object and this node."""
    loop = asyncio.get_running_loop()
    document, findings = await loop.run_in_executor(shared.validator, _validate, path)
    module = upload.judge(document, findings)
    name, number = module["module_name"], module["version"]
    try:
        name, number = store.module_name(name), store.version(number)
    except store.UnsafeNameError as exc:
        raise ApiError("invalid_module_metadata", str(exc)) from None
    if shared.store.find(name, number) is None:
        raise ApiError(
            "no_module_object",
            f"no module object {name} version {number} in the cluster: POST /v2/modules/user-defined first",
        )
    upload.check_platform(module, node.os, node.architecture)
    return {**module, "module_name": name, "version": number}
