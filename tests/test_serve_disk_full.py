"""A node whose disk is full: one clear answer, nothing left behind, and the node recovers.

On a 40 MB tmpfs a publish got "500 internal_error: internal error: OperationalError" (or
OSError), the partial upload stayed in `.tmp/` (the discard's close hit ENOSPC again before its
unlink), so the disk stayed full and every later upload failed the same way until serve
restarted, and serve's log held tracebacks. The uploads here write to /dev/full, where every
write fails with the kernel's own ENOSPC: a tmpfs cannot be mounted on every machine the tests
run on. The configuration store's disk is filled by sqlite's own limit: PRAGMA max_page_count
at the pages it holds, so the next insert fails with SQLITE_FULL, "database or disk is full".

An upload that fits the disk whose module.json, written beside it once it is placed, does not
(/dev/full again, under that one file) was answered 507 and left the whole upload in
`.tmp/stage-*/`, on 8.x and in a 7.x install alike: the disk stayed full after the 507.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import store
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ACTIONS, ARTIFACTS, LEGACY_MODULES
from tests.support.rest import cli, http, module_json, rebuilt, running_cluster, write_bundle


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


def _module_json_hits_a_full_disk(path: Path, data: bytes) -> None:
    """store._write_synced on a disk with room for the upload and none for its module.json: the
    file is made, and its bytes go to /dev/full, whose every write fails with ENOSPC."""
    path.touch()
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _left_in_temp(cluster: LocalCluster) -> list[str]:
    return sorted(
        str(p.relative_to(cluster.options.data)) for p in cluster.options.data.glob("node-*/.tmp/**/*")
    )


def test_a_disk_full_while_placing_the_artifact_leaves_no_stage_folder(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    monkeypatch.setattr(store, "_write_synced", _module_json_hits_a_full_disk)
    with http(cluster) as session:
        assert session.post("/v2/modules/user-defined", json=module_json()).status_code == 200
        answer = session.post(ARTIFACTS, files={"module": ("hello.zip", bundle.read_bytes())})
        listed = session.get(ARTIFACTS).json()
    assert answer.status_code == 507, answer.text
    assert answer.json()["error_code"] == "insufficient_resources"
    assert _left_in_temp(cluster) == []  # the upload went with its stage folder
    assert listed == []

    monkeypatch.undo()  # space freed: the same upload goes through, with no restart
    with http(cluster) as session:
        assert (
            session.post(ARTIFACTS, files={"module": ("hello.zip", bundle.read_bytes())}).status_code == 200
        )
    assert (
        cluster.options.data / "node-1" / "hello" / "10203" / "module.zip"
    ).read_bytes() == bundle.read_bytes()


def test_a_disk_full_while_replacing_an_artifact_keeps_the_old_one(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    so = rebuilt(tmp_path / "b", b"second build")
    second = write_bundle(tmp_path / "second.zip", module_json(so), so)
    with http(cluster) as session:
        assert session.post("/v2/modules/user-defined", json=module_json()).status_code == 200
        assert (
            session.post(ARTIFACTS, files={"module": ("hello.zip", bundle.read_bytes())}).status_code == 200
        )
        monkeypatch.setattr(store, "_write_synced", _module_json_hits_a_full_disk)
        answer = session.post(ARTIFACTS, files={"module": ("second.zip", second.read_bytes())})
        listed = session.get(ARTIFACTS).json()
    assert answer.status_code == 507, answer.text
    assert _left_in_temp(cluster) == []
    assert listed == [{"module_name": "hello", "version": 10203, "dependencies": []}]
    kept = cluster.options.data / "node-1" / "hello" / "10203"
    assert (kept / "module.zip").read_bytes() == bundle.read_bytes()
    assert json.loads((kept / "module.json").read_text())["sha256"] == module_json()["sha256"]


def test_a_move_in_that_fails_puts_the_old_artifact_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no atomic exchange is to be had, the old artifact is hidden, then the stage renamed
    to its place: a failed rename lost the old artifact and kept the new one in `.tmp/`."""
    artifacts = store.NodeArtifacts(tmp_path / "node-1")
    artifacts.prepare()
    old, new = tmp_path / "old.zip", tmp_path / "new.zip"
    old.write_bytes(b"old build")
    new.write_bytes(b"new build")
    artifacts.place(old, module_json())
    monkeypatch.setattr(store, "_exchange", lambda first, second: False)
    real_replace = Path.replace

    def replace(self: Path, target: Any) -> Path:
        if self.name.startswith("stage-"):
            raise OSError(28, "No space left on device")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    with pytest.raises(OSError, match="No space left"):
        artifacts.place(new, module_json())
    monkeypatch.undo()
    assert (artifacts.folder("hello", 10203) / "module.zip").read_bytes() == b"old build"
    assert [a.module_name for a in artifacts.artifacts()] == ["hello"]
    assert list(artifacts.temp.iterdir()) == []


def test_a_7x_install_on_a_full_disk_fails_its_action_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    with running_cluster(tmp_path / "data", software_version="7.22", nodes=1) as legacy:
        monkeypatch.setattr(store, "_write_synced", _module_json_hits_a_full_disk)
        with http(legacy) as session:
            answer = session.post(LEGACY_MODULES, files={"module": ("hello.zip", bundle.read_bytes())})
            assert answer.status_code == 200, answer.text
            for _ in range(600):
                action = session.get(f"{ACTIONS}/{answer.json()['action_uid']}").json()
                if action["status"] in ("completed", "failed"):
                    break
                time.sleep(0.05)
        assert action["status"] == "failed", action
        assert action["error_code"] == "insufficient_resources"
        assert "No space left on device" in action["error_message"]
        assert _left_in_temp(legacy) == []
        assert not (legacy.options.data / "node-1" / "hello" / "10203").exists()
