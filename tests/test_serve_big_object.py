"""A 3.2 MB module object is validated off the node's event loop: the node answers meanwhile.

The module object holds 25,000 commands (3.2 MB of JSON), about 1.6 s of validation. The real
validation runs, behind a gate: the wrapper put around `server._check_module_object` says when
validation has begun and holds it until a cheap request to the same node (GET /v1/nodes) has
been answered. Were validation on the loop, the gate would block the loop, the small request
could not be answered, and the test would fail at its hang guard; no time is measured.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modpack.rest import server
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import MODULES
from tests.support.rest import ADMIN, module_json, running_cluster

GUARD = 60.0  # hang guard, far above the validation's few seconds


def big_module_object(size: int = 3_200_000) -> dict[str, Any]:
    """A valid module object of `size` bytes of JSON or a little more: many distinct commands."""
    document = module_json(module_name="big", semantic_version="1.0.0", version=10000)
    template = document["commands"][0]
    one = len(json.dumps({**template, "command_name": "big.cmd000000"})) + 2
    document["commands"] = [{**template, "command_name": f"big.cmd{i:06d}"} for i in range(size // one + 1)]
    return document


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("big") / "data") as running:
        yield running


def client(cluster: LocalCluster) -> httpx.Client:
    return httpx.Client(
        auth=(ADMIN.user, ADMIN.password),
        verify=ssl.create_default_context(cafile=str(cluster.ca_cert)),
        timeout=GUARD,
    )


def test_the_big_object_is_big_and_valid() -> None:
    from modpack.findings import Severity
    from modpack.validate import validate_module_object

    document = big_module_object()
    assert len(json.dumps(document)) >= 3_200_000
    findings = validate_module_object(document)
    assert [f for f in findings if f.severity >= Severity.ERROR] == []


def test_a_cheap_request_is_answered_while_a_big_object_is_validated(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, answered = threading.Event(), threading.Event()
    gate_opened: list[bool] = []
    validate = server._check_module_object

    def gated(document: Any) -> None:
        started.set()
        gate_opened.append(answered.wait(GUARD))
        validate(document)  # the real validation, after the small request was answered

    monkeypatch.setattr(server, "_check_module_object", gated)
    node = cluster.urls[0]
    body = json.dumps(big_module_object()).encode()
    result: dict[str, httpx.Response] = {}

    def post() -> None:
        with client(cluster) as http:
            result["post"] = http.post(
                node + MODULES, content=body, headers={"Content-Type": "application/json"}
            )

    with client(cluster) as http:
        assert http.get(node + "/v1/nodes").status_code == 200  # credentials checked beforehand
        poster = threading.Thread(target=post)
        poster.start()
        assert started.wait(GUARD), "validation never began"
        small = http.get(node + "/v1/nodes", timeout=GUARD / 4)  # the same node, the same loop
        assert "post" not in result  # the big one is still being validated
        answered.set()
        poster.join(GUARD)
    assert small.status_code == 200
    assert len(small.json()) == 3
    assert gate_opened == [True]
    assert result["post"].status_code == 200, result["post"].text
    assert result["post"].json()["module_name"] == "big"


def test_a_big_invalid_object_is_refused_without_blocking_either(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal path (406 from the validator's findings) runs off the loop as well."""
    started, answered = threading.Event(), threading.Event()
    validate = server._check_module_object

    def gated(document: Any) -> None:
        started.set()
        answered.wait(GUARD)
        validate(document)

    monkeypatch.setattr(server, "_check_module_object", gated)
    document = big_module_object()
    document["commands"][-1]["command_arity"] = "three"  # one bad field at the very end
    result: dict[str, httpx.Response] = {}

    def post() -> None:
        with client(cluster) as http:
            result["post"] = http.post(cluster.urls[0] + MODULES, json=document)

    poster = threading.Thread(target=post)
    poster.start()
    assert started.wait(GUARD)
    with client(cluster) as http:
        assert http.get(cluster.urls[0] + "/v1/nodes", timeout=GUARD / 4).status_code == 200
    answered.set()
    poster.join(GUARD)
    assert result["post"].status_code == 406
    assert result["post"].json()["error_code"] == "invalid_module_object"


def test_the_big_object_is_stored_off_the_event_loop(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storing encodes the whole object (and SQLite syncs it to disk): that ran on the node's loop.
    The store call says which thread it runs on; off the loop, it is held until a cheap request
    to the same node has been answered."""
    from modpack.rest import store

    started, answered = threading.Event(), threading.Event()
    threads: list[str] = []
    create = store.ConfigStore.create_module

    def gated(self: store.ConfigStore, document: Any) -> Any:
        threads.append(threading.current_thread().name)
        started.set()
        if not threads[-1].startswith("modpack-node"):  # on the loop, waiting would hang the node
            answered.wait(GUARD)
        return create(self, document)

    monkeypatch.setattr(store.ConfigStore, "create_module", gated)
    document = module_json(module_name="stored-off-loop")
    result: dict[str, httpx.Response] = {}

    def post() -> None:
        with client(cluster) as http:
            result["post"] = http.post(cluster.urls[0] + MODULES, json=document)

    with client(cluster) as http:
        assert http.get(cluster.urls[0] + "/v1/nodes").status_code == 200  # credentials checked first
        poster = threading.Thread(target=post)
        poster.start()
        assert started.wait(GUARD), "the module object was never stored"
        small = http.get(cluster.urls[0] + "/v1/nodes", timeout=GUARD / 4)
        still_storing = "post" not in result
        answered.set()
        poster.join(GUARD)
    assert threads and not threads[0].startswith("modpack-node"), threads  # not the node's loop
    assert small.status_code == 200
    assert still_storing
    assert result["post"].status_code == 200, result["post"].text
