"""The OpenAPI 3.1 description `modpack serve` publishes at GET /v1/openapi.json.

It describes the API of the release the node serves. RS 8.0 and later: paths, permissions and
status codes follow rest-api-user-defined-modules.txt. RS 7.2 to 7.22 (`serve --software-version
7.22`): no user-defined endpoints, but `POST /v2/modules` (multipart, answers the module object
with an `action_uid`), `DELETE /v2/modules/<uid>` (answers an `action_uid`), their deprecated
v1 forms `POST /v1/modules` and `DELETE /v1/modules/<uid>` (answering a status code) and
`GET /v1/actions/<uid>` (re-docs/operate__rs__7.22__references__rest-api__requests__modules___index.md;
the action object: https://redis.io/docs/latest/operate/rs/7.22/references/rest-api/objects/action/).
What the references leave open is stated here as this server's choice (error codes, the size
limit's 413, the `port` of a node, bodies of 200 responses described as "a status code").
"""

from __future__ import annotations

from typing import TypeAlias

from modpack.rest.paths import ACTIONS, ARTIFACTS, LEGACY_MODULES, MODULES
from modpack.rest.problems import ERROR_CODES
from modpack.types import JSON

MEDIA = "application/json"
Fragment: TypeAlias = dict[str, JSON]
"""A piece of the description: an OpenAPI object (operation, schema, response...) as JSON."""


def _ref(name: str) -> Fragment:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> Fragment:
    return {"description": description, "content": {MEDIA: {"schema": _ref("Error")}}}


def _ok(description: str, schema: Fragment | None = None) -> Fragment:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {MEDIA: {"schema": schema}}}


def _codes(*names: str) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _operation(summary: str, permission: str, responses: Fragment, **extra: JSON) -> Fragment:
    answers = {
        "401": _error("Missing or wrong credentials (`unauthorized`)."),
        "403": _error(f"The role lacks `{permission}` (`forbidden`)."),
        **responses,
    }
    return {"summary": summary, "description": f"Permission: `{permission}`.", "responses": answers, **extra}


def _path_param(name: str, schema: Fragment, description: str) -> Fragment:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


UPLOAD_BODY: Fragment = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["module"],
                "properties": {"module": {"type": "string", "format": "binary"}},
            }
        }
    },
}
TOO_LARGE = (
    "Larger than the node's upload limit (`module_too_large`); refused from "
    "Content-Length before the body is read, or as soon as the limit is passed."
)


def _artifact_paths() -> Fragment:
    return {
        ARTIFACTS: {
            "get": _operation(
                "List custom module artifacts on this node",
                "view_cluster_modules",
                {"200": _ok("The artifacts on this node.", {"type": "array", "items": _ref("Artifact")})},
            ),
            "post": _operation(
                "Upload a custom module artifact to this node",
                "manage_cluster_modules",
                {
                    "200": _ok("Artifact uploaded to this node (empty body)."),
                    "400": _error(f"Missing or bad artifact: {_codes('no_module', 'invalid_module')}."),
                    "403": _error(
                        "The role lacks `manage_cluster_modules` (`forbidden`), or uploads are "
                        "disabled (`modules_upload_disabled`)."
                    ),
                    "406": _error(
                        "Bad metadata: "
                        + _codes(
                            "invalid_module_metadata",
                            "no_module_object",
                            "os_not_supported",
                            "module_architecture_not_supported",
                        )
                        + "."
                    ),
                    "413": _error(TOO_LARGE),
                },
                requestBody=UPLOAD_BODY,
            ),
        },
        ARTIFACTS + "/{module_name}/{version}": {
            "delete": _operation(
                "Delete a custom module artifact from this node",
                "manage_cluster_modules",
                {
                    "200": _ok("The artifact is deleted from this node (empty body)."),
                    "404": _error("No such artifact on this node (`artifact_not_found`, or `not_found`)."),
                    "406": _error("Unsafe module name or non-integer version (`invalid_request`)."),
                },
                parameters=[
                    _path_param("module_name", {"type": "string"}, "The module's name."),
                    _path_param("version", {"type": "integer", "minimum": 0}, "The numeric version."),
                ],
            )
        },
    }


def _uid_param() -> Fragment:
    return _path_param("uid", {"type": "string"}, "The module object's uid.")


def _user_paths() -> Fragment:
    """The role endpoints of RS 8.x (its openapi.json), with the permissions this server enforces."""
    role: Fragment = {"type": "object", "properties": {"role": {"type": "string"}}}
    permissions: Fragment = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "api_permissions": {"type": "array", "items": {"type": "string"}},
                "ui_permissions": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
    return {
        "/v1/users/role": {
            "get": _operation(
                "The management role of the authenticating user",
                "view_role_info",
                {"200": _ok("The role.", role)},
            )
        },
        "/v1/users/permissions/{role}": {
            "get": _operation(
                "A role's API permissions: those this server enforces",
                "view_role_info",
                {
                    "200": _ok("The role's permissions.", permissions),
                    "404": _error("No such role (`not_found`)."),
                },
                parameters=[
                    _path_param("role", {"type": "string"}, "A role name (admin, cluster_member, ...).")
                ],
            )
        },
    }


def _module_paths() -> Fragment:
    return {
        MODULES: {
            "post": _operation(
                "Create a custom module object in the configuration store",
                "manage_cluster_modules",
                {
                    "200": _ok("The module object was created.", _ref("Module")),
                    "400": _error("The body is not `application/json` (`invalid_content_type`)."),
                    "403": _error(
                        "The role lacks `manage_cluster_modules` (`forbidden`), or uploads are "
                        "disabled (`modules_upload_disabled`)."
                    ),
                    "406": _error(
                        f"Missing or invalid fields: {_codes('invalid_module_object', 'module_exists')}."
                    ),
                },
                requestBody={"required": True, "content": {MEDIA: {"schema": _ref("ModuleRequest")}}},
            )
        },
        f"{MODULES}/{{uid}}": {
            "delete": _operation(
                "Delete a custom module object (not the artifacts on the nodes)",
                "manage_cluster_modules",
                {
                    "200": _ok("The module object is deleted (empty body)."),
                    "404": _error("No module object with this uid (`module_not_found`)."),
                },
                parameters=[_uid_param()],
            )
        },
    }


def _module_list_paths(*, legacy: bool) -> Fragment:
    """GET /v1/modules and /v1/modules/<uid>: every release has them; RS 7.x the deprecated POST
    and DELETE too."""
    return {
        "/v1/modules": {
            "get": _operation(
                "List module objects",
                "view_cluster_modules",
                {"200": _ok("Every module object.", {"type": "array", "items": _ref("Module")})},
            ),
            **({"post": _v1_upload()} if legacy else {}),
        },
        "/v1/modules/{uid}": {
            "get": _operation(
                "Get one module object",
                "view_cluster_modules",
                {
                    "200": _ok("The module object.", _ref("Module")),
                    "404": _error("Module does not exist (`module_not_found`)."),
                },
                parameters=[_uid_param()],
            ),
            **({"delete": _v1_delete()} if legacy else {}),
        },
    }


# The 400 error codes of RS 7.x's uploads (POST /v2/modules, and POST /v1/modules with one more).
LEGACY_UPLOAD_REFUSALS = (
    "no_module",
    "invalid_module",
    "module_exists",
    "min_redis_pack_version",
    "os_not_supported",
)


def _v1_upload() -> Fragment:
    return _operation(
        "Upload a module to the cluster (RS 7.x, deprecated since 7.2); its nodes get it before the answer",
        "update_cluster",
        {
            "200": _ok('Installed on every node that fits it (the docs: "Returns a status code").'),
            "400": _error("Refused: " + _codes(*LEGACY_UPLOAD_REFUSALS, "dependencies_not_supported") + "."),
            "413": _error(TOO_LARGE),
            "500": _error(
                "A node could not take it (`internal_error`: a node is down); the module object stays."
            ),
            "507": _error("A node's disk is full (`insufficient_resources`); the module object stays."),
        },
        requestBody=UPLOAD_BODY,
    )


def _v1_delete() -> Fragment:
    return _operation(
        "Delete a module from the cluster and its nodes (RS 7.x, deprecated since 7.2)",
        "update_cluster",
        {
            "200": _ok('Deleted, from every node too (the docs: "Returns a status code").'),
            "404": _error("Attempting to delete a nonexistent module (`module_not_found`)."),
            "406": _error(
                "The module has dependencies (`dependencies_not_supported`):"
                " DELETE /v2/modules/<uid> deletes it."
            ),
        },
        parameters=[_uid_param()],
    )


def _removed_paths() -> Fragment:
    """RS 8.x: POST /v2/modules answers 405 (redis-enterprise.md §5.3)."""
    return {
        LEGACY_MODULES: {
            "post": {
                "summary": "RS 7.x's upload, gone from 8.0 on",
                "description": "Answered before authentication.",
                "security": [],
                "responses": {"405": _error("Not allowed on this release (`method_not_allowed`).")},
            }
        }
    }


def _legacy_paths() -> Fragment:
    """RS 7.2-7.22: the cluster takes the zip itself and copies it to its nodes in an action."""
    action_answer: Fragment = {
        "type": "object",
        "required": ["action_uid"],
        "properties": {"action_uid": {"type": "string"}},
    }
    return {
        LEGACY_MODULES: {
            "post": _operation(
                "Upload a module to the cluster (RS 7.x); its nodes get it in an action",
                "update_cluster",
                {
                    "200": _ok(
                        "Scheduled: the module object with the `action_uid` of the copy to the nodes.",
                        _ref("LegacyUpload"),
                    ),
                    "400": _error(
                        "Refused: "
                        + _codes(*LEGACY_UPLOAD_REFUSALS)
                        + " (no node's OS and architecture fit it)."
                    ),
                    "413": _error(TOO_LARGE),
                },
                requestBody=UPLOAD_BODY,
            )
        },
        f"{LEGACY_MODULES}/{{uid}}": {
            "delete": _operation(
                "Delete a module from the cluster and its nodes (RS 7.x), in an action",
                "update_cluster",
                {
                    "200": _ok("Scheduled: the `action_uid` of the deletion.", action_answer),
                    "404": _error("Attempting to delete a nonexistent module (`module_not_found`)."),
                },
                parameters=[_uid_param()],
            )
        },
        f"{ACTIONS}/{{uid}}": {
            "get": _operation(
                "The status of an action",
                "view_status_of_cluster_action",
                {
                    "200": _ok("The action object.", _ref("Action")),
                    "404": _error("Action does not exist (`action_not_found`)."),
                },
                parameters=[_path_param("uid", {"type": "string"}, "The action_uid.")],
            )
        },
    }


def _cluster_paths(*, legacy: bool) -> Fragment:
    cluster: Fragment = {"200": _ok("The cluster object.", _ref("Cluster"))}
    update = (
        "Update the cluster: refused, this release has no allow_modules_upload (it came with 8.2)"
        if legacy
        else "Update the cluster (allow_modules_upload only)"
    )
    return {
        "/v1/nodes": {
            "get": _operation(
                "List the cluster's nodes",
                "view_all_nodes_info",
                {"200": _ok("Every node.", {"type": "array", "items": _ref("Node")})},
            )
        },
        "/v1/cluster": {
            "get": _operation("The cluster object", "view_cluster_info", cluster),
            "put": _operation(
                update,
                "update_cluster",
                {
                    **cluster,
                    "400": _error(
                        f"Not a valid update: {_codes('invalid_cluster_update', 'invalid_content_type')}."
                    ),
                },
                requestBody={"required": True, "content": {MEDIA: {"schema": _ref("ClusterUpdate")}}},
                parameters=[
                    {
                        "name": "dry_run",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Validate the update but do not apply it (requests/cluster).",
                    }
                ],
            ),
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This description",
                "security": [],
                "responses": {"200": _ok("OpenAPI 3.1 description.", {"type": "object"})},
            }
        },
    }


def _schemas(*, legacy: bool) -> Fragment:
    said = "message" if legacy else "description"  # the error's text, as RS 7.x words it (problems)
    command: Fragment = {
        "type": "object",
        "properties": {
            "command_name": {"type": "string"},
            "command_arity": {"type": "integer"},
            "flags": {"type": "array", "items": {"type": "string"}},
            "first_key": {"type": "integer"},
            "last_key": {"type": "integer"},
            "step": {"type": "integer"},
        },
    }
    request_fields: Fragment = {
        "module_name": {"type": "string", "minLength": 1},
        "version": {"type": "integer", "minimum": 0},
        "semantic_version": {"type": "string"},
        "display_name": {"type": "string"},
        "commands": {"type": "array", "items": command},
        "command_line_args": {"type": "string"},
        "capabilities": {"type": "array", "items": {"type": "string"}},
        "min_redis_version": {"type": "string"},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error_code", said],
            "properties": {
                "error_code": {"type": "string", "enum": [*sorted(ERROR_CODES)]},
                said: {"type": "string"},
            },
        },
        "ModuleRequest": {
            "type": "object",
            "required": [*sorted(request_fields)],
            "properties": request_fields,
        },
        "Module": {
            "type": "object",
            "required": ["uid", "module_name", "version", "is_bundled"],
            "properties": {**request_fields, "uid": {"type": "string"}, "is_bundled": {"type": "boolean"}},
        },
        "Artifact": {
            "type": "object",
            "required": ["module_name", "version", "dependencies"],
            "properties": {
                "module_name": {"type": "string"},
                "version": {"type": "integer"},
                "dependencies": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Node": _node_schema(),
        "Cluster": {
            "type": "object",
            # allow_modules_upload came with 8.2 (objects/cluster); an older cluster has none.
            "required": ["name"] if legacy else ["name", "allow_modules_upload"],
            "properties": {
                "name": {"type": "string"},
                "allow_modules_upload": {"type": "boolean"},
            },
        },
        **(_legacy_schemas() if legacy else {}),
        "ClusterUpdate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"allow_modules_upload": {"type": "boolean"}},
        },
    }


def _legacy_schemas() -> Fragment:
    return {
        "LegacyUpload": {
            "allOf": [
                _ref("Module"),
                {
                    "type": "object",
                    "required": ["action_uid", "platforms"],
                    "properties": {
                        "action_uid": {"type": "string"},
                        "platforms": {
                            "type": "object",
                            "description": "modpack: per `os/architecture`, the build the nodes got.",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["sha256"],
                                "properties": {"sha256": {"type": "string"}, "dependencies": {}},
                            },
                        },
                    },
                },
            ]
        },
        "Action": {
            "type": "object",
            "required": ["action_uid", "name", "progress", "status"],
            "properties": {
                "action_uid": {"type": "string"},
                "name": {"type": "string", "enum": ["module_upload", "module_delete"]},
                "progress": {"type": "number", "minimum": 0, "maximum": 100},
                # The documented lifecycle (objects/action); this server uses queued, running,
                # completed and failed.
                "status": {"type": "string", "enum": [*ACTION_STATES]},
                "error_code": {"type": "string", "description": "Why the action failed."},
                "error_message": {"type": "string"},
            },
        },
    }


ACTION_STATES = ("queued", "starting", "running", "cancelling", "cancelled", "aborted", "completed", "failed")


def _node_schema() -> Fragment:
    strings = (
        "addr",
        "status",
        "architecture",
        "os_name",
        "os_family",
        "os_semantic_version",
        "os_version",
        "software_version",
    )
    return {
        "type": "object",
        "required": ["uid", "addr", "port", "os_name", "architecture"],
        "properties": {
            "uid": {"type": "integer"},
            "port": {"type": "integer", "description": "modpack: the port this node's REST API listens on."},
            "external_addr": {"type": "array", "items": {"type": "string"}},
            **{name: {"type": "string"} for name in strings},
        },
    }


def description(server_url: str, *, legacy: bool = False) -> Fragment:
    """The whole description, with `server_url` (the node that serves it) as its server; `legacy`:
    the RS 7.x module API instead of the user-defined one."""
    changes = (
        _legacy_paths()
        if legacy
        else {**_artifact_paths(), **_module_paths(), **_user_paths(), **_removed_paths()}
    )
    what = "RS 7.x module API (POST /v2/modules)" if legacy else "user-defined module API"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"modpack local cluster: Redis Enterprise {what}",
            "version": "1",
            "description": "Errors are {error_code, description}; error codes: "
            + "; ".join(f"{code} ({status}): {text}" for code, (status, text) in ERROR_CODES.items()),
        },
        "servers": [{"url": server_url}],
        "security": [{"basicAuth": []}],
        "paths": {**changes, **_module_list_paths(legacy=legacy), **_cluster_paths(legacy=legacy)},
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": _schemas(legacy=legacy),
        },
    }
