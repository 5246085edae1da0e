"""Issue 17 item 7: the objects that pass between validate, bundle, elf, checks and the redis harness
have real types, so mypy strict catches a mix-up like the one that crashed `validate --load`
(`_bundle_binary` reused `info` for the ZipInfo and then the ElfInfo)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from tests.support.tools import require

SEAMS = (
    "modpack.validate",
    "modpack.checks.load",
    "modpack.redis.compare",
    "modpack.redis.discover",
    "modpack.redis.harness",
    "modpack.redis.model",
    "modpack.redis.provision",
    "modpack.redis.servers",
)


def signatures(module_name: str) -> list[tuple[str, str]]:
    """(function, annotation text) of every function and method the module defines."""
    module = importlib.import_module(module_name)
    found = []
    for name, value in vars(module).items():
        members = [(name, value)]
        if inspect.isclass(value) and value.__module__ == module_name:
            members += [(f"{name}.{n}", v) for n, v in vars(value).items() if inspect.isfunction(v)]
        for label, function in members:
            if inspect.isfunction(function) and function.__module__ == module_name:
                found += [(label, str(a)) for a in function.__annotations__.values()]
    return found


@pytest.mark.parametrize("module_name", SEAMS)
def test_no_any_in_the_signatures_of_the_seams(module_name: str) -> None:
    loose = [(f, a) for f, a in signatures(module_name) if re.search(r"\bAny\b", a)]
    assert loose == [], f"{module_name}: {loose}"


def test_mypy_catches_the_zipinfo_elfinfo_mix_up(tmp_path: Path) -> None:
    """The crash of issue 17, written against today's types: mypy strict must refuse it."""
    require(importlib.util.find_spec("mypy") is not None, "mypy (pip install -c constraints/test.txt mypy)")
    import mypy.api as api

    sample = tmp_path / "mixup.py"
    sample.write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            from modpack.bundle import Layout
            from modpack.checks.elf import check_binary
            from modpack.findings import Sink

            def load_from_bundle(layout: Layout, sink: Sink) -> str:
                info = layout.binaries[0]
                info = check_binary(Path("m.so"), sink)
                return info.filename
            """
        )
    )
    out, _err, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent", str(sample)])
    assert status == 1, out
    assert "Incompatible types in assignment" in out and "ElfInfo" in out, out
