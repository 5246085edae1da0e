"""Unpublish: the module object, then every node's artifact (on RS 7.x, the module object alone,
which the cluster removes from its nodes); `modules delete`; and a module version as given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modpack.errors import ModpackError, UsageError
from modpack.rest import client
from modpack.rest.client import Api, ClusterError
from modpack.rest.publish.actions import ActionFailed, delete_legacy_module
from modpack.rest.publish.interruption import PublishInterrupted
from modpack.rest.publish.view import api_is_legacy, is_legacy, node_objects, refuse_node_choice
from modpack.rest.publish.wording import joined

if TYPE_CHECKING:
    from modpack.rest.client import Connection, NodeOutcome
    from modpack.types import JSON, Module


@dataclass
class UnpublishResult:
    module_name: str
    version: int
    nodes: list[NodeOutcome] = field(default_factory=list)
    module_objects: list[str] = field(default_factory=list)  # uids deleted
    some_nodes: str = ""  # why the module object was kept: --node left nodes out
    kept_uids: list[str] = field(default_factory=list)  # the module objects kept for that reason
    legacy: bool = False  # RS 7.x: the cluster removes the module from its nodes with its object
    # What the run had done, for a stopped run's summary: the cluster's module objects (None
    # until listed), the uid whose DELETE is out, and each node's part.
    listed: list[Module] | None = None
    deleting: str = ""
    removal: client.Removal = field(default_factory=client.Removal)

    @property
    def failed(self) -> list[NodeOutcome]:
        return [n for n in self.nodes if n.failed]

    @property
    def found(self) -> list[Module]:
        """The module objects of this name and version the cluster listed."""
        name, version = self.module_name, self.version
        return [m for m in self.listed or [] if m.get("module_name") == name and m.get("version") == version]

    @property
    def nothing_found(self) -> bool:
        """No module object of this name and version, and every node asked answered that it holds
        no artifact of it: nothing was there to remove (a typo, another case, another version)."""
        return self.listed is not None and not self.found and all(n.status == "absent" for n in self.nodes)


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
    result = UnpublishResult(name, version)
    try:
        _unpublish(result, connection)
    except KeyboardInterrupt as signal:  # the user must know what was removed, and what is left
        raise _stopped(result, connection, signal) from None
    return result


def _stopped(
    result: UnpublishResult, connection: Connection, signal: KeyboardInterrupt
) -> PublishInterrupted:
    """What a stopped unpublish had done, as far as it knows: the module object, then each node."""
    name, version = result.module_name, result.version
    again = connection.command("unpublish", name, str(version), nodes=True)
    if result.listed is None:
        details = ["module object: not looked up yet (the run stopped while it asked the cluster)"]
    elif not result.found:
        details = [f"module object: none found of {name} {version}"]
    else:
        listed = connection.command("modules", "list", nodes=False)
        details = [
            f"module object {uid}: {_object_state(result, uid, listed)}" for uid in _uids(result.found)
        ]
    if result.removal.targets:
        details += result.removal.lines()
    elif result.listed is not None and not result.legacy:
        details.append("artifacts: no node asked yet")
    if not (result.module_objects or result.deleting or result.removal.changed):
        return PublishInterrupted.by(
            signal,
            f"unpublish of {name} {version} stopped before it removed anything",
            f"Nothing was removed; run `{again}` when ready.",
            details,
        )
    return PublishInterrupted.by(
        signal,
        f"unpublish of {name} {version} stopped part-way",
        f"Run `{again}` again to finish: it removes what is left."
        + (client.MAY_BE_DONE if result.deleting or result.removal.unknown else ""),
        details,
    )


def _object_state(result: UnpublishResult, uid: str, listed: str) -> str:
    """What became of module object `uid`; `listed`: the run's `modules list` command."""
    if uid in result.module_objects:
        return "deleted"
    if uid == result.deleting:
        return f"unknown: the run stopped while its DELETE was out (`{listed}` shows it)"
    if uid in result.kept_uids:
        return "kept (--node left nodes out)"
    return "not deleted"


def _uids(modules: Sequence[Module]) -> list[str]:
    return [str(m.get("uid", "")) for m in modules]


def _unpublish(result: UnpublishResult, connection: Connection) -> None:
    name, version = result.module_name, result.version
    with Api(connection) as api:
        result.listed = client.list_modules(api)
        modules = result.found
        for module in modules:
            if module.get("is_bundled") is True:
                raise ModpackError(
                    f"{name} version {version} is a module bundled with Redis Enterprise"
                    f" (uid {module.get('uid', '?')}); nothing was removed",
                    "unpublish removes custom modules only; a bundled module goes with the cluster's"
                    " upgrades.",
                )
        listed = node_objects(api)
        result.legacy = is_legacy(listed)
        if result.legacy:
            refuse_node_choice(connection, None, ["unpublish", name, str(version)])
            _delete_objects(api, modules, result, legacy=True)  # which removes them from the nodes
            return
        # The nodes, their addresses judged (client.nodes_from), before anything is deleted: a
        # cluster naming nodes on other hosts was refused once the module object was gone.
        refs = (
            client.nodes_from(connection, client.cluster_url(connection), listed)
            if listed
            else client.nodes(api)
        )
        result.some_nodes = _some_nodes_only(connection, listed)  # decided before anything is deleted
        if result.some_nodes:
            result.kept_uids = _uids(modules)
        else:
            _delete_objects(api, modules, result)
        result.nodes = client.remove_artifacts(
            api, connection, name, version, refs=refs, progress=result.removal
        )


def _delete_objects(
    api: Api, modules: Sequence[Module], result: UnpublishResult, *, legacy: bool = False
) -> None:
    """Delete each module object (on 7.x, with every node's copy); an error at the first the
    cluster does not delete, which says what is left."""
    for module in modules:
        uid = str(module.get("uid", ""))
        try:
            _delete_object(api, uid, result, legacy=legacy)
        except ActionFailed as failed:
            raise _removal_failed(api, result, uid, failed) from None
        except ClusterError as refused:
            raise _object_refused(result, uid, refused, legacy) from None


def _delete_object(api: Api, uid: str, result: UnpublishResult, *, legacy: bool) -> None:
    """DELETE one module object, into result.module_objects unless the cluster had none (404).
    Its answer lost, the cluster's list says whether it is gone or still there (sent once more)."""
    result.deleting = uid  # said "unknown" if the run stops before its answer
    if _delete_or_settle(api, uid, result, legacy=legacy):
        # before `deleting` is cleared: a stop in between says unknown, never "not deleted"
        result.module_objects.append(uid)
    result.deleting = ""


def _delete_or_settle(api: Api, uid: str, result: UnpublishResult, *, legacy: bool) -> bool:
    def delete() -> bool:
        return delete_legacy_module(api, uid) if legacy else client.delete_module(api, uid)

    # RS 7.x deletes in an action, which drops the object once every node removed its copy: a
    # lost DELETE's object is listed until then (CI's load kept it there past one look, run 159)
    wait = api.connection.timeout if legacy else 0.0
    try:
        return delete()
    except client.AnswerLost as lost:
        if client.still_listed(api, result.module_name, result.version, uid, wait) is False:
            return True
        try:
            return delete()
        except client.AnswerLost:
            if client.still_listed(api, result.module_name, result.version, uid, wait) is False:
                return True
            raise lost from None


def _object_refused(result: UnpublishResult, uid: str, refused: ClusterError, legacy: bool) -> ObjectRefused:
    done = f" (module object {joined(result.module_objects)} was deleted)" if result.module_objects else ""
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
    # RS 7.x: --node was refused before anything was deleted, and the cluster removes from every node
    again = api.connection.command("unpublish", name, str(version), nodes=False)
    kept = client.still_listed(api, name, version, uid)
    if kept is False:
        return ModpackError(
            f"the cluster deleted module object {uid} of {name} {version}, but not from every node"
            f" ({failed.message}): the nodes named there may still hold its files",
            "RS 7.x removes a module's files only with its module object: once what failed is fixed,"
            f" publish {name} {version} again, then `{again}` removes it from every node.",
        )
    listed = "still lists it" if kept else "did not say whether it still lists it"
    return ModpackError(
        f"deleting module object {uid} of {name} {version} failed ({failed.message}); the cluster"
        f" {listed}, and the nodes named there may still hold its files",
        f"Run `{again}` again once what failed is fixed: it removes what is left.",
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


def delete_module_object(api: Api, uid: str, sent: Callable[[], None] = lambda: None) -> bool:
    """`modules delete`: the endpoint the cluster's version has; never a bundled module's object.
    `sent()` is called as the DELETE goes out: until then nothing was changed."""
    bundled = [m for m in client.list_modules(api) if m.get("uid") == uid and m.get("is_bundled") is True]
    if bundled:
        name, version = bundled[0].get("module_name"), bundled[0].get("version")
        raise ModpackError(
            f"module object {uid} ({name} {version}) is a module bundled with Redis Enterprise;"
            " nothing was deleted",
            "modpack deletes the objects of custom modules only.",
        )
    legacy = api_is_legacy(api)
    sent()
    return delete_legacy_module(api, uid) if legacy else client.delete_module(api, uid)


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
