"""fixtures/build.sh rebuilds every fixture from our own C sources, and the result matches what is committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from modpack import elf
from tests.support.paths import FIXTURES, SO


def facts(path: Path) -> tuple[object, ...]:
    try:
        info = elf.read_elf(path)
    except elf.ElfError as exc:
        return ("error", exc.kind)
    return (
        info.architecture,
        info.elf_class,
        info.needed,
        info.version_needs,
        info.onload,
        info.executable_stack,
    )


def test_build_script_rebuilds_the_committed_fixtures(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(FIXTURES / "build.sh"), str(tmp_path)], check=True, capture_output=True, timeout=600
    )
    committed = sorted(p.relative_to(SO) for p in SO.rglob("*.so"))
    rebuilt = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.so"))
    assert rebuilt == committed
    for name in committed:
        assert facts(tmp_path / name) == facts(SO / name), name
