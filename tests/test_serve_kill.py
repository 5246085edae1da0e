"""`modpack serve` killed with SIGKILL while large uploads are in flight, then restarted.

One good bundle (hello 10203, from `modpack build fixtures/example`) is published first; then six
uploads of a ~40 MB bundle (hello.so plus a non-loaded section, version 20000) run at once, two
per node, and the server is killed at one of three moments: while the bodies stream in, once a
whole body has reached a node's `.tmp/` (validating or renaming), and once the first upload was
answered. After a restart on the same data folder: every artifact answered 200 before the kill
is there and byte-identical, every artifact file is one of the two bundles (no partial zip), no
temporary file is left, and the listings hold exactly what was complete.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import client
from modpack.rest import publish as publishing
from modpack.rest.publish.bundles import check_bundle
from tests.support.cli import build
from tests.support.files import sha256
from tests.support.paths import FIXTURES
from tests.support.rest import serve_connection, serve_processes, wait_until

pytestmark = pytest.mark.slow

BIG_MB = 40
BIG_VERSION = 20000  # semantic_version 2.0.0
UPLOADS_PER_NODE = 2


@dataclass(frozen=True)
class Bundles:
    good: Path
    big: Path

    def sha256s(self) -> set[str]:
        return {sha256(self.good), sha256(self.big)}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    if shutil.which("objcopy") is None:
        pytest.fail("objcopy is needed (Debian package binutils)")
    work = tmp_path_factory.mktemp("bundles")
    good = build(FIXTURES / "example", work / "good")
    blob = work / "blob.bin"
    blob.write_bytes(os.urandom(BIG_MB * 1024 * 1024))  # random: the zip stays as large
    big_so = work / "hello.so"
    section = ["--add-section", f".blob={blob}", "--set-section-flags", ".blob=noload,readonly"]
    subprocess.run(["objcopy", *section, str(FIXTURES / "so/x86_64/hello.so"), str(big_so)], check=True)
    blob.unlink()
    project = work / "big-project"
    project.mkdir()
    toml = (FIXTURES / "example" / "modpack.toml").read_text()
    toml = toml.replace('semantic_version = "1.2.3"', 'semantic_version = "2.0.0"')
    (project / "modpack.toml").write_text(toml.replace('so = "../so/x86_64/hello.so"', f'so = "{big_so}"'))
    big = build(project, work / "big", "--so", str(big_so))
    return Bundles(good, big)


# --- the server in a subprocess ---------------------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[], dict[str, Any]]]:
    """Starts `modpack serve` (3 nodes, HTTPS) on tmp_path/data; kills any left running."""
    with serve_processes(tmp_path / "data") as start:
        yield start


def node_refs(info: dict[str, Any]) -> dict[int, client.NodeRef]:
    return {n["uid"]: client.NodeRef(f"node {n['uid']}", n["url"]) for n in info["nodes"]}


def listings(info: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    with client.Api(serve_connection(info)) as api:
        return client.list_modules(api), {uid: client.artifacts(api, n) for uid, n in node_refs(info).items()}


def upload(info: dict[str, Any], uid: int, bundle: Path) -> int:
    """Upload `bundle` to node `uid`; its uid when answered 200 (raises otherwise)."""
    with client.Api(serve_connection(info)) as api:
        client.upload(api, node_refs(info)[uid], bundle)
    return uid


# --- kill moments -----------------------------------------------------------------------------


def temp_files(data: Path) -> list[Path]:
    return [p for node in sorted(data.glob("node-*")) for p in (node / ".tmp").rglob("*") if p.is_file()]


def receiving(data: Path, bundles: Bundles, done: list[Any]) -> bool:
    return any(p.stat().st_size > 1024 * 1024 for p in _existing(temp_files(data)))


def whole_body_received(data: Path, bundles: Bundles, done: list[Any]) -> bool:
    size = bundles.big.stat().st_size
    return any(p.stat().st_size >= size for p in _existing(temp_files(data)))


def first_answered(data: Path, bundles: Bundles, done: list[Any]) -> bool:
    return any(f.done() and f.exception() is None for f in done)


def _existing(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.exists()]


MOMENTS = {
    "receiving": receiving,
    "whole_body_received": whole_body_received,
    "first_answered": first_answered,
}


# --- the checks -------------------------------------------------------------------------------


def artifact_files(data: Path) -> dict[tuple[int, str, int], list[str]]:
    """(node, name, version) -> the file names in each artifact folder."""
    found = {}
    for node in sorted(data.glob("node-*")):
        for folder in node.glob("*/*"):
            if folder.parent.name != ".tmp":
                uid = int(node.name.removeprefix("node-"))
                found[(uid, folder.parent.name, int(folder.name))] = sorted(p.name for p in folder.iterdir())
    return found


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_killed_during_uploads_keeps_every_complete_artifact(
    tmp_path: Path, bundles: Bundles, serve: Callable[[], dict[str, Any]], moment: str
) -> None:
    data = tmp_path / "data"
    first = serve()
    assert not publishing.publish(bundles.good, serve_connection(first)).failed
    with client.Api(serve_connection(first)) as api:
        client.create_module(api, check_bundle(bundles.big).module)
    good_sha = sha256(bundles.good)
    modules_before, _ = listings(first)

    with concurrent.futures.ThreadPoolExecutor(3 * UPLOADS_PER_NODE) as pool:
        futures = [pool.submit(upload, first, uid, bundles.big) for uid in (1, 2, 3) * UPLOADS_PER_NODE]
        wait_until(lambda: MOMENTS[moment](data, bundles, futures), timeout=60)
        first["process"].send_signal(signal.SIGKILL)
        first["process"].wait(timeout=10)
        done = concurrent.futures.wait(futures, timeout=60)
    assert not done.not_done
    completed = {f.result() for f in futures if f.exception() is None}

    second = serve()
    modules_after, artifacts_after = listings(second)
    assert modules_after == modules_before
    assert temp_files(data) == []
    for (uid, name, number), files in artifact_files(data).items():
        assert files == ["module.json", "module.zip"], (uid, name, number)
        assert name == "hello"
        expected = good_sha if number == 10203 else sha256(bundles.big)
        assert sha256(data / f"node-{uid}" / name / str(number) / "module.zip") == expected
    for uid, listing in artifacts_after.items():
        versions = {a["version"] for a in listing}
        assert 10203 in versions, f"node {uid} lost the published artifact"
        if uid in completed:
            assert BIG_VERSION in versions, f"node {uid} lost an upload answered 200"
        assert versions <= {10203, BIG_VERSION}
        on_disk = {number for (node, _, number) in artifact_files(data) if node == uid}
        assert versions == on_disk
