"""A node whose disk is full: one clear answer, nothing left behind, and the node recovers.

On a 40 MB tmpfs a publish got "500 internal_error: internal error: OperationalError" (or
OSError), the partial upload stayed in `.tmp/` (the discard's close hit ENOSPC again before its
unlink), so the disk stayed full and every later upload failed the same way until serve
restarted, and serve's log held tracebacks. The uploads here write to /dev/full, where every
write fails with the kernel's own ENOSPC: a tmpfs cannot be mounted on every machine the tests
run on. The configuration store's disk is filled by sqlite's own limit: PRAGMA max_page_count
at the pages it holds, so the next insert fails with SQLITE_FULL, "database or disk is full".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import store
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ARTIFACTS
from tests.support.rest import cli, http, module_json, running_cluster, write_bundle


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    with running_cluster(tmp_path / "data") as running:
        yield running


def _full_disk(artifacts: store.NodeArtifacts) -> Any:
    real = artifacts.new_upload

    def new_upload() -> tuple[int, Path]:
        fd, path = real()  # the file an upload is received into, as ever
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), path  # every write to it: ENOSPC

    return new_upload


def test_a_full_disk_answers_507_removes_the_partial_upload_and_recovers(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    node = cluster.nodes[0]
    monkeypatch.setattr(node.artifacts, "new_upload", _full_disk(node.artifacts))
    with http(cluster) as session:
        assert session.post("/v2/modules/user-defined", json=module_json()).status_code == 200
        with bundle.open("rb") as data:
            answer = session.post(ARTIFACTS, files={"module": ("hello.zip", data, "application/zip")})
    assert answer.status_code == 507, answer.text
    assert answer.json() == {
        "error_code": "insufficient_resources",
        "description": "node 1 has no space left on its disk (No space left on device)",  # no server paths
    }
    assert list(node.artifacts.temp.iterdir()) == []  # nothing keeps the disk full
    assert "Traceback" not in caplog.text

    published = cli(cluster, "publish", bundle, "--node", cluster.urls[0])
    assert published.returncode == 1, published.stdout + published.stderr
    assert "507 insufficient_resources: node 1 has no space left on its disk" in published.stdout
    assert list(node.artifacts.temp.iterdir()) == []

    monkeypatch.undo()  # space freed: the next publish goes through, with no restart
    again = cli(cluster, "publish", bundle, "--node", cluster.urls[0])
    assert again.returncode == 0, again.stdout + again.stderr
    assert "uploaded" in again.stdout


def test_a_full_disk_under_the_store_is_507_too(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    database = cluster.shared.store._db  # the store's own connection: the limit holds for it alone
    database.execute(f"PRAGMA max_page_count = {database.execute('PRAGMA page_count').fetchone()[0]}")
    big = module_json(description="x" * 200_000)  # more than the pages left
    with http(cluster) as session:
        answer = session.post("/v2/modules/user-defined", json=big)
    assert answer.status_code == 507, answer.text
    assert answer.json()["description"] == "node 1 has no space left on its disk (database or disk is full)"
    assert "Traceback" not in caplog.text
