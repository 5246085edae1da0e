"""The user-defined module API's paths (rest-api-user-defined-modules.txt), for server, client and spec."""

ARTIFACTS = "/v2/local/modules/user-defined/artifacts"  # on each node: GET, POST, DELETE .../<name>/<version>
MODULES = "/v2/modules/user-defined"  # the configuration store: POST, DELETE .../<uid>
# RS 7.2-7.22 (re-docs/operate__rs__7.22__references__rest-api__requests__modules___index.md):
LEGACY_MODULES = (
    "/v2/modules"  # POST: multipart upload to the cluster; DELETE .../<uid>; both answer action_uid
)
ACTIONS = "/v1/actions"  # GET .../<action_uid>: status of an asynchronous request
