"""RS 7.x actions of `modpack serve --software-version 7.22` (POST and DELETE /v2/modules, followed
on GET /v1/actions/<uid>): every action ends, completed or failed, whatever goes wrong in it, and
the server keeps a bounded number of ended ones (issue 15)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import auth, server, store
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ACTIONS, LEGACY_MODULES
from tests.support.rest import ADMIN, module_json, running_cluster, write_bundle

GUARD = 60.0  # hang guard: an action takes milliseconds


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path / "data", software_version="7.22", https=False) as running:
        yield running


def session(cluster: LocalCluster) -> httpx.Client:
    return httpx.Client(base_url=cluster.urls[0], auth=(ADMIN.user, ADMIN.password), timeout=GUARD)


def ended(http: httpx.Client, action_uid: str) -> dict[str, Any]:
    """The action once it has ended; AssertionError when it is still queued or running at the guard."""
    deadline = time.monotonic() + GUARD
    action: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = http.get(f"{ACTIONS}/{action_uid}")
        assert answer.status_code == 200, answer.text
        action = answer.json()
        if action["status"] in ("completed", "failed"):
            return action
        time.sleep(0.05)
    raise AssertionError(f"action {action_uid} never ended: {action}")


class Held:
    """`owner.name` replaced by a call that says it started, then waits until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        original = getattr(owner, name)

        def held(*args: Any) -> Any:
            self.started.set()
            assert self.release.wait(GUARD)
            return original(*args)

        monkeypatch.setattr(owner, name, held)


def upload(http: httpx.Client, tmp_path: Path, name: str) -> httpx.Response:
    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(module_name=name))
    answer = http.post(LEGACY_MODULES, files={"module": (f"{name}.zip", bundle.read_bytes())})
    assert answer.status_code == 200, answer.text
    return answer


def test_an_unexpected_error_in_an_upload_ends_its_action_failed(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Only _InstallFailed was caught: any other error left the action `running` for ever."""

    def broken(self: store.NodeArtifacts, upload: Path, module: Any) -> None:
        raise RuntimeError("the disk said something new")

    monkeypatch.setattr(store.NodeArtifacts, "place", broken)
    with caplog.at_level(logging.ERROR, logger="modpack.rest.server"), session(legacy) as http:
        action = ended(http, upload(http, tmp_path, "unforeseen").json()["action_uid"])
    assert action["status"] == "failed", action
    assert action["error_code"] == "internal_error"
    assert "RuntimeError: the disk said something new" in action["error_message"]
    assert action["name"] == "module_upload"
    logged = [r for r in caplog.records if r.name == "modpack.rest.server" and r.exc_info]
    assert logged and action["action_uid"] in logged[0].getMessage()
    assert "the disk said something new" in str(logged[0].exc_info[1])
    assert not list((legacy.options.data / "node-1" / ".tmp").glob("*.kept"))  # the kept zip went


def test_an_unexpected_error_in_a_delete_ends_its_action_failed(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session(legacy) as http:
        created = upload(http, tmp_path, "undeletable").json()
        assert ended(http, created["action_uid"])["status"] == "completed"

        def broken(self: store.NodeArtifacts, name: str, number: int) -> bool:
            raise RuntimeError("the disk said something new")  # a node that cannot is the next test's

        monkeypatch.setattr(store.NodeArtifacts, "remove", broken)
        deleted = http.delete(f"{LEGACY_MODULES}/{created['uid']}")
        assert deleted.status_code == 200, deleted.text
        action = ended(http, deleted.json()["action_uid"])
    assert action["status"] == "failed", action
    assert action["name"] == "module_delete"
    assert "RuntimeError: the disk said something new" in action["error_message"]


def test_a_delete_a_node_cannot_do_keeps_the_module_object_and_names_the_node(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module object was taken out of the store before the delete action ran: when a node
    could not remove its copy, the cluster no longer listed the module and no later DELETE could
    reach the files left. The 7.22 page: the DELETE answers an action_uid "that allows you to track
    the progress of module deletion", a deletion that fails has not happened, and the object stays."""
    with session(legacy) as http:
        created = upload(http, tmp_path, "stays").json()
        assert ended(http, created["action_uid"])["status"] == "completed"
        node_2 = legacy.nodes[1].artifacts

        def refused(name: str, number: int) -> bool:
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(node_2, "remove", refused)
        deleted = http.delete(f"{LEGACY_MODULES}/{created['uid']}")
        action = ended(http, deleted.json()["action_uid"])
        assert action["status"] == "failed", action
        assert action["error_code"] == "internal_error"
        assert action["error_message"] == (
            f"removing stays 10203 failed on node 2 (Operation not permitted): the module object"
            f" {created['uid']} stays until a delete removes it from every node"
        )
        assert [m["uid"] for m in http.get("/v1/modules").json() if m["module_name"] == "stays"] == [
            created["uid"]
        ]
        monkeypatch.undo()
        again = http.delete(f"{LEGACY_MODULES}/{created['uid']}")
        assert ended(http, again.json()["action_uid"])["status"] == "completed"
        assert [m for m in http.get("/v1/modules").json() if m["module_name"] == "stays"] == []
    assert list(legacy.options.data.glob("node-*/stays/*")) == []


def test_ended_actions_are_capped_and_the_oldest_ended_go_first(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "MAX_ENDED_ACTIONS", 2)
    with session(legacy) as http:
        uids = []
        for i in range(4):
            uids.append(upload(http, tmp_path, f"capped{i}").json()["action_uid"])
            assert ended(http, uids[-1])["status"] == "completed"
        answers = [http.get(f"{ACTIONS}/{uid}") for uid in uids]
    assert [a.status_code for a in answers] == [404, 404, 200, 200]
    assert answers[0].json()["error_code"] == "action_not_found"
    assert len(legacy.shared.actions) == 2


def test_running_actions_are_never_dropped_by_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than the cap end while one action still runs: it stays, and so do the newest ended."""
    monkeypatch.setattr(server, "MAX_ENDED_ACTIONS", 3)
    shared = server.Shared(store.ConfigStore(tmp_path / "ccs.sqlite3"), auth.Users([]), [], 0)
    release = threading.Event()

    async def held() -> None:
        while not release.is_set():
            await asyncio.sleep(0.001)

    async def nothing() -> None:
        return

    async def scenario() -> list[str]:
        slow = server._new_action(shared, "module_upload")
        running = asyncio.create_task(server._as_action(shared, slow, held()))
        while slow["status"] != "running":
            await asyncio.sleep(0.001)
        quick = []
        for _ in range(10):
            action = server._new_action(shared, "module_delete")
            quick.append(action["action_uid"])
            await server._as_action(shared, action, nothing())
        assert shared.actions[slow["action_uid"]]["status"] == "running"
        assert list(shared.actions) == [slow["action_uid"], *quick[-3:]]
        release.set()
        await running
        return [slow["action_uid"], *quick]

    try:
        uids = asyncio.run(asyncio.wait_for(scenario(), GUARD))
    finally:
        shared.validator.shutdown()
        shared.store.close()
    # The slow one ended last: it is the newest ended, and the oldest of the others went.
    assert set(shared.actions) == {uids[0], *uids[-2:]}
    assert list(shared.ended) == [*uids[-2:], uids[0]]
    assert shared.actions[uids[0]]["status"] == "completed"


def test_an_upload_while_its_module_is_being_deleted_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 7.x delete keeps the module object until every node has removed its copy (7f3770e): an
    upload of another platform's build of that version, merged into the object meanwhile, put
    files on a node that the delete then left with no module object, out of any DELETE's reach
    (found by a review). Such an upload is refused until the delete has ended."""
    options = {"software_version": "7.22", "https": False, "nodes": 2, "node_os": {2: "rhel9"}}
    with running_cluster(tmp_path / "data", **options) as cluster, session(cluster) as http:
        first = write_bundle(tmp_path / "u.zip", module_json(operating_systems=["ubuntu22"]))
        created = http.post(LEGACY_MODULES, files={"module": ("u.zip", first.read_bytes())}).json()
        assert ended(http, created["action_uid"])["status"] == "completed"
        removing = Held(monkeypatch, cluster.nodes[0].artifacts, "remove")
        deleted = http.delete(f"{LEGACY_MODULES}/{created['uid']}").json()
        assert removing.started.wait(GUARD)
        second = write_bundle(tmp_path / "r.zip", module_json(operating_systems=["rhel9"]))
        racing = http.post(LEGACY_MODULES, files={"module": ("r.zip", second.read_bytes())})
        removing.release.set()
        assert racing.status_code == 400, racing.text
        assert "is being deleted" in racing.json()["message"]
        assert ended(http, deleted["action_uid"])["status"] == "completed"
        assert http.get("/v1/modules").json() == []
    assert list((tmp_path / "data").glob("node-*/hello/*")) == []


def test_a_delete_while_an_upload_is_being_copied_to_the_nodes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half of the race: an upload merged into the module object before the delete
    began, still copying to the nodes, put its copies there after the delete had removed them,
    and the delete then dropped the object. Such a delete fails, and the next one finishes."""
    copying = Held(monkeypatch, server, "_install")
    with (
        running_cluster(tmp_path / "data", software_version="7.22", https=False) as cluster,
        session(cluster) as http,
    ):
        bundle = write_bundle(tmp_path / "c.zip", module_json(module_name="copying"))
        created = http.post(LEGACY_MODULES, files={"module": ("c.zip", bundle.read_bytes())}).json()
        assert copying.started.wait(GUARD)
        early = http.delete(f"{LEGACY_MODULES}/{created['uid']}").json()
        refused = ended(http, early["action_uid"])
        copying.release.set()
        assert refused["status"] == "failed", refused
        assert "is being copied to the nodes by an upload" in refused["error_message"]
        assert ended(http, created["action_uid"])["status"] == "completed"
        again = http.delete(f"{LEGACY_MODULES}/{created['uid']}").json()
        assert ended(http, again["action_uid"])["status"] == "completed"
        assert http.get("/v1/modules").json() == []
    assert list((tmp_path / "data").glob("node-*/copying/*")) == []


def test_a_delete_does_not_hold_the_node_loop_while_an_upload_writes_its_module_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete's mark (4e4b07b) took the 7.x lock on the node's event loop, while an upload's
    worker holds it across its store writes: every request of the node waited for the write
    (found by a review). The mark is taken off the loop now."""
    with (
        running_cluster(tmp_path / "data", software_version="7.22", https=False) as cluster,
        session(cluster) as http,
    ):
        created = upload(http, tmp_path, "first").json()
        assert ended(http, created["action_uid"])["status"] == "completed"
        writing = Held(monkeypatch, cluster.shared.store, "create_module")
        other = write_bundle(tmp_path / "other.zip", module_json(module_name="other"))
        racing = threading.Thread(
            target=lambda: httpx.post(
                cluster.urls[0] + LEGACY_MODULES,
                auth=(ADMIN.user, ADMIN.password),
                files={"module": ("other.zip", other.read_bytes())},
                timeout=GUARD,
            )
        )
        racing.start()
        try:
            assert writing.started.wait(GUARD)
            deleted = http.delete(f"{LEGACY_MODULES}/{created['uid']}").json()
            started = time.monotonic()
            answer = http.get(f"{ACTIONS}/{deleted['action_uid']}")
            waited = time.monotonic() - started
        finally:
            writing.release.set()
            racing.join(GUARD)
        assert answer.status_code == 200 and waited < 2.0, waited  # it waited for the write: minutes
        assert ended(http, deleted["action_uid"])["status"] == "completed"


def test_a_second_delete_of_a_module_being_deleted_waits_and_succeeds(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second DELETE while the first was removing the nodes' copies ended 'failed', internal_error
    ("is being deleted by another request"), although the module was deleted: a client checking
    the action called a delete that happened a failure (found by a review). It waits for the first
    and, the module object being gone, ends completed."""
    with session(legacy) as http:
        created = upload(http, tmp_path, "twice").json()
        assert ended(http, created["action_uid"])["status"] == "completed"
        removing = Held(monkeypatch, legacy.nodes[0].artifacts, "remove")
        first = http.delete(f"{LEGACY_MODULES}/{created['uid']}").json()
        assert removing.started.wait(GUARD)
        second = http.delete(f"{LEGACY_MODULES}/{created['uid']}").json()
        removing.release.set()
        assert ended(http, first["action_uid"])["status"] == "completed"
        assert ended(http, second["action_uid"])["status"] == "completed"
        assert [m for m in http.get("/v1/modules").json() if m["module_name"] == "twice"] == []
    assert list(legacy.options.data.glob("node-*/twice/*")) == []


def test_the_7_x_upload_answers_the_module_object_as_the_cluster_then_lists_it(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """The 7.22 page: POST /v2/modules "Returns a module object with an additional action_uid
    field" (its example carries dependencies and config_command). The answer lacked the fields a
    listing always carries (dependencies, config_command, crdb, bigstore_version_2_support), which
    GET /v1/modules then showed for the same object."""
    with session(legacy) as http:
        created = upload(http, tmp_path, "answered").json()
        assert ended(http, created["action_uid"])["status"] == "completed"
        (listed,) = [m for m in http.get("/v1/modules").json() if m["module_name"] == "answered"]
    assert {k: v for k, v in created.items() if k != "action_uid"} == listed
