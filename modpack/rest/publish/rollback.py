"""Rollback: when no node took the artifact, the module object this run created is deleted again,
and the one --replace deleted for it is made again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modpack.errors import ModpackError
from modpack.rest import client
from modpack.rest.publish.bundles import SERVER_FIELDS
from modpack.rest.publish.guarded import switched_on
from modpack.rest.publish.wording import joined

if TYPE_CHECKING:
    from modpack.rest.client import Api
    from modpack.rest.publish.results import PublishResult
    from modpack.rest.publish.switch import UploadsSwitchedOn
    from modpack.types import Module


def roll_back(
    api: Api, result: PublishResult, *, noted: bool = True, switch: UploadsSwitchedOn | None = None
) -> bool:
    """Delete the module object this run created, and put back the one --replace deleted for it;
    whether this run's was deleted (notes say what became of each; of this run's, not when
    `noted` is false: the caller's own line says it). `switch`: the run's upload switch, which
    the POST putting it back needs on (another run's --allow-upload may have turned it off)."""
    lost = delete_own(api, result, lambda: client.delete_module(api, result.uid))
    if lost is None:
        return False
    result.module_object = "rolled back"
    if noted:
        result.notes.append(
            f"no node took the artifact: module object {result.uid}, created by this run, was deleted"
            f" again{lost}"
        )
    restore_replaced(api, result, switch)
    return True


def delete_own(
    api: Api, result: PublishResult, delete: Callable[[], object], wait: float = 0.0
) -> str | None:
    """Delete this run's module object with `delete` (8.x's DELETE, or 7.x's and its action): ""
    when done; the words a note adds when its answer was lost and the cluster lists it no more
    (watched for up to `wait` seconds while it does: client.still_listed); None when it failed,
    which `rollback_failed` has said."""
    try:
        delete()
    except client.AnswerLost as exc:  # the cluster may have deleted it: its list says
        listed = client.still_listed(api, result.module_name, result.version, result.uid, wait)
        if listed is not False:
            rollback_failed(api, result, exc.message, listed)
            return None
        return f" (the answer to the DELETE was lost, and the cluster lists it no more: {exc.message})"
    except ModpackError as exc:
        rollback_failed(
            api, result, exc.message, client.still_listed(api, result.module_name, result.version, result.uid)
        )
        return None
    return ""


def rollback_failed(api: Api, result: PublishResult, why: str, listed: bool | None) -> None:
    """The status and note of the module object this run created, when no node took the artifact
    and deleting it again failed (`why`): still listed, or not said ("created, rollback failed");
    or gone, the deletion's action having failed to remove it from every node (RS 7.x, "created,
    rolled back in part"). It printed an empty status on 7.x, and a hint that it was not created.
    `listed`: whether the cluster lists it, as the caller has just asked (client.still_listed;
    None: not known, the hint's unpublish settles it either way)."""
    uid = result.uid
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


def restore_replaced(api: Api, result: PublishResult, switch: UploadsSwitchedOn | None = None) -> str:
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
        # Its artifacts are on every node that held its build, not only those this run was given.
        again = api.connection.command("unpublish", result.module_name, str(result.version), nodes=False)
        note = (
            f"module object {old}, which --replace deleted, cannot be made again from what the cluster"
            f" lists (it keeps no {joined(list(result.replaced_lacks))}): publish the build the nodes hold"
            f" again to restore it, or `{again}` to remove its artifacts"
        )
    else:
        document = {k: v for k, v in stored.items() if k not in SERVER_FIELDS}
        note = _create_again(api, result, document, switch)
    result.notes.append(note)
    return note


def _create_again(api: Api, result: PublishResult, document: Module, switch: UploadsSwitchedOn | None) -> str:
    old = result.replaced
    try:  # a POST the upload switch guards, as the run's own (release notes 8.2.0)
        uid, created = switched_on(switch, lambda: client.create_module(api, document))
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
