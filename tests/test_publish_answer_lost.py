"""A request sent whole whose answer is lost: the node may have done it, and publish and unpublish
must not say it did not.

A node took a 200 MB upload whose answer came after --timeout, and publish said "cannot reach",
deleted the module object as if no node had taken the artifact, and said nothing it created was
kept, while every node held the artifact. Here an HTTPS relay in front of a real `modpack serve`
node (with the cluster's own certificate) passes each request on whole and withholds the node's
answer to the first `drop` of them: what a network that loses the answer does. The node itself
answers as usual.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from modpack.rest import client, store
from modpack.rest.cluster import LocalCluster
from tests.support.cli import run_modpack
from tests.support.relay import first, relayed
from tests.support.rest import cli, connection, module_json, rebuilt, running_cluster, write_bundle


def held(cluster: LocalCluster, name: str) -> bool:
    with client.Api(connection(cluster)) as api:
        return client.has_artifact(api, client.nodes(api)[0], name, 10203)


def objects(cluster: LocalCluster, name: str) -> list[str]:
    with client.Api(connection(cluster)) as api:
        return [str(m.get("uid")) for m in client.list_modules(api) if m.get("module_name") == name]


def as_admin(cluster: LocalCluster, address: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`modpack ARGS --cluster ADDRESS` (a relay in front of the cluster) as the admin, with the
    cluster's CA and the command's own retries."""
    env = {"MODPACK_USER": "admin", "MODPACK_PASSWORD": cluster.options.admin_password or ""}
    return run_modpack(*args, "--cluster", address, "--ca-cert", cluster.ca_cert, env=env)


def bundle_of(tmp_path: Path, name: str) -> Path:
    so = rebuilt(tmp_path / name, bytes(range(256)) * 1000)
    return write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)


def test_an_upload_whose_answer_is_lost_is_not_rolled_back_when_the_node_lists_it(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", nodes=1) as cluster, relayed(cluster, first(1)) as (node, _):
        done = cli(cluster, "publish", bundle_of(tmp_path, "lost"), "--node", node, "--timeout", "2")
        assert done.returncode == 1, done.stdout + done.stderr
        said = (  # "no answer within" or "the answer was not whole within": which, a matter of timing
            f"  node {re.escape(node)}: unconfirmed: POST {re.escape(node)}/v2/local/modules/user-defined"
            "/artifacts was sent, but its answer was lost: (no answer|the answer was not whole) within 2 s;"
            " the node lists lost 10203 now: this upload's, unless it is a build of that version the node"
            " held before\n"
        )
        assert re.search(said, done.stdout), done.stdout
        (uid,) = objects(cluster, "lost")
        assert f"  module object: created (uid {uid})\n" in done.stdout
        assert (
            f"  note: module object {uid}, created by this run, is kept: node {node} may hold the artifact"
            " (see each node's line)\n"
        ) in done.stdout
        assert "no node took the artifact" not in done.stdout + done.stderr
        assert "nothing this run created was kept" not in done.stderr
        assert f"modpack: publish failed on 1 of 1 nodes: node {node}\n" in done.stderr
        assert held(cluster, "lost")
        again = cli(cluster, "publish", tmp_path / "lost.zip", "--node", node)  # the relay drops no more
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"  module object: present (uid {uid})\n" in again.stdout


def test_an_upload_whose_answer_and_node_are_lost_keeps_the_module_object(tmp_path: Path) -> None:
    """The node took the upload, and then could not be asked what it holds: not known, so the
    module object stays and the run says why."""
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        with relayed(cluster, first(1), gone_after_drop=True) as (node, _):
            done = cli(cluster, "publish", bundle_of(tmp_path, "gone"), "--node", node, "--timeout", "2")
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            f"  node {node}: unknown: POST {node}/v2/local/modules/user-defined/artifacts was sent"
            in done.stdout
        )
        assert "; its list could not be read either (cannot reach " in done.stdout
        assert "): whether it took the artifact is not known\n" in done.stdout
        (uid,) = objects(cluster, "gone")
        assert f"  module object: created (uid {uid})\n" in done.stdout
        assert held(cluster, "gone")  # what the run could not tell: the node did take it


def test_a_node_that_stops_after_taking_the_upload_is_not_said_to_have_failed(tmp_path: Path) -> None:
    """The node answered the upload 200 and stopped before publish read its list: the line said
    "failed: cannot reach ...", and a run that created the module object rolled it back, while
    the node held the artifact when it came back."""
    upload = lambda method, path, index: method == "POST" and path.endswith("/artifacts")  # noqa: E731
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        with relayed(cluster, gone_after_answer=upload) as (node, _):
            done = cli(cluster, "publish", bundle_of(tmp_path, "stop"), "--node", node, "--timeout", "2")
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            f"  node {node}: unconfirmed: the node accepted the upload, but its list could not be read"
            " to check it (cannot reach "
        ) in done.stdout
        assert "failed" not in done.stdout
        (uid,) = objects(cluster, "stop")
        assert f"  module object: created (uid {uid})\n" in done.stdout
        assert f"is kept: node {node} may hold the artifact (see each node's line)\n" in done.stdout
        assert held(cluster, "stop")


def test_a_delete_whose_answer_is_lost_is_judged_by_the_node_s_list(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        assert cli(cluster, "publish", bundle_of(tmp_path, "del")).returncode == 0
        with relayed(cluster, first(1)) as (node, _):
            done = cli(cluster, "unpublish", "del", "10203", "--node", node, "--timeout", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        said = (
            f"  node {re.escape(node)}: deleted: its answer was lost \\(DELETE {re.escape(node)}/v2/local"
            "/modules/user-defined/artifacts/del/10203 was sent, but its answer was lost: (no answer|the"
            " answer was not whole) within 2 s\\); the node lists it no more\n"
        )
        assert re.search(said, done.stdout), done.stdout
        assert not held(cluster, "del")


def test_a_large_rebuild_the_cluster_refuses_sends_no_byte_to_a_node(tmp_path: Path) -> None:
    """A bundle of 8 MiB or more streams to the nodes while it is validated; the module object
    was judged only after that, so a rebuild refused under the same version had sent about 94 MB
    of a 200 MB bundle to every node first. It is judged before any upload starts."""
    import random

    tail = random.Random(1).randbytes(9 * 1024 * 1024)
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        first = rebuilt(tmp_path / "one", tail)
        published = write_bundle(tmp_path / "big.zip", module_json(first, module_name="big"), first)
        assert cli(cluster, "publish", published).returncode == 0
        second = rebuilt(tmp_path / "two", tail[::-1])
        rebuild = write_bundle(tmp_path / "two.zip", module_json(second, module_name="big"), second)
        with relayed(cluster) as (node, requests):
            refused = cli(cluster, "publish", rebuild, "--node", node)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "modpack: the cluster already has module big version 10203 (uid " in refused.stderr
        assert [r for r in requests if r[0] == "POST"] == [], requests


def _posts(log: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return [entry for entry in log if entry[0] == "POST"]


def test_an_upload_whose_connection_ends_and_whose_node_goes_is_judged_by_the_lost_answer(
    tmp_path: Path,
) -> None:
    """The connection ended once the bundle was sent whole, and the retry found the node gone:
    publish said the retry's "cannot reach", deleted the module object and noted no node took the
    artifact, which the node held."""
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        with relayed(cluster, first(1), close=True, gone_after_drop=True) as (node, log):
            done = cli(cluster, "publish", bundle_of(tmp_path, "ends"), "--node", node, retries=None)
        assert done.returncode == 1, done.stdout + done.stderr
        assert len(_posts(log)) == 1, log
        assert (
            f"  node {node}: unknown: POST {node}/v2/local/modules/user-defined/artifacts was sent"
            in done.stdout
        )
        assert "no node took the artifact" not in done.stdout
        (uid,) = objects(cluster, "ends")
        assert f"  module object: created (uid {uid})\n" in done.stdout
        assert held(cluster, "ends")


def test_ctrl_c_after_a_lost_upload_answer_keeps_the_module_object(tmp_path: Path) -> None:
    """Ctrl+C while another node still uploaded, after node 1's answer was lost and its list showed
    the artifact: the interruption rolled the module object back ("Nothing is left on the nodes"),
    though node 1 held the artifact. What the run holds when the signal comes is set here (the
    moment a signal lands among parallel uploads is the machine's to decide, and CI's load moved
    it past the end of the run twice); the interruption then acts on a real cluster."""
    from modpack.rest.publish.interruption import interrupted
    from modpack.rest.publish.results import PublishResult

    with running_cluster(tmp_path / "data", nodes=2) as cluster:
        bundle = bundle_of(tmp_path, "stop")
        assert cli(cluster, "publish", bundle, "--node", cluster.urls[0]).returncode == 0  # node 1 holds it
        with client.Api(connection(cluster)) as api:
            one, two = client.nodes(api)
            (uid,) = objects(cluster, "stop")
            result = PublishResult("stop", 10203, module_object="created", uid=uid)
            result.nodes = [
                client.NodeOutcome(one, "unconfirmed", "its answer was lost; the node lists stop 10203 now"),
                client.NodeOutcome(
                    two, "failed", "the upload was aborted before its end; nothing was placed"
                ),
            ]
            stopped = interrupted(api, result, KeyboardInterrupt())
        assert objects(cluster, "stop") == [uid]  # kept: node 1 may hold the artifact it describes
        assert f"module object: created (uid {uid})" in stopped.details
        assert (
            f"{one.label}: unconfirmed (its answer was lost; the node lists stop 10203 now)"
            in stopped.details
        )
        assert stopped.hint.startswith(f"{one.label} may hold the artifact (see each node's line)")
        assert "Nothing is left on the nodes" not in stopped.hint


def test_unpublish_with_its_retries_judges_a_lost_delete_by_the_list(tmp_path: Path) -> None:
    """With the default retries a DELETE whose answer was lost was sent again, met 404, and the node
    was "absent" though this run deleted its artifact."""
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        assert cli(cluster, "publish", bundle_of(tmp_path, "gone")).returncode == 0
        with relayed(cluster, first(1), close=True) as (node, log):
            done = cli(cluster, "unpublish", "gone", "10203", "--node", node, retries=None)
        assert done.returncode == 0, done.stdout + done.stderr
        assert [entry[0] for entry in log] == ["DELETE", "LOST", "GET"], log  # sent once, then judged
        assert f"  node {node}: deleted: its answer was lost (DELETE " in done.stdout, done.stdout
        assert not held(cluster, "gone")


def test_unpublish_judges_a_lost_delete_of_the_module_object_by_the_list(tmp_path: Path) -> None:
    """The module object's DELETE lost its answer: unpublish said it failed and deleted no artifact,
    leaving every node's artifact with no module object; retried, it met 404 ("none found")."""
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        assert cli(cluster, "publish", bundle_of(tmp_path, "obj")).returncode == 0
        (uid,) = objects(cluster, "obj")

        def deletes(method: str, path: str, index: int) -> bool:
            return method == "DELETE"

        with relayed(cluster, deletes, close=True) as (address, log):
            done = as_admin(cluster, address, "unpublish", "obj", "10203")
        assert done.returncode == 0, done.stdout + done.stderr
        assert [entry[0] for entry in log].count("LOST") >= 1, log
        assert f"  module objects deleted: {uid}\n" in done.stdout, done.stdout
        assert objects(cluster, "obj") == [] and not held(cluster, "obj")


def test_a_read_or_a_wrong_port_is_not_said_to_have_maybe_changed_anything(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        with relayed(cluster, lambda method, path, index: path.startswith("/v1/modules")) as (address, _):
            done = as_admin(cluster, address, "modules", "list", "--timeout", "1", "--retries", "0")
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"cannot reach {address}/v1/modules (GET)" in done.stderr
        assert "may have done it" not in done.stderr


def test_a_7x_upload_whose_answer_is_lost_is_not_rolled_back(tmp_path: Path) -> None:
    """RS 7.x: the answer to POST /v2/modules was lost after the cluster had installed the module
    from it, and publish deleted that module again: "no node took the artifact"."""
    with running_cluster(tmp_path / "data", nodes=1, software_version="7.22") as cluster:

        def upload(method: str, path: str, index: int) -> bool:
            return method == "POST" and path.startswith("/v2/modules")

        with relayed(cluster, upload) as (address, _):
            done = as_admin(
                cluster, address, "publish", bundle_of(tmp_path, "old"), "--retries", "0", "--timeout", "3"
            )
        assert done.returncode == 1, done.stdout + done.stderr
        assert ": unconfirmed: POST " in done.stdout and "its answer was lost" in done.stdout, done.stdout
        assert "no node took the artifact" not in done.stdout
        (uid,) = objects(cluster, "old")
        assert f"(uid {uid})" in done.stdout
        assert sorted(cluster.options.data.glob("node-*/old/*/module.zip"))


def test_a_put_of_the_upload_switch_whose_answer_is_lost_is_sent_again(tmp_path: Path) -> None:
    """Setting allow_modules_upload to the same value twice does no harm: a PUT whose answer was
    lost keeps its retries (not sending it again failed a publish --allow-upload on one slow
    answer)."""
    with running_cluster(tmp_path / "data", nodes=1, allow_modules_upload=False) as cluster:
        puts: list[str] = []

        def put(method: str, path: str, index: int) -> bool:  # the first PUT only
            puts.extend([path] if method == "PUT" else [])
            return method == "PUT" and len(puts) == 1

        with relayed(cluster, put, close=True) as (address, log):
            done = as_admin(cluster, address, "publish", bundle_of(tmp_path, "sw"), "--allow-upload")
        assert done.returncode == 0, done.stdout + done.stderr
        assert [entry[0] for entry in log].count("PUT") == 3, log  # on, once more, then off
        assert ("LOST", "/v1/cluster", 200) in log


def test_a_7x_unpublish_whose_delete_answer_is_lost_is_judged_by_the_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RS 7.x deletes in an action that drops the module object once every node removed its copy:
    under CI's load the object was still listed at the one look after the lost answer (run 159),
    the DELETE went again, its answer was lost too, and unpublish failed on a module the cluster
    was deleting. The list is now watched for up to --timeout; here each node takes 1.5 s."""
    removing = store.NodeArtifacts.remove

    def slow(self: store.NodeArtifacts, name: str, number: int) -> bool:
        time.sleep(1.5)
        return removing(self, name, number)

    with running_cluster(tmp_path / "data", nodes=1, software_version="7.22") as cluster:
        assert cli(cluster, "publish", bundle_of(tmp_path, "old7")).returncode == 0
        (uid,) = objects(cluster, "old7")
        monkeypatch.setattr(store.NodeArtifacts, "remove", slow)

        def deletes(method: str, path: str, index: int) -> bool:
            return method == "DELETE"

        with relayed(cluster, deletes, close=True) as (address, _):
            done = as_admin(cluster, address, "unpublish", "old7", "10203")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"  module objects deleted: {uid}\n" in done.stdout
        assert objects(cluster, "old7") == []


def test_a_7x_rollback_whose_delete_answer_is_lost_watches_the_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sibling of the unpublish case above: no node took the bundle (node 2 cannot store a
    file), the rollback's DELETE was answered into a closed connection, and the one look at the
    list found the object the cluster's delete action was still removing: "created, rollback
    failed", exit 1 naming an unpublish, of a module the cluster deleted a moment later."""
    removing = store.NodeArtifacts.remove

    def slow(self: store.NodeArtifacts, name: str, number: int) -> bool:
        time.sleep(1.5)
        return removing(self, name, number)

    with running_cluster(tmp_path / "data", nodes=2, software_version="7.22") as cluster:
        temp = cluster.nodes[1].artifacts.temp
        temp.rmdir()
        temp.write_text("not a folder")  # the install action fails on node 2
        monkeypatch.setattr(store.NodeArtifacts, "remove", slow)

        def deletes(method: str, path: str, index: int) -> bool:
            return method == "DELETE"

        with relayed(cluster, deletes, close=True) as (address, _):
            done = as_admin(cluster, address, "publish", bundle_of(tmp_path, "gone7"))
        assert done.returncode == 1, done.stdout + done.stderr
        assert "module object: rolled back" in done.stdout, done.stdout
        assert "was deleted again (the answer to the DELETE was lost, and the cluster lists it no more" in (
            " ".join(done.stdout.split())
        ), done.stdout
        assert "rollback failed" not in done.stdout + done.stderr
        assert objects(cluster, "gone7") == []
