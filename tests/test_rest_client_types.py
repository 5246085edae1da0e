"""The client's typed seams hold at run time: a module object without a usable name or version
is refused before any request, and the per-node pool answers in the nodes' order."""

from __future__ import annotations

import threading

import pytest

from modpack.errors import UsageError
from modpack.rest import client
from modpack.rest.client import Api, Connection, NodeOutcome, NodeRef
from modpack.types import Module


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
