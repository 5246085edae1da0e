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

serve restarted on a full disk said its store was damaged and to give a new --data folder (or
move this one away): sqlite could not size the store's -shm index and said SQLITE_IOERR_SHMSIZE,
"disk I/O error". sqlite fails here for real, on RLIMIT_FSIZE (EFBIG where a full disk gives
ENOSPC; sqlite's answer is the same), and statvfs says the folder's file system is full.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.errors import ModpackError
from modpack.rest import store
from modpack.rest.cluster import LocalCluster, ServeOptions
from modpack.rest.paths import ACTIONS, ARTIFACTS, LEGACY_MODULES
from tests.support.rest import ADMIN, cli, http, module_json, rebuilt, running_cluster, write_bundle


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


@contextlib.contextmanager
def _files_limited_to(size: int) -> Iterator[None]:
    """No file of this process grows past `size` bytes (RLIMIT_FSIZE; Python ignores SIGXFSZ, so
    such a write fails with EFBIG): sqlite can neither size a -shm index nor append to a WAL."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _no_room_in(folder: Path) -> Any:
    """os.statvfs, saying that `folder`'s file system has no free block."""
    real = os.statvfs

    def statvfs(path: Any) -> os.statvfs_result:
        found = real(path)
        if Path(path) != folder:
            return found
        return os.statvfs_result((found.f_bsize, found.f_frsize, found.f_blocks, 0, 0, *found[5:10]))

    return statvfs


def _restart(data: Path, **options: Any) -> ModpackError:
    """What serve says when it cannot start again on `data` (as `modpack: MESSAGE` and `hint: HINT`)."""
    with pytest.raises(ModpackError) as refused:
        LocalCluster(ServeOptions(data=data, port=0, nodes=1, https=False, **options)).start()
    return refused.value


def _first_start(data: Path) -> str:
    """A healthy data folder holding one module object; its uid."""
    with running_cluster(data, nodes=1) as first, http(first) as session:
        created = session.post("/v2/modules/user-defined", json=module_json())
    assert created.status_code == 200, created.text
    return str(created.json()["uid"])


def test_serve_restarted_on_a_full_disk_says_so_and_keeps_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    uid = _first_start(data)
    monkeypatch.setattr(os, "statvfs", _no_room_in(data))
    with _files_limited_to(16 * 1024):
        refused = _restart(data, admin_password=ADMIN.password)
    assert refused.message == (
        f"cannot open the configuration store {data / 'ccs.sqlite3'}: the file system holding {data}"
        " is full (0 KiB free; SQLITE_IOERR_SHMSIZE: disk I/O error)"
    )
    assert refused.hint == (
        "Free space on that file system (or raise the quota), then start serve again with the same"
        " --data: a full disk does not damage the store."
    )
    monkeypatch.undo()  # space freed: the same store serves what it held
    with running_cluster(data, nodes=1) as again, http(again) as session:
        assert [m["uid"] for m in session.get("/v1/modules").json()] == [uid]


def test_a_full_disk_under_the_switch_written_at_start_is_said_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store opens (its -shm index is there, sized: a serve killed on a full disk leaves it),
    and the switch --allow-modules-upload writes fails: an internal error (OperationalError)."""
    data = tmp_path / "data"
    _first_start(data)
    held = sqlite3.connect(data / "ccs.sqlite3")  # keeps the -shm index as a killed serve does
    try:
        held.execute("SELECT count(*) FROM modules").fetchone()
        monkeypatch.setattr(os, "statvfs", _no_room_in(data))
        with _files_limited_to(0):
            refused = _restart(data, admin_password=ADMIN.password, allow_modules_upload=False)
    finally:
        held.close()
    assert refused.message.startswith(
        f"cannot use the configuration store {data / 'ccs.sqlite3'}: the file system holding {data} is full"
    ), refused.message
    assert "a full disk does not damage the store" in refused.hint


def test_a_disk_io_error_with_room_left_is_no_damaged_store_either(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _first_start(data)
    with _files_limited_to(16 * 1024):
        refused = _restart(data, admin_password=ADMIN.password)
    assert refused.message == (
        f"cannot open the configuration store {data / 'ccs.sqlite3'}: disk I/O error (SQLITE_IOERR_SHMSIZE)"
    )
    assert refused.hint == (
        f"The file system holding {data} failed a read or a write (the kernel's log may say why);"
        " check that disk, then start serve again with the same --data."
    )
