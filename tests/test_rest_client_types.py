"""The client's typed seams hold at run time: a module object without a usable name or version
is refused before any request, and the per-node pool answers in the nodes' order."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import threading
from pathlib import Path

import pytest

from modpack.errors import FindingsError, UsageError
from modpack.rest import client
from modpack.rest import publish as publishing
from modpack.rest.client import Api, Connection, NodeOutcome, NodeRef
from modpack.rest.publish import run as publish_run
from modpack.types import Module
from tests.support.rest import module_json, write_bundle


@pytest.mark.parametrize(
    "module",
    [
        {},
        {"module_name": "hello"},
        {"module_name": 7, "version": 1},
        {"module_name": "hello", "version": True},
    ],
)
def test_create_module_refuses_an_object_without_name_and_version(module: Module) -> None:
    # No server: the check comes before the first request (a request would fail to connect).
    with (
        Api(Connection(cluster="https://127.0.0.1:1", retries=0)) as api,
        pytest.raises(UsageError) as caught,
    ):
        client.create_module(api, module)
    assert "module_name" in caught.value.message


def test_each_node_keeps_the_nodes_order_and_turns_failures_into_outcomes() -> None:
    refs = [NodeRef(f"node {i}", f"https://n{i}:9443", str(i)) for i in range(6)]
    threads: set[str] = set()

    def work(node: NodeRef) -> NodeOutcome:
        threads.add(threading.current_thread().name)
        if node.uid == "3":
            raise client.ClusterError("node 3 is down")
        return NodeOutcome(node, "deleted")

    outcomes = client.each_node(Connection(cluster="https://c:9443", jobs=2), refs, work)
    assert [o.node for o in outcomes] == refs
    assert [o.status for o in outcomes] == ["deleted"] * 3 + ["failed"] + ["deleted"] * 2
    assert outcomes[3].detail == "node 3 is down"
    assert all(name.startswith("modpack-node") for name in threads)
    assert client.each_node(Connection(cluster="https://c:9443"), [], work) == []


PUBLISH_MODULES = tuple(f"{publishing.__name__}.{m.name}" for m in pkgutil.iter_modules(publishing.__path__))
REST_SEAMS = ("modpack.rest.client", *PUBLISH_MODULES, "modpack.rest.upload", "modpack.rest.platforms")


@pytest.mark.parametrize("module_name", REST_SEAMS)
def test_no_any_in_the_signatures_and_fields_of_the_rest_client(module_name: str) -> None:
    """Module objects, node objects and request options cross these modules typed (JSON, Module,
    RequestOptions), never as Any (issue 15)."""
    module = importlib.import_module(module_name)
    loose = []
    for name, value in vars(module).items():
        if getattr(value, "__module__", None) != module_name:
            continue
        members = [(name, value)]
        if inspect.isclass(value):
            members += [(f"{name}.{n}", v) for n, v in vars(value).items() if inspect.isfunction(v)]
            loose += [(name, str(a)) for a in vars(value).get("__annotations__", {}).values()]
        for label, function in members:
            if inspect.isfunction(function):
                loose += [(label, str(a)) for a in function.__annotations__.values()]
    assert [(f, a) for f, a in loose if re.search(r"\bAny\b", a)] == []


def test_a_bundle_whose_version_is_no_integer_is_validated_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streamed path reads module.json before validating; a version that is not an integer
    sends the bundle down the validate-first path, where the findings say what is wrong."""
    document = module_json()
    document["version"] = "1.2.3"
    bundle = write_bundle(tmp_path / "textversion.zip", document)
    monkeypatch.setattr(publish_run, "PIPELINE_MIN", 0)  # stream even this small bundle
    with pytest.raises(FindingsError) as caught:  # no server: a request would fail to connect
        publishing.publish(bundle, Connection(cluster="https://127.0.0.1:1", retries=0))
    assert any(f.location.path == "version" for f in caught.value.findings)
