"""Issue 15, typed seams on the server side: what `modpack serve` passes between its modules
(module objects, OpenAPI fragments, error bodies, actions, the ports file) has real types, so
mypy strict catches a module document's value used as a name, or an error body misspelt. An
`Any` that must stay (uvicorn's own types) says why on its line."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import textwrap
import tokenize
from pathlib import Path

import pytest

from tests.support.tools import require

SERVER_SIDE = (
    "modpack.rest.server",
    "modpack.rest.store",
    "modpack.rest.openapi",
    "modpack.rest.cluster",
    "modpack.rest.auth",
    "modpack.rest.guard",
    "modpack.rest.problems",
    "modpack.rest.limits",
    "modpack.rest.tls",
    "modpack.rest.paths",
)


def unexplained_any(source: str) -> list[str]:
    """Each line that uses the name `Any` (outside its import) without a comment saying why."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    commented = {t.start[0] for t in tokens if t.type == tokenize.COMMENT and len(t.string) > 10}
    importing, found = False, []
    for token in tokens:
        if token.type == tokenize.NAME and token.string in {"import", "from"}:
            importing = True
        elif token.type in {tokenize.NEWLINE, tokenize.ENDMARKER}:
            importing = False
        elif token.string == "Any" and not importing and token.start[0] not in commented:
            found.append(token.line.strip())
    return found


def test_the_scan_finds_an_unexplained_any() -> None:
    sample = "from typing import Any\n\ndef f(x: dict[str, Any]) -> None:\n    pass\n"
    assert unexplained_any(sample) == ["def f(x: dict[str, Any]) -> None:"]
    explained = "def f(x: dict[str, Any]) -> None:  # uvicorn's own type, passed through\n    pass\n"
    assert unexplained_any(explained) == []


@pytest.mark.parametrize("module_name", SERVER_SIDE)
def test_no_unexplained_any_on_the_server_side(module_name: str) -> None:
    source = inspect.getsource(importlib.import_module(module_name))
    assert unexplained_any(source) == [], module_name


def test_mypy_refuses_a_module_documents_value_used_as_a_name(tmp_path: Path) -> None:
    """With `dict[str, Any]` module objects and error bodies, mypy strict let both mistakes pass."""
    require(importlib.util.find_spec("mypy") is not None, "mypy (pip install -c constraints/test.txt mypy)")
    import mypy.api as api

    sample = tmp_path / "mixup.py"
    sample.write_text(
        textwrap.dedent(
            """
            from modpack.rest.problems import ApiError
            from modpack.rest.store import ConfigStore, NodeArtifacts

            def remove(store: ConfigStore, artifacts: NodeArtifacts, uid: str) -> str:
                found = store.module(uid)
                assert found is not None
                artifacts.remove(found["module_name"], 1)
                return ApiError("not_found", "x").body()["error"]
            """
        )
    )
    out, _err, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent", str(sample)])
    assert status == 1, out
    assert 'Argument 1 to "remove" of "NodeArtifacts" has incompatible type' in out, out
    assert '"ErrorBody" has no key "error"' in out, out
