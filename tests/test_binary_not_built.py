"""DECL010: a modpack.toml whose binary is not built yet says that its checks did not run.

validate of such a file printed "0 errors, 0 warnings, 0 infos": a fresh clone's pre-commit run
passed declarations whose binary nobody had looked at, and nothing said so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, HELLO, SO

EXAMPLE = (FIXTURES / "example" / "modpack.toml").read_text()


def _project(tmp_path: Path, text: str) -> Path:
    toml = tmp_path / "modpack.toml"
    toml.write_text(text)
    return toml


@pytest.mark.rule("DECL010")
def test_a_build_so_not_built_yet_is_an_info_that_fails_nothing(tmp_path: Path) -> None:
    toml = _project(tmp_path, EXAMPLE.replace("../so/x86_64/hello.so", "build/hello.so"))
    done = run_modpack("validate", toml, "--strict")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"[build.so]: info DECL010 {tmp_path / 'build' / 'hello.so'} is not built yet" in done.stdout
    assert "1 info" in done.stdout
    (tmp_path / "build").mkdir()
    shutil.copyfile(SO / "x86_64" / "no_onload.so", tmp_path / "build" / "hello.so")
    built = run_modpack("validate", toml)
    assert "DECL010" not in built.stdout and "ELF009" in built.stdout, built.stdout  # checked now


@pytest.mark.rule("DECL010")
def test_a_target_not_built_yet_is_named_by_its_entry(tmp_path: Path) -> None:
    shutil.copyfile(HELLO, tmp_path / "hello-x86_64.so")
    targets = (
        '\n[[targets]]\nname = "x86"\narchitecture = "x86_64"\nso = "hello-${arch}.so"\n'
        '\n[[targets]]\nname = "arm"\narchitecture = "aarch64"\nso = "hello-${arch}.so"\n'
        '\n[[targets]]\nname = "bare"\nso = "hello-${arch}.so"\n'  # ${arch} has no value: DECL003 alone
    )
    toml = _project(tmp_path, EXAMPLE.replace('so = "../so/x86_64/hello.so"', f'so = "{HELLO}"') + targets)
    done = run_modpack("validate", toml, "--format", "json")
    findings = [f for file in json.loads(done.stdout)["files"] for f in file["findings"]]
    not_built = [(f["location"]["path"], f["message"]) for f in findings if f["code"] == "DECL010"]
    assert not_built == [
        (
            "targets[1].so",
            f"{tmp_path / 'hello-aarch64.so'} is not built yet: the checks of the binary did not run",
        )
    ]
    assert [f["location"]["path"] for f in findings if f["code"] == "DECL003"] == ["targets[2].so"]


@pytest.mark.rule("DECL010")
def test_a_dependency_archive_not_built_yet_is_said_and_checked_once_it_is(tmp_path: Path) -> None:
    """validate said nothing of a local_path archive that is not there: its checks (a gzip'd tar,
    the sha256 written beside it) had not run, and only build then failed (DEP006)."""
    import gzip
    import hashlib

    dependency = '\n[module.dependencies.plugin]\nlocal_path = "deps/plugin.tgz"\nsha256 = "{}"\n'
    text = EXAMPLE.replace('so = "../so/x86_64/hello.so"', f'so = "{HELLO}"')
    text = text.replace("\n[platform]", dependency.format("0" * 64) + "\n[platform]")
    toml = _project(tmp_path, text)
    line = text.splitlines().index('local_path = "deps/plugin.tgz"') + 1
    archive = tmp_path / "deps" / "plugin.tgz"
    done = run_modpack("validate", toml, "--strict")
    assert done.returncode == 0, done.stdout + done.stderr
    said = f"modpack.toml:{line} [module.dependencies.plugin.local_path]: info DECL010 {archive} is not built yet"
    assert said in done.stdout and "archive of dependency 'plugin' did not run" in done.stdout, done.stdout
    archive.mkdir(parents=True)  # a folder is no archive, built or not
    folder = run_modpack("validate", toml)
    assert (
        folder.returncode == 1
        and f"error DEP006 local_path of 'plugin': {archive} is not a file" in folder.stdout
    )
    archive.rmdir()
    archive.write_bytes(gzip.compress(b"a tar would be here"))
    built = run_modpack("validate", toml)
    assert built.returncode == 1 and "DECL010" not in built.stdout, built.stdout  # checked now:
    assert "error DEP004" in built.stdout and hashlib.sha256(archive.read_bytes()).hexdigest() in built.stdout
