"""Publishing bundles to a cluster: validate, look, refuse early, then change things, or roll back.

The order, and why:
1. **Validate** every bundle locally (modpack.validate, with the user's --select/--ignore), and
   check that bundles given together are one module and version (`bundles.PER_PLATFORM`).
2. **Look** at the cluster: `GET /v1/nodes` (each node's OS, architecture, software version and the
   Redis versions it offers databases of) and `GET /v1/cluster` (`allow_modules_upload`).
3. **Preflight**: route each node to the one bundle that fits it, and refuse, with one line per
   problem and before anything is created, what cannot work: a node reported down, a node no
   bundle fits, a `compatible_redis_version` (else `min_redis_version`) a node offers no database
   of, a cluster older than `min_redis_pack_version`, uploads switched off.
4. **Identity**: a module object of the same name and version already in the cluster is compared
   with the bundle's module.json, field by field. Equal: "present". Different: refused (naming the
   fields), unless --replace. A node's artifact listing says only name, version and
   dependencies, which proves nothing about content: artifacts are always uploaded.
5. **Change**: create the module object, upload each node's bundle, check each node's listing.
   When no node took the artifact, the module object this run created is deleted again.

Clusters before RS 8.0 (7.2 to 7.22) have no user-defined endpoints: there the zip goes to
`POST /v2/modules` once per platform, the cluster copies it to its nodes, and the returned
`action_uid` is followed on `/v1/actions/<uid>` (re-docs/..._7.22__..._requests__modules___index.md).

Where each step lives:
- `run`: which way a run goes, and the steps of the in-order way;
- `bundles`: loading, peeking at and comparing the bundles given (step 1);
- `view`: the cluster as publish reads it (step 2);
- `preflight`: routes and refusals (step 3);
- `identity`: the stored module object against the bundles (step 4);
- `switch` and `guarded`: allow_modules_upload turned on for a run, and the calls it guards;
- `user_defined`: RS 8.x's module object and uploads, pipelined or in order (step 5);
- `legacy` and `actions`: RS 7.x's `POST /v2/modules` and the actions it starts;
- `rollback` and `interruption`: what a failed or stopped run takes back, and says it leaves;
- `results` and `wording`: what a run was asked and did, and how messages list things;
- `removal`: unpublish and `modules delete`, taking a module version off the cluster again.
"""

from modpack.rest.publish.removal import (
    UnpublishResult,
    delete_module_object,
    parse_version,
    unpublish,
)
from modpack.rest.publish.results import PublishResult
from modpack.rest.publish.run import publish
from modpack.rest.publish.view import api_is_legacy

__all__ = [
    "PublishResult",
    "UnpublishResult",
    "api_is_legacy",
    "delete_module_object",
    "parse_version",
    "publish",
    "unpublish",
]
