"""The cluster as publish sees it: its nodes, its settings, its version, the user's role.

Read with `GET /v1/nodes` (each node's OS, architecture, software version and the Redis versions
it offers databases of) and `GET /v1/cluster` (`allow_modules_upload`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modpack.errors import ModpackError
from modpack.rest import client, platforms
from modpack.rest.client import Api, ClusterError, Connection, NodeRef

if TYPE_CHECKING:
    from modpack.rest.platforms import NodeFacts
    from modpack.types import JSON


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
    listed = client.listing(api, f"{base}/v1/nodes")
    if not listed:
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


def refuse_node_choice(connection: Connection, version: str | None, command: Sequence[str]) -> None:
    """Before RS 8.0 the cluster installs (and removes) a module on every node itself
    (`POST /v2/modules`, `DELETE /v2/modules/<uid>`): `--node` cannot choose nodes there, and a
    run that went ahead would change nodes it was not given, and report only those it was.
    Exit 1, not 2: the command line is valid; this cluster cannot do what it asks. `command`:
    the words of the run (`publish` and its bundles, `unpublish` NAME VERSION), which the hint
    names in full: a bare `modpack unpublish` refuses to run without NAME VERSION."""
    if connection.nodes:
        running = f" ({version})" if version else ""
        raise ModpackError(
            f"--node chooses nodes, but this cluster runs Redis Enterprise before 8.0{running}, which"
            f" installs and removes a module on every node itself; nothing was changed",
            f"Run `{connection.command(*command, nodes=False)}`, without --node"
            + (
                ": it checks every node of GET /v1/nodes first."
                if command[0] == "publish"
                else ": the cluster removes the module from every node."
            ),
        )


def api_is_legacy(api: Api) -> bool:
    """Whether the cluster speaks the RS 7.x module API (read from GET /v1/nodes)."""
    return is_legacy(node_objects(api))


def node_objects(api: Api) -> list[dict[str, JSON]]:
    base = client.cluster_url(api.connection)
    return [n for n in client.listing(api, f"{base}/v1/nodes") if isinstance(n, dict)]


def is_legacy(listed: Sequence[dict[str, JSON]]) -> bool:
    known = [v for v in (platforms.version_tuple(n.get("software_version")) for n in listed) if v is not None]
    return bool(known) and min(known)[:2] < platforms.USER_DEFINED_SINCE
