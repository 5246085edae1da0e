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


# Issue 15: modules whose annotations name no `Any` at all (JSON, Module, TypedDicts and
# dataclasses instead), except on a line whose ANN401 noqa comment says why after "--".
NO_ANY = (
    "modpack/policy.py",
    "modpack/rules.py",
    "modpack/rule_docs.py",
    "modpack/loadability.py",
    "modpack/reporters.py",
    "modpack/envvars.py",
    "modpack/redis/discover.py",
    "modpack/checks/commands.py",
    "modpack/declarations.py",
    "modpack/modpack_toml.py",
    "modpack/builder.py",
    "modpack/scaffold.py",
    "modpack/ramp/edits.py",
    "modpack/ramp/pack.py",
    "modpack/ramp/reader.py",
    "modpack/cli/authoring.py",
    "modpack/cli/output.py",
    "modpack/cli/bundles.py",
    "modpack/cli/redis.py",
    "modpack/cli/app.py",
    "modpack/cli/lazy.py",
    "modpack/types.py",
    "modpack/inspection.py",
    "modpack/config.py",
    "modpack/checks/numbers.py",
    *(
        f"modpack/redis/{p.name}"
        for p in sorted((Path(__file__).parents[1] / "modpack" / "redis").glob("*.py"))
    ),
)


def unexplained_any(path: Path) -> list[str]:
    """`file:line` of each annotation that names Any on a line without a `-- reason`."""
    import ast

    text = path.read_text()
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ]
            annotations += [a.annotation for a in every if a is not None] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "cast" and node.args:
            annotations.append(node.args[0])
        for annotation in annotations:
            if annotation is None:
                continue
            names = ast.unparse(annotation)
            if re.search(r"\bAny\b", names) and "# noqa: ANN401 --" not in lines[annotation.lineno - 1]:
                found.append(f"{path.name}:{annotation.lineno}: {names}")
    return found


@pytest.mark.parametrize("relative", NO_ANY)
def test_no_unexplained_any_in_the_annotations(relative: str) -> None:
    from tests.support.paths import ROOT

    assert unexplained_any(ROOT / relative) == []


def test_an_unexplained_any_is_found(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import Any, cast\n"
        "def f(a: dict[str, Any]) -> None: ...\n"
        "def g(**kw: Any) -> None: ...  # noqa: ANN401 -- click's options by name\n"
        "x: list[Any] = []\n"
        "y = cast('dict[str, Any]', {})\n"
    )
    assert unexplained_any(sample) == [
        "sample.py:2: dict[str, Any]",
        "sample.py:4: list[Any]",
        "sample.py:5: 'dict[str, Any]'",
    ]
