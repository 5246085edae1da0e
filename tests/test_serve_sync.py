"""An upload is synced to disk before it is placed, and the sync runs beside its validation.

The fsync of a received 200 MB bundle (about 0.1 s, disk-bound) ran before the validation (about
0.2 s, CPU-bound) on every upload; now both run at once and the artifact is placed only when both
are done. Each test slows the sync down to see the order on a real cluster.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from modpack.rest import server, store, upload
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ARTIFACTS
from tests.support.rest import connection, http, module_json, running_cluster, write_bundle

SLOW_SYNC = 0.6  # seconds: far longer than validating the small bundle


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, float]]]:
    """(what, when) of each sync, validation and placing, with the sync made slow."""
    seen: list[tuple[str, float]] = []
    lock = threading.Lock()

    def note(what: str) -> None:
        with lock:
            seen.append((what, time.monotonic()))

    real_sync, real_validate, real_place = upload.Upload.sync, server._validate, store.NodeArtifacts.place

    def sync(self: upload.Upload) -> None:
        note("sync start")
        time.sleep(SLOW_SYNC)
        real_sync(self)
        note("sync end")

    def validate(path: Path) -> server.BundleVerdict:
        note("validate start")
        try:
            return real_validate(path)
        finally:
            note("validate end")

    def place(self: store.NodeArtifacts, path: Path, module: dict[str, object]) -> None:
        note("place")
        real_place(self, path, module)

    monkeypatch.setattr(upload.Upload, "sync", sync)
    monkeypatch.setattr(server, "_validate", validate)
    monkeypatch.setattr(store.NodeArtifacts, "place", place)
    yield seen


def _at(seen: list[tuple[str, float]], what: str) -> float:
    return next(when for name, when in seen if name == what)


def _post(cluster: LocalCluster, bundle: Path) -> int:
    with http(cluster) as session, bundle.open("rb") as data:
        response = session.post(cluster.urls[0] + ARTIFACTS, files={"module": (bundle.name, data)})
    return response.status_code


def test_the_upload_is_validated_while_it_syncs_and_placed_after(
    tmp_path: Path, events: list[tuple[str, float]]
) -> None:
    from modpack.rest import client

    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        with client.Api(connection(cluster)) as api:
            client.create_module(api, module_json())
        assert _post(cluster, write_bundle(tmp_path / "hello.zip")) == 200
    assert _at(events, "validate start") < _at(events, "sync end")  # side by side, not one then the other
    assert _at(events, "sync end") <= _at(events, "place")  # never placed before it is on disk


def test_a_refused_upload_waits_for_its_sync_and_leaves_nothing(
    tmp_path: Path, events: list[tuple[str, float]]
) -> None:
    """No module object: refused (406) once validated; the sync still running on the file is
    awaited before the file is discarded, and no temporary file stays."""
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        assert _post(cluster, write_bundle(tmp_path / "orphan.zip", module_json(module_name="orphan"))) == 406
        assert _at(events, "sync end") - _at(events, "sync start") >= SLOW_SYNC
        assert list(cluster.nodes[0].artifacts.temp.iterdir()) == []
    assert "place" not in [name for name, _ in events]


def test_an_upload_cancelled_by_the_server_stopping_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping a node cancels a request still running after uvicorn's graceful 3 s: one whose
    validation was cancelled waited for its sync before discarding the file, the node's loop
    stopped meanwhile, and the received bundle stayed in the node's temporary folder."""
    started = threading.Event()
    real_sync = upload.Upload.sync

    def validate(path: Path) -> server.BundleVerdict:
        started.set()
        time.sleep(4)  # past the graceful shutdown's 3 s
        raise AssertionError("the server stopped: no verdict is read")

    def sync(self: upload.Upload) -> None:
        time.sleep(6)  # still syncing when the request is cancelled
        real_sync(self)

    monkeypatch.setattr(server, "_validate", validate)
    monkeypatch.setattr(upload.Upload, "sync", sync)
    bundle = write_bundle(tmp_path / "hello.zip")
    with running_cluster(tmp_path / "data", nodes=1) as cluster:
        temp = cluster.nodes[0].artifacts.temp

        def send() -> None:
            with contextlib.suppress(Exception):  # the node goes away under the request
                _post(cluster, bundle)

        sender = threading.Thread(target=send)
        sender.start()
        assert started.wait(30)
        cluster.stop_node(1)
        assert list(temp.iterdir()) == []
        sender.join(30)
    # Nor its connection: uvicorn left the cancelled request's socket open after the node's loop
    # stopped, and a later garbage collection, in whatever test ran then, warned of it (a CI
    # failure of an unrelated test: "unclosed transport <_SelectorSocketTransport ...>").
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []
