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
from tests.support.rest import ADMIN, http, module_json, running_cluster, write_bundle


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
    assert "`modpack unpublish raced 10203` to remove what the nodes took" in error.hint
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
