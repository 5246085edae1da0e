"""Every call into the configuration store runs off the node's event loop.

The store serialises its calls with a lock, and a worker thread holds it while it writes a module
object of megabytes and SQLite syncs it to disk: a store call made on a node's loop waits for it,
and with it every other request of that node. Listing, reading and deleting module objects, the
upload's module object lookup, the 8.2 upload switch and the 7.x delete called the store on the
loop; this records the thread of every store call while real requests are served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import store
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ARTIFACTS, LEGACY_MODULES, MODULES
from tests.support.rest import http, module_json, running_cluster, write_bundle

CALLS = (
    "modules",
    "module",
    "find",
    "create_module",
    "delete_module",
    "take_module",
    "module_key",
    "setting",
    "set_setting",
)


@pytest.fixture
def store_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """(store method, thread name) of every store call made from here on."""
    seen: list[tuple[str, str]] = []

    def recorded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: store.ConfigStore, *args: Any) -> Any:
            seen.append((name, threading.current_thread().name))
            return method(self, *args)

        return call

    for name in CALLS:
        monkeypatch.setattr(store.ConfigStore, name, recorded(name, getattr(store.ConfigStore, name)))
    yield seen


def on_a_loop(seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, thread) for name, thread in seen if thread.startswith("modpack-node")]


def test_the_82_endpoints_call_the_store_off_the_loop(
    tmp_path: Path, store_threads: list[tuple[str, str]]
) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    with running_cluster(tmp_path / "data") as cluster, http(cluster) as session:
        assert session.put("/v1/cluster", json={"allow_modules_upload": True}).status_code == 200
        created = session.post(MODULES, json=module_json()).json()
        uid = created["uid"]
        with bundle.open("rb") as body:
            assert session.post(ARTIFACTS, files={"module": body}).status_code == 200
        assert [m["uid"] for m in session.get("/v1/modules").json()] == [uid]
        assert session.get(f"/v1/modules/{uid}").status_code == 200
        assert session.get("/v1/cluster").json()["allow_modules_upload"] is True
        assert session.delete(f"{MODULES}/{uid}").status_code == 200
    called = {name for name, _ in store_threads}
    assert {"modules", "module", "find", "create_module", "delete_module", "set_setting"} <= called
    assert on_a_loop(store_threads) == []


def test_the_7x_delete_calls_the_store_off_the_loop(
    legacy_cluster: LocalCluster, tmp_path: Path, store_threads: list[tuple[str, str]]
) -> None:
    with http(legacy_cluster) as session:
        assert session.delete(f"{LEGACY_MODULES}/no-such-uid").status_code == 404
    assert ("module_key", "AnyIO worker thread") in store_threads
    assert on_a_loop(store_threads) == []


@pytest.fixture
def legacy_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path / "data", software_version="7.22") as running:
        yield running
