"""`modpack publish` of one bundle per platform to a big mixed cluster, against `modpack serve`
on loopback: nine x86_64 nodes half-way through an OS upgrade from rhel8 to rhel9, beside
ubuntu22 nodes, the platforms interleaved as nodes were replaced one at a time.

- each node gets the bundle built for its platform, and the run says so per node;
- two bundles that fit one platform are refused before anything is created, one line per
  platform naming its nodes and the bundles that fit it;
- a platform no bundle is built for is refused the same way: named once, with all its nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import client
from modpack.rest.cluster import LocalCluster
from tests.support.rest import (
    as_printed,
    assert_each_node_holds,
    cli,
    connection,
    hinted,
    listing_nodes,
    module_json,
    rebuilt,
    running_cluster,
    stored_zip,
    typed,
    write_bundle,
)

PLATFORMS = ("rhel8", "rhel9", "ubuntu22")
OS_OF = {uid: PLATFORMS[(uid - 1) % 3] for uid in range(1, 10)}  # rhel8 on 1, 4, 7; rhel9 on 2, 5, 8; ...
FILE_OS = {"rhel8": "rhel8", "rhel9": "rhel9", "ubuntu22": "ubuntu22.04"}  # as `modpack build` names
EACH = [(FILE_OS[system], [system]) for system in PLATFORMS]  # (file name tag, systems): one build each


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("mixed9") / "data", nodes=9, node_os=OS_OF) as running:
        yield running


def nodes_of(system: str) -> list[int]:
    return [uid for uid, name in OS_OF.items() if name == system]


def platform_bundle(folder: Path, name: str, systems: list[str], tag: str) -> Path:
    """A bundle of hello.so rebuilt for `systems` (its own bytes, so each build is told apart)."""
    so = rebuilt(folder / tag, f"{tag} build".encode())
    document = module_json(so, module_name=name, operating_systems=systems)
    return write_bundle(folder / f"{name}.Linux-{tag}-x86_64.zip", document, so)


def one_per_platform(folder: Path, name: str) -> dict[str, Path]:
    return {system: platform_bundle(folder, name, [system], FILE_OS[system]) for system in PLATFORMS}


def nothing_of(cluster: LocalCluster, name: str) -> bool:
    """No module object, no artifact folder and no temporary file anywhere in the cluster."""
    with client.Api(connection(cluster)) as api:
        objects: list[Any] = [m for m in client.list_modules(api) if m.get("module_name") == name]
    temp = [p for n in cluster.nodes for p in n.artifacts.temp.iterdir()]
    return not objects and not list(cluster.options.data.glob(f"node-*/{name}/*")) and not temp


def run_line(cluster: LocalCluster, system: str, tail: str) -> str:
    """The refusal line of `system`'s nodes: "node 1 (URL), node 4 (URL) and node 7 (URL) run ..."."""
    labels = [f"node {uid} ({cluster.urls[uid - 1]})" for uid in nodes_of(system)]
    return f"{', '.join(labels[:-1])} and {labels[-1]} run {system}/x86_64, {tail}"


def refusal_lines(stderr: str) -> list[str]:
    """The problem lines of a refusal: the indented lines between its first line and the hint."""
    return [line[2:] for line in stderr.splitlines() if line.startswith("  ") and "hint:" not in line]


def test_each_node_of_a_mixed_cluster_gets_the_bundle_of_its_platform(
    mixed: LocalCluster, tmp_path: Path
) -> None:
    bundles = one_per_platform(tmp_path, "upgrade")
    done = cli(mixed, "publish", *bundles.values())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "module object: created" in done.stdout
    assert_each_node_holds(mixed, done.stdout, "upgrade", {uid: bundles[s] for uid, s in OS_OF.items()})
    assert len(re.findall(r"^  node \d+ ", done.stdout, re.MULTILINE)) == 9, done.stdout


@pytest.mark.parametrize(
    ("name", "builds"),
    [
        pytest.param("elbeside", [*EACH, ("el", ["rhel8", "rhel9"])], id="a-rhel-build-beside-each-build"),
        pytest.param("anybeside", [*EACH, ("any", list(PLATFORMS))], id="a-build-for-all-beside-each-build"),
        pytest.param("twoforall", [("a", list(PLATFORMS)), ("b", list(PLATFORMS))], id="two-builds-for-all"),
    ],
)
@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_two_bundles_for_one_platform_are_refused_one_line_per_platform(
    mixed: LocalCluster,
    tmp_path: Path,
    name: str,
    builds: list[tuple[str, list[str]]],
    dry: bool,
) -> None:
    """The nodes several bundles fit were said in a line per set of those bundles, each node
    with its platform ("node 1 (URL) (rhel8/x86_64), node 4 (URL) (rhel8/x86_64) and ... fit
    several bundles"): two builds for every platform gave one line of all nine nodes. It is a line
    per platform now, worded as the line of a platform no bundle fits, with the bundles that fit."""
    name += "dry" if dry else ""
    given = [(platform_bundle(tmp_path, name, systems, tag), systems) for tag, systems in builds]
    refused = cli(mixed, "publish", *(["--dry-run"] if dry else []), *(b for b, _ in given))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.startswith("modpack: the cluster cannot take "), refused.stderr
    assert refused.stderr.splitlines()[0].endswith("; nothing was changed:"), refused.stderr
    fitting = {system: [b.name for b, systems in given if system in systems] for system in PLATFORMS}
    assert refusal_lines(refused.stderr) == [
        run_line(mixed, system, f"which several bundles fit ({', '.join(names)}): give one per platform")
        for system, names in fitting.items()
        if len(names) > 1
    ], refused.stderr
    assert "uploaded" not in refused.stdout and "module object" not in refused.stdout
    assert nothing_of(mixed, name)
    assert listing_nodes(mixed, name) == []


def test_a_platform_no_bundle_is_built_for_is_named_once_with_all_its_nodes(
    mixed: LocalCluster, tmp_path: Path
) -> None:
    bundles = one_per_platform(tmp_path, "noubuntu")
    given = [bundles["rhel8"], bundles["rhel9"]]
    refused = cli(mixed, "publish", *given)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    offered = f"{given[0].name} (rhel8/x86_64); {given[1].name} (rhel9/x86_64)"
    assert refusal_lines(refused.stderr) == [
        run_line(
            mixed,
            "ubuntu22",
            f"which no bundle given is built for ({offered}): give a bundle built for ubuntu22/x86_64 too",
        )
    ], refused.stderr
    assert refused.stderr.count("ubuntu22/x86_64, which") == 1
    assert nothing_of(mixed, "noubuntu")


def test_a_platform_no_bundle_fits_and_one_several_fit_are_said_alike(
    mixed: LocalCluster, tmp_path: Path
) -> None:
    """Both refusals of one run: the nodes of each platform on one line, the platform named once."""
    bundles = one_per_platform(tmp_path, "both")
    extra = platform_bundle(tmp_path, "both", ["rhel9"], "rhel9.4")
    given = [bundles["rhel8"], bundles["rhel9"], extra]
    refused = cli(mixed, "publish", *given)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    offered = "; ".join(
        f"{b.name} ({s}/x86_64)" for b, s in zip(given, ["rhel8", "rhel9", "rhel9"], strict=True)
    )
    assert refusal_lines(refused.stderr) == [
        run_line(
            mixed,
            "ubuntu22",
            f"which no bundle given is built for ({offered}): give a bundle built for ubuntu22/x86_64 too",
        ),
        run_line(
            mixed,
            "rhel9",
            f"which several bundles fit ({bundles['rhel9'].name}, {extra.name}): give one per platform",
        ),
    ], refused.stderr
    assert nothing_of(mixed, "both")


# --- a node whose OS modpack does not know ------------------------------------------------------


@pytest.fixture(scope="module")
def newer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Node 3 runs an Ubuntu release modpack's platform table does not hold (GET /v1/nodes:
    os_name ubuntu, os_semantic_version 26.04), as a node upgraded ahead of modpack would.
    `modpack serve --os` takes only the OSes modpack knows, so the node's OS is set after it
    started: its node object and its own check of each upload then use it, as a real node would."""
    systems = {1: "ubuntu22", 2: "rhel9", 3: "ubuntu22"}
    with running_cluster(tmp_path_factory.mktemp("newer") / "data", node_os=systems) as running:
        running.nodes[2].os = "ubuntu26"
        yield running


def test_a_node_of_an_os_modpack_does_not_know_is_published_to_apart_as_the_line_says(
    newer: LocalCluster, tmp_path: Path
) -> None:
    """ "give one per platform" could not be followed for a node whose platform nobody can name:
    every bundle fits it as far as modpack can tell. The line now says how to publish to it
    apart, and both commands it gives, run as printed, put each build on its node."""
    bundles = {s: platform_bundle(tmp_path, "newos", [s], FILE_OS[s]) for s in ("ubuntu22", "rhel9")}
    refused = cli(newer, "publish", *bundles.values())
    assert refused.returncode == 1, refused.stdout + refused.stderr
    url = newer.urls[2]
    names = ", ".join(b.name for b in bundles.values())
    assert (
        f"node 3 ({url}) runs unknown OS/x86_64: GET /v1/nodes names no OS modpack knows for it, so"
        f" which of {names} fits it cannot be told: publish the one built for it to it alone"
        f" (`modpack publish --node {url} BUNDLE {typed(newer)}`), and the others with a --node for each"
        " other node"
    ) in " ".join(refused.stderr.split())
    assert "give one per platform" not in refused.stderr
    hint = "then run the same command again, with a --node for each node but those to publish to apart."
    assert hint in " ".join(refused.stderr.split())
    assert nothing_of(newer, "newos")
    # Followed: node 3's own build (for its OS, which the node itself judges), then the others.
    own = platform_bundle(tmp_path, "newos", ["ubuntu26"], "ubuntu26")
    printed = hinted(" ".join(refused.stderr.split()), "modpack publish")
    alone = as_printed([str(own) if word == "BUNDLE" else word for word in printed])
    assert alone.returncode == 0, alone.stdout + alone.stderr
    rest = ["--node", newer.urls[0], "--node", newer.urls[1]]
    others = cli(newer, "publish", *rest, *bundles.values())
    assert others.returncode == 0, others.stdout + others.stderr
    given = {1: bundles["ubuntu22"], 2: bundles["rhel9"], 3: own}
    for uid, bundle in given.items():
        assert stored_zip(newer, uid, "newos").read_bytes() == bundle.read_bytes()


def test_a_cluster_whose_every_node_runs_an_os_modpack_does_not_know_is_told_to_give_one_build(
    tmp_path: Path,
) -> None:
    """Every node upgraded ahead of modpack's table: the line said to publish to them apart with
    a --node for each, "and the others with a --node for each other node", of which there are
    none, and the hint to run the same command again with a --node for each node but those,
    which is the same command, refused again. Giving their one build is what they need."""
    with running_cluster(tmp_path / "data", node_os={1: "ubuntu22", 2: "ubuntu22", 3: "ubuntu22"}) as whole:
        for node in whole.nodes:
            node.os = "ubuntu26"
        bundles = [platform_bundle(tmp_path, "allnew", [s], FILE_OS[s]) for s in ("ubuntu22", "rhel9")]
        refused = cli(whole, "publish", *bundles)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        said = " ".join(refused.stderr.split())
        labels = (
            ", ".join(f"node {n} ({whole.urls[n - 1]})" for n in (1, 2)) + f" and node 3 ({whole.urls[2]})"
        )
        assert (
            f"{labels} run unknown OS/x86_64: GET /v1/nodes names no OS modpack knows for them, so which"
            f" of {', '.join(b.name for b in bundles)} fits them cannot be told: give only the one built"
            " for them"
        ) in said, said
        assert "--node" not in said
        assert "Fix each line above, then run the same command again." in said
        assert nothing_of(whole, "allnew")
        own = platform_bundle(tmp_path, "allnew", ["ubuntu26"], "ubuntu26")
        done = cli(whole, "publish", own)  # followed: their one build
        assert done.returncode == 0, done.stdout + done.stderr
        for uid in (1, 2, 3):
            assert stored_zip(whole, uid, "allnew").read_bytes() == own.read_bytes()
