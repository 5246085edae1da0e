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
from pathlib import Path

from modpack.rest import client
from modpack.rest.cluster import LocalCluster
from tests.support.relay import relayed
from tests.support.rest import cli, connection, module_json, rebuilt, running_cluster, write_bundle


def held(cluster: LocalCluster, name: str) -> bool:
    with client.Api(connection(cluster)) as api:
        return client.has_artifact(api, client.nodes(api)[0], name, 10203)


def objects(cluster: LocalCluster, name: str) -> list[str]:
    with client.Api(connection(cluster)) as api:
        return [str(m.get("uid")) for m in client.list_modules(api) if m.get("module_name") == name]


def bundle_of(tmp_path: Path, name: str) -> Path:
    so = rebuilt(tmp_path / name, bytes(range(256)) * 1000)
    return write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)


def test_an_upload_whose_answer_is_lost_is_not_rolled_back_when_the_node_lists_it(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", nodes=1) as cluster, relayed(cluster, drop=1) as (node, _):
        done = cli(cluster, "publish", bundle_of(tmp_path, "lost"), "--node", node, "--timeout", "2")
        assert done.returncode == 1, done.stdout + done.stderr
        said = (  # "no answer within" or "the answer was not whole within": which, a matter of timing
            f"  node {re.escape(node)}: unconfirmed: POST {re.escape(node)}/v2/local/modules/user-defined"
            "/artifacts was sent, but its answer was lost: (no answer|the answer was not whole) within 2 s;"
            " the node lists lost 10203 now: it most likely took this upload\n"
        )
        assert re.search(said, done.stdout), done.stdout
        (uid,) = objects(cluster, "lost")
        assert f"  module object: created (uid {uid})\n" in done.stdout
        assert (
            f"  note: module object {uid}, created by this run, is kept: node {node} may hold the artifact"
            " (the answer to the upload was lost)\n"
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
        with relayed(cluster, drop=1, refuse_after=True) as (node, _):
            done = cli(cluster, "publish", bundle_of(tmp_path, "gone"), "--node", node, "--timeout", "2")
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            f"  node {node}: unknown: POST {node}/v2/local/modules/user-defined/artifacts was sent"
            in done.stdout
        )
        assert "; its list could not be read either (GET " in done.stdout
        assert "): whether it took the artifact is not known\n" in done.stdout
        (uid,) = objects(cluster, "gone")
        assert f"  module object: created (uid {uid})\n" in done.stdout
        assert held(cluster, "gone")  # what the run could not tell: the node did take it


def test_a_delete_whose_answer_is_lost_is_judged_by_the_node_s_list(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        assert cli(cluster, "publish", bundle_of(tmp_path, "del")).returncode == 0
        with relayed(cluster, drop=1) as (node, _):
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
