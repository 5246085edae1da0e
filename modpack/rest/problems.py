"""The errors the local cluster answers with: `{"error_code": ..., "description": ...}`, and on
RS 7.x `{"error_code": ..., "message": ...}`.

The body shape is the reference's `cluster_Error` schema (redis-enterprise.md §10); the 7.22
modules page says "a JSON object with `error_code` and `message` fields" of each of its calls'
errors (re-docs/..._7.22__..._requests__modules___index.md), as older request pages do. Codes that
Redis Enterprise documents are reused (`no_module`, `invalid_module`, `module_exists`,
`os_not_supported` from §5.2, `module_architecture_not_supported` from RAMP, §8,
`modules_upload_disabled` from the 8.2 release notes); the rest are modpack's own. The table is
also what the OpenAPI description lists.
"""

from __future__ import annotations

from typing import TypedDict

ERROR_CODES: dict[str, tuple[int, str]] = {
    "unauthorized": (401, "Credentials are missing or wrong."),
    "forbidden": (403, "The user's role lacks the permission the endpoint needs."),
    "modules_upload_disabled": (403, "allow_modules_upload is off (PUT /v1/cluster turns it on)."),
    "not_found": (404, "No such endpoint."),
    "module_not_found": (404, "No module object with this uid."),
    "artifact_not_found": (404, "This node has no artifact with this name and version."),
    "method_not_allowed": (405, "The endpoint does not support this method."),
    "invalid_content_type": (400, "The body's Content-Type is not the one the endpoint takes."),
    "no_module": (400, "The multipart body has no `module` file field."),
    "invalid_module": (400, "The artifact is not a usable zip (bad multipart body, unreadable archive)."),
    "module_too_large": (413, "The artifact is larger than the node's upload limit."),
    "invalid_cluster_update": (400, "The cluster update is not an object of known, well-typed fields."),
    "invalid_module_object": (406, "The module object has missing or invalid fields."),
    "module_exists": (406, "A module object with this module_name and version already exists."),
    "invalid_module_metadata": (406, "The artifact's module.json or binary fails validation."),
    "no_module_object": (406, "No module object matches the artifact's module_name and version."),
    "os_not_supported": (406, "The artifact's operating_systems do not include the node's OS."),
    "module_architecture_not_supported": (406, "The artifact is built for another architecture."),
    "min_redis_pack_version": (400, "RS 7.x upload: the module needs a newer Redis Enterprise."),
    "dependencies_not_supported": (
        400,
        "RS 7.x POST /v1/modules (400) or DELETE /v1/modules/<uid> (406): the module has dependencies;"
        " the /v2/modules calls take them.",
    ),
    "action_not_found": (404, "No action with this action_uid."),
    "invalid_request": (406, "A path parameter is not acceptable (unsafe module name, non-integer version)."),
    "too_many_requests": (
        429,
        "Too many failed or waiting password checks (see Retry-After).",
    ),
    "headers_too_large": (431, "The request line and headers exceed 16 KiB."),
    "request_timeout": (408, "Headers or body came too slowly (--header-timeout, --body-timeout)."),
    "too_many_connections": (503, "The node holds --max-connections connections (see Retry-After)."),
    "insufficient_resources": (507, "The node has no space left on its disk."),
    "internal_error": (500, "The server failed; nothing was changed."),
}


class ErrorBody(TypedDict):
    """The body of every error answer (cluster_Error, redis-enterprise.md §10)."""

    error_code: str
    description: str


class LegacyErrorBody(TypedDict):
    """The body of every error answer of RS 7.x (the 7.22 modules page: `error_code` and `message`)."""

    error_code: str
    message: str


class ApiError(Exception):
    """A request the server refuses: becomes the status and the JSON error body."""

    def __init__(
        self,
        error_code: str,
        description: str,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.headers = headers or {}
        self.error_code = error_code
        # RS 7.x's POST /v2/modules answers its refusals with 400 (7.22 modules page), where the
        # user-defined endpoints use 406 for the same codes.
        self.status = status or ERROR_CODES[error_code][0]
        self.description = description

    def body(self, *, legacy: bool = False) -> ErrorBody | LegacyErrorBody:
        """The JSON error body; `legacy`: as RS 7.x words it."""
        if legacy:
            return {"error_code": self.error_code, "message": self.description}
        return {"error_code": self.error_code, "description": self.description}
