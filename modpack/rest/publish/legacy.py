"""RS 7.x (7.2 to 7.22): no user-defined endpoints, so the zip goes to `POST /v2/modules`.

Once per platform the cluster does not provably hold: the cluster copies it to its nodes, and the
returned `action_uid` is followed on `/v1/actions/<uid>`
(re-docs/..._7.22__..._requests__modules___index.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modpack.errors import ModpackError
from modpack.rest import client
from modpack.rest.client import ClusterError, NodeOutcome
from modpack.rest.paths import LEGACY_MODULES
from modpack.rest.publish.actions import ActionFailed, ActionUnfinished, delete_legacy_module, follow_action
from modpack.rest.publish.bundles import PER_PLATFORM
from modpack.rest.publish.identity import differences, held_versions, identity_error, refuse_bundled
from modpack.rest.publish.interruption import (
    PublishInterrupted,
    interrupted,
    raise_dropped_stop,
    settled,
    without,
)
from modpack.rest.publish.rollback import delete_own
from modpack.rest.publish.wording import joined, verb

if TYPE_CHECKING:
    from modpack.rest.client import Api, NodeStatus
    from modpack.rest.publish.bundles import Bundle
    from modpack.rest.publish.preflight import Route
    from modpack.rest.publish.results import ObjectStatus, PublishOptions, PublishResult
    from modpack.types import JSON, Module


@dataclass
class LegacyPublish:
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
                raise interrupted(self.api, result, stopped) from None
            if self.sent and not self.nothing_taken:
                raise PublishInterrupted.by(
                    stopped,
                    f"the run stopped once the cluster had been sent {result.module_name} {result.version},"
                    " and the cluster did not say whether it took it",
                    f"{self._see_where()}; `{self._unpublish()}` removes it, or run the same publish again.",
                ) from None
            # Nothing sent, or the cluster said it holds none of it (a bare 'interrupted' said nothing
            # of that, nor of the upload switch turned on and off again, which UploadsSwitchedOn adds).
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
            refuse_bundled(stored, self.result)
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
                raise interrupted(self.api, self.result, stopped) from None
        self.result.nodes = [self._node_outcome(r, outcomes) for r in self.routes]
        if stored is None and not self.options.dry_run:
            self._finish_new()

    def _replaced(self, stored: Module) -> bool:
        """False when the stored module matches; True once a different one is deleted (--replace)."""
        fields = differences(_without_platforms(stored), self.bundles)
        # What the platforms map holds for each platform whose sha256 differs, under the name the
        # messages give it: identity_error asks the object for each field's value, and read from
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
            holds = held_versions(self.api, self.result.module_name)
            raise identity_error(self.result, fields, {**stored, **wrong}, held=holds)
        url = f"{client.cluster_url(self.api.connection)}{LEGACY_MODULES}/{uid}"
        differ = f"{joined(fields)} {verb(fields, 'differs', 'differ')}"
        self.result.calls.append(f"DELETE {url} (replaced: {differ})")
        if self.options.dry_run:
            self.result.notes.append(f"would replace module {uid}: {differ}")
            return True
        self.result.replaced = uid  # Ctrl+C from here on: run() says what became of it
        delete_legacy_module(self.api, uid)  # removes the module from every node: no way back
        self.result.notes.append(f"replaced module {uid}: {joined(fields)} differed")
        return True

    def _interrupted_replacing(self, stopped: KeyboardInterrupt) -> PublishInterrupted:
        """Ctrl+C once --replace had set out to delete the stored module, and before the cluster
        took this run's bundle: whether that module is gone, asked as _settle_creation asks."""
        name, version, uid = self.result.module_name, self.result.version, self.result.replaced
        found = settled(self.api, self.result, without(uid))
        listed = [str(m.get("uid", "")) for m in found or []]
        state = "unknown" if found is None else "still listed" if uid in listed else "deleted"
        if state == "deleted" and listed:  # the cluster took this run's bundle before Ctrl+C
            return PublishInterrupted.by(
                stopped,
                f"--replace deleted {name} {version} (module {uid}), and the cluster holds this run's"
                f" build as module {listed[0]}",
                f"{self._see_where()}; run the same publish again to check every node.",
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
            f"{self._see_where()}, then run the same publish again.",
            self.result.notes,
        )

    # The commands the hints name. On 7.x --node was refused before anything was sent: none to repeat.
    def _see_where(self) -> str:
        return f"See where it stands with `{self.api.connection.command('modules', 'list', nodes=False)}`"

    def _unpublish(self) -> str:
        words = ("unpublish", self.result.module_name, str(self.result.version))
        return self.api.connection.command(*words, nodes=False)

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
        except client.AnswerLost as lost:  # the cluster may have taken it: what it holds says
            taken = self._taken(bundle)
            if taken:
                return "unconfirmed", f"{lost.message}; the cluster holds this build for its platforms now"
            if taken is None:
                return "unknown", f"{lost.message}; the cluster did not say what it holds either"
            return "unknown", f"{lost.message}; the cluster does not hold it yet, and may still install it"
        except ClusterError as exc:
            if exc.error_code == "module_exists" and (meanwhile := self._installed_meanwhile(bundle)):
                return meanwhile
            if action_uid is not None and (
                isinstance(exc, ActionUnfinished) or not isinstance(exc, ActionFailed)
            ):
                # The cluster took the zip; its action was not seen to end (the cluster stopped
                # answering, or it ran past --timeout): it may still install it.
                return "unknown", (
                    f"the cluster took {bundle.name} (action {action_uid}), but its action was not seen to"
                    f" end: {exc.message}"
                )
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
                f"{self._see_where()}; `{self._unpublish()}` removes it.",
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

        found = settled(self.api, self.result, holds, sleep)
        return None if found is None else holds(found)

    def _node_outcome(self, route: Route, outcomes: dict[int, tuple[NodeStatus, str]]) -> NodeOutcome:
        status, detail = outcomes.get(id(route.bundle), ("present", "the cluster holds this build (sha256)"))
        return NodeOutcome(route.node, status, detail, route.bundle.path)

    def _finish_new(self) -> None:
        try:
            now = client.find_modules(self.api, self.result.module_name, self.result.version)
        except ModpackError as unread:
            if not self.result.uid or not any(o.unsure or o.status == "uploaded" for o in self.result.nodes):
                raise
            # The cluster answered the upload with the module's uid, then could not be asked: the
            # module is kept (a rollback would need the same cluster), and the run says so.
            self.result.module_object = "replaced" if self.result.replaced else "created"
            self.result.notes.append(
                f"module {self.result.uid}, created by this run, is kept: the cluster could not be asked"
                f" what it holds ({unread.message})"
            )
            return
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
        if any(o.unsure for o in self.result.nodes):
            # the answer to the upload was lost, or its action not seen to end: the cluster may
            # hold (or still install) this build
            self.result.module_object = "replaced" if self.result.replaced else "created"
            self.result.notes.append(
                f"module {self.result.uid}, created by this run, is kept: the cluster may hold it (see each"
                " platform's line)"
            )
            return
        # the delete runs in an action: a lost answer's object is listed until the action ends
        api, uid = self.api, self.result.uid
        lost = delete_own(api, self.result, lambda: delete_legacy_module(api, uid), api.connection.timeout)
        if lost is None:
            return
        self.result.module_object = "rolled back"
        self.result.notes.append(
            f"no node took the artifact: module {self.result.uid}, created by this run, was deleted"
            f" again{lost}"
        )


def _without_platforms(stored: Module) -> Module:
    return {k: v for k, v in stored.items() if k != "platforms"}


def _platform_sha(stored: Module, key: str) -> JSON:
    listed = stored.get("platforms")
    entry = listed.get(key) if isinstance(listed, dict) else None
    return entry.get("sha256") if isinstance(entry, dict) else None
