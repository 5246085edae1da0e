"""`modpack init`: what it writes is what the user had, and where they asked for it: literal
values of module.json, a bundle's dependency archives, a folder named with a trailing slash."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.support.cli import run_modpack
from tests.support.paths import CASES, HELLO

MODULE_JSON = CASES / "good" / "module-json" / "module.json"
LITERAL = "costs $5, ${MODPACK_TEST_PRICE} or $$ (${UNSET_IN_THIS_TEST})"


Module = dict[str, object]


def built_module_json(
    project: Path, out: Path, *extra: str | Path, env: dict[str, str] | None = None
) -> Module:
    """`modpack build PROJECT -o OUT EXTRA...`, which must succeed; the module.json it bundled."""
    done = run_modpack("build", project, "-o", out, *extra, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = out.glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        document: Module = json.loads(archive.read("module.json"))
    return document


def test_module_json_values_with_dollars_stay_literal(tmp_path: Path) -> None:
    """A module.json value is literal: `$` went into modpack.toml as it was, where `${VAR}` reads the
    environment, so the build said DECL003 (unset) or wrote the variable's value (set)."""
    document = json.loads(MODULE_JSON.read_text())
    document["description"] = LITERAL
    document["author"] = "$$USER"
    source = tmp_path / "module.json"
    source.write_text(json.dumps(document))
    target = tmp_path / "modpack.toml"
    done = run_modpack("init", target, "--from", source)
    assert done.returncode == 0, done.stderr
    assert "changed: author, description: each '$' is written '$$'" in done.stdout
    env = {"MODPACK_TEST_PRICE": "nothing"}
    assert run_modpack("validate", target, env=env).returncode == 0
    built = built_module_json(tmp_path, tmp_path / "out", "--so", HELLO, env=env)
    assert built["description"] == LITERAL
    assert built["author"] == "$$USER"


def test_a_path_ending_in_a_slash_is_a_folder(tmp_path: Path) -> None:
    """`init nofold/` wrote a file named nofold: a trailing '/' names a folder, made when missing,
    and a file there is not overwritten."""
    done = run_modpack("init", "nofold/", "--name", "mymod", "--version", "0.1.0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote nofold/modpack.toml\n")
    assert 'name = "mymod"' in (tmp_path / "nofold" / "modpack.toml").read_text()
    nested = run_modpack("init", "a/b/", "--name", "mymod", "--version", "0.1.0", cwd=tmp_path)
    assert nested.returncode == 0, nested.stderr
    assert (tmp_path / "a" / "b" / "modpack.toml").is_file()
    (tmp_path / "file").write_text("mine\n")
    refused = run_modpack("init", "file/", "--name", "mymod", "--version", "0.1.0", "--force", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith("modpack: file/ is not a folder\n")
    assert (tmp_path / "file").read_text() == "mine\n"
    blocked = run_modpack("init", "file/sub/", "--name", "mymod", "--version", "0.1.0", cwd=tmp_path)
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
    assert blocked.stderr.startswith("modpack: cannot make the folder file/sub: Not a directory\n")
