"""Preflight: route each node to the one bundle that fits it, and refuse what cannot work.

Every problem is named once, before anything is created: a node reported down, a node no bundle
fits, a `compatible_redis_version` (else `min_redis_version`) a node offers no database of, a
cluster older than `min_redis_pack_version`, a role that lacks a permission, uploads switched off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modpack.errors import ModpackError
from modpack.rest import platforms
from modpack.rest.publish.wording import joined, verb

if TYPE_CHECKING:
    from modpack.rest.client import Connection, NodeRef
    from modpack.rest.platforms import NodeFacts
    from modpack.rest.publish.bundles import Bundle
    from modpack.rest.publish.results import PublishOptions, PublishResult
    from modpack.rest.publish.view import ClusterView


class PreflightError(ModpackError):
    """The cluster cannot take the bundles; nothing was changed."""


@dataclass
class Route:
    node: NodeRef
    facts: NodeFacts | None
    bundle: Bundle


def preflight(
    bundles: Sequence[Bundle], view: ClusterView, options: PublishOptions, connection: Connection
) -> list[Route]:
    """Each node with the bundle it gets; PreflightError naming every problem found, once: nodes
    with the same problem share its line. `connection`: the run's, whose options the commands
    the lines name carry."""
    routes, problems, apart = _routes(bundles, view, connection)
    problems[:0] = _down(view)
    for bundle in bundles:
        routed = [(r.node, r.facts) for r in routes if r.bundle is bundle]
        problems += _redis_version(bundle, routed or view.nodes)
    problems += _pack_version(bundles, view)
    problems += _role_lacks(view, options)
    if view.uploads_switch is False and not options.allow_upload:
        problems.append(_uploads_off(view))
    if problems:
        raise PreflightError(
            f"the cluster cannot take {', '.join(b.name for b in bundles)}; nothing was changed:",
            "Fix each line above, then run the same command again"
            + (", with a --node for each node but those to publish to apart." if apart else "."),
            problems,
        )
    return routes


def _routes(
    bundles: Sequence[Bundle], view: ClusterView, connection: Connection
) -> tuple[list[Route], list[str], bool]:
    """Each node with the one bundle that fits it, and a line per routing problem: nodes no
    bundle fits and nodes several fit (each by platform), and each bundle when none fits any node;
    and whether some nodes must be published to apart (their platform cannot be told)."""
    routes, problems = [], []
    unfit: dict[str, list[str]] = {}  # node platform -> the nodes no bundle fits
    # node platform -> the indexes of the bundles that fit it and its nodes (a bundle fits a node
    # by its OS and architecture alone, so the nodes of one platform fit the same bundles)
    ambiguous: dict[str, tuple[list[int], list[str]]] = {}
    # the same for nodes whose OS or architecture GET /v1/nodes does not tell: no bundle can be
    # given for their platform, so they are published to apart (--node; not on 7.x, see _unknown)
    unknown: dict[str, tuple[list[int], list[NodeRef]]] = {}
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
        elif not view.legacy and (facts.os is None or facts.architecture is None):
            unknown.setdefault(facts.platform, (fitting, []))[1].append(ref)
        else:
            ambiguous.setdefault(facts.platform, (fitting, []))[1].append(ref.label)
    offered = "; ".join(b.label for b in bundles)
    problems += [
        f"{joined(labels)} {verb(labels, 'runs', 'run')} {platform}, which no bundle given is built"
        f" for ({offered}): give a bundle built for {platform} too"
        for platform, labels in unfit.items()
    ]
    problems += [
        f"{joined(labels)} {verb(labels, 'runs', 'run')} {platform}, which several bundles fit"
        f" ({', '.join(bundles[i].name for i in indexes)}): give one per platform"
        for platform, (indexes, labels) in ambiguous.items()
    ]
    # every node's platform untold alike (a whole cluster upgraded ahead of modpack's table): no
    # other node to publish to apart from them, so giving the one build for them is the way
    whole = len(unknown) == 1 and not routes and not problems  # problems: the lines of the others
    problems += [
        _unknown(platform, [bundles[i] for i in fit], nodes, connection, whole=whole)
        for platform, (fit, nodes) in unknown.items()
    ]
    if taken is not None and not taken:  # None: no node is listed, so none can be said to fit
        # Only when no bundle fits any node: one that fits none beside others that do (an aarch64
        # build given with dist/*.zip to an x86_64 cluster) is left out with a note (`route_notes`).
        problems += [f"{b.label} fits no node {_of_nodes(view)}" for b in bundles]
    return routes, problems, bool(unknown) and not whole


def _unknown(
    platform: str,
    fitting: Sequence[Bundle],
    refs: Sequence[NodeRef],
    connection: Connection,
    *,
    whole: bool = False,
) -> str:
    """The line for nodes whose OS or architecture GET /v1/nodes does not tell, when several
    bundles fit them: "give one per platform" cannot be followed for a platform nobody can name,
    so the line says how to publish to them apart. RS 8.x uploads to each node, and --node picks
    them; on 7.x the cluster installs on every node itself and --node is refused, so there the
    usual line stands."""
    labels = [r.label for r in refs]
    them = verb(labels, "it", "them")
    os_untold, arch_untold = platform.startswith("unknown OS"), platform.endswith("unknown architecture")
    untold = "OS or architecture" if os_untold and arch_untold else "OS" if os_untold else "architecture"
    told = (
        f"{joined(labels)} {verb(labels, 'runs', 'run')} {platform}: GET /v1/nodes names no {untold}"
        f" modpack knows for {them}, so which of {', '.join(b.name for b in fitting)} fits {them} cannot"
        " be told: "
    )
    if whole:  # they are every node: nothing to publish apart from them
        return told + f"give only the one built for {them}"
    # The --node options of this run are not repeated: the command gives its own.
    chosen = connection.command(
        "publish", *(w for r in refs for w in ("--node", r.url)), "BUNDLE", nodes=False
    )
    return (
        told + f"publish the one built for {them} to {them} alone (`{chosen}`),"
        " and the others with a --node for each other node"
    )


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
            f"--node left out {joined(nodes)}, which GET /v1/nodes lists:"
            f" {verb(nodes, 'it gets', 'they get')} no artifact of {result.module_name} {result.version}"
        )
    if view.unmatched:
        nodes = list(view.unmatched)
        strays = [r.node.label for r in routes if not r.node.uid]
        notes.append(
            f"{joined(strays)} {verb(strays, 'matches', 'match')} no node GET /v1/nodes lists (by address),"
            f" so whether the bundle fits {verb(strays, 'it', 'them')} was not checked; {joined(nodes)},"
            f" which GET /v1/nodes lists, {verb(nodes, 'gets', 'get')} no artifact unless"
            f" {verb(strays, 'that URL reaches', 'those URLs reach')} {verb(nodes, 'it', 'them')}"
        )
    return notes


def _down(view: ClusterView) -> list[str]:
    """A line for the nodes GET /v1/nodes says are down (objects/node: status 'down'): an upload
    to one fails after every retry (on a real cluster, each after a connect timeout) and leaves
    the module on some nodes only. Before RS 8.0 nothing is uploaded to a node: the cluster
    installs the module on every node itself, and its action fails on a node that is down."""
    down = [ref.label for ref, facts in view.nodes if facts is not None and facts.status == "down"]
    if not down:
        return []
    them = verb(down, "it", "them")
    if view.legacy:
        cannot = f"the cluster cannot install the module on {them}"
    else:
        cannot = f"no upload to {them} can succeed"
    return [
        f"{joined(down)} {verb(down, 'is', 'are')} down (status in GET /v1/nodes), so {cannot}:"
        f" run the same command once the cluster reports {them} active"
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
            f"{bundle.name}: compatible_redis_version {wanted!r} is not a Redis version {joined(labels)}"
            f" {verb(labels, 'offers', 'offer')} databases of (supported_database_versions:"
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
        f" {joined(labels)} {verb(labels, 'offers', 'offer')} none (supported_database_versions:"
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


def needed_permissions(view: ClusterView, options: PublishOptions) -> list[str]:
    """The permissions the run's changing calls need (permissions.md, requests/modules)."""
    needed = ["update_cluster"] if view.legacy else ["manage_cluster_modules"]
    if view.uploads_switch is False and options.allow_upload and "update_cluster" not in needed:
        needed.append("update_cluster")
    return needed


def unread_role_note(view: ClusterView, options: PublishOptions) -> str:
    """A dry run's note when the user's role could not be read (GET /v1/users/role is RS 8.x's):
    whether the role may make the calls listed was not checked, and a role without the permission
    is refused (403) by the real run."""
    needed = needed_permissions(view, options)
    return (
        f"the user's role could not be read (GET /v1/users/role), so whether it has {joined(needed)},"
        f" which these calls need, was not checked: a role without {verb(needed, 'it', 'them')} is"
        " refused (403 forbidden) when the calls are made (admin has them all)"
    )


def _uploads_off(view: ClusterView) -> str:
    """The line for a cluster whose upload switch is off; --allow-upload is advised only to a role
    that may turn it on (update_cluster: PUT /v1/cluster), where the role was read: a
    cluster_viewer who followed that advice was refused the PUT (403) after the preflight."""
    off = "custom module uploads are off on this cluster (allow_modules_upload is false): an admin"
    off += ' turns them on with PUT /v1/cluster {"allow_modules_upload": true}'
    if view.permissions is not None and "update_cluster" not in view.permissions:
        return f"{off}; --allow-upload cannot, as the user's role, {view.role}, lacks update_cluster"
    return (
        f"{off}, or re-run with --allow-upload to turn them on for this run only (modpack turns them"
        " off again after)"
    )


def _role_lacks(view: ClusterView, options: PublishOptions) -> list[str]:
    """A line when the user's role (where read) lacks a permission the run's calls need: the
    module endpoints' (manage_cluster_modules; POST /v2/modules before 8.0: update_cluster), and
    update_cluster for --allow-upload to turn the switch on (requests/modules, permissions.md)."""
    if view.permissions is None:
        return []
    missing = [p for p in needed_permissions(view, options) if p not in view.permissions]
    if not missing:
        return []
    return [
        f"the user's role, {view.role}, lacks {joined(missing)}, which publishing needs: run it as a user"
        f" whose role has {verb(missing, 'it', 'them')} (admin does)"
    ]
