"""RS 8.x: the module object (`POST /v2/modules/user-defined`), then each node's artifact.

Two ways, with one order of what changes: in order (validate, look, preflight, then change
things), or pipelined for large bundles (uploads streamed to the nodes while validating, held
before their last chunk until all is well). When no node took the artifact, the module object
this run created is deleted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from modpack.errors import ModpackError
from modpack.rest import client
from modpack.rest.client import NodeOutcome
from modpack.rest.paths import ARTIFACTS, MODULES
from modpack.rest.publish.bundles import load_bundles
from modpack.rest.publish.guarded import switched_on
from modpack.rest.publish.identity import (
    IdentityError,
    Judged,
    check_made_meanwhile,
    differences,
    judge_module_object,
    lacking,
    note_unproven,
    with_identity,
)
from modpack.rest.publish.interruption import interrupted, raise_dropped_stop
from modpack.rest.publish.preflight import PreflightError, preflight, route_notes, routed
from modpack.rest.publish.results import result_for
from modpack.rest.publish.rollback import restore_replaced, roll_back
from modpack.rest.publish.switch import UploadsSwitchedOn
from modpack.rest.publish.wording import joined, verb

if TYPE_CHECKING:
    from pathlib import Path

    from modpack.rest.client import Api, NodeRef
    from modpack.rest.publish.bundles import Bundle
    from modpack.rest.publish.preflight import Route
    from modpack.rest.publish.results import PublishOptions, PublishResult
    from modpack.rest.publish.view import ClusterView


def pipelined(
    api: Api, paths: Sequence[Path], peeked: list[Bundle], view: ClusterView, options: PublishOptions
) -> PublishResult:
    """Stream to the nodes while validating, and let the uploads finish only once all is well.

    Each upload is held before its last chunk (client.Gate): until then the server has judged
    nothing and placed nothing. The bundles are validated, the identity proven and the module
    object created meanwhile; any failure aborts the held uploads and the server discards the
    partial files. The order of what changes is the one `_in_order` keeps.
    """
    try:
        routes = preflight(peeked, view, options, api.connection)
    except PreflightError as refused:
        load_bundles(paths, options.settings)  # a bundle that does not validate says so first
        raise with_identity(refused, api, peeked, options, result_for(peeked)) from None
    result = result_for(peeked)
    result.notes += route_notes(peeked, routes, view, result)
    try:  # before a byte is sent: a rebuild refused sent most of the bundle to every node first
        judged = judge_module_object(api, routed(peeked, routes), options, result)
    except IdentityError:
        load_bundles(paths, options.settings)  # a bundle that does not validate says so first
        raise
    # The switch is on (or there is none): the object turns it on again only if it goes off meanwhile.
    with UploadsSwitchedOn(api, view, options, result) as switch:
        with _Uploads(api, options, result, routes, switch) as uploads:
            try:
                bundles = _validated_as_peeked(paths, peeked, options)
                raise_dropped_stop()  # before the module object: a stop creates nothing more
                created = _ensure_module_object(
                    api, routed(bundles, routes), options, result, judged, switch=switch
                )
            except KeyboardInterrupt:
                raise  # _Uploads stops the uploads and says what the run leaves
            except BaseException:
                uploads.abort()
                raise
            uploads.open()
            result.nodes = uploads.outcomes()
        result.warnings = [w for b in bundles for w in b.warnings]
        # While the switch is still on: putting back what --replace deleted is a POST it guards.
        if not _rolled_back(api, result, created, switch):
            _check_still_there(api, routed(bundles, routes), result)
    return result


def _validated_as_peeked(
    paths: Sequence[Path], peeked: list[Bundle], options: PublishOptions
) -> list[Bundle]:
    bundles = load_bundles(paths, options.settings)
    if [b.module for b in bundles] != [p.module for p in peeked]:
        raise ModpackError("a bundle changed while it was being published; nothing was placed")
    return bundles


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
        switch: UploadsSwitchedOn | None = None,
    ) -> None:
        self._api, self._result, self._routes, self._switch = api, result, routes, switch
        self._gate = client.Gate(api.connection.answer_timeout, machine_turns(routes))
        bundle_of = {r.node.url: r.bundle for r in routes}
        self._work = _NodePublish(api, options, result, bundle_of, self._gate, switch)

    def __enter__(self) -> _Uploads:
        """Starts the uploads: only here, so that no upload runs that `__exit__` will not stop."""
        nodes = [r.node for r in self._routes]
        self._running = client.node_workers(self._api.connection, nodes, self._work)
        try:
            self._running.start()
            return self
        except KeyboardInterrupt as stop:  # while they started (raised once all had): __exit__ never runs
            self._stopped(stop)
        except BaseException:
            self._gate.abort()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if isinstance(error, KeyboardInterrupt):
            self._stopped(error)
        self._gate.abort()  # a no-op once the uploads ended; else they stop, as the caller failed
        self._running.wait()

    def _stopped(self, stop: KeyboardInterrupt) -> NoReturn:
        """Ctrl+C or SIGTERM: the uploads stop at their next chunk, and the error says what each
        node holds, and what became of the module object."""
        self._gate.abort()
        self._result.nodes = self._running.settled(_not_begun)
        raise interrupted(self._api, self._result, stop, self._switch) from None

    def open(self) -> None:
        self._gate.open()

    def abort(self) -> None:
        self._gate.abort()
        self._running.results()

    def outcomes(self) -> list[NodeOutcome]:
        nodes = self._running.results()
        raise_dropped_stop()  # the uploads stopped for it
        return nodes


def _not_begun(node: NodeRef) -> NodeOutcome:
    """A node whose upload no thread began: the stop came while the threads started."""
    return NodeOutcome(node, "failed", client.ABORTED_BEFORE_BEGINNING)


def machine_turns(routes: Sequence[Route]) -> dict[str, str]:
    """Node URL -> the node URL whose upload it begins after, for nodes on one machine.

    Nodes that report the same internal address (`addr` in GET /v1/nodes, "Internal IP address
    of node" in the node object's reference: `modpack serve`'s nodes, or a test cluster on one
    host) share that machine's CPUs and disk, so their uploads at once only compete: the server's
    CPU per 200 MiB upload was 0.64 s at once, 0.52 s one after the other, and each node's
    answer waited for all three (bench/bench_publish.py, 2 CPUs). They take turns instead, each
    beginning once the one before has sent its body up to its hold, so one node validates what
    it received while the next receives. Nodes on machines of their own get theirs at once:
    their CPUs and disks are their own, and a single connection may not fill a long link.
    """
    last: dict[str, str] = {}
    after: dict[str, str] = {}
    for route in routes:
        machine = route.facts.address if route.facts is not None else None
        if machine is None:
            continue
        if machine in last and last[machine] != route.node.url:  # (one URL twice is refused before)
            after[route.node.url] = last[machine]
        last[machine] = route.node.url
    return after


def publish_user_defined(
    api: Api,
    bundles: Sequence[Bundle],
    routes: list[Route],
    options: PublishOptions,
    result: PublishResult,
    *,
    judged: Judged | None = None,
    switch: UploadsSwitchedOn | None = None,
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
        raise interrupted(api, result, signal, switch) from None
    if not _rolled_back(api, result, created, switch) and not options.dry_run:
        _check_still_there(api, bundles, result)


def _rolled_back(api: Api, result: PublishResult, created: bool, switch: UploadsSwitchedOn | None) -> bool:
    """Delete the module object this run created when no node took the artifact, and say so; True
    when it did. A node whose upload's answer was lost may hold the artifact: the object is kept
    for it, and a note says why."""
    if not created or result.took:
        return False
    unsure = [o.node.label for o in result.nodes if o.unsure]
    if unsure:
        result.notes.append(
            f"module object {result.uid}, created by this run, is kept: {joined(unsure)} may hold the"
            " artifact (see each node's line)"
        )
        return False
    roll_back(api, result, switch=switch)
    return True


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
            f"; {joined(took)} {verb(took, 'holds', 'hold')} the artifact with no module object"
            if took
            else ""
        )
    )


def _ensure_module_object(
    api: Api,
    bundles: Sequence[Bundle],
    options: PublishOptions,
    result: PublishResult,
    judged: Judged | None = None,
    *,
    switch: UploadsSwitchedOn | None = None,
) -> bool:
    """Make the module object exist and match (as `judged`, or judged now); True when this run
    created it. `switch`: turns allow_modules_upload on again if it goes off meanwhile."""
    judged = judged or judge_module_object(api, bundles, options, result)
    existing, fields = judged.existing, judged.differing
    url = f"{client.cluster_url(api.connection)}{MODULES}"
    deleted = ""  # the note of the object --replace deleted, once it is
    if existing is not None:
        uid = str(existing.get("uid", ""))
        if not fields:
            result.module_object, result.uid = "present", uid
            note_unproven(existing, bundles, result, options.dry_run)
            return False
        differ = f"{joined(fields)} {verb(fields, 'differs', 'differ')}"
        result.calls.append(f"DELETE {url}/{uid} (replaced: {differ})")
        if options.dry_run:
            result.notes.append(f"would replace module object {uid}: {differ}")
        else:
            result.module_object, result.replaced = "replacing", uid  # Ctrl+C: interrupted asks
            result.replaced_object, result.replaced_lacks = existing, lacking(existing, bundles[0].module)
            client.delete_module(api, uid)  # the note only once it is done: Ctrl+C may come first
            result.module_object = ""
            deleted = f"replaced module object {uid}: {joined(fields)} differed"
            result.notes.append(deleted)
    result.calls.append(f"POST {url} (module object {result.module_name} {result.version})")
    if options.dry_run:
        result.module_object = "would replace" if existing else "would create"
        return False
    result.module_object = "creating"  # Ctrl+C from here on: interrupted asks the cluster
    try:
        try:
            result.uid, created = switched_on(switch, lambda: client.create_module(api, bundles[0].module))
        except client.AnswerLost as lost:  # the cluster may have made it: its list says
            made = _made_by_lost_post(api, bundles, result)
            if made is None:
                raise lost from None
            # never this run's to undo: another run may have made it meanwhile
            result.uid, created = made, False
            result.notes.append(
                f"the answer to the POST of the module object was lost; the cluster lists {made} of this"
                " build, which this run may have made: it is kept, as another run's would be"
            )
    except ModpackError as failed:
        result.module_object = "not created"
        if deleted:  # it goes back; a failed run prints no notes, so the error says both
            failed.details = (*failed.details, deleted, restore_replaced(api, result, switch))
        raise
    if not created:  # another run made it since the lookup above: proven like any existing one,
        result.module_object = "present"  # and not this run's: Ctrl+C must not take it back
        check_made_meanwhile(api, bundles, result, str(existing.get("uid", "")) if existing else "")
    result.module_object = ("replaced" if existing else "created") if created else "present"
    return created


def _made_by_lost_post(api: Api, bundles: Sequence[Bundle], result: PublishResult) -> str | None:
    """The uid of a module object of this name, version and build listed after a POST whose answer
    was lost: this run's, or another run's made meanwhile. None when none is listed, or the list
    cannot be read (the run then fails, saying the answer was lost)."""
    try:
        listed = client.find_modules(api, result.module_name, result.version)
    except ModpackError:
        return None
    if listed and not differences(listed[0], bundles):
        return str(listed[0].get("uid", "")) or None
    return None


@dataclass
class _NodePublish:
    """Upload one node's bundle, then check that the node lists it."""

    api: Api
    options: PublishOptions
    result: PublishResult
    bundle_of: dict[str, Bundle]
    gate: client.Gate | None = None
    switch: UploadsSwitchedOn | None = None

    def __call__(self, node: NodeRef) -> NodeOutcome:
        bundle = self.bundle_of[node.url]
        name, version = self.result.module_name, self.result.version
        self.result.calls.append(f"POST {node.url}{ARTIFACTS} (multipart field module={bundle.path.name})")
        if self.options.dry_run:
            return NodeOutcome(node, "would upload", bundle.name, bundle=bundle.path)
        url, progress, gate = f"{node.url}{ARTIFACTS}", self.options.progress, self.gate
        held = (lambda: gate.reached(node.url)) if gate is not None else None
        try:
            if gate is not None:
                gate.take_turn(node.url)
            switched_on(
                self.switch,
                lambda: client.post_bundle(
                    self.api, url, node.label, bundle.path, progress, gate=gate, held=held
                ),
            )
        except client.AnswerLost as lost:
            return self._answer_lost(node, bundle, lost)
        finally:
            if gate is not None:
                gate.reached(node.url)  # ended, whichever way: the next node's turn
        try:
            listed = client.has_artifact(self.api, node, name, version)
        except ModpackError as unread:  # it accepted the upload: not a failed one (a node stopping)
            said = (
                f"the node accepted the upload, but its list could not be read to check it ({unread.message})"
            )
            return NodeOutcome(node, "unconfirmed", said, bundle.path)
        if not listed:
            return NodeOutcome(
                node, "failed", "the upload was accepted but the node does not list the artifact", bundle.path
            )
        size = bundle.path.stat().st_size
        return NodeOutcome(node, "uploaded", f"{bundle.name}, {size} bytes, listed by the node", bundle.path)

    def _answer_lost(self, node: NodeRef, bundle: Bundle, lost: client.AnswerLost) -> NodeOutcome:
        """The upload was sent whole and its answer lost: the node may have taken it, or may still be
        placing it (a large bundle is validated and synced before the answer). Listed now, it most
        likely did (an upload replaces what the node held); not listed, that is not known either."""
        name, version = self.result.module_name, self.result.version
        try:
            listed = client.has_artifact(self.api, node, name, version)
        except ModpackError as unread:
            why = f"{lost.message}; its list could not be read either ({unread.message})"
            return NodeOutcome(
                node, "unknown", f"{why}: whether it took the artifact is not known", bundle.path
            )
        if listed:
            said = (
                f"{lost.message}; the node lists {name} {version} now: this upload's, unless it is a build of"
                " that version the node held before"
            )
            return NodeOutcome(node, "unconfirmed", said, bundle.path)
        said = f"{lost.message}; the node does not list {name} {version} yet, and may still be placing it"
        return NodeOutcome(node, "unknown", said, bundle.path)
