"""`modpack publish` to a cluster of x86_64 and aarch64 nodes, against `modpack serve` on loopback.

serve took --os per node but only one --arch for the whole cluster, so the mixed-architecture
cluster publish routes bundles for could not be served. With `--arch x86_64 --arch 3=aarch64`:

- each node object of GET /v1/nodes says its own architecture (serve's command line too);
- `publish x86.zip arm.zip` puts each bundle on the nodes of its architecture, and says so per node;
- the x86_64 bundle alone is refused before anything is created, naming node 3 and its platform
  (and the aarch64 one alone, naming nodes 1 and 2);
- the x86_64 bundle uploaded to node 3's artifacts endpoint itself answers 406.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import client
from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import ARTIFACTS, MODULES
from tests.support.cli import run_modpack
from tests.support.rest import (
    ADMIN,
    HELLO,
    SO,
    assert_each_node_holds,
    cli,
    connection,
    http,
    listing_nodes,
    module_json,
    running_cluster,
    serve_processes,
    stored_zip,
    write_bundle,
)

ARM_SO = SO / "aarch64" / "hello.so"
ARCH_OF = {1: "x86_64", 2: "x86_64", 3: "aarch64"}  # rhel9 on every node


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("mixedarch") / "data"
    with running_cluster(data, default_os="rhel9", node_architecture={3: "aarch64"}) as running:
        yield running


def bundles(folder: Path, name: str) -> dict[str, Path]:
    """hello.so built for rhel9 on x86_64 and on aarch64, one bundle each (as `modpack build` names them)."""
    x86 = module_json(HELLO, module_name=name, operating_systems=["rhel9"])
    arm = module_json(ARM_SO, module_name=name, operating_systems=["rhel9"], architecture="aarch64")
    return {
        "x86_64": write_bundle(folder / f"{name}.Linux-rhel9-x86_64.zip", x86, HELLO),
        "aarch64": write_bundle(folder / f"{name}.Linux-rhel9-aarch64.zip", arm, ARM_SO),
    }


def module_objects(cluster: LocalCluster, name: str) -> list[Any]:
    with client.Api(connection(cluster)) as api:
        return [m for m in client.list_modules(api) if m.get("module_name") == name]


def test_serve_gives_each_node_its_own_architecture(tmp_path: Path) -> None:
    """`modpack serve --arch x86_64 --arch 3=aarch64`: node 3's object says aarch64, the others x86_64,
    as the ports file does."""
    with serve_processes(
        tmp_path / "data", "--os", "rhel9", "--arch", "x86_64", "--arch", "3=aarch64"
    ) as start:
        info = start()
        with httpx.Client(verify=ssl.create_default_context(cafile=info["ca_cert"]), timeout=60) as session:
            nodes = session.get(info["cluster"] + "/v1/nodes", auth=(ADMIN.user, ADMIN.password)).json()
    assert {n["uid"]: n["architecture"] for n in nodes} == ARCH_OF
    assert {n["uid"]: (n["os_name"], n["os_semantic_version"]) for n in nodes} == dict.fromkeys(
        ARCH_OF, ("rhel", "9")
    )
    assert {n["uid"]: n["architecture"] for n in info["nodes"]} == ARCH_OF


def test_the_node_objects_of_a_mixed_cluster_say_each_architecture(mixed: LocalCluster) -> None:
    with http(mixed) as session:
        for url in mixed.urls:  # every node answers for the whole cluster
            nodes = session.get(url + "/v1/nodes").json()
            assert {n["uid"]: n["architecture"] for n in nodes} == ARCH_OF


def test_each_node_gets_the_bundle_of_its_architecture(mixed: LocalCluster, tmp_path: Path) -> None:
    given = bundles(tmp_path, "botharch")
    done = cli(mixed, "publish", given["x86_64"], given["aarch64"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "module object: created" in done.stdout
    assert_each_node_holds(mixed, done.stdout, "botharch", {uid: given[a] for uid, a in ARCH_OF.items()})


@pytest.mark.parametrize(
    ("alone", "missing", "nodes"),
    [
        pytest.param("x86_64", "aarch64", [3], id="x86_64-alone"),
        pytest.param("aarch64", "x86_64", [1, 2], id="aarch64-alone"),
    ],
)
@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_one_architecture_alone_is_refused_naming_the_nodes_of_the_other(
    mixed: LocalCluster, tmp_path: Path, alone: str, missing: str, nodes: list[int], dry: bool
) -> None:
    name = f"only{alone.replace('_', '')}" + ("dry" if dry else "")
    given = bundles(tmp_path, name)[alone]
    refused = cli(mixed, "publish", *(["--dry-run"] if dry else []), given)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.startswith(f"modpack: the cluster cannot take {given.name}; nothing was changed:")
    labels = " and ".join(f"node {uid} ({mixed.urls[uid - 1]})" for uid in nodes)
    verb = "runs" if len(nodes) == 1 else "run"
    line = (
        f"  {labels} {verb} rhel9/{missing}, which no bundle given is built for"
        f" ({given.name} (rhel9/{alone})): give a bundle built for rhel9/{missing} too"
    )
    assert line in refused.stderr.splitlines(), refused.stderr
    assert "uploaded" not in refused.stdout and "module object" not in refused.stdout
    assert module_objects(mixed, name) == []
    assert not list(mixed.options.data.glob(f"node-*/{name}"))
    assert listing_nodes(mixed, name) == []


def test_node_3_answers_406_to_the_x86_64_bundle(mixed: LocalCluster, tmp_path: Path) -> None:
    """Straight to the aarch64 node's artifacts endpoint, past publish's own check: the node refuses
    it by its own architecture, and node 1 (x86_64) takes the same bundle."""
    given = bundles(tmp_path, "straight")["x86_64"]
    document = module_json(HELLO, module_name="straight", operating_systems=["rhel9"])
    with http(mixed) as session:
        created = session.post(MODULES, json=document)
        assert created.status_code in (200, 201), created.text
        with given.open("rb") as body:
            answer = session.post(mixed.urls[2] + ARTIFACTS, files={"module": (given.name, body)})
        assert answer.status_code == 406, answer.text
        assert answer.json()["error_code"] == "module_architecture_not_supported", answer.text
        assert "this node is aarch64" in answer.json()["description"], answer.text
        with given.open("rb") as body:
            taken = session.post(mixed.urls[0] + ARTIFACTS, files={"module": (given.name, body)})
        assert taken.status_code in (200, 201), taken.text
    assert not stored_zip(mixed, 3, "straight").exists()
    assert stored_zip(mixed, 1, "straight").read_bytes() == given.read_bytes()
    assert listing_nodes(mixed, "straight") == ["1"]


def test_serve_help_names_per_node_architecture() -> None:
    shown = run_modpack("serve", "--help")
    assert "--arch [NODE=]ARCH" in shown.stdout, shown.stdout
