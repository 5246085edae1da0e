"""Ctrl+C (or SIGTERM) during publish: how a stop is raised, and what the stopped run leaves.

A run stopped while a request was out asks the cluster what became of it (`settled`), takes back
what it made where no node took the artifact (`rollback.py`), and says what each node holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from modpack.errors import ModpackError, Terminated
from modpack.rest import client
from modpack.rest.publish.rollback import restore_replaced, roll_back
from modpack.rest.publish.wording import joined, verb

if TYPE_CHECKING:
    from modpack.rest.client import Api, NodeOutcome
    from modpack.rest.publish.results import PublishResult
    from modpack.rest.publish.switch import UploadsSwitchedOn
    from modpack.types import Module


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


def raise_dropped_stop() -> None:
    """Raise the stop a signal recorded (client.request_stop), whose own exception Python may
    have dropped: the run then goes no further than where a raised one would have left it."""
    stopped = client.stop_requested()
    if stopped is not None:
        raise stopped


def interrupted(
    api: Api, result: PublishResult, signal: KeyboardInterrupt, switch: UploadsSwitchedOn | None = None
) -> PublishInterrupted:
    """What an interrupted run leaves: the module object (deleted again when this run created it
    and no node took the artifact) and each node's upload."""
    took = [o for o in result.nodes if o.status == "uploaded"]
    # an upload whose answer was lost: the node may hold the artifact, which the object describes
    unsure = [o for o in result.nodes if o.unsure]
    if result.module_object == "replacing":
        _settle_replacing(api, result)
    if result.module_object == "creating":
        _settle_creation(api, result)
    if result.module_object in ("created", "replaced") and not took and not unsure:
        roll_back(api, result, noted=False, switch=switch)  # the module object's line says it
    elif result.module_object in ("", "not created") and result.replaced and not took:
        restore_replaced(api, result, switch)  # --replace deleted it, and this run made none in its place
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
        f"{o.node.label}: " + ("uploaded" if o.status == "uploaded" else f"{_node_state(o)} ({o.detail})")
        for o in result.nodes
    ]
    details += result.notes
    behind = [o.node.label for o in result.nodes if o.status != "uploaded"]
    if took and behind and result.replaced and result.module_object == "replaced":
        # the run stopped between --replace and the last upload: one version, two builds
        details.append(
            f"{joined(behind)} still {verb(behind, 'holds', 'hold')} the build module object"
            f" {result.replaced} described ({_sha(result.replaced_object)}), which --replace deleted:"
            f" module object {result.uid} describes this run's"
        )
    if unsure and not took:
        labels = ", ".join(o.node.label for o in unsure)
        hint = (
            f"{labels} may hold the artifact (see each node's line), so the module object"
            f" is kept: run the same publish again to finish, or `{_unpublish(api, result)}` to remove"
            " what was placed."
        )
    elif took:
        # Where the object was there before, this run placed artifacts only: on the nodes it was given.
        placed = _unpublish(api, result, nodes=result.module_object == "present")
        hint = f"Run the same publish again to finish, or `{placed}` to remove what was placed."
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
            f" artifacts: run the same publish again to finish, or `{_unpublish(api, result)}` to remove"
            " them."
        )
    elif result.module_object == "created, rollback failed":
        hint = (  # the note says whether the cluster still lists it, or that it did not say
            f"Deleting module object {result.uid}, created by this run, failed: `{_unpublish(api, result)}`"
            " removes it."
        )
    else:
        hint = "Nothing is left on the nodes; run the same publish again when ready."
    where = f"is on {len(took)} of {len(result.nodes)} nodes" if result.nodes else "was not uploaded"
    return PublishInterrupted.by(signal, f"{result.module_name} {result.version} {where}", hint, details)


def _sha(module: Module | None) -> str:
    """A module object's build as a user tells it apart: its sha256's first 12 digits."""
    digest = module.get("sha256") if module is not None else None
    return f"sha256 {digest[:12]}..." if isinstance(digest, str) and digest else "its sha256 not listed"


def _node_state(outcome: NodeOutcome) -> str:
    """A node's line that is not "uploaded": not uploaded, or what its lost answer left."""
    return outcome.status if outcome.unsure else "not uploaded"


def _unpublish(api: Api, result: PublishResult, *, nodes: bool = False) -> str:
    """The unpublish of the run's module version, as a hint names it. Without the run's --node
    unless `nodes`: an unpublish that leaves nodes out keeps the module object, and what --replace
    deleted left its artifacts on every node."""
    return api.connection.command("unpublish", result.module_name, str(result.version), nodes=nodes)


SETTLE_TRIES, SETTLE_PAUSE = 5, 0.2


def _settle_replacing(api: Api, result: PublishResult) -> None:
    """After Ctrl+C during --replace's DELETE: whether the stored module object is gone, asked as
    _settle_creation asks (the request had been sent, the answer was not read). Gone: "" (nothing
    created yet), with the note of the deletion; there: "present", nothing changed; no answer:
    stays "replacing", said to be unknown."""
    found = settled(api, result, without(result.replaced))
    if found is None:
        return
    if not without(result.replaced)(found):
        result.module_object, result.uid, result.replaced = "present", result.replaced, ""
        return
    result.module_object = ""
    result.notes.append(f"replaced module object {result.replaced}: deleted before the run stopped")


def settled(
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


def without(uid: str) -> Callable[[list[Module]], bool]:
    """Whether a listing of module objects no longer holds `uid`: a deletion has arrived."""
    return lambda found: all(str(m.get("uid", "")) != uid for m in found)


def _settle_creation(api: Api, result: PublishResult, sleep: Callable[[float], None] = time.sleep) -> None:
    """After Ctrl+C during the module object's POST: whether the cluster made it."""
    found = settled(api, result, bool, sleep)
    if found is None:
        return  # stays "creating": said to be unknown
    if found:
        result.module_object, result.uid = "created", str(found[0].get("uid", ""))
    else:
        result.module_object = "not created"
