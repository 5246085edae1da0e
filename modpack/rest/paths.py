"""The user-defined module API's paths (rest-api-user-defined-modules.txt), for server, client and spec."""

ARTIFACTS = "/v2/local/modules/user-defined/artifacts"  # on each node: GET, POST, DELETE .../<name>/<version>
MODULES = "/v2/modules/user-defined"  # the configuration store: POST, DELETE .../<uid>
