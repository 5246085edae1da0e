"""What start-up costs a user: modules a command has no use for are never imported.

Each module here was imported by every run of the command and cost it milliseconds before its
first useful step (python -X importtime, installed as pip installs it): concurrent.futures with
logging about 8 ms before publish's first upload byte, subprocess 2 ms, importlib.resources
(with tempfile, shutil and random) 7 to 15 ms of every `modpack validate` of a modpack.toml.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modpack.rest.cluster import LocalCluster
from modpack.rest.publish.run import PIPELINE_MIN
from tests.support.cli import modules_loaded_as_installed
from tests.support.paths import ROOT
from tests.support.rest import ADMIN, module_json, rebuilt, running_cluster, write_bundle

UNUSED_BY_PUBLISH = ("concurrent", "logging", "subprocess", "importlib.resources", "tempfile")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def _unused(loaded: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if m.startswith(prefixes))


@pytest.mark.parametrize("size", ["small", "large"], ids=["in order", "pipelined"])
def test_publish_imports_neither_thread_pools_nor_logging(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    """Both ways of a publish: a small bundle in order, a large one (PIPELINE_MIN) pipelined."""
    tail = os.urandom(PIPELINE_MIN + 1024 * 1024) if size == "large" else b"\0" * 16
    so = rebuilt(tmp_path / size, tail)
    version = {"small": (10301, "1.3.1"), "large": (10302, "1.3.2")}[size]
    document = module_json(so, version=version[0], semantic_version=version[1])
    bundle = write_bundle(tmp_path / f"hello-{size}.zip", document, so)
    if size == "large":
        assert bundle.stat().st_size >= PIPELINE_MIN
    monkeypatch.setenv("MODPACK_USER", ADMIN.user)
    monkeypatch.setenv("MODPACK_PASSWORD", ADMIN.password)
    connect = ["--cluster", cluster.urls[0], "--ca-cert", str(cluster.ca_cert)]
    loaded = modules_loaded_as_installed("publish", bundle, *connect)
    assert "modpack.rest.publish.run" in loaded  # it did publish (and exited 0)
    assert _unused(loaded, UNUSED_BY_PUBLISH) == []


def test_validate_of_a_project_imports_no_resource_machinery() -> None:
    loaded = modules_loaded_as_installed("validate", ROOT / "fixtures" / "example" / "modpack.toml")
    assert _unused(loaded, ("importlib.resources", "tempfile", "concurrent", "logging")) == []
