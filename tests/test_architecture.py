"""The package's shape: no import circle between modpack's modules.

Every import is counted, at the top of a module or inside a function (a lazy import still ties
the two modules together: each must be read to understand the other). Imports under
`if TYPE_CHECKING:` are not: they never run, and they are how an annotation names a type from a
module that would otherwise not be imported at start-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

PACKAGE = ROOT / "modpack"

# Circles known today, each to be broken by moving code into its own home (issue 15). The test
# fails on any other circle, and on one of these once it is gone, so this list only shrinks. It is
# empty: every circle is now a failure.
KNOWN: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping the bodies of `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append(child)
        elif isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                found += _imports(other) if not isinstance(other, ast.Import | ast.ImportFrom) else [other]
        else:
            found += _imports(child)
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that module `name` imports (`from modpack import x` counts modpack.x)."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:
            parts = name.split(".") if is_package else name.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        submodules = {f"{base}.{alias.name}" for alias in node.names} & known
        # `from package import submodule` depends on the submodule; `from module import name`
        # on the module.
        targets |= submodules if submodules else {base}
    return {t for t in targets if t in known and t != name}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported(name, path, set(modules)) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start, targets in graph.items():
        if start in index:
            continue
        work = [(start, iter(sorted(targets)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(component) for b in sorted(graph[a] & component)]
    return "{" + ", ".join(sorted(component)) + "}: " + "; ".join(edges)


def test_no_import_circle_between_modpack_modules() -> None:
    graph = import_graph()
    found = circles(graph)
    new = [describe(c, graph) for c in found - KNOWN]
    assert not new, "import circles (move the shared code into a module both can import):\n" + "\n".join(new)
    gone = [sorted(c) for c in KNOWN - found]
    assert not gone, f"circles fixed: remove them from KNOWN: {gone}"


def test_the_circle_finder_finds_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from c import x\n")
    (tmp_path / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import b\nimport a\n"
    )
    (tmp_path / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\n")
    known = {"a", "b", "c", "d"}
    graph = {name: imported(name, tmp_path / f"{name}.py", known) for name in known}
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert circles(graph) == {frozenset({"a", "b", "c"})}


def test_relative_imports_resolve_to_package_modules(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from . import m\n")
    (package / "m.py").write_text("from .n import y\nfrom .. import other\n")
    (package / "n.py").write_text("")
    known = {"pkg", "pkg.m", "pkg.n"}
    assert imported("pkg", package / "__init__.py", known) == {"pkg.m"}
    assert imported("pkg.m", package / "m.py", known) == {"pkg.n"}


LAYOUT_BEGIN = "<!-- layout:begin -->"
LAYOUT_END = "<!-- layout:end -->"


def readme_layout() -> list[str]:
    """The module paths of the README's layout tree: `name.py` lines, nested by two spaces under
    `folder/` lines, each followed by what the module holds."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index(LAYOUT_BEGIN) : text.index(LAYOUT_END)]
    folders: list[str] = []
    paths = []
    for line in block.splitlines():
        name = line.strip().split(" ", 1)[0]
        if not name.endswith(("/", ".py")) or line.startswith("<!--"):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name)
        else:
            paths.append("".join(folders) + name)
    return paths


def test_the_readme_layout_lists_every_module_once() -> None:
    listed = readme_layout()
    present = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py"))
    assert sorted(set(listed)) == sorted(listed), "a module is listed twice"
    assert sorted(listed) == present, {
        "missing from README.md": sorted(set(present) - set(listed)),
        "listed but absent": sorted(set(listed) - set(present)),
    }


def test_every_package_modpack_imports_is_a_declared_dependency() -> None:
    """A package modpack imports itself must be in pyproject's dependencies, not come along with
    another one: h11 and anyio (imported by rest/guard.py and rest/server.py) were installed only
    because httpx, uvicorn and starlette needed them, and httpx left the dependencies."""
    import importlib.metadata
    import re
    import sys
    import tomllib

    declared = {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    distributions = importlib.metadata.packages_distributions()
    imported: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                # _typeshed: the standard library's stub-only types, imported under TYPE_CHECKING
                if top not in sys.stdlib_module_names and top not in ("modpack", "_typeshed"):
                    imported.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    undeclared = {
        top: sorted(where)
        for top, where in imported.items()
        if not {d.lower().replace("_", "-") for d in distributions.get(top, [top])} & declared
    }
    assert undeclared == {}
    assert {"yaml", "elftools", "h11", "anyio"} <= set(imported)  # the scan sees imports at all
