"""A module object deleted while publish uploads (an unpublish run meanwhile, or an operator).

The sweep ran `publish BIG &` then `unpublish hello 1.3.0`: publish exited 1 with "the module
object this run created is kept, for the nodes that took the artifact", while that object was
gone and three nodes held an artifact no module object names. Publish now looks again once the
uploads ended, and says what is left and how to clear it. The deletion is played here, over
HTTPS as unpublish makes it, after the first node took the artifact: the nodes' uploads are made
one after the other so that the order is the same on every run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modpack.cli.app import main_group
from modpack.errors import ModpackError
from modpack.rest import client
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import MODULES
from tests.support.rest import ADMIN, as_printed, hinted, http, module_json, running_cluster, write_bundle


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    with running_cluster(tmp_path / "data") as running:
        yield running


def test_publish_says_when_its_module_object_was_deleted_meanwhile(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path / "raced.zip", module_json(module_name="raced"))
    real, lock, posts = client.post_bundle, threading.Lock(), []

    def unpublished_after_the_first_node(*args: Any, **kwargs: Any) -> Any:
        with lock:
            posts.append(args[1])
            if len(posts) == 2:
                with http(cluster) as session:
                    [module] = [m for m in session.get("/v1/modules").json() if m["module_name"] == "raced"]
                    assert session.delete(f"{MODULES}/{module['uid']}").status_code == 200
            return real(*args, **kwargs)

    monkeypatch.setattr(client, "post_bundle", unpublished_after_the_first_node)
    env = {"MODPACK_CLUSTER": cluster.urls[0], "MODPACK_USER": ADMIN.user, "MODPACK_PASSWORD": ADMIN.password}
    done = CliRunner().invoke(
        main_group, ["publish", str(bundle), "--ca-cert", str(cluster.ca_cert), "--retries", "0"], env=env
    )
    error = done.exception  # the group raises it; `modpack` prints it as "modpack: ..." with its hint
    assert isinstance(error, ModpackError), done.output
    assert (
        error.message
        == "publish failed: the module object of raced 10203 was deleted while this run uploaded"
    )
    # MODPACK_CLUSTER gave the cluster: the command finds it there too, and does not repeat it
    options = f"--ca-cert {cluster.ca_cert} --retries 0"
    assert f"`modpack unpublish raced 10203 {options}` to remove what the nodes took" in error.hint
    assert "module object: deleted meanwhile (uid " in done.stdout
    assert done.stdout.count(": uploaded: ") == 1
    [took] = [
        line.split(": uploaded: ")[0].strip() for line in done.stdout.splitlines() if ": uploaded: " in line
    ]
    assert f"while this run uploaded (an unpublish, or an operator); {took} holds the" in done.stdout
    assert "the artifact with no module object" in done.stdout
    assert "is kept" not in done.output + error.hint
    with http(cluster) as session:
        assert [m for m in session.get("/v1/modules").json() if m["module_name"] == "raced"] == []
    done = as_printed(hinted(error.hint, "modpack unpublish"), env={"MODPACK_CLUSTER": cluster.urls[0]})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{took}: deleted" in done.stdout
    assert list(cluster.options.data.glob("node-*/raced/*")) == []


def test_the_same_build_made_again_meanwhile_is_no_deletion(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run's unpublish and publish of the very same build while this one uploads: the
    object is there under a new uid, and calling it 'deleted meanwhile' (with a hint to unpublish)
    would have had the user remove a good state."""
    from modpack.rest import publish as publishing
    from tests.support.rest import connection

    document = module_json(module_name="again")
    bundle = write_bundle(tmp_path / "again.zip", document)
    real, lock, posts = client.post_bundle, threading.Lock(), []

    def unpublished_and_published_again(*args: Any, **kwargs: Any) -> Any:
        with lock:
            posts.append(args[1])
            if len(posts) == 2:
                with http(cluster) as session:
                    [module] = [m for m in session.get("/v1/modules").json() if m["module_name"] == "again"]
                    assert session.delete(f"{MODULES}/{module['uid']}").status_code == 200
                    assert session.post(MODULES, json=document).status_code == 200
            return real(*args, **kwargs)

    monkeypatch.setattr(client, "post_bundle", unpublished_and_published_again)
    result = publishing.publish(bundle, connection(cluster))
    assert result.module_object == "created" and not result.failed
    with http(cluster) as session:
        [module] = [m for m in session.get("/v1/modules").json() if m["module_name"] == "again"]
    assert result.uid == module["uid"]
    assert any(note.endswith(f"made again as {module['uid']} (another run?)") for note in result.notes)


def test_a_look_that_fails_after_the_uploads_leaves_their_outcomes(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look again once the uploads ended is one more GET: its failure made a publish whose
    every node took the artifact end in that GET's error, with no node's outcome said."""
    from modpack.rest import publish as publishing
    from modpack.rest.client import ClusterError
    from tests.support.rest import connection

    bundle = write_bundle(tmp_path / "looked.zip", module_json(module_name="looked"))
    real_post = client.post_bundle

    def then_the_cluster_goes_away(*args: Any, **kwargs: Any) -> Any:
        answer = real_post(*args, **kwargs)

        def gone(*_: Any, **__: Any) -> Any:
            raise ClusterError("GET https://cluster/v1/modules: connection refused")

        monkeypatch.setattr(client, "find_modules", gone)
        return answer

    monkeypatch.setattr(client, "post_bundle", then_the_cluster_goes_away)
    result = publishing.publish(bundle, connection(cluster))
    assert [n.status for n in result.nodes] == ["uploaded"] * 3
    assert result.module_object == "created"
    assert (
        "could not check that the module object is still there: GET https://cluster/v1/modules:"
        " connection refused"
    ) in result.notes
