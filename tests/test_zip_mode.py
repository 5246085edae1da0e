"""ZIP007 names the mode the .so entry has, or says that the zip records none (made on Windows)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import HELLO
from tests.support.rest import module_json


def _bundle(path: Path, system: int, attributes: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("module.json", json.dumps(module_json()))
        entry = zipfile.ZipInfo("hello.so", (2024, 1, 1, 0, 0, 0))
        entry.create_system, entry.external_attr = system, attributes
        archive.writestr(entry, HELLO.read_bytes())
    return path


@pytest.mark.parametrize(
    ("system", "attributes", "said"),
    [
        # Windows: MS-DOS attributes only (0x20, archive), no Unix mode in the upper 16 bits
        (0, 0x20, "hello.so has no Unix mode recorded: it unpacks without execute permission"),
        (3, 0o644 << 16, "hello.so has mode 0o644: it unpacks without execute permission"),
    ],
)
def test_zip007_says_what_the_entry_records(tmp_path: Path, system: int, attributes: int, said: str) -> None:
    done = run_modpack("validate", _bundle(tmp_path / "b.zip", system, attributes))
    assert done.returncode == 1, done.stdout
    assert f"error ZIP007 {said}" in done.stdout, done.stdout
    assert "mode 0o0" not in done.stdout


def test_an_executable_entry_has_no_zip007(tmp_path: Path) -> None:
    assert "ZIP007" not in run_modpack("validate", _bundle(tmp_path / "b.zip", 3, 0o755 << 16)).stdout
