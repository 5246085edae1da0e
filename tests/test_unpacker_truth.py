"""Bundles Redis Enterprise's unpacker refuses must fail validate and build, never pass.

Each case is a refusal of the unpacker RAMP mirrors (ramp.md §11, RAMP's unpacker.py): a version
that is not truthy (module_version_missing), and more than one entry named *.so, deps/ counted
(invalid_number_of_files). Checked as a user meets them: the exit status, the finding's line, and
that build writes no bundle; a bundle the unpacker takes must still pass.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import build, run_modpack
from tests.support.paths import FIXTURES

EXAMPLE = FIXTURES / "example"
SO = FIXTURES / "so" / "x86_64" / "hello.so"


def _project(folder: Path, semantic_version: str) -> Path:
    folder.mkdir()
    text = (EXAMPLE / "modpack.toml").read_text()
    text = text.replace('semantic_version = "1.2.3"', f'semantic_version = "{semantic_version}"')
    (folder / "modpack.toml").write_text(text.replace('so = "../so/x86_64/hello.so"', f'so = "{SO}"'))
    return folder


def _with_entry(bundle: Path, target: Path, name: str, data: bytes) -> Path:
    shutil.copyfile(bundle, target)
    with zipfile.ZipFile(target, "a") as archive:
        entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100644 << 16
        archive.writestr(entry, data)
    return target


@pytest.mark.rule("VER012")
def test_version_zero_is_refused_in_module_json_modpack_toml_and_build(tmp_path: Path) -> None:
    good = build(_project(tmp_path / "good", "1.2.3"), tmp_path / "good-dist")
    with zipfile.ZipFile(good) as archive:
        document = json.loads(archive.read("module.json"))
    document.update(version=0, semantic_version="0.0.0")
    (tmp_path / "module.json").write_text(json.dumps(document, indent=2))
    done = run_modpack("validate", tmp_path / "module.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[version]: error VER012 version is 0: Redis Enterprise reads 0 as no version" in done.stdout

    project = _project(tmp_path / "zero", "0.0.0")
    done = run_modpack("validate", project / "modpack.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "modpack.toml:7 [module.semantic_version]: error VER012" in done.stdout
    assert "semantic_version 0.0.0 encodes 0" in done.stdout
    done = run_modpack("build", project, "-o", tmp_path / "dist")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "VER012" in done.stdout + done.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
    # 0.0.1 is the first version the unpacker takes
    first = build(_project(tmp_path / "first", "0.0.1"), tmp_path / "first-dist")
    assert run_modpack("validate", first).returncode == 0


def _bundle_with(tmp_path: Path, entry: str) -> Path:
    bundle = build(_project(tmp_path / "project", "1.2.3"), tmp_path / "dist")
    return _with_entry(bundle, tmp_path / "with-deps.zip", entry, b"\x7fELF not a real library")


@pytest.mark.rule("ZIP003")
@pytest.mark.parametrize("entry", ["deps/libhelper.so", "deps/nested/libhelper.so"])
def test_a_second_so_under_deps_is_refused(tmp_path: Path, entry: str) -> None:
    done = run_modpack("validate", _bundle_with(tmp_path, entry))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"error ZIP003 the bundle holds 2 entries named *.so (hello.so, {entry}): Redis Enterprise"
        " counts those under deps/ too and refuses more than one (invalid_number_of_files)"
    ) in done.stdout
    assert "deps/<name>.tgz" in done.stdout


@pytest.mark.parametrize(
    "entry",
    [
        "deps/libhelper.so.1",  # does not end in .so: the unpacker does not count it
        "deps/helper.tgz",  # how RAMP packs a dependency
    ],
)
def test_deps_entries_the_unpacker_does_not_count_pass(tmp_path: Path, entry: str) -> None:
    done = run_modpack("validate", _bundle_with(tmp_path, entry))
    assert "ZIP003" not in done.stdout, done.stdout
