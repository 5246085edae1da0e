"""Publish's rollback against `modpack serve --software-version 7.22`, end to end over real HTTPS.

On RS 7.x the cluster takes the zip (`POST /v2/modules`) and installs it on its nodes in an
action followed on `/v1/actions/<uid>`. The action fails when a node cannot take the bundle: here a
node that is down (LocalCluster.stop_node) or cannot store a file, the action object then being
`failed` with `error_code` and `error_message` (objects/action, 7.22). Publish must then remove what it
created (`DELETE /v2/modules/<uid>`), say so, and exit 1; a re-run once the node is back
finishes the job.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ACTIONS, LEGACY_MODULES
from modpack.rest.publish import interruption
from modpack.rest.publish import legacy as publish_7x
from modpack.rest.publish.interruption import PublishInterrupted
from tests.support.cli import run_modpack
from tests.support.rest import (
    as_printed,
    cli,
    hinted,
    http,
    module_json,
    running_cluster,
    typed,
    write_bundle,
)


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path / "data", software_version="7.22", node_os={3: "rhel9"}) as running:
        yield running


def listed(cluster: LocalCluster, name: str) -> list[dict[str, Any]]:
    with http(cluster) as session:
        modules = session.get("/v1/modules").json()
    return [m for m in modules if m["module_name"] == name]


def installed(cluster: LocalCluster, name: str) -> list[Path]:
    return sorted(cluster.options.data.glob(f"node-*/{name}/*/module.zip"))


def test_a_failed_7x_action_is_rolled_back_and_said(legacy: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "rollback.zip", module_json(module_name="rollback"))
    # Node 3 cannot store a file: its temporary folder is a file. GET /v1/nodes still says it is
    # active, so publish goes ahead and the cluster's action fails on node 3 (a node reported
    # down is refused before anything is sent: the last test below).
    temp = legacy.nodes[2].artifacts.temp
    shutil.rmtree(temp)
    temp.write_text("not a folder")

    failed = cli(legacy, "publish", bundle)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    assert "module object: rolled back" in failed.stdout
    assert "no node took the artifact: module" in failed.stdout
    assert "created by this run, was deleted again" in failed.stdout
    # each node's line names the action's failure, as the cluster reported it
    cause = "failed: internal_error: installing rollback 10203 on node 3 failed"
    assert failed.stdout.count(cause) == 3, failed.stdout
    assert "publish failed on 3 of 3 nodes" in failed.stderr
    assert "nothing this run created was kept" in failed.stderr
    assert listed(legacy, "rollback") == []
    assert installed(legacy, "rollback") == []  # nodes 1 and 2 had it before node 3 failed

    temp.unlink()
    temp.mkdir(mode=0o700)
    again = cli(legacy, "publish", bundle)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "module object: created" in again.stdout
    assert len(installed(legacy, "rollback")) == 3


def test_a_node_reported_down_is_refused_on_7x_too(legacy: LocalCluster, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "downed.zip", module_json(module_name="downed"))
    legacy.stop_node(3)
    refused = cli(legacy, "publish", bundle)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    # RS 7.x: nothing is uploaded to a node; the cluster's own action installs on every node. The
    # line said "so no upload to it can succeed", as on 8.x, where each node takes an upload.
    assert (
        f"node 3 ({legacy.urls[2]}) is down (status in GET /v1/nodes), so the cluster cannot install"
        " the module on it: run the same command once the cluster reports it active"
    ) in refused.stderr
    assert "upload" not in refused.stderr.split("is down")[1].split("\n")[0]
    assert "nothing was changed" in refused.stderr
    assert listed(legacy, "downed") == [] and installed(legacy, "downed") == []


def test_node_choice_is_refused_on_7x(legacy: LocalCluster, tmp_path: Path) -> None:
    """RS 7.x installs and removes a module on every node itself. `--node` left a down node out
    of the preflight, and the cluster's action then failed on it (refused late), and a publish
    that went ahead reported only the nodes it was given. It is refused before anything changes."""
    bundle = write_bundle(tmp_path / "chosen.zip", module_json(module_name="chosen"))
    legacy.stop_node(3)
    chosen = ("--node", legacy.urls[0], "--node", legacy.urls[1])

    refused = cli(legacy, "publish", bundle, *chosen)

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert (
        "--node chooses nodes, but this cluster runs Redis Enterprise before 8.0 (7.22.0-0), which installs"
        " and removes a module on every node itself; nothing was changed"
    ) in refused.stderr
    # the hint names the bundles: a bare `modpack publish` (or unpublish) refuses to run
    assert f"Run `modpack publish {bundle} {typed(legacy)}`, without --node" in " ".join(
        refused.stderr.split()
    )
    assert listed(legacy, "chosen") == [] and installed(legacy, "chosen") == []

    legacy.start_node(3)
    assert as_printed(hinted(refused.stderr, "modpack publish")).returncode == 0
    assert len(listed(legacy, "chosen")) == 1 and len(installed(legacy, "chosen")) == 3
    kept = cli(legacy, "unpublish", "chosen", "1.2.3", "--node", legacy.urls[0])
    assert kept.returncode == 1, kept.stdout + kept.stderr
    assert f"Run `modpack unpublish chosen 10203 {typed(legacy)}`, without --node" in " ".join(
        kept.stderr.split()
    )
    assert len(listed(legacy, "chosen")) == 1 and len(installed(legacy, "chosen")) == 3
    ran = as_printed(hinted(kept.stderr, "modpack unpublish"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert listed(legacy, "chosen") == [] and installed(legacy, "chosen") == []


def test_the_7x_refusal_of_node_choice_names_a_dry_run_as_a_dry_run(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """`publish --dry-run --node URL` on 7.x named `modpack publish BUNDLE --cluster ...`, without
    --dry-run (nor --strict): copied, the dry run published for real. The hint names the same run,
    with its own options as typed, and run as printed it is a dry run again."""
    bundle = write_bundle(tmp_path / "dry.zip", module_json(module_name="dry"))

    refused = cli(legacy, "publish", bundle, "--dry-run", "--strict", "--node", legacy.urls[1])

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"Run `modpack publish {bundle} --dry-run --strict {typed(legacy)}`, without --node" in " ".join(
        refused.stderr.split()
    )
    ran = as_printed(hinted(refused.stderr, "modpack publish"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.startswith("dry run; these calls would be made:\n"), ran.stdout
    assert listed(legacy, "dry") == [] and installed(legacy, "dry") == []


def test_the_7x_action_reports_the_node_that_could_not_take_the_bundle(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """The server side of the failure, as the action object documents it."""
    bundle = write_bundle(tmp_path / "down.zip", module_json(module_name="downnode"))
    legacy.stop_node(2)
    with http(legacy) as session:
        answer = session.post(LEGACY_MODULES, files={"module": ("down.zip", bundle.read_bytes())})
        assert answer.status_code == 200, answer.text
        action = _finished(session, answer.json()["action_uid"])
        assert action["status"] == "failed"
        assert action["error_code"] == "internal_error"
        assert "node 2 is down" in action["error_message"]
        assert 0 < action["progress"] < 100  # node 1 was done before node 2 failed
        # the module object stays until it is deleted, as the cluster has no way to know better
        (module,) = [m for m in session.get("/v1/modules").json() if m["module_name"] == "downnode"]
        deleted = session.delete(f"{LEGACY_MODULES}/{module['uid']}")
        assert deleted.status_code == 200
        assert _finished(session, deleted.json()["action_uid"])["status"] == "completed"
    assert installed(legacy, "downnode") == []


def test_a_7x_bundle_that_does_not_validate_is_invalid_module(legacy: LocalCluster, tmp_path: Path) -> None:
    """7.x names a bundle that fails validation `invalid_module`, answered 400 (7.22 modules page)."""
    bad = write_bundle(tmp_path / "bad.zip", {**module_json(module_name="badmeta"), "version": "x"})
    with http(legacy) as session:
        answer = session.post(LEGACY_MODULES, files={"module": ("bad.zip", bad.read_bytes())})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "invalid_module"
    assert listed(legacy, "badmeta") == []


def _finished(session: httpx.Client, action_uid: str) -> dict[str, Any]:
    """The action once it has ended (a hang guard far above the milliseconds it takes)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        action: dict[str, Any] = session.get(f"{ACTIONS}/{action_uid}").json()
        if action["status"] in ("completed", "failed"):
            return action
        time.sleep(0.05)
    raise AssertionError(f"action {action_uid} did not end: {json.dumps(action)}")


def _interrupted_while_installing(legacy: LocalCluster, tmp_path: Path, name: str) -> PublishInterrupted:
    """publish of `name`, interrupted (by the caller's patch) once the cluster has the zip: the
    error says the cluster goes on installing, and it does, on every node."""
    from modpack.rest import publish as publishing
    from tests.support.rest import connection, wait_until

    bundle = write_bundle(tmp_path / f"{name}.zip", module_json(module_name=name))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(legacy))
    assert stopped.value.exit_code == 130
    assert stopped.value.message.startswith(
        f"interrupted: the cluster took {name}.zip and goes on installing {name} 10203"
    )
    wait_until(lambda: len(installed(legacy, name)) == 3)  # the cluster did go on
    return stopped.value


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_while_the_7x_action_runs_says_the_cluster_goes_on(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RS 7.x installs from its own action once it has the zip: Ctrl+C while publish follows the
    action stops publish, not the cluster, so 'interrupted' alone hid a module on its way in."""
    import signal
    import threading

    real = publish_7x.follow_action

    def interrupted(*args: Any, **kwargs: Any) -> None:
        main = threading.main_thread().ident
        assert main is not None
        signal.pthread_kill(main, signal.SIGINT)  # Ctrl+C, as the action is first asked about
        real(*args, **kwargs)

    monkeypatch.setattr(publish_7x, "follow_action", interrupted)
    stopped = _interrupted_while_installing(legacy, tmp_path, "going")
    assert "modpack modules list" in stopped.hint


def test_a_dropped_stop_while_the_7x_action_runs_says_the_cluster_goes_on(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM whose exception Python dropped, recorded once the cluster has the zip: publish
    followed the action to its end and exited 0; it stops as a raised one does."""
    from modpack.errors import Terminated
    from modpack.rest import client
    from modpack.rest import publish as publishing
    from tests.support.rest import connection, wait_until

    real = publish_7x.follow_action

    def stopped_then_followed(*args: Any, **kwargs: Any) -> None:
        client.request_stop(Terminated())  # what the handler leaves when its raise is dropped
        real(*args, **kwargs)

    monkeypatch.setattr(publish_7x, "follow_action", stopped_then_followed)
    bundle = write_bundle(tmp_path / "ignored.zip", module_json(module_name="ignored"))
    client.clear_stop()
    try:
        with pytest.raises(PublishInterrupted) as stopped:
            publishing.publish(bundle, connection(legacy))
    finally:
        client.clear_stop()
    assert stopped.value.exit_code == 143
    assert stopped.value.message.startswith("terminated: the cluster took ignored.zip and goes on installing")
    wait_until(lambda: len(installed(legacy, "ignored")) == 3)


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_before_the_second_7x_bundle_is_taken_says_what_the_first_left(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`publish a.zip b.zip` on RS 7.x: the cluster installed the first bundle (module object and
    nodes 1 and 2), and Ctrl+C during the second one's POST printed only 'interrupted'."""
    from modpack.rest import client
    from modpack.rest import publish as publishing
    from tests.support.rest import connection, rebuilt

    ubuntu_so, rhel9_so = (
        rebuilt(tmp_path / "ubuntu", b"ubuntu build"),
        rebuilt(tmp_path / "rhel9", b"rhel9 build"),
    )
    ubuntu = write_bundle(
        tmp_path / "split.ubuntu22.zip",
        module_json(ubuntu_so, module_name="split", operating_systems=["ubuntu22"]),
        ubuntu_so,
    )
    rhel9 = write_bundle(
        tmp_path / "split.rhel9.zip",
        module_json(rhel9_so, module_name="split", operating_systems=["rhel9"]),
        rhel9_so,
    )
    real, posted = client.post_bundle, []

    def second_interrupted(*args: Any, **kwargs: Any) -> Any:
        posted.append(args[3])
        if len(posted) == 2:
            raise KeyboardInterrupt  # Ctrl+C while the second zip is sent: the cluster has none of it
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "post_bundle", second_interrupted)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish([ubuntu, rhel9], connection(legacy))
    assert stopped.value.exit_code == 130
    assert stopped.value.message == "interrupted: split 10203 is on 2 of 3 nodes"
    assert stopped.value.details[0].startswith("module object: created (uid ")
    assert f"not uploaded (interrupted before the cluster took {rhel9.name})" in stopped.value.details[-1]
    assert "modpack unpublish split 10203" in stopped.value.hint
    assert len(listed(legacy, "split")) == 1
    assert len(installed(legacy, "split")) == 2


def test_ctrl_c_before_the_7x_cluster_took_anything_says_nothing_changed(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C while the one zip is sent to POST /v2/modules: publish printed only 'modpack:
    interrupted', where an 8.x run says what the module object and the nodes hold."""
    from modpack.rest import client
    from modpack.rest.publish import publish
    from tests.support.rest import connection

    def sending(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the zip not sent whole: the cluster has none of it

    monkeypatch.setattr(client, "post_bundle", sending)
    bundle = write_bundle(tmp_path / "stopped.zip", module_json(module_name="stopped"))
    with pytest.raises(PublishInterrupted) as stopped:
        publish(bundle, connection(legacy))
    assert stopped.value.exit_code == 130
    assert stopped.value.message == "interrupted: stopped 10203 was not uploaded"
    assert stopped.value.details == ("module object: not created",)
    assert stopped.value.hint == "Nothing was changed on the cluster; run the same publish again when ready."
    assert listed(legacy, "stopped") == []


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_after_the_7x_zip_was_sent_says_the_cluster_took_it(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C once the whole zip was sent but before the answer was read: the cluster had created
    the module object and was installing it, and publish printed only 'interrupted', as if the
    cluster had nothing (the 8.x module object's POST had the same window, e42cbff)."""
    from modpack.rest import client

    real = client.post_bundle

    def sent_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "post_bundle", sent_then_interrupted)
    stopped = _interrupted_while_installing(legacy, tmp_path, "sent")
    assert "modpack unpublish sent 10203" in stopped.hint
    assert len(listed(legacy, "sent")) == 1


def test_ctrl_c_once_the_7x_zip_was_sent_and_the_cluster_does_not_answer_says_it_is_unknown(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip sent whole, Ctrl+C, and the cluster not answering whether it took it: publish said
    "was not uploaded ... Nothing was changed on the cluster", which then listed the module."""
    from modpack.errors import ModpackError
    from modpack.rest import client
    from modpack.rest import publish as publishing
    from tests.support.rest import connection

    real_post, real_find = client.post_bundle, client.find_modules

    def sent_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        real_post(*args, **kwargs)
        monkeypatch.setattr(client, "find_modules", no_answer)
        raise KeyboardInterrupt

    def no_answer(*args: Any, **kwargs: Any) -> Any:
        raise ModpackError("GET /v1/modules: timed out")

    monkeypatch.setattr(client, "post_bundle", sent_then_interrupted)
    monkeypatch.setattr(interruption, "SETTLE_PAUSE", 0.01)
    bundle = write_bundle(tmp_path / "unknown.zip", module_json(module_name="unknown"))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(legacy))
    monkeypatch.setattr(client, "find_modules", real_find)
    assert stopped.value.message == (
        "interrupted: the run stopped once the cluster had been sent unknown 10203, and the cluster did not"
        " say whether it took it"
    )
    assert "Nothing was changed" not in stopped.value.hint and "modpack modules list" in stopped.value.hint
    assert len(listed(legacy, "unknown")) == 1  # it had: "not uploaded" was untrue


def test_ctrl_c_after_the_7x_install_says_what_the_cluster_holds(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C while publish looked the installed module up: it said "was not uploaded ... Nothing
    was changed on the cluster" of a module every node had."""
    from modpack.rest import client
    from modpack.rest import publish as publishing
    from tests.support.rest import connection

    real, calls = client.find_modules, []

    def second_interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        if len(calls) == 2:  # the first looks before, the second after the install
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "find_modules", second_interrupted)
    bundle = write_bundle(tmp_path / "done.zip", module_json(module_name="done"))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(legacy))
    monkeypatch.setattr(client, "find_modules", real)
    assert stopped.value.message == "interrupted: done 10203 is on 3 of 3 nodes"
    assert "Nothing was changed" not in stopped.value.hint
    assert len(listed(legacy, "done")) == 1


def _published_then_changed(legacy: LocalCluster, tmp_path: Path, name: str) -> tuple[str, Path]:
    """`name` published on the 7.x cluster (its module uid), and a build of it whose description
    differs: what `publish --replace` deletes the installed module for."""
    from modpack.rest import publish as publishing
    from tests.support.rest import connection

    first = write_bundle(tmp_path / f"{name}-1.zip", module_json(module_name=name, description="first"))
    publishing.publish(first, connection(legacy))
    (stored,) = listed(legacy, name)
    changed = write_bundle(tmp_path / f"{name}-2.zip", module_json(module_name=name, description="second"))
    return stored["uid"], changed


def _replace_stopped(
    legacy: LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    where: object,
    attribute: str,
) -> tuple[str, PublishInterrupted]:
    """`name` published, then `publish --replace` of a changed build stopped by Ctrl+C when it
    calls `where.attribute`: the replaced module's uid and the error (exit status 130)."""
    from modpack.rest import publish as publishing
    from tests.support.rest import connection

    uid, changed = _published_then_changed(legacy, tmp_path, name)

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(where, attribute, interrupted)
    monkeypatch.setattr(interruption, "SETTLE_PAUSE", 0.01)
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(changed, connection(legacy), replace=True)
    assert stopped.value.exit_code == 130
    return uid, stopped.value


def test_a_7x_replace_dry_run_says_what_it_would_do(legacy: LocalCluster, tmp_path: Path) -> None:
    """It printed an empty 'module object:' line and 'replaced module U', of a module it left
    in place."""
    uid, changed = _published_then_changed(legacy, tmp_path, "dryreplace")
    looked = cli(legacy, "publish", changed, "--replace", "--dry-run")
    assert looked.returncode == 0, looked.stdout + looked.stderr
    assert "  module object: would replace\n" in looked.stdout
    assert f"  note: would replace module {uid}: description differs\n" in looked.stdout  # one field
    assert "replaced module" not in looked.stdout
    assert [m["uid"] for m in listed(legacy, "dryreplace")] == [uid]
    assert len(installed(legacy, "dryreplace")) == 3


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_after_a_7x_replace_deleted_the_module_says_so(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On 7.x, --replace deletes the installed module (from every node) before it uploads: Ctrl+C
    after that printed only 'interrupted', while the cluster no longer held the version."""
    from modpack.rest import client

    uid, error = _replace_stopped(legacy, tmp_path, monkeypatch, "gonereplace", client, "post_bundle")
    assert error.message == (
        f"interrupted: --replace deleted gonereplace 10203 (module {uid}) from the cluster, and this"
        " build was not installed"
    )
    assert list(error.details) == [f"replaced module {uid}: description differed"]
    assert "Run the same publish again" in error.hint
    assert listed(legacy, "gonereplace") == []
    assert installed(legacy, "gonereplace") == []


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_before_a_7x_replace_deleted_anything_says_the_module_is_there(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    # Ctrl+C before the DELETE reached the cluster
    uid, error = _replace_stopped(
        legacy, tmp_path, monkeypatch, "keptreplace", publish_7x, "delete_legacy_module"
    )
    assert error.message == (
        f"interrupted: --replace was deleting keptreplace 10203 (module {uid}), which is still listed"
        " (its deletion may still be under way); this build was not installed"
    )
    assert "modpack modules list" in error.hint
    assert [m["uid"] for m in listed(legacy, "keptreplace")] == [uid]
    assert len(installed(legacy, "keptreplace")) == 3


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_after_a_7x_replace_installed_the_new_build_says_so(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C once the cluster had installed this run's build said "this build was not installed"
    because the replaced module's uid was gone (a review): the cluster lists the new one."""

    # Ctrl+C as publish reads back what it installed
    uid, error = _replace_stopped(
        legacy, tmp_path, monkeypatch, "newreplace", publish_7x.LegacyPublish, "_finish_new"
    )
    (now,) = listed(legacy, "newreplace")
    assert now["uid"] != uid and now["description"] == "second"
    assert error.message == (
        f"interrupted: --replace deleted newreplace 10203 (module {uid}), and the cluster holds this"
        f" run's build as module {now['uid']}"
    )


def _rebuild_refused(legacy: LocalCluster, tmp_path: Path, name: str) -> str:
    """`name` published on the 7.x cluster, then a rebuild of it (another binary, the same
    version) published: its refusal's stderr (exit 1)."""
    from tests.support.rest import rebuilt

    first = write_bundle(tmp_path / f"{name}-1.zip", module_json(module_name=name))
    assert cli(legacy, "publish", first).returncode == 0
    so = rebuilt(tmp_path / "again")
    changed = write_bundle(tmp_path / f"{name}-2.zip", module_json(so, module_name=name), so)
    refused = cli(legacy, "publish", changed)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    return refused.stderr


def test_a_7x_rebuild_is_not_told_to_take_a_version_the_cluster_holds(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """The cluster holds 1.2.3 and 1.2.4: a rebuild of 1.2.3 was told to take 1.2.4, which it holds."""
    from tests.support.rest import rebuilt

    so = rebuilt(tmp_path / "next", b"1.2.4")
    later = module_json(so, module_name="held7", version=10204, semantic_version="1.2.4")
    assert cli(legacy, "publish", write_bundle(tmp_path / "held7-4.zip", later, so)).returncode == 0
    said = _rebuild_refused(legacy, tmp_path, "held7")
    assert "already has module held7 version 10203" in said
    assert "RedisModule_Init in the module's source (10205 for 1.2.5)" in said, said


def test_a_7x_refusal_names_each_platform_once(legacy: LocalCluster, tmp_path: Path) -> None:
    """Two ubuntu22 nodes made the refusal say "sha256 for ubuntu22/x86_64" twice."""
    said = _rebuild_refused(legacy, tmp_path, "onceeach")
    assert said.count("sha256 for ubuntu22/x86_64") == 1, said
    assert said.count("sha256 for rhel9/x86_64") == 1, said


def test_a_7x_rebuild_is_said_to_differ_and_to_need_a_new_version(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """The cluster holds a sha256 for each platform, and the rebuild's differs: the refusal said
    "it has no sha256 for ...", and its hint steered to --replace as for an object made from fewer
    fields."""
    said = _rebuild_refused(legacy, tmp_path, "rebuilt7")
    assert (
        "with different content: sha256 for ubuntu22/x86_64 and sha256 for rhel9/x86_64 differ;"
        " nothing was changed"
    ) in said
    assert "it has no" not in said
    assert (
        "A rebuilt module needs a new version in its binary and in its declarations: pass one to"
        " RedisModule_Init in the module's source (10204 for 1.2.4) and recompile, then set"
        " semantic_version in modpack.toml to match"
    ) in said
    assert len(listed(legacy, "rebuilt7")) == 1 and len(installed(legacy, "rebuilt7")) == 3


@pytest.mark.parametrize("others_first", [1, 2])
def test_two_identical_7x_publishes_at_once_both_succeed(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, others_first: int
) -> None:
    """Two runs of the same `publish a.zip b.zip` on RS 7.x: the one whose POST came second got
    '400 module_exists: Module already in system' and failed that node, though the cluster held
    its very build; with nothing uploaded it then deleted the module object the other run had
    made. The other run is played here between this run's look at the cluster and its POST of
    bundle `others_first` (the first, or the second of the two), for real, over HTTPS."""
    from modpack.rest import client
    from modpack.rest import publish as publishing
    from tests.support.rest import connection, rebuilt

    bundles = []
    for system in ("ubuntu22", "rhel9"):
        so = rebuilt(tmp_path / system, f"{system} build".encode())
        made = module_json(so, module_name="twice", operating_systems=[system])
        bundles.append(write_bundle(tmp_path / f"twice.{system}.zip", made, so))
    real, posts = client.post_bundle, []

    def the_other_run_first(*args: Any, **kwargs: Any) -> Any:
        posts.append(args[3])
        if len(posts) == others_first:
            monkeypatch.setattr(client, "post_bundle", real)
            other = publishing.publish(bundles, connection(legacy))
            assert not other.failed and {n.status for n in other.nodes} <= {"uploaded", "present"}
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "post_bundle", the_other_run_first)
    result = publishing.publish(bundles, connection(legacy))
    assert not result.failed, [(n.status, n.detail) for n in result.nodes]
    meanwhile = [n for n in result.nodes if n.detail.endswith("another run installed it meanwhile")]
    assert meanwhile and all(n.status == "present" for n in meanwhile)
    assert result.module_object == ("present" if others_first == 1 else "created")
    assert len(listed(legacy, "twice")) == 1  # the other run's object was not rolled back
    assert len(installed(legacy, "twice")) == 3


def _undeletable(legacy: LocalCluster, monkeypatch: pytest.MonkeyPatch, node: int) -> None:
    """Node `node` cannot delete a module's folder (as one made immutable by chattr +i)."""
    artifacts = legacy.nodes[node - 1].artifacts

    def refused(name: str, number: int) -> bool:
        if artifacts.folder(name, number).exists():
            raise PermissionError(1, "Operation not permitted", str(artifacts.folder(name, number)))
        return False

    monkeypatch.setattr(artifacts, "remove", refused)


def test_a_failed_7x_rollback_says_what_it_left(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node 3 cannot take the bundle, and node 1 cannot delete the copy the failed install left
    it: the rollback failed, and publish printed 'module object:  (uid ...)' with the hint that
    the module object was not created, which this run had created."""
    bundle = write_bundle(tmp_path / "stuck.zip", module_json(module_name="stuck"))
    temp = legacy.nodes[2].artifacts.temp
    shutil.rmtree(temp)
    temp.write_text("not a folder")
    _undeletable(legacy, monkeypatch, 1)

    failed = cli(legacy, "publish", bundle)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    (uid,) = {line.split("(uid ")[1].rstrip(")") for line in failed.stdout.splitlines() if "(uid " in line}
    # the cluster keeps a module object whose delete action failed
    assert f"  module object: created, rollback failed (uid {uid})\n" in failed.stdout
    assert (
        f"note: no node took the artifact, and deleting module object {uid}, created by this run, failed"
        " (action "
    ) in failed.stdout
    assert "(module_delete) failed: internal_error: removing stuck 10203 failed on node 1" in failed.stdout
    assert "the cluster still lists it" in failed.stdout
    assert "not created" not in failed.stderr
    assert (
        f"no node took the artifact, and deleting the module object this run created ({uid}) failed:"
        f" `modpack unpublish stuck 10203 {typed(legacy)}` removes it, once what failed is fixed"
    ) in " ".join(failed.stderr.split())
    assert [m["uid"] for m in listed(legacy, "stuck")] == [uid] and len(installed(legacy, "stuck")) == 1

    monkeypatch.undo()  # what the hint says, once what failed is fixed
    temp.unlink()
    temp.mkdir(mode=0o700)
    assert as_printed(hinted(failed.stderr, "modpack unpublish")).returncode == 0
    assert listed(legacy, "stuck") == [] and installed(legacy, "stuck") == []
    assert cli(legacy, "publish", bundle).returncode == 0
    assert len(installed(legacy, "stuck")) == 3


def test_a_7x_unpublish_whose_action_failed_says_what_is_left_and_a_rerun_finishes(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node 2 could not remove its copy: unpublish said only "action ... (module_delete) failed",
    and a second one "none found", exit 0, as the cluster had dropped the module object before
    its action ran, while node 2 still held the files."""
    bundle = write_bundle(tmp_path / "left7.zip", module_json(module_name="left7"))
    assert cli(legacy, "publish", bundle).returncode == 0
    (uid,) = [m["uid"] for m in listed(legacy, "left7")]
    _undeletable(legacy, monkeypatch, 2)

    failed = cli(legacy, "unpublish", "left7", "1.2.3")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"deleting module object {uid} of left7 10203 failed (action " in failed.stderr
    assert (
        f"(module_delete) failed: internal_error: removing left7 10203 failed on node 2 (Operation not"
        f" permitted): the module object {uid} stays until a delete removes it from every node); the"
        " cluster still lists it, and the nodes named there may still hold its files"
    ) in failed.stderr
    assert f"hint: Run `modpack unpublish left7 10203 {typed(legacy)}` again once what failed is fixed" in (
        " ".join(failed.stderr.split())
    )
    assert [m["uid"] for m in listed(legacy, "left7")] == [uid] and len(installed(legacy, "left7")) == 1

    monkeypatch.undo()
    again = as_printed(hinted(failed.stderr, "modpack unpublish"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"  module objects deleted: {uid}\n" in again.stdout
    assert listed(legacy, "left7") == [] and installed(legacy, "left7") == []


def test_a_7x_unpublish_while_a_node_is_down_keeps_that_nodes_copy_and_says_so(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """The 7.x delete removed the files of a node that was down and completed: unpublish said
    "module objects deleted" while the node, once back, would still hold the module (on serve its
    files were simply taken off its disk). Now the action fails, naming the node, and the object
    stays until a delete once the node is back."""
    bundle = write_bundle(tmp_path / "down7.zip", module_json(module_name="down7"))
    assert cli(legacy, "publish", bundle).returncode == 0
    (uid,) = [m["uid"] for m in listed(legacy, "down7")]
    legacy.stop_node(3)

    failed = cli(legacy, "unpublish", "down7", "1.2.3")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "removing down7 10203 failed on node 3 (it is down)" in failed.stderr, failed.stderr
    assert "module objects deleted" not in failed.stdout
    assert [m["uid"] for m in listed(legacy, "down7")] == [uid]
    assert any(p.parts[-4] == "node-3" for p in installed(legacy, "down7"))

    legacy.start_node(3)
    again = as_printed(hinted(failed.stderr, "modpack unpublish"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"  module objects deleted: {uid}\n" in again.stdout
    assert listed(legacy, "down7") == [] and installed(legacy, "down7") == []


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_once_the_7x_zip_went_whole_and_the_cluster_lists_nothing_yet_says_it_is_unknown(
    legacy: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C once the last bytes of the zip were handed to the connection, over a slow link: the
    cluster listed nothing for the second the run asked, and publish said "was not uploaded ...
    Nothing was changed on the cluster"; the bytes still on their way arrived, and the cluster
    installed the module on every node after the run had ended."""
    from modpack.rest import client
    from modpack.rest import publish as publishing
    from tests.support.rest import connection

    real_post, real_find = client.post_bundle, client.find_modules

    def sent_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(client, "find_modules", lambda *a, **k: [])  # still receiving it
        real_post(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "post_bundle", sent_then_interrupted)
    monkeypatch.setattr(interruption, "SETTLE_PAUSE", 0.01)
    bundle = write_bundle(tmp_path / "late.zip", module_json(module_name="late"))
    with pytest.raises(PublishInterrupted) as stopped:
        publishing.publish(bundle, connection(legacy))
    monkeypatch.setattr(client, "find_modules", real_find)
    assert stopped.value.message == (
        "interrupted: the run stopped once the cluster had been sent late 10203, and the cluster did not"
        " say whether it took it"
    )
    assert "Nothing was changed" not in stopped.value.hint and "modpack modules list" in stopped.value.hint
    assert len(listed(legacy, "late")) == 1  # it had it: "Nothing was changed" was untrue


def test_the_7x_artifact_delete_hint_names_an_unpublish_that_runs(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """RS 7.x has no per-node artifact API: `artifacts delete hello 1.2.3` was refused with the hint
    "`modpack unpublish` removes one", and a bare `modpack unpublish` refuses to run (Missing
    argument 'NAME', exit 2). The hint names the module and version it was given, and the command
    runs as printed: it removes the module (its object too, as 7.x removes files only with it)."""
    bundle = write_bundle(tmp_path / "gone.zip", module_json(module_name="gone"))
    assert cli(legacy, "publish", bundle).returncode == 0
    assert len(installed(legacy, "gone")) == 3

    refused = cli(legacy, "artifacts", "delete", "gone", "1.2.3")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"`modpack unpublish gone 1.2.3 {typed(legacy)}` removes it (its module object with it" in (
        " ".join(refused.stderr.split())
    )
    ran = as_printed(hinted(refused.stderr, "modpack unpublish"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert listed(legacy, "gone") == [] and installed(legacy, "gone") == []

    listing = cli(legacy, "artifacts", "list")
    assert listing.returncode == 1
    assert f"`modpack unpublish NAME VERSION {typed(legacy)}` removes one" in " ".join(listing.stderr.split())


def test_a_7x_dry_run_says_it_could_not_check_the_role_the_real_run_is_refused_for(tmp_path: Path) -> None:
    """On RS 7.x the user's role cannot be read (GET /v1/users/role is RS 8.x's). A dry run as a
    cluster_member said "module object: would create" and "would upload" on every node, exit 0,
    with nothing about the role; the real run was then refused on every node, "403 forbidden: role
    'cluster_member' does not have the update_cluster permission", exit 1. The dry run says that
    the permission its calls need was not checked; with nothing to do it says nothing of it."""
    from tests.support.cli import run_modpack
    from tests.support.rest import ROLE_USERS, write_role_users

    users = write_role_users(tmp_path / "users.json")
    bundle = write_bundle(tmp_path / "rolecheck.zip", module_json(module_name="rolecheck"))
    member = ROLE_USERS["cluster_member"]
    with running_cluster(tmp_path / "data", users=users, software_version="7.22") as legacy:
        where = ["--cluster", legacy.urls[0], "--ca-cert", str(legacy.ca_cert), "--retries", "0"]
        env = {"MODPACK_USER": member.user, "MODPACK_PASSWORD": member.password}
        previewed = run_modpack("publish", bundle, "--dry-run", *where, env=env)
        assert previewed.returncode == 0, previewed.stdout + previewed.stderr
        assert "module object: would create" in previewed.stdout
        (note,) = [line for line in previewed.stdout.splitlines() if "user's role could not be read" in line]
        assert "whether it has update_cluster, which these calls need, was not checked" in note
        assert "refused (403 forbidden)" in note

        real = run_modpack("publish", bundle, *where, env=env)
        assert real.returncode == 1, real.stdout + real.stderr
        assert "does not have the update_cluster permission" in real.stdout
        assert listed(legacy, "rolecheck") == []

        assert cli(legacy, "publish", bundle).returncode == 0  # the admin publishes it
        nothing = run_modpack("publish", bundle, "--dry-run", *where, env=env)
        assert nothing.returncode == 0, nothing.stdout + nothing.stderr
        assert "dry run: nothing to do" in nothing.stdout
        assert "could not be read" not in nothing.stdout


def test_modules_delete_on_7x_removes_the_module_from_the_nodes_as_its_help_says(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """`modules delete --help` said "the artifacts on the nodes stay", which is RS 8.x's API; on
    RS 7.x DELETE /v2/modules/<uid> removes the module from every node."""
    from tests.support.cli import run_modpack

    bundle = write_bundle(tmp_path / "gone.zip", module_json(module_name="gone"))
    assert cli(legacy, "publish", bundle).returncode == 0
    (uid,) = [m["uid"] for m in listed(legacy, "gone")]
    assert installed(legacy, "gone")
    done = cli(legacy, "modules", "delete", uid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(legacy, "gone") == []
    helped = run_modpack("modules", "delete", "--help")
    assert "on RS 7.x the cluster removes the module from every node with it" in " ".join(
        helped.stdout.split()
    )
    assert "On RS 8.x the artifacts on the nodes stay" in " ".join(helped.stdout.split())


def test_a_7x_upload_whose_action_cannot_be_followed_is_not_said_to_have_failed(
    legacy: LocalCluster, tmp_path: Path
) -> None:
    """The cluster took the zip (POST /v2/modules answered with its action) and then could not be
    asked about the action: the bundle was 'failed', and the run deleted the module object it had
    made while the cluster's action could still install it."""
    from tests.support.relay import relayed

    taken = lambda method, path, index: method == "POST" and path.rstrip("/").endswith("/v2/modules")  # noqa: E731
    bundle = write_bundle(tmp_path / "follow.zip", module_json(module_name="follow"))
    with relayed(legacy, target=legacy.urls[0], gone_after_answer=taken) as (address, _):
        env = {"MODPACK_USER": "admin", "MODPACK_PASSWORD": legacy.options.admin_password or ""}
        done = run_modpack(
            "publish", bundle, "--cluster", address, "--ca-cert", legacy.ca_cert, "--retries", "0", env=env
        )
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "but its action was not seen to end: cannot reach" in said, said
    assert "failed: cannot reach" not in said, said
    assert "rolled back" not in said, said
    assert len(listed(legacy, "follow")) == 1  # kept: the cluster installed it
    assert "is kept: the cluster could not be asked what it holds" in said, said
