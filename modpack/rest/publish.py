"""Publishing bundles to a cluster: validate, look, refuse early, then change things, or roll back.

The order, and why:
1. **Validate** every bundle locally (modpack.validate, with the user's --select/--ignore), and
   check that bundles given together are one module and version (`SHARED` below).
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
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from modpack import versions
from modpack.errors import FindingsError, ModpackError, Terminated, UsageError
from modpack.rest import client, platforms
from modpack.rest.client import Api, ClusterError, Connection, NodeOutcome, NodeRef, NodeStatus, Progress
from modpack.rest.paths import ACTIONS, ARTIFACTS, LEGACY_MODULES, MODULES
from modpack.rest.platforms import NodeFacts

if TYPE_CHECKING:
    from modpack.config import NearestSettings, Settings
    from modpack.findings import Finding
    from modpack.types import JSON, Module

# Bundles given together must agree on every field but these, which describe one platform's build.
PER_PLATFORM = ("sha256", "architecture", "operating_systems", "os", "os_list", "dependencies", "module_file")
# Fields a cluster adds to a module object; never part of a bundle's identity.
SERVER_FIELDS = frozenset({"uid", "is_bundled", "platforms", "action_uid"})
# The fields every module object of a real cluster carries: those of a captured GET /v1/modules
# (re-docs/captured__redis-enterprise-rs__GET_v1_modules.json), each documented in objects/module.
# Absent from a stored object, such a field is empty. Any other field of module.json (commands,
# architecture, operating_systems, module_file, sha256, ...) is compared only where the cluster
# kept it: objects/module lists neither commands nor the platform fields and calls sha256
# deprecated, so a cluster that drops them proves nothing about them either way (issue 14: "sha256
# where the server keeps it"). Artifacts are uploaded whatever the module object says.
KEPT_FIELDS = frozenset(
    {
        "author",
        "bigstore_version_2_support",
        "capabilities",
        "capability_name",
        "command_line_args",
        "compatible_redis_version",
        "config_command",
        "crdb",
        "dependencies",
        "description",
        "display_name",
        "email",
        "homepage",
        "license",
        "min_redis_version",
        "module_name",
        "semantic_version",
        "version",
    }
)
ACTION_POLL = 0.2
DONE = "completed"
# The action lifecycle's ends other than completed (objects/action: failed, cancelled, aborted,
# https://redis.io/docs/latest/operate/rs/references/rest-api/objects/action/).
ENDED_BADLY = frozenset({"failed", "cancelled", "aborted"})


class PreflightError(ModpackError):
    """The cluster cannot take the bundles; nothing was changed."""


class IdentityError(ModpackError):
    """The cluster holds another build under the same module name and version."""


class ActionFailed(ClusterError):
    """A 7.x action the cluster had taken on ended badly, or did not end in time: unlike a refused
    call, it may have done part of its work."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    module: Module
    warnings: tuple[Finding, ...] = ()
    shown: str = ""  # how messages name it: `shown_names`

    @property
    def name(self) -> str:
        return self.shown or self.path.name

    @property
    def label(self) -> str:
        return f"{self.name} ({platforms.platform_label(self.module)})"


def shown_names(paths: Sequence[Path]) -> dict[Path, str]:
    """Each bundle's file name, or its path as given where two bundles share a name (dist-x86/m.zip
    and dist-arm/m.zip): messages named the same file twice."""
    names = [p.name for p in paths]
    return {p: str(p) if names.count(p.name) > 1 else p.name for p in paths}


@dataclass(frozen=True)
class PublishOptions:
    dry_run: bool = False
    allow_upload: bool = False  # turn allow_modules_upload on for this run, then off again
    replace: bool = False  # replace a different build published under the same version
    settings: Settings | NearestSettings | None = None
    progress: Progress | None = None


ObjectStatus = Literal[
    "",
    "replacing",
    "creating",
    "created",
    "present",
    "replaced",
    "would create",
    "would replace",
    "rolled back",
    "created, rollback failed",
    "created, rolled back in part",
    "not created",
    "deleted meanwhile",
]
"""What became of the module object ("" until publish has looked; "replacing" while --replace's
DELETE of the stored one is out, "creating" while the POST of this run's is out; "deleted
meanwhile" when it was gone once the uploads ended: an unpublish, or an operator, ran meanwhile).
When no node took the artifact and deleting this run's object again failed: "created, rollback
failed" while the cluster still lists it (or did not say), "created, rolled back in part" when it
no longer does but the deletion's action failed (RS 7.x), so nodes may hold files of it."""


@dataclass
class PublishResult:
    module_name: str
    version: int
    module_object: ObjectStatus = ""
    uid: str = ""
    replaced: str = ""  # the uid of the module object --replace deleted, or was deleting
    replaced_object: Module | None = None  # that module object as the cluster listed it
    replaced_lacks: tuple[str, ...] = ()  # what the listing of it lacks that a module object needs
    restored: str = ""  # its uid once made again, when no node took this run's build
    api: str = "user-defined"  # or "v2 (RS 7.x)"
    nodes: list[NodeOutcome] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.failed]

    @property
    def took(self) -> bool:
        """Whether a node took this run's artifact."""
        return any(n.status == "uploaded" for n in self.nodes)


# --- 1. bundles -------------------------------------------------------------------------------


def check_bundle(path: Path, settings: Settings | None = None, shown: str = "") -> Bundle:
    """The bundle when it validates (findings filtered like `modpack validate`); else FindingsError."""
    from modpack.findings import Severity
    from modpack.validate import select, validate_bundle

    settings = settings or _default_settings()
    verdict = validate_bundle(path, settings)
    module, findings = verdict.module, verdict.findings
    kept = select(findings, settings)
    errors = [f for f in kept if f.severity is Severity.ERROR]
    if settings.strict:
        errors += [f for f in kept if f.severity is Severity.WARNING]
    if errors or module is None:
        raise FindingsError(f"{path} does not validate; nothing was published", errors)
    return Bundle(
        path,
        versions.integral_version(module),
        tuple(f for f in kept if f.severity is Severity.WARNING),
        shown,
    )


def _default_settings() -> Settings:
    from modpack.config import Settings

    return Settings()


def _refuse_repeats(paths: Sequence[Path]) -> None:
    """One file given twice (a shell glob and a name, say) fitted every node twice and no node once."""
    seen: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue  # check_bundle says what is wrong with it
        first = seen.setdefault((info.st_dev, info.st_ino), path)
        if first is not path:
            raise UsageError(f"{path} is given twice (as {first})", "Give each bundle once.")


def load_bundles(paths: Sequence[Path], settings: Settings | NearestSettings | None = None) -> list[Bundle]:
    """Each bundle validated with `settings`, or with its own when they are NearestSettings (as
    `modpack validate` of it judges it)."""
    if not paths:
        raise UsageError("no bundle given")
    _refuse_repeats(paths)
    names = shown_names(paths)
    bundles: list[Bundle] = []
    refused: list[tuple[Path, FindingsError]] = []
    for path in paths:  # each one validated, as `modpack validate` of them all reports each
        try:
            bundles.append(
                check_bundle(path, settings(path) if callable(settings) else settings, names[path])
            )
        except FindingsError as refusal:
            refused.append((path, refusal))
    if len(refused) == 1:
        raise refused[0][1]
    if refused:
        which = ", ".join(str(path) for path, _ in refused)
        raise FindingsError(
            f"{len(refused)} of {len(paths)} bundles do not validate ({which}); nothing was published",
            [finding for _, refusal in refused for finding in refusal.findings],
        )
    problems = disagreements(bundles)
    if problems:
        raise UsageError(
            "the bundles given together are not builds of one module version:",
            "Bundles published together must agree on every field but "
            + ", ".join(PER_PLATFORM)
            + "; publish other modules or versions separately.",
            problems,
        )
    return bundles


def disagreements(bundles: Sequence[Bundle]) -> list[str]:
    """One line per field in which a bundle differs from the first (per-platform fields excepted)."""
    first = bundles[0]
    problems = []
    for other in bundles[1:]:
        fields = [k for k in sorted(_keys(first.module, other.module)) if k not in PER_PLATFORM]
        for key in fields:
            if not _same(first.module.get(key), other.module.get(key), key):
                problems.append(f"{other.name}: {key} differs from {first.name}'s")
    return problems


def _keys(*documents: Module) -> set[str]:
    return {k for d in documents for k in d} - SERVER_FIELDS


# Lists whose order says nothing: Redis Enterprise checks a database's needs against a module's
# capabilities by name (redis-enterprise.md §3), and a cluster need not keep them in the order sent.
UNORDERED = frozenset({"capabilities"})


def _same(left: object, right: object, key: str = "") -> bool:
    """Equal, counting an absent field and an empty default ("" [] {} false null) as the same;
    the lists of UNORDERED fields in any order."""
    if _empty(left) and _empty(right):
        return True
    if key in UNORDERED and isinstance(left, list) and isinstance(right, list):
        return sorted(map(json.dumps, left)) == sorted(map(json.dumps, right))
    return type(left) is type(right) and left == right


def _empty(value: object) -> bool:
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


# --- 2. the cluster ---------------------------------------------------------------------------


@dataclass
class ClusterView:
    nodes: list[tuple[NodeRef, NodeFacts | None]]
    cluster: dict[str, JSON]
    software_version: str | None
    chosen: bool = False  # the nodes are those --node gave, not every node GET /v1/nodes lists
    left_out: tuple[str, ...] = ()  # then the nodes GET /v1/nodes lists that --node did not give
    unmatched: tuple[str, ...] = ()  # or, when some --node matched no listed node, those none matched
    role: str | None = None  # the user's role and its API permissions, where read (a dry run)
    permissions: frozenset[str] | None = None

    @property
    def legacy(self) -> bool:
        """True before RS 8.0: no user-defined endpoints, `POST /v2/modules` instead."""
        parsed = platforms.version_tuple(self.software_version)
        return parsed is not None and parsed[:2] < platforms.USER_DEFINED_SINCE

    @property
    def uploads_switch(self) -> bool | None:
        value = self.cluster.get("allow_modules_upload")
        return value if isinstance(value, bool) else None


def read_cluster(api: Api) -> ClusterView:
    base = client.cluster_url(api.connection)
    listed = api.json("GET", f"{base}/v1/nodes")
    if not isinstance(listed, list) or not listed:
        raise ClusterError(f"GET {base}/v1/nodes returned no nodes", "Is --cluster a Redis Enterprise node?")
    objects = [n for n in listed if isinstance(n, dict)]
    facts = {str(n.get("uid")): platforms.node_facts(n) for n in objects}
    versions = [f.software_version for f in facts.values() if f.software_version]
    oldest = min(versions, key=lambda v: platforms.version_tuple(v) or (0, 0, 0)) if versions else None
    view = ClusterView([], {}, oldest)
    # Before 8.0 the cluster places the module on its nodes itself: their addresses are never called.
    refs = client.nodes_from(api.connection, base, objects, contacted=not view.legacy)
    view.nodes = [(ref, facts.get(ref.uid) if ref.uid else None) for ref in refs]
    cluster = api.json("GET", f"{base}/v1/cluster")
    view.cluster = cluster if isinstance(cluster, dict) else {}
    if api.connection.nodes:
        view.chosen = True
        # A --node URL matched to no listed node (a port-forward) may reach any of the unmatched
        # ones: those are named as left out only when every --node URL matched one.
        given = {ref.uid for ref in refs if ref.uid}
        unmatched = [f"node {n.get('uid')}" for n in objects if str(n.get("uid")) not in given]
        if all(ref.uid for ref in refs):
            view.left_out = tuple(unmatched)
        else:
            view.unmatched = tuple(unmatched)
    return view


def read_role(api: Api, view: ClusterView) -> None:
    """The user's role and its API permissions (GET /v1/users/role, /v1/users/permissions/<role>,
    RS 8.x openapi.json), into `view`; left unknown where the cluster does not say. A dry run
    reads them: it said "would upload" to a cluster_viewer, whose real run is refused (403)."""
    base = client.cluster_url(api.connection)
    try:
        answer = api.json("GET", f"{base}/v1/users/role")
        role = answer.get("role") if isinstance(answer, dict) else None
        if not isinstance(role, str) or not role:
            return
        listed = api.json("GET", f"{base}/v1/users/permissions/{urllib.parse.quote(role, safe='')}")
    except ClusterError:
        return  # an older cluster, or a role that may not ask: the calls themselves will tell
    entry = listed.get(role) if isinstance(listed, dict) else None
    granted = entry.get("api_permissions") if isinstance(entry, dict) else None
    if isinstance(granted, list):
        view.role, view.permissions = role, frozenset(p for p in granted if isinstance(p, str))


def _role_lacks(view: ClusterView, options: PublishOptions) -> list[str]:
    """A line when the user's role (where read) lacks a permission the run's calls need: the
    module endpoints' (manage_cluster_modules; POST /v2/modules before 8.0: update_cluster), and
    update_cluster for --allow-upload to turn the switch on (requests/modules, permissions.md)."""
    if view.permissions is None:
        return []
    needed = ["update_cluster"] if view.legacy else ["manage_cluster_modules"]
    if view.uploads_switch is False and options.allow_upload and "update_cluster" not in needed:
        needed.append("update_cluster")
    missing = [p for p in needed if p not in view.permissions]
    if not missing:
        return []
    return [
        f"the user's role, {view.role}, lacks {_and(missing)}, which publishing needs: run it as a user"
        f" whose role has {_verb(missing, 'it', 'them')} (admin does)"
    ]


def _refuse_node_choice(connection: Connection, version: str | None, command: str) -> None:
    """Before RS 8.0 the cluster installs (and removes) a module on every node itself
    (`POST /v2/modules`, `DELETE /v2/modules/<uid>`): `--node` cannot choose nodes there, and a
    run that went ahead would change nodes it was not given, and report only those it was.
    Exit 1, not 2: the command line is valid; this cluster cannot do what it asks."""
    if connection.nodes:
        running = f" ({version})" if version else ""
        raise ModpackError(
            f"--node chooses nodes, but this cluster runs Redis Enterprise before 8.0{running}, which"
            f" installs and removes a module on every node itself; nothing was changed",
            f"Run `modpack {command}` with --cluster and without --node"
            + (
                ": it checks every node of GET /v1/nodes first."
                if command == "publish"
                else ": the cluster removes the module from every node."
            ),
        )


def api_is_legacy(api: Api) -> bool:
    """Whether the cluster speaks the RS 7.x module API (read from GET /v1/nodes)."""
    return _legacy(_node_objects(api))


def _node_objects(api: Api) -> list[dict[str, JSON]]:
    base = client.cluster_url(api.connection)
    listed = api.json("GET", f"{base}/v1/nodes")
    return [n for n in (listed if isinstance(listed, list) else []) if isinstance(n, dict)]


def _legacy(listed: Sequence[dict[str, JSON]]) -> bool:
    known = [v for v in (platforms.version_tuple(n.get("software_version")) for n in listed) if v is not None]
    return bool(known) and min(known)[:2] < platforms.USER_DEFINED_SINCE


# --- 3. preflight -----------------------------------------------------------------------------


@dataclass
class Route:
    node: NodeRef
    facts: NodeFacts | None
    bundle: Bundle


def preflight(bundles: Sequence[Bundle], view: ClusterView, options: PublishOptions) -> list[Route]:
    """Each node with the bundle it gets; PreflightError naming every problem found, once: nodes
    with the same problem share its line."""
    routes, problems = _routes(bundles, view)
    problems[:0] = _down(view)
    for bundle in bundles:
        routed = [(r.node, r.facts) for r in routes if r.bundle is bundle]
        problems += _redis_version(bundle, routed or view.nodes)
    problems += _pack_version(bundles, view)
    problems += _role_lacks(view, options)
    if view.uploads_switch is False and not options.allow_upload:
        problems.append(
            "custom module uploads are off on this cluster (allow_modules_upload is false): an admin"
            ' turns them on with PUT /v1/cluster {"allow_modules_upload": true}, or re-run with'
            " --allow-upload to turn them on for this run only (modpack turns them off again after)"
        )
    if problems:
        raise PreflightError(
            f"the cluster cannot take {', '.join(b.name for b in bundles)}; nothing was changed:",
            "Fix each line above, then run the same command again.",
            problems,
        )
    return routes


def _routes(bundles: Sequence[Bundle], view: ClusterView) -> tuple[list[Route], list[str]]:
    """Each node with the one bundle that fits it, and a line per routing problem: nodes no
    bundle fits (by platform), nodes several fit, and each bundle when none fits any node."""
    routes, problems = [], []
    unfit: dict[str, list[str]] = {}  # node platform -> the nodes no bundle fits
    ambiguous: dict[tuple[int, ...], list[str]] = {}  # indexes of the bundles -> nodes they all fit
    taken: set[int] | None = None  # indexes of the bundles a node of GET /v1/nodes fits
    for ref, facts in view.nodes:
        fitting = _fitting(bundles, facts)
        if facts is not None:
            taken = (taken or set()) | set(fitting)
        if len(fitting) == 1:
            routes.append(Route(ref, facts, bundles[fitting[0]]))
        elif facts is None:  # a --node URL GET /v1/nodes does not list: only one bundle can be meant
            problems.append(f"{ref.label}: not in GET /v1/nodes, so which bundle fits it is unknown")
        elif not fitting:
            unfit.setdefault(facts.platform, []).append(ref.label)
        else:
            ambiguous.setdefault(tuple(fitting), []).append(f"{ref.label} ({facts.platform})")
    offered = "; ".join(b.label for b in bundles)
    problems += [
        f"{_and(labels)} {_verb(labels, 'runs', 'run')} {platform}, which no bundle given is built"
        f" for ({offered}): give a bundle built for {platform} too"
        for platform, labels in unfit.items()
    ]
    problems += [
        f"{_and(labels)} {_verb(labels, 'fits', 'fit')} several bundles"
        f" ({', '.join(bundles[i].name for i in indexes)}): give one per platform"
        for indexes, labels in ambiguous.items()
    ]
    if taken is not None and not taken:  # None: no node is listed, so none can be said to fit
        # Only when no bundle fits any node: one that fits none beside others that do (an aarch64
        # build given with dist/*.zip to an x86_64 cluster) is left out with a note (`route_notes`).
        problems += [f"{b.label} fits no node {_of_nodes(view)}" for b in bundles]
    return routes, problems


def _of_nodes(view: ClusterView) -> str:
    return "given with --node" if view.chosen else "of this cluster"


def routed(bundles: Sequence[Bundle], routes: Sequence[Route]) -> list[Bundle]:
    """The bundles some node gets, in the order given: the module object is made from the first."""
    taken = {r.bundle.path for r in routes}
    return [b for b in bundles if b.path in taken]


def route_notes(
    bundles: Sequence[Bundle], routes: Sequence[Route], view: ClusterView, result: PublishResult
) -> list[str]:
    """A note per bundle no node gets (it fits none of them; the other bundles cover them all),
    and one naming the nodes --node left out: the module object is the cluster's, and they get
    no artifact."""
    taken = {r.bundle.path for r in routes}
    notes = [
        f"{b.label} fits no node {_of_nodes(view)}: not uploaded" for b in bundles if b.path not in taken
    ]
    if view.left_out:
        nodes = list(view.left_out)
        notes.append(
            f"--node left out {_and(nodes)}, which GET /v1/nodes lists: {_verb(nodes, 'it gets', 'they get')}"
            f" no artifact of {result.module_name} {result.version}"
        )
    if view.unmatched:
        nodes = list(view.unmatched)
        strays = [r.node.label for r in routes if not r.node.uid]
        notes.append(
            f"{_and(strays)} {_verb(strays, 'matches', 'match')} no node GET /v1/nodes lists (by address),"
            f" so whether the bundle fits {_verb(strays, 'it', 'them')} was not checked; {_and(nodes)},"
            f" which GET /v1/nodes lists, {_verb(nodes, 'gets', 'get')} no artifact unless"
            f" {_verb(strays, 'that URL reaches', 'those URLs reach')} {_verb(nodes, 'it', 'them')}"
        )
    return notes


def _down(view: ClusterView) -> list[str]:
    """A line for the nodes GET /v1/nodes says are down (objects/node: status 'down'): an upload
    to one fails after every retry (on a real cluster, each after a connect timeout) and leaves
    the module on some nodes only."""
    down = [ref.label for ref, facts in view.nodes if facts is not None and facts.status == "down"]
    if not down:
        return []
    return [
        f"{_and(down)} {_verb(down, 'is', 'are')} down (status in GET /v1/nodes), so no upload to"
        f" {_verb(down, 'it', 'them')} can succeed: run the same command once the cluster reports"
        f" {_verb(down, 'it', 'them')} active"
    ]


def _fitting(bundles: Sequence[Bundle], facts: NodeFacts | None) -> list[int]:
    """The indexes of the bundles a node can take; all of them for a node of unknown platform."""
    if facts is None:
        return list(range(len(bundles)))
    return [
        i for i, b in enumerate(bundles) if platforms.misfit(b.module, facts.os, facts.architecture) is None
    ]


def _redis_version(bundle: Bundle, nodes: Sequence[tuple[NodeRef, NodeFacts | None]]) -> list[str]:
    """A line per set of Redis versions offered by nodes that offer no database the bundle can be
    loaded into (usually one line: the nodes of a cluster offer the same), judged as RS picks a
    module for a database (redis-enterprise.md §9): its compatible_redis_version's
    major.minor exactly; where that is not set (or ""), min_redis_version or later of the same major."""
    module = bundle.module
    wanted = module.get("compatible_redis_version")
    if isinstance(wanted, str) and wanted:
        exact = platforms.major_minor(wanted)
        return [
            f"{bundle.name}: compatible_redis_version {wanted!r} is not a Redis version {_and(labels)}"
            f" {_verb(labels, 'offers', 'offer')} databases of (supported_database_versions:"
            f" {', '.join(offered) or 'none'}); no database could load it"
            for offered, labels in _offering_none(nodes, lambda version: version == exact).items()
        ]
    lowest = module.get("min_redis_version")
    floor = platforms.version_tuple(lowest)
    if floor is None:
        return []  # neither declared: nothing RS picks by
    return [
        f"{bundle.name}: no compatible_redis_version, so Redis Enterprise picks it by min_redis_version"
        f" {lowest!r}, for a database of Redis {floor[0]}.x from {floor[0]}.{floor[1]} on, and"
        f" {_and(labels)} {_verb(labels, 'offers', 'offer')} none (supported_database_versions:"
        f" {', '.join(offered) or 'none'}); no database could load it"
        for offered, labels in _offering_none(nodes, lambda version: _from_on(version, floor)).items()
    ]


def _from_on(offered: str, floor: tuple[int, int, int]) -> bool:
    """Whether a database version (major.minor, all a node says of it) is of `floor`'s major and
    not below it: RS's fallback to min_redis_version. The patch is not compared, as the node lists
    none for certain (a 7.4.2 floor beside a 7.4 database is not proven to fail)."""
    parsed = platforms.version_tuple(offered)
    return parsed is not None and parsed[0] == floor[0] and parsed[:2] >= floor[:2]


def _offering_none(
    nodes: Sequence[tuple[NodeRef, NodeFacts | None]], fits: Callable[[str], bool]
) -> dict[tuple[str, ...], list[str]]:
    """The nodes that report their Redis versions and offer none that `fits`, by what they offer."""
    lacking: dict[tuple[str, ...], list[str]] = {}
    for ref, facts in nodes:
        if facts is None or facts.redis_versions is None or any(map(fits, facts.redis_versions)):
            continue  # not reported by the node, or offered
        lacking.setdefault(tuple(facts.redis_versions), []).append(ref.label)
    return lacking


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _verb(subjects: Sequence[str], one: str, several: str) -> str:
    return one if len(subjects) == 1 else several


def _pack_version(bundles: Sequence[Bundle], view: ClusterView) -> list[str]:
    cluster = platforms.version_tuple(view.software_version)
    wanted = bundles[0].module.get("min_redis_pack_version")
    needed = platforms.version_tuple(wanted)
    if cluster is None or needed is None or cluster >= needed:
        return []
    return [
        f"min_redis_pack_version is {wanted!r} but the cluster runs Redis Enterprise"
        f" {view.software_version} (its oldest node): upgrade the cluster or lower the field"
    ]


# --- 4. identity ------------------------------------------------------------------------------


def differences(stored: Module, bundles: Sequence[Bundle]) -> list[str]:
    """The fields in which a stored module object provably differs from the bundles (empty: the
    same, as far as the fields the cluster keeps tell; `unproven` names the others)."""
    first = bundles[0].module
    shared = [
        k
        for k in sorted(_keys(stored, first))
        if k not in PER_PLATFORM and _provable(stored, k) and not _same(stored.get(k), first.get(k), k)
    ]
    # A module object made from one platform's bundle describes that build only: the bundles for
    # other platforms (the ubuntu22 one, beside the rhel9 one it was made from) are other builds
    # by design, not a rebuild, and a bundle for the same platform that names more or fewer OSes
    # is the same build when its binary is. So the binary's fields are compared with the bundles
    # for that platform alone; none given for it: nothing to compare (see `unproven`).
    alike = [b for b in bundles if _same_platform(stored, b.module)]
    built = _built_fields(stored)
    if not alike or any(all(_same(stored.get(k), b.module.get(k)) for k in built) for b in alike):
        return shared
    if platform_unknown(stored):
        # A listing without the platform fields (objects/module documents none) cannot say which
        # build its sha256 is: the ubuntu22 bundle published after the rhel9 one the object was
        # made from was refused as a rebuild. Not proven either way: uploaded (`_note_unproven`).
        return shared
    unmatched = _unmatched(stored, built, alike)
    return shared + (unmatched or [k for k in built if not _same(stored.get(k), alike[0].module.get(k))])


def _built_fields(stored: Module) -> list[str]:
    """The per-platform fields that say what a build is (sha256, module_file), where kept."""
    return [k for k in PER_PLATFORM if k not in PLATFORM_NAMING and _provable(stored, k)]


def _unmatched(stored: Module, fields: list[str], bundles: Sequence[Bundle]) -> list[str]:
    """Those of `fields` in which the stored object matches none of `bundles`."""
    return [k for k in fields if all(not _same(stored.get(k), b.module.get(k)) for b in bundles)]


# The per-platform fields that say where a build goes rather than what it is.
PLATFORM_NAMING = frozenset({"architecture", "operating_systems", "os", "os_list"})


def platform_unknown(stored: Module) -> bool:
    """Whether a module object keeps neither its architecture nor its OSes: for which platform's
    build it was made cannot be told from it."""
    return platforms.bundle_architecture(stored) is None and platforms.bundle_systems(stored) is None


def _same_platform(stored: Module, module: Module) -> bool:
    """Whether the build a module object describes and a bundle's can be for one node: the same
    architecture and an OS in common (an undeclared one fits any)."""
    ours, theirs = platforms.bundle_architecture(stored), platforms.bundle_architecture(module)
    if ours is not None and theirs is not None and ours != theirs:
        return False
    mine, other = platforms.bundle_systems(stored), platforms.bundle_systems(module)
    return mine is None or other is None or bool(mine & other)


def unproven(stored: Module, bundles: Sequence[Bundle]) -> list[str]:
    """The bundles' fields that the stored module object does not keep, so no comparison judged."""
    given = {k for b in bundles for k, v in b.module.items() if not _empty(v)}
    return sorted(k for k in given - SERVER_FIELDS if not _provable(stored, k))


def other_platform(stored: Module, bundles: Sequence[Bundle]) -> str:
    """The platform of the build a module object describes, when no bundle given is for it ("" when
    one is): their binaries were not compared with it."""
    if any(_same_platform(stored, b.module) for b in bundles):
        return ""
    return platforms.platform_label(stored)


def _provable(stored: Module, key: str) -> bool:
    return key in stored or key in KEPT_FIELDS


def required_fields() -> frozenset[str]:
    """The fields a module object's POST must give (rest-api-user-defined-modules.txt, "Request
    body"), as the published module schema requires them: an object made from these alone holds
    none of the others."""
    from modpack.schema import load_schema

    required = load_schema("module").get("required")
    return frozenset(str(f) for f in required) if isinstance(required, list) else frozenset()


def _identity_error(
    result: PublishResult, fields: list[str], stored: Module, changed: str = "nothing was changed"
) -> IdentityError:
    """The refusal of a module object that differs in `fields`: those it holds other values in,
    and those it holds none in (an object made by hand or by another tool from the required
    fields only, rest-api-user-defined-modules.txt), which are no sign of a rebuild."""
    uid = str(stored.get("uid", ""))
    # An object made without a field lists it empty, or at its default (bigstore_version_2_support
    # false, as a real listing shows it): which is no sign of a rebuild either.
    required = required_fields()
    missing = [f for f in fields if f not in required and _empty(stored.get(f))]
    differ = [f for f in fields if f not in missing]
    said = [f"{_and(differ)} {_verb(differ, 'differs', 'differ')}"] if differ else []
    if missing:
        said.append(f"it has no {_and(missing)}, which this bundle's module.json gives")
    if differ:
        hint = (
            "A rebuilt module needs a new version: bump semantic_version in modpack.toml and build again"
            " (or semantic_version and version in module.json); or re-run with --replace to delete the"
            " module object on the cluster and publish this build."
        )
    else:
        hint = (
            "If the nodes hold this build, and its module object was made from fewer fields (by hand or"
            " by another tool), re-run with --replace to make it again from this bundle's module.json;"
            " if this is a rebuild, bump semantic_version and build again."
        )
    return IdentityError(
        f"the cluster already has module {result.module_name} version {result.version} (uid {uid})"
        f" with different content: {'; '.join(said)}; {changed}",
        hint,
    )


def _validated_as_peeked(
    paths: Sequence[Path], peeked: list[Bundle], options: PublishOptions
) -> list[Bundle]:
    bundles = load_bundles(paths, options.settings)
    if [b.module for b in bundles] != [p.module for p in peeked]:
        raise ModpackError("a bundle changed while it was being published; nothing was placed")
    return bundles


# --- 5. publish -------------------------------------------------------------------------------


T = TypeVar("T")

# Bundles this large stream to the nodes while they are still being validated (see `_pipelined`).
PIPELINE_MIN = 8 * 1024 * 1024


def publish(
    bundles: Path | Sequence[Path],
    connection: Connection,
    *,
    dry_run: bool = False,
    allow_upload: bool = False,
    replace: bool = False,
    settings: Settings | NearestSettings | None = None,
    progress: Progress | None = None,
) -> PublishResult:
    """Validate, look, preflight, then create the module object and upload each node's bundle.
    `settings`: the validation settings, or NearestSettings giving each bundle's."""
    paths = [bundles] if isinstance(bundles, Path) else list(bundles)
    return _publish(paths, connection, PublishOptions(dry_run, allow_upload, replace, settings, progress))


def _publish(paths: Sequence[Path], connection: Connection, options: PublishOptions) -> PublishResult:
    peeked = _peek(paths)
    large = sum(p.stat().st_size for p in paths) >= PIPELINE_MIN
    if peeked is not None and large and not options.dry_run and not disagreements(peeked):
        with Api(connection) as api:
            view = read_cluster(api)
            if not view.legacy and view.uploads_switch is not False:
                return _pipelined(api, paths, peeked, view, options)
    return _in_order(paths, connection, options)


def _in_order(paths: Sequence[Path], connection: Connection, options: PublishOptions) -> PublishResult:
    """Validate, look, preflight, then change things: one step after the other."""
    given = load_bundles(paths, options.settings)
    result = _result(given)
    with Api(connection) as api:
        view = read_cluster(api)
        if view.legacy:
            _refuse_node_choice(connection, view.software_version, "publish")
        if options.dry_run:
            read_role(api, view)
        routes = preflight(given, view, options)
        bundles = routed(given, routes)
        result.notes += route_notes(given, routes, view, result)
        if view.legacy:
            with _UploadsSwitchedOn(api, view, options, result):
                result.api = "v2 (RS 7.x)"
                _LegacyPublish(api, bundles, routes, options, result).run()
            return result
        # Judged before the upload switch is turned on: a refusal then changes nothing at all.
        judged = _judge_module_object(api, bundles, options, result)
        with _UploadsSwitchedOn(api, view, options, result) as switch:
            _publish_user_defined(api, bundles, routes, options, result, judged=judged, switch=switch)
    return result


def _result(bundles: Sequence[Bundle]) -> PublishResult:
    first = bundles[0].module
    name, version = first.get("module_name"), first.get("version")
    if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, int):
        # validation refuses such a module.json (SCH rules); this guards a direct caller
        raise UsageError(f"{bundles[0].path}: module.json needs a string module_name and an integer version")
    result = PublishResult(name, version)
    result.warnings = [w for b in bundles for w in b.warnings]
    return result


def _peek(paths: Sequence[Path]) -> list[Bundle] | None:
    """Each bundle's module.json, read without validating anything else; None if one is unreadable."""
    import json
    import zipfile

    from modpack.bundle import MAX_MODULE_JSON
    from modpack.regular import open_regular

    found, names = [], shown_names(paths)
    for path in paths:
        try:  # open_regular: a FIFO named bundle.zip blocked here for ever, before validation
            with open_regular(path) as stream, zipfile.ZipFile(stream) as archive:
                if archive.getinfo("module.json").file_size > MAX_MODULE_JSON:
                    return None  # validation says so; read whole here, 300 MB of it took 640 MB
                module = json.loads(archive.read("module.json"))
        except Exception:  # any damage (encrypted, an unknown method, bad LZMA data, deep nesting):
            # validating, in order, says what is wrong, where it was an internal error
            return None
        if not isinstance(module, dict):
            return None  # null, a list: validating first (in order) reports what is wrong
        module = versions.integral_version(module)
        version = module.get("version")
        if not isinstance(module.get("module_name"), str) or not isinstance(version, int) or version is True:
            return None  # validating first (in order) reports what is wrong
        found.append(Bundle(path, module, shown=names[path]))
    return found


def _pipelined(
    api: Api, paths: Sequence[Path], peeked: list[Bundle], view: ClusterView, options: PublishOptions
) -> PublishResult:
    """Stream to the nodes while validating, and let the uploads finish only once all is well.

    Each upload is held before its last chunk (client.Gate): until then the server has judged
    nothing and placed nothing. The bundles are validated, the identity proven and the module
    object created meanwhile; any failure aborts the held uploads and the server discards the
    partial files. The order of what changes is the one `_in_order` keeps.
    """
    try:
        routes = preflight(peeked, view, options)
    except PreflightError:
        load_bundles(paths, options.settings)  # a bundle that does not validate says so first
        raise
    result = _result(peeked)
    result.notes += route_notes(peeked, routes, view, result)
    # The switch is on (or there is none): the object turns it on again only if it goes off meanwhile.
    with _UploadsSwitchedOn(api, view, options, result) as switch:
        with _Uploads(api, options, result, routes, switch) as uploads:
            try:
                bundles = _validated_as_peeked(paths, peeked, options)
                raise_dropped_stop()  # before the module object: a stop creates nothing more
                created = _ensure_module_object(api, routed(bundles, routes), options, result, switch=switch)
            except KeyboardInterrupt:
                raise  # _Uploads stops the uploads and says what the run leaves
            except BaseException:
                uploads.abort()
                raise
            uploads.open()
            result.nodes = uploads.outcomes()
        result.warnings = [w for b in bundles for w in b.warnings]
        # While the switch is still on: putting back what --replace deleted is a POST it guards.
        if created and not result.took:
            _roll_back(api, result, switch=switch)
        else:
            _check_still_there(api, routed(bundles, routes), result)
    return result


def raise_dropped_stop() -> None:
    """Raise the stop a signal recorded (client.request_stop), whose own exception Python may
    have dropped: the run then goes no further than where a raised one would have left it."""
    stopped = client.stop_requested()
    if stopped is not None:
        raise stopped


class PublishInterrupted(ModpackError):
    """Ctrl+C (or SIGTERM) during publish: what the run had changed, and what it undid."""

    exit_code = 130  # as for SIGINT everywhere else in the CLI

    @classmethod
    def by(
        cls, signal: KeyboardInterrupt, what: str, hint: str, details: Sequence[str] = ()
    ) -> PublishInterrupted:
        """'interrupted: ...' (exit 130), or 'terminated: ...' (exit 143) for SIGTERM."""
        terminated = isinstance(signal, Terminated)
        error = cls(f"{'terminated' if terminated else 'interrupted'}: {what}", hint, details)
        error.exit_code = 143 if terminated else 130  # 128 + the signal's number, as shells report
        return error


class _Uploads:
    """Every route's upload, run by a worker thread while the caller validates and creates.

    Each upload is held before its last chunk until `open()` (client.Gate). Ctrl+C in the caller
    aborts them, rather than waiting for them to end: an upload still sending stops at its next
    chunk and the node discards the partial file, one whose body was sent whole is answered as
    usual. Then the module object this run created is deleted again when no node took the
    artifact, and PublishInterrupted says what each node holds.
    """

    def __init__(
        self,
        api: Api,
        options: PublishOptions,
        result: PublishResult,
        routes: Sequence[Route],
        switch: _UploadsSwitchedOn | None = None,
    ) -> None:
        self._api, self._result, self._routes, self._switch = api, result, routes, switch
        self._gate = client.Gate(api.connection.answer_timeout)
        bundle_of = {r.node.url: r.bundle for r in routes}
        self._work = _NodePublish(api, options, result, bundle_of, self._gate, switch)
        self._runner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="modpack-uploads")

    def __enter__(self) -> _Uploads:
        """Starts the uploads: only here, so that no upload runs that `__exit__` will not stop."""
        try:
            nodes = [r.node for r in self._routes]
            self._future = self._runner.submit(client.each_node, self._api.connection, nodes, self._work)
            return self
        except BaseException:
            self._gate.abort()  # Ctrl+C between the submit and the return: __exit__ never runs
            self._runner.shutdown()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if isinstance(error, KeyboardInterrupt):
            self._gate.abort()
            self._result.nodes = self._future.result()
            self._runner.shutdown()
            raise _interrupted(self._api, self._result, error, self._switch) from None
        self._gate.abort()  # a no-op once the uploads ended; else they stop, as the caller failed
        self._runner.shutdown()

    def open(self) -> None:
        self._gate.open()

    def abort(self) -> None:
        self._gate.abort()
        self._future.result()

    def outcomes(self) -> list[NodeOutcome]:
        nodes = self._future.result()
        raise_dropped_stop()  # the uploads stopped for it
        return nodes


def _interrupted(
    api: Api, result: PublishResult, signal: KeyboardInterrupt, switch: _UploadsSwitchedOn | None = None
) -> PublishInterrupted:
    """What an interrupted run leaves: the module object (deleted again when this run created it
    and no node took the artifact) and each node's upload."""
    took = [o for o in result.nodes if o.status == "uploaded"]
    if result.module_object == "replacing":
        _settle_replacing(api, result)
    if result.module_object == "creating":
        _settle_creation(api, result)
    if result.module_object in ("created", "replaced") and not took:
        _roll_back(api, result, noted=False, switch=switch)  # the module object's line says it
    elif result.module_object in ("", "not created") and result.replaced and not took:
        _restore_replaced(api, result, switch)  # --replace deleted it, and this run made none in its place
    if result.module_object == "creating":
        state = "unknown: the run stopped while creating it, and the cluster did not say whether it exists"
    elif result.module_object == "replacing":
        state = (
            f"unknown: the run stopped while --replace deleted module object {result.replaced}, and the"
            " cluster did not say whether it is gone"
        )
    else:
        state = result.module_object or "not created"
    details = [f"module object: {state}" + (f" (uid {result.uid})" if result.uid else "")]
    details += [
        f"{o.node.label}: " + ("uploaded" if o.status == "uploaded" else f"not uploaded ({o.detail})")
        for o in result.nodes
    ]
    details += result.notes
    if took:
        hint = (
            f"Run the same publish again to finish, or `modpack unpublish {result.module_name}"
            f" {result.version}` to remove what was placed."
        )
    elif result.restored:
        hint = (
            "The cluster holds the build it held before the run (its module object under a new uid);"
            " run the same publish again when ready."
        )
    elif result.replaced and result.module_object != "present":
        # Deleting a module object leaves its build's artifacts on the nodes (8.x: two endpoints).
        did = "may have deleted" if result.module_object == "replacing" else "deleted"
        hint = (
            f"--replace {did} module object {result.replaced}, and the nodes still hold that build's"
            " artifacts: run the same publish again to finish, or"
            f" `modpack unpublish {result.module_name} {result.version}` to remove them."
        )
    elif result.module_object == "created, rollback failed":
        hint = (
            f"Module object {result.uid}, created by this run, is still there: `modpack unpublish"
            f" {result.module_name} {result.version}` removes it."
        )
    else:
        hint = "Nothing is left on the nodes; run the same publish again when ready."
    where = f"is on {len(took)} of {len(result.nodes)} nodes" if result.nodes else "was not uploaded"
    return PublishInterrupted.by(signal, f"{result.module_name} {result.version} {where}", hint, details)


SETTLE_TRIES, SETTLE_PAUSE = 5, 0.2


def _settle_replacing(api: Api, result: PublishResult) -> None:
    """After Ctrl+C during --replace's DELETE: whether the stored module object is gone, asked as
    _settle_creation asks (the request had been sent, the answer was not read). Gone: "" (nothing
    created yet), with the note of the deletion; there: "present", nothing changed; no answer:
    stays "replacing", said to be unknown."""
    found = _settled(api, result, _without(result.replaced))
    if found is None:
        return
    if not _without(result.replaced)(found):
        result.module_object, result.uid, result.replaced = "present", result.replaced, ""
        return
    result.module_object = ""
    result.notes.append(f"replaced module object {result.replaced}: deleted before the run stopped")


def _settled(
    api: Api,
    result: PublishResult,
    done: Callable[[list[Module]], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> list[Module] | None:
    """After Ctrl+C with a request out whose answer was not read: the cluster's module objects of
    this name and version, asked until `done` says the change arrived, for about a second at most
    (the server may still be storing it); None when the cluster does not answer."""
    found: list[Module] = []
    for attempt in range(SETTLE_TRIES):
        try:
            found = client.find_modules(api, result.module_name, result.version)
        except ModpackError:
            return None
        if done(found) or attempt + 1 == SETTLE_TRIES:
            break
        sleep(SETTLE_PAUSE)
    return found


def _without(uid: str) -> Callable[[list[Module]], bool]:
    """Whether a listing of module objects no longer holds `uid`: a deletion has arrived."""
    return lambda found: all(str(m.get("uid", "")) != uid for m in found)


def _settle_creation(api: Api, result: PublishResult, sleep: Callable[[float], None] = time.sleep) -> None:
    """After Ctrl+C during the module object's POST: whether the cluster made it."""
    found = _settled(api, result, bool, sleep)
    if found is None:
        return  # stays "creating": said to be unknown
    if found:
        result.module_object, result.uid = "created", str(found[0].get("uid", ""))
    else:
        result.module_object = "not created"


class _UploadsSwitchedOn:
    """Turns allow_modules_upload on for the run when asked to, and off again whatever happens."""

    def __init__(self, api: Api, view: ClusterView, options: PublishOptions, result: PublishResult) -> None:
        self.url = f"{client.cluster_url(api.connection)}/v1/cluster"
        self.api, self.result = api, result
        self.allowed = options.allow_upload  # may turn it on again (turn says whether it did)
        self.turn = view.uploads_switch is False and options.allow_upload
        self.dry_run = options.dry_run
        self._again = threading.Lock()
        self._said = False  # the note that the switch went off during this run

    def __enter__(self) -> _UploadsSwitchedOn:
        if self.turn:
            self.result.calls.append(f'PUT {self.url} {{"allow_modules_upload": true}}')
            if not self.dry_run:
                try:
                    self.api.json("PUT", self.url, {"allow_modules_upload": True})
                except KeyboardInterrupt as signal:
                    # The PUT may have reached the cluster, its answer unread: `with` runs no
                    # __exit__ for an __enter__ that raised, and the switch stayed on unsaid.
                    self.__exit__(type(signal), signal, None)
                    raise _interrupted(self.api, self.result, signal) from None
                except ClusterError as failed:
                    if failed.status is None or failed.status >= 500:  # no answer: it may have landed
                        self.__exit__(type(failed), failed, None)
                    raise
        return self

    def on_again(self) -> bool:
        """After a node answered 403 modules_upload_disabled: the switch went off during this run
        (another run's --allow-upload ending, or an operator). With --allow-upload it is turned
        on again (each time: it may go off twice; the PUT is idempotent, and each refused call is
        retried once), and off at the end as this run's own; True when it is on."""
        with self._again:
            said = (
                "allow_modules_upload was turned off while this run was uploading (by another run's"
                " --allow-upload ending, or by an operator)"
            )
            if self.allowed:
                self.result.calls.append(f'PUT {self.url} {{"allow_modules_upload": true}} (again)')
                self.api.json("PUT", self.url, {"allow_modules_upload": True})
                self.turn = True  # turned on by this run now: off again at its end
                said += ": it was turned on again for the uploads it had stopped"
            if not self._said:
                self._said = True
                self.result.notes.append(said)
            return self.allowed

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if not self.turn:
            return
        self.result.calls.append(f'PUT {self.url} {{"allow_modules_upload": false}}')
        if self.dry_run:
            return
        try:
            self.api.json("PUT", self.url, {"allow_modules_upload": False})
        except ModpackError as failed:
            note = (
                f"allow_modules_upload could NOT be turned off again ({failed.message}): turn it off with"
                ' PUT /v1/cluster {"allow_modules_upload": false}'
            )
        else:
            note = "allow_modules_upload was turned on for this run and off again after"
        self.result.notes.append(note)
        if isinstance(error, ModpackError):
            # the run ends on this error, whose lines were written before the switch was turned
            # back, and a failed run prints no notes: one more line says what became of it
            error.details = (*error.details, note)


def _switched_on(switch: _UploadsSwitchedOn | None, call: Callable[[], T]) -> T:
    """`call()`, once more after 403 modules_upload_disabled when `switch` turned uploads on again
    (both upload calls answer it while the switch is off: release notes 8.2.0)."""
    try:
        return call()
    except ClusterError as refused:
        if refused.error_code != "modules_upload_disabled" or switch is None or not switch.on_again():
            raise
    return call()


def _publish_user_defined(
    api: Api,
    bundles: Sequence[Bundle],
    routes: list[Route],
    options: PublishOptions,
    result: PublishResult,
    *,
    judged: _Judged | None = None,
    switch: _UploadsSwitchedOn | None = None,
) -> None:
    try:
        created = _ensure_module_object(api, bundles, options, result, judged, switch=switch)
        if options.dry_run:
            publish_one = _NodePublish(api, options, result, {r.node.url: r.bundle for r in routes})
            result.nodes = client.each_node(api.connection, [r.node for r in routes], publish_one)
            return
        with _Uploads(api, options, result, routes, switch) as uploads:  # says what Ctrl+C leaves
            uploads.open()
            result.nodes = uploads.outcomes()
    except KeyboardInterrupt as signal:
        # Before the uploads started, up to the last statement before them (a SIGTERM that came
        # just after the module object was made left it behind): what was made is taken back.
        raise _interrupted(api, result, signal, switch) from None
    if created and not result.took:
        _roll_back(api, result, switch=switch)
    elif not options.dry_run:
        _check_still_there(api, bundles, result)


def _check_still_there(api: Api, bundles: Sequence[Bundle], result: PublishResult) -> None:
    """The module object said kept must still be listed once the uploads ended: an unpublish (or
    an operator) deleting it meanwhile left the nodes that took the artifact holding one no module
    object names (DELETE /v2/modules/user-defined/<uid> and each node's artifact go separately,
    rest-api-user-defined-modules.txt), while the run said the object was kept. The same build
    made again meanwhile (another run's unpublish and publish) is this run's all the same."""
    if result.module_object not in ("created", "replaced", "present"):
        return
    try:
        listed = client.find_modules(api, result.module_name, result.version)
    except ModpackError as failed:  # the uploads' outcomes stand: say what could not be checked
        result.notes.append(f"could not check that the module object is still there: {failed.message}")
        return
    if any(str(m.get("uid", "")) == result.uid for m in listed) or (listed and not result.uid):
        return
    if listed and not differences(listed[0], bundles):
        result.notes.append(
            f"the module object {result.uid} was deleted while this run uploaded, and the same build was"
            f" made again as {listed[0].get('uid', '?')} (another run?)"
        )
        result.uid = str(listed[0].get("uid", ""))
        return
    result.module_object = "deleted meanwhile"
    took = [o.node.label for o in result.nodes if o.status in ("uploaded", "present")]
    result.notes.append(
        f"the module object {result.uid} was deleted while this run uploaded (an unpublish, or an"
        " operator)"
        + (
            f"; {_and(took)} {_verb(took, 'holds', 'hold')} the artifact with no module object"
            if took
            else ""
        )
    )


@dataclass(frozen=True)
class _Judged:
    """The module object the cluster holds under the bundle's name and version (None: none), and
    the fields in which it differs, when --replace is to delete it."""

    existing: Module | None
    differing: tuple[str, ...] = ()


def _judge_module_object(
    api: Api, bundles: Sequence[Bundle], options: PublishOptions, result: PublishResult
) -> _Judged:
    """What the cluster holds, judged before anything changes: IdentityError for a bundled module,
    and for another build unless --replace."""
    existing = client.find_modules(api, result.module_name, result.version)
    if not existing:
        return _Judged(None)
    _refuse_bundled(existing[0], result)
    fields = differences(existing[0], bundles)
    if fields and not options.replace:
        raise _identity_error(result, fields, existing[0])
    return _Judged(existing[0], tuple(fields))


def _ensure_module_object(
    api: Api,
    bundles: Sequence[Bundle],
    options: PublishOptions,
    result: PublishResult,
    judged: _Judged | None = None,
    *,
    switch: _UploadsSwitchedOn | None = None,
) -> bool:
    """Make the module object exist and match (as `judged`, or judged now); True when this run
    created it. `switch`: turns allow_modules_upload on again if it goes off meanwhile."""
    judged = judged or _judge_module_object(api, bundles, options, result)
    existing, fields = judged.existing, judged.differing
    url = f"{client.cluster_url(api.connection)}{MODULES}"
    deleted = ""  # the note of the object --replace deleted, once it is
    if existing is not None:
        uid = str(existing.get("uid", ""))
        if not fields:
            result.module_object, result.uid = "present", uid
            _note_unproven(existing, bundles, result, options.dry_run)
            return False
        differ = f"{_and(fields)} {_verb(fields, 'differs', 'differ')}"
        result.calls.append(f"DELETE {url}/{uid} (replaced: {differ})")
        if options.dry_run:
            result.notes.append(f"would replace module object {uid}: {differ}")
        else:
            result.module_object, result.replaced = "replacing", uid  # Ctrl+C: _interrupted asks
            result.replaced_object, result.replaced_lacks = existing, _lacking(existing, bundles[0].module)
            client.delete_module(api, uid)  # the note only once it is done: Ctrl+C may come first
            result.module_object = ""
            deleted = f"replaced module object {uid}: {_and(fields)} differed"
            result.notes.append(deleted)
    result.calls.append(f"POST {url} (module object {result.module_name} {result.version})")
    if options.dry_run:
        result.module_object = "would replace" if existing else "would create"
        return False
    result.module_object = "creating"  # Ctrl+C from here on: _interrupted asks the cluster
    try:
        result.uid, created = _switched_on(switch, lambda: client.create_module(api, bundles[0].module))
    except ModpackError as failed:
        result.module_object = "not created"
        if deleted:  # it goes back; a failed run prints no notes, so the error says both
            failed.details = (*failed.details, deleted, _restore_replaced(api, result, switch))
        raise
    if not created:  # another run made it since the lookup above: proven like any existing one,
        result.module_object = "present"  # and not this run's: Ctrl+C must not take it back
        _check_made_meanwhile(api, bundles, result, str(existing.get("uid", "")) if existing else "")
    result.module_object = ("replaced" if existing else "created") if created else "present"
    return created


def _check_made_meanwhile(api: Api, bundles: Sequence[Bundle], result: PublishResult, replaced: str) -> None:
    """IdentityError when the module object another run created meanwhile is another build;
    `replaced`: the uid of the object --replace deleted before ("" when none), which is gone."""
    for stored in client.find_modules(api, result.module_name, result.version)[:1]:
        _refuse_bundled(stored, result)
        fields = differences(stored, bundles)
        if fields:
            result.module_object = "not created"
            changed = "nothing was changed"
            if replaced:  # this run's --replace deleted the object it had found
                changed = f"--replace had deleted module object {replaced} before it appeared"
            raise _identity_error(result, fields, stored, changed)
        _note_unproven(stored, bundles, result, dry_run=False)


def _refuse_bundled(stored: Module, result: PublishResult) -> None:
    """A module Redis Enterprise ships (is_bundled) is never compared, replaced or deleted."""
    if stored.get("is_bundled") is True:
        raise IdentityError(
            f"{result.module_name} version {result.version} is a module bundled with Redis Enterprise"
            f" (uid {stored.get('uid', '?')}); nothing was changed",
            "Publish a custom build under a module name or version the cluster does not bundle.",
        )


def _note_unproven(stored: Module, bundles: Sequence[Bundle], result: PublishResult, dry_run: bool) -> None:
    fields = unproven(stored, bundles)
    sent = "would be" if dry_run else "is"
    if fields:
        result.notes.append(
            f"the cluster's module object does not keep {_and(fields)}, so {_verb(fields, 'it', 'they')}"
            f" could not be compared; every node {sent} sent this build"
        )
    unmatched = _unmatched(stored, [k for k in _built_fields(stored) if k in stored], bundles)
    if unmatched and platform_unknown(stored):
        result.notes.append(
            f"the cluster's module object has another {_and(unmatched)} and keeps no architecture or"
            " operating_systems, so whether it describes another platform's build or an earlier build of"
            f" this one cannot be told; every node {sent} sent this build"
        )
    other = other_platform(stored, bundles)
    if other:
        result.notes.append(
            f"the cluster's module object describes the build for {other}, and no bundle given is for"
            f" that platform, so their binaries could not be compared with it; every node {sent} sent"
            " its bundle"
        )
    beside = (
        []
        if other or platform_unknown(stored)
        else [b for b in bundles if not _same_platform(stored, b.module)]
    )
    if beside:
        # The other platforms' builds: nothing the cluster keeps says what their nodes hold, so a
        # rebuild of one under this version went over the old one with exit 0 and no word.
        labels = [b.label for b in beside]
        uploaded = "would be" if dry_run else _verb(labels, "is", "are")
        result.notes.append(
            f"the cluster's module object describes the build for {platforms.platform_label(stored)} alone,"
            f" so {_and(labels)} could not be compared with the build the nodes of"
            f" {_verb(labels, 'its platform', 'their platforms')} hold (a node's artifact list names no"
            f" content): {_verb(labels, 'it', 'they')} {uploaded} uploaded over it, replacing any other build"
            f" of {result.module_name} {result.version} there"
        )


def _roll_back(
    api: Api, result: PublishResult, *, noted: bool = True, switch: _UploadsSwitchedOn | None = None
) -> bool:
    """Delete the module object this run created, and put back the one --replace deleted for it;
    whether this run's was deleted (notes say what became of each; of this run's, not when
    `noted` is false: the caller's own line says it). `switch`: the run's upload switch, which
    the POST putting it back needs on (another run's --allow-upload may have turned it off)."""
    try:
        client.delete_module(api, result.uid)
    except ModpackError as exc:
        rollback_failed(api, result, exc.message)
        return False
    result.module_object = "rolled back"
    if noted:
        result.notes.append(
            f"no node took the artifact: module object {result.uid}, created by this run, was deleted again"
        )
    _restore_replaced(api, result, switch)
    return True


def rollback_failed(api: Api, result: PublishResult, why: str) -> None:
    """The status and note of the module object this run created, when no node took the artifact
    and deleting it again failed (`why`): still listed, or not said ("created, rollback failed");
    or gone, the deletion's action having failed to remove it from every node (RS 7.x, "created,
    rolled back in part"). It printed an empty status on 7.x, and a hint that it was not created."""
    uid = result.uid
    listed: bool | None
    try:
        listed = any(
            str(m.get("uid", "")) == uid for m in client.find_modules(api, result.module_name, result.version)
        )
    except ModpackError:
        listed = None  # not known: the hint's unpublish settles it either way
    if listed is not False:
        result.module_object = "created, rollback failed"
        whether = (
            "the cluster still lists it" if listed else "whether the cluster still lists it is not known"
        )
        result.notes.append(
            f"no node took the artifact, and deleting module object {uid}, created by this run, failed"
            f" ({why}): {whether}"
        )
        return
    result.module_object = "created, rolled back in part"
    result.notes.append(
        f"no node took the artifact; the cluster deleted module object {uid}, created by this run, but"
        f" the deletion failed ({why}): the nodes it names may still hold files of"
        f" {result.module_name} {result.version}"
    )


def _restore_replaced(api: Api, result: PublishResult, switch: _UploadsSwitchedOn | None = None) -> str:
    """The module object --replace deleted, created again (under a new uid) when no node took this
    run's build: the nodes still hold the artifacts of the build it describes, and without it the
    cluster knew none of them (a failed --replace left the cluster worse off than it found it).
    Only from a listing that keeps what a module object needs: a real cluster's GET /v1/modules
    keeps no commands (objects/module), and an object made from it would route none of them.
    Returns the note it adds ("" when --replace deleted nothing)."""
    stored, old = result.replaced_object, result.replaced
    if stored is None:
        return ""
    result.replaced_object = None
    if result.replaced_lacks:
        note = (
            f"module object {old}, which --replace deleted, cannot be made again from what the cluster"
            f" lists (it keeps no {_and(list(result.replaced_lacks))}): publish the build the nodes hold"
            f" again to restore it, or `modpack unpublish {result.module_name} {result.version}` to"
            " remove its artifacts"
        )
    else:
        document = {k: v for k, v in stored.items() if k not in SERVER_FIELDS}
        note = _create_again(api, result, document, switch)
    result.notes.append(note)
    return note


def _create_again(
    api: Api, result: PublishResult, document: Module, switch: _UploadsSwitchedOn | None
) -> str:
    old = result.replaced
    try:  # a POST the upload switch guards, as the run's own (release notes 8.2.0)
        uid, created = _switched_on(switch, lambda: client.create_module(api, document))
    except ModpackError as exc:
        return (
            f"--replace had deleted module object {old}, and creating it again failed ({exc.message}):"
            " the nodes hold that build's artifacts, which no module object describes"
        )
    result.replaced = ""
    if not created:
        return f"another run made module object {uid} meanwhile, in place of {old}"
    result.restored = uid
    return f"module object {old}, which --replace had deleted, was created again as {uid}"


def _lacking(stored: Module, sent: Module) -> tuple[str, ...]:
    """The fields a module.json sends (a module object's content) that a listed object lacks."""
    return tuple(
        sorted(k for k, v in sent.items() if k not in SERVER_FIELDS and not _empty(v) and k not in stored)
    )


@dataclass
class _NodePublish:
    """Upload one node's bundle, then check that the node lists it."""

    api: Api
    options: PublishOptions
    result: PublishResult
    bundle_of: dict[str, Bundle]
    gate: client.Gate | None = None
    switch: _UploadsSwitchedOn | None = None

    def __call__(self, node: NodeRef) -> NodeOutcome:
        bundle = self.bundle_of[node.url]
        name, version = self.result.module_name, self.result.version
        self.result.calls.append(f"POST {node.url}{ARTIFACTS} (multipart field module={bundle.path.name})")
        if self.options.dry_run:
            return NodeOutcome(node, "would upload", bundle.name, bundle=bundle.path)
        url, progress = f"{node.url}{ARTIFACTS}", self.options.progress
        _switched_on(
            self.switch,
            lambda: client.post_bundle(self.api, url, node.label, bundle.path, progress, gate=self.gate),
        )
        if not client.has_artifact(self.api, node, name, version):
            return NodeOutcome(
                node, "failed", "the upload was accepted but the node does not list the artifact", bundle.path
            )
        size = bundle.path.stat().st_size
        return NodeOutcome(node, "uploaded", f"{bundle.name}, {size} bytes, listed by the node", bundle.path)


# --- RS 7.x -----------------------------------------------------------------------------------


@dataclass
class _LegacyPublish:
    """`POST /v2/modules` once per bundle whose platforms the cluster does not provably hold."""

    api: Api
    bundles: Sequence[Bundle]
    routes: list[Route]
    options: PublishOptions
    result: PublishResult
    # What Ctrl+C leaves: a POST was sent (or begun), and the cluster then said it took nothing
    sent: bool = False
    nothing_taken: bool = False

    def run(self) -> None:
        try:
            self._run()
            raise_dropped_stop()
        except KeyboardInterrupt as stopped:
            if self.result.replaced:
                raise self._interrupted_replacing(stopped) from None
            result = self.result
            if self.result.took:  # stopped after the cluster installed it (checking what it holds)
                raise _interrupted(self.api, result, stopped) from None
            if self.sent and not self.nothing_taken:
                raise PublishInterrupted.by(
                    stopped,
                    f"the run stopped once the cluster had been sent {result.module_name} {result.version},"
                    " and the cluster did not say whether it took it",
                    "See where it stands with `modpack modules list`; `modpack unpublish"
                    f" {result.module_name} {result.version}` removes it, or run the same publish again.",
                ) from None
            # Nothing sent, or the cluster said it holds none of it (a bare 'interrupted' said nothing
            # of that, nor of the upload switch turned on and off again, which _UploadsSwitchedOn adds).
            raise PublishInterrupted.by(
                stopped,
                f"{result.module_name} {result.version} was not uploaded",
                "Nothing was changed on the cluster; run the same publish again when ready.",
                [f"module object: {'present' if result.module_object == 'present' else 'not created'}"],
            ) from None

    def _run(self) -> None:
        before = client.find_modules(self.api, self.result.module_name, self.result.version)
        stored = before[0] if before else None
        if stored is not None:
            _refuse_bundled(stored, self.result)
        replaced = stored is not None and self._replaced(stored)
        if replaced:
            stored = None
        needed = [b for b in self.bundles if self._wanted(b, stored)]
        if self.options.dry_run:
            self.result.module_object = (
                "would replace" if replaced else "present" if stored is not None else "would create"
            )
        else:
            self.result.module_object = "present" if stored is not None else ""
        self.result.uid = str(stored.get("uid", "")) if stored else ""
        outcomes: dict[int, tuple[NodeStatus, str]] = {}
        for at, bundle in enumerate(needed):
            try:
                outcomes[id(bundle)] = self._upload(bundle)
            except KeyboardInterrupt as stopped:
                if not any(status == "uploaded" for status, _ in outcomes.values()):
                    raise  # the cluster took nothing of this run
                # an earlier bundle is installed: say so, as an 8.x run interrupted mid-way does
                for left in needed[at:]:
                    outcomes[id(left)] = ("failed", f"interrupted before the cluster took {left.name}")
                self.result.nodes = [self._node_outcome(r, outcomes) for r in self.routes]
                made: ObjectStatus = "replaced" if self.result.replaced else "created"
                self.result.module_object = "present" if stored is not None else made
                raise _interrupted(self.api, self.result, stopped) from None
        self.result.nodes = [self._node_outcome(r, outcomes) for r in self.routes]
        if stored is None and not self.options.dry_run:
            self._finish_new()

    def _replaced(self, stored: Module) -> bool:
        """False when the stored module matches; True once a different one is deleted (--replace)."""
        fields = differences(_without_platforms(stored), self.bundles)
        # What the platforms map holds for each platform whose sha256 differs, under the name the
        # messages give it: _identity_error asks the object for each field's value, and read from
        # the object itself such a name held nothing, which it said the object lacked.
        wrong: dict[str, JSON] = {
            f"sha256 for {key}": held
            for key, b in self._platform_bundles()
            if (held := _platform_sha(stored, key)) not in (None, b.module.get("sha256"))
        }
        if "platforms" in stored:  # per-platform fields are judged by the platforms map
            fields = [f for f in fields if f not in PER_PLATFORM] + list(wrong)
        if not fields:
            return False
        uid = str(stored.get("uid", ""))
        if not self.options.replace:
            raise _identity_error(self.result, fields, {**stored, **wrong})
        url = f"{client.cluster_url(self.api.connection)}{LEGACY_MODULES}/{uid}"
        differ = f"{_and(fields)} {_verb(fields, 'differs', 'differ')}"
        self.result.calls.append(f"DELETE {url} (replaced: {differ})")
        if self.options.dry_run:
            self.result.notes.append(f"would replace module {uid}: {differ}")
            return True
        self.result.replaced = uid  # Ctrl+C from here on: run() says what became of it
        delete_legacy_module(self.api, uid)  # removes the module from every node: no way back
        self.result.notes.append(f"replaced module {uid}: {_and(fields)} differed")
        return True

    def _interrupted_replacing(self, stopped: KeyboardInterrupt) -> PublishInterrupted:
        """Ctrl+C once --replace had set out to delete the stored module, and before the cluster
        took this run's bundle: whether that module is gone, asked as _settle_creation asks."""
        name, version, uid = self.result.module_name, self.result.version, self.result.replaced
        found = _settled(self.api, self.result, _without(uid))
        listed = [str(m.get("uid", "")) for m in found or []]
        state = "unknown" if found is None else "still listed" if uid in listed else "deleted"
        if state == "deleted" and listed:  # the cluster took this run's bundle before Ctrl+C
            return PublishInterrupted.by(
                stopped,
                f"--replace deleted {name} {version} (module {uid}), and the cluster holds this run's"
                f" build as module {listed[0]}",
                "See where it stands with `modpack modules list`; run the same publish again to check"
                " every node.",
                self.result.notes,
            )
        if state == "deleted":
            return PublishInterrupted.by(
                stopped,
                f"--replace deleted {name} {version} (module {uid}) from the cluster, and this build was"
                " not installed",
                f"Run the same publish again to install it: the cluster holds no {name} {version} now.",
                self.result.notes,
            )
        how = (
            "is still listed (its deletion may still be under way)"
            if state == "still listed"
            else "may be gone: the cluster did not answer"
        )
        return PublishInterrupted.by(
            stopped,
            f"--replace was deleting {name} {version} (module {uid}), which {how}; this build was not"
            " installed",
            "See where it stands with `modpack modules list`, then run the same publish again.",
            self.result.notes,
        )

    def _platform_bundles(self) -> Iterator[tuple[str, Bundle]]:
        """Each platform the nodes have, once (two rhel9 nodes named it twice), with its bundle."""
        seen = set()
        for route in self.routes:
            if route.facts is not None:
                key = f"{route.facts.os}/{route.facts.architecture}"
                if key not in seen:
                    seen.add(key)
                    yield key, route.bundle

    def _wanted(self, bundle: Bundle, stored: Module | None) -> bool:
        """Whether the cluster cannot prove it holds this bundle on every node it routes to."""
        if stored is None:
            return True
        keys = [key for key, b in self._platform_bundles() if b is bundle]
        if "platforms" not in stored:
            return not keys or stored.get("sha256") != bundle.module.get("sha256")
        return not keys or any(_platform_sha(stored, key) != bundle.module.get("sha256") for key in keys)

    def _upload(self, bundle: Bundle) -> tuple[NodeStatus, str]:
        url = f"{client.cluster_url(self.api.connection)}{LEGACY_MODULES}"
        self.result.calls.append(f"POST {url} (multipart field module={bundle.path.name})")
        if self.options.dry_run:
            return "would upload", bundle.name
        action_uid: JSON = None
        # An open gate: it holds nothing back, and stops the upload at its next chunk once a
        # signal asked to stop (one whose exception Python dropped would let it go on).
        gate = client.Gate(self.api.connection.answer_timeout)
        gate.open()
        try:
            self.sent = True
            answer = client.post_bundle(
                self.api, url, "cluster", bundle.path, self.options.progress, gate=gate
            )
            action = answer.json() if answer.content else {}
            uid = str(action.get("uid", "")) if isinstance(action, dict) else ""
            if uid:
                self.result.uid = uid
            action_uid = action.get("action_uid") if isinstance(action, dict) else None
            follow_action(self.api, action_uid)
        except ClusterError as exc:
            if exc.error_code == "module_exists" and (meanwhile := self._installed_meanwhile(bundle)):
                return meanwhile
            return "failed", exc.message
        except client.UploadAborted:
            self.nothing_taken = True  # stopped before its last bytes: the cluster has none of it
            raise_dropped_stop()
            raise
        except (ModpackError, ValueError) as exc:
            return "failed", getattr(exc, "message", str(exc))
        except KeyboardInterrupt as stopped:
            taken = self._taken(bundle) if action_uid is None else True
            if taken is False:
                # The cluster answered, and holds none of it; unless the zip went whole, that is
                # not for good: the last bytes may still be on their way (the network's buffers),
                # and the cluster installs it once they arrive, after this run ended (unknown).
                self.nothing_taken = not gate.handed_over
                raise
            if taken is None:
                raise  # the cluster did not answer: run() says that it is not known
            # The cluster took the zip: its action goes on without us, and may install it.
            action = f"action {action_uid}" if action_uid else "its action's uid was not read"
            raise PublishInterrupted.by(
                stopped,
                f"the cluster took {bundle.name} and goes on installing"
                f" {self.result.module_name} {self.result.version} ({action})",
                "See where it stands with `modpack modules list`; `modpack unpublish"
                f" {self.result.module_name} {self.result.version}` removes it.",
            ) from None
        return "uploaded", f"{bundle.name} via POST /v2/modules, copied to the nodes by the cluster"

    def _installed_meanwhile(self, bundle: Bundle) -> tuple[NodeStatus, str] | None:
        """After 400 module_exists: "present" when the build the cluster now holds for this
        bundle's platforms is this one (another run installed it since this one looked, as two
        identical publishes at once do); None when it is another build, which stays a failure."""
        try:
            found = client.find_modules(self.api, self.result.module_name, self.result.version)
        except ModpackError:
            return None  # not proven: the module_exists refusal stands
        if not found or self._wanted(bundle, found[0]):
            return None
        self.result.uid = str(found[0].get("uid", self.result.uid))
        return "present", "the cluster holds this build (sha256): another run installed it meanwhile"

    def _taken(self, bundle: Bundle, sleep: Callable[[float], None] = time.sleep) -> bool | None:
        """After Ctrl+C during the POST: whether the cluster holds the bundle anyway (the zip was
        sent whole, the answer not read). Asked a few times, about a second, as _settle_creation;
        None when the cluster did not answer."""

        def holds(found: list[Module]) -> bool:
            return bool(found) and not self._wanted(bundle, found[0])

        found = _settled(self.api, self.result, holds, sleep)
        return None if found is None else holds(found)

    def _node_outcome(self, route: Route, outcomes: dict[int, tuple[NodeStatus, str]]) -> NodeOutcome:
        status, detail = outcomes.get(id(route.bundle), ("present", "the cluster holds this build (sha256)"))
        return NodeOutcome(route.node, status, detail, route.bundle.path)

    def _finish_new(self) -> None:
        now = client.find_modules(self.api, self.result.module_name, self.result.version)
        if not now:
            self.result.module_object = "not created"
            return
        self.result.uid = str(now[0].get("uid", self.result.uid))
        if self.result.took:
            self.result.module_object = "replaced" if self.result.replaced else "created"
            return
        if any(o.status == "present" for o in self.result.nodes):
            self.result.module_object = "present"  # another run's, installed meanwhile: not ours to undo
            return
        try:
            delete_legacy_module(self.api, self.result.uid)
        except ModpackError as exc:
            rollback_failed(self.api, self.result, exc.message)
            return
        self.result.module_object = "rolled back"
        self.result.notes.append(
            f"no node took the artifact: module {self.result.uid}, created by this run, was deleted again"
        )


def _without_platforms(stored: Module) -> Module:
    return {k: v for k, v in stored.items() if k != "platforms"}


def _platform_sha(stored: Module, key: str) -> JSON:
    listed = stored.get("platforms")
    entry = listed.get(key) if isinstance(listed, dict) else None
    return entry.get("sha256") if isinstance(entry, dict) else None


def follow_action(api: Api, action_uid: object, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait for `/v1/actions/<uid>` to complete; ClusterError when it fails or takes too long."""
    if not isinstance(action_uid, str) or not action_uid:
        return  # nothing to follow: the answer was final
    url = f"{client.cluster_url(api.connection)}{ACTIONS}/{urllib.parse.quote(action_uid, safe='')}"
    deadline = time.monotonic() + api.connection.answer_timeout
    while True:
        raise_dropped_stop()
        answer = api.json("GET", url)
        action = answer if isinstance(answer, dict) else {}
        status = action.get("status")
        if status == DONE:
            return
        if status in ENDED_BADLY:
            raise ActionFailed(f"action {action_uid} ({action.get('name', '?')}) {status}: {_reason(action)}")
        if time.monotonic() > deadline:
            raise ActionFailed(
                f"action {action_uid} did not complete within {api.connection.answer_timeout:.0f} s"
            )
        sleep(ACTION_POLL)


def _reason(action: Mapping[str, JSON]) -> str:
    """A failed action's error_code and error_message (objects/action); older fields as a fallback."""
    message = action.get("error_message") or action.get("error") or action.get("description")
    code = action.get("error_code")
    text = f"{code}: {message}" if code and message else str(message or code or "no reason given")
    return text[:500]


def delete_legacy_module(api: Api, uid: str) -> bool:
    """`DELETE /v2/modules/<uid>` and follow its action; False when there was none."""
    quoted = urllib.parse.quote(uid, safe="")
    try:
        response = api.send("DELETE", f"{client.cluster_url(api.connection)}{LEGACY_MODULES}/{quoted}")
    except ClusterError as exc:
        if exc.status == 404:
            return False
        raise
    body = response.json() if response.content else {}
    follow_action(api, body.get("action_uid") if isinstance(body, dict) else None)
    return True


# --- unpublish --------------------------------------------------------------------------------


@dataclass
class UnpublishResult:
    module_name: str
    version: int
    nodes: list[NodeOutcome] = field(default_factory=list)
    module_objects: list[str] = field(default_factory=list)  # uids deleted
    some_nodes: str = ""  # why the module object was kept: --node left nodes out
    kept_uids: list[str] = field(default_factory=list)  # the module objects kept for that reason

    @property
    def failed(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.failed]


class ObjectRefused(ModpackError):
    """The cluster would not delete the module object (406 module_in_use while a database uses
    it): unpublish then deletes no artifact."""


def unpublish(name: str, version: int, connection: Connection) -> UnpublishResult:
    """Delete the module object, then the artifact on every node, in the order the reference
    gives (redis-enterprise.md §4.4, §12): the cluster refuses the object's deletion while a database
    uses the module (406 module_in_use), and then no artifact is touched; deleted first, the
    artifacts were gone from every node before that refusal. Each node's artifact is found by name
    and version, so a re-run removes those a run that stopped part-way left, with the object gone.
    With `--node` leaving nodes of GET /v1/nodes out, the object is kept (they may still hold the
    artifact) and only the nodes given lose theirs.

    On RS 7.x the cluster removes a module from its nodes itself: `DELETE /v2/modules/<uid>`;
    `--node` cannot choose nodes there and is refused.
    """
    client.module_name_argument(name)
    try:
        return _unpublish(name, version, connection)
    except KeyboardInterrupt as signal:  # some deletions may be done: the user must know to re-run
        raise PublishInterrupted.by(
            signal,
            f"unpublish of {name} {version} stopped part-way: the module object may still be there,"
            " and some nodes may still hold the artifact",
            f"Run `modpack unpublish {name} {version}` again to finish: it removes what is left.",
        ) from None


def _unpublish(name: str, version: int, connection: Connection) -> UnpublishResult:
    result = UnpublishResult(name, version)
    with Api(connection) as api:
        modules = client.find_modules(api, name, version)
        for module in modules:
            if module.get("is_bundled") is True:
                raise ModpackError(
                    f"{name} version {version} is a module bundled with Redis Enterprise"
                    f" (uid {module.get('uid', '?')}); nothing was removed",
                    "unpublish removes custom modules only; a bundled module goes with the cluster's"
                    " upgrades.",
                )
        listed = _node_objects(api)
        legacy = _legacy(listed)
        if legacy:
            _refuse_node_choice(connection, None, "unpublish")
            _delete_objects(api, modules, result, legacy=True)  # which removes them from the nodes
            return result
        result.some_nodes = _some_nodes_only(connection, listed)  # decided before anything is deleted
        if result.some_nodes:
            result.kept_uids = [str(m.get("uid", "")) for m in modules]
        else:
            _delete_objects(api, modules, result)
        result.nodes = client.remove_artifacts(api, connection, name, version, listed)
    return result


def _delete_objects(
    api: Api, modules: Sequence[Module], result: UnpublishResult, *, legacy: bool = False
) -> None:
    """Delete each module object (on 7.x, with every node's copy); an error at the first the
    cluster does not delete, which says what is left."""
    for module in modules:
        uid = str(module.get("uid", ""))
        try:
            deleted = delete_legacy_module(api, uid) if legacy else client.delete_module(api, uid)
        except ActionFailed as failed:
            raise _removal_failed(api, result, uid, failed) from None
        except ClusterError as refused:
            raise _object_refused(result, uid, refused, legacy) from None
        if deleted:
            result.module_objects.append(uid)


def _object_refused(result: UnpublishResult, uid: str, refused: ClusterError, legacy: bool) -> ObjectRefused:
    done = f" (module object {_and(result.module_objects)} was deleted)" if result.module_objects else ""
    if refused.error_code == "module_in_use":
        hint = (
            "A database uses the module: remove it from the databases that use it, or upgrade them to"
            " another version of it, then run the same command again."
        )
    else:
        hint = refused.hint or "Fix what the answer names, then run the same command again."
    untouched = "nothing was removed from the nodes" if legacy else "no artifact was deleted"
    return ObjectRefused(
        f"deleting module object {uid} of {result.module_name} {result.version} failed"
        f" ({refused.message}); {untouched}{done}",
        hint,
    )


def _removal_failed(api: Api, result: UnpublishResult, uid: str, failed: ActionFailed) -> ModpackError:
    """A 7.x DELETE whose action failed (its reason names the nodes that could not remove their
    copy): what is left, as the cluster's listing says. An unpublish said only the action's
    failure, and a second one "none found" of a module a node still held: a cluster that drops
    the module object although its action fails leaves files no REST call of 7.x reaches."""
    name, version = result.module_name, result.version
    try:
        kept: bool | None = any(str(m.get("uid", "")) == uid for m in client.find_modules(api, name, version))
    except ModpackError:
        kept = None
    if kept is False:
        return ModpackError(
            f"the cluster deleted module object {uid} of {name} {version}, but not from every node"
            f" ({failed.message}): the nodes named there may still hold its files",
            "RS 7.x removes a module's files only with its module object: once what failed is fixed,"
            f" publish {name} {version} again, then `modpack unpublish {name} {version}` removes it from"
            " every node.",
        )
    listed = "still lists it" if kept else "did not say whether it still lists it"
    return ModpackError(
        f"deleting module object {uid} of {name} {version} failed ({failed.message}); the cluster"
        f" {listed}, and the nodes named there may still hold its files",
        f"Run `modpack unpublish {name} {version}` again once what failed is fixed: it removes what is left.",
    )


def _some_nodes_only(connection: Connection, listed: Sequence[dict[str, JSON]]) -> str:
    """Why --node leaves nodes out ("" when it reaches every node GET /v1/nodes lists): those
    may still hold the artifact, and deleting the module object would leave them one the cluster
    no longer knows. Each listed node must be reached by a URL given: its address, or a host
    name resolving to it on its port (client.match_node); a port-forward proves nothing."""
    if not connection.nodes:
        return ""
    cluster = client.cluster_url(connection)
    refs = [r for r in (client.node_ref(cluster, node) for node in listed) if r is not None]
    given = [client.base_url(u, "--node") for u in connection.nodes]
    reached = len({m.url for u in given if (m := client.match_node(u, refs)) is not None})
    if listed and reached == len(listed):
        return ""
    return f"--node reached {reached} of the {len(listed)} nodes GET /v1/nodes lists (matched by address)"


def delete_module_object(api: Api, uid: str) -> bool:
    """`modules delete`: the endpoint the cluster's version has; never a bundled module's object."""
    bundled = [m for m in client.list_modules(api) if m.get("uid") == uid and m.get("is_bundled") is True]
    if bundled:
        name, version = bundled[0].get("module_name"), bundled[0].get("version")
        raise ModpackError(
            f"module object {uid} ({name} {version}) is a module bundled with Redis Enterprise;"
            " nothing was deleted",
            "modpack deletes the objects of custom modules only.",
        )
    return delete_legacy_module(api, uid) if api_is_legacy(api) else client.delete_module(api, uid)


def parse_version(text: str) -> int:
    """A module version as `10203` or as its semantic version `1.2.3` (major*10000+minor*100+patch).

    The encoding is RAMP's (redis-enterprise.md §2.1, `version`); each part must be below 100.
    """
    from modpack.checks.numbers import C_INT

    value = text.strip()
    number: int | None = None
    # ASCII digits only: str.isdigit() and int() also take fullwidth digits, and isdigit() superscripts.
    if value.isascii() and value.isdigit():
        number = int(value)
    parts = value.split(".")
    if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts):
        major, minor, patch = (int(p) for p in parts)
        if minor < 100 and patch < 100:
            number = major * 10000 + minor * 100 + patch
    if number is not None and number > C_INT[1]:  # every node answered 406 for one this large
        raise UsageError(
            f"{text!r} is past the largest module version, {C_INT[1]} (module.json's version is a C int)",
            "Give the number from module.json's version (10203) or its semantic version (1.2.3).",
        )
    if number is not None:
        return number
    raise UsageError(
        f"{text!r} is not a module version",
        "Give the number from module.json's version (10203) or its semantic version (1.2.3).",
    )
