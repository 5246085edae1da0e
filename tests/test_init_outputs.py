"""`modpack init`: what it writes is what the user had, and where they asked for it: literal
values of module.json, a bundle's dependency archives, a folder named with a trailing slash."""

from __future__ import annotations

import gzip
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


def bundle_with_archives(tmp_path: Path) -> tuple[Path, bytes]:
    """A bundle built from a modpack.toml with two dependency archives (one with a url), and the
    archive's bytes."""
    project = tmp_path / "project"
    project.mkdir()
    archive = gzip.compress(b"a tar would be here: the archive is whole gzip all the same\n", mtime=0)
    (project / "dep2.tgz").write_bytes(archive)
    text = (CASES / "good" / "modpack-toml" / "modpack.toml").read_text()
    assert "dependencies" not in text
    (project / "modpack.toml").write_text(
        text.replace(
            "[module]\n",
            '[module]\ndependencies = { dep1 = { url = "https://example.com/dep1.tgz", local_path = "dep2.tgz" },'
            ' dep2 = { local_path = "dep2.tgz" } }\n',
            1,
        )
    )
    done = run_modpack("build", project, "--so", HELLO, "-o", tmp_path / "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    return bundle, archive


def test_init_from_bundle_extracts_its_dependency_archives(tmp_path: Path) -> None:
    """The archives under deps/ were dropped: modpack.toml had each dependency's sha256 and no
    local_path, so a build failed DEP001 (no url) or shipped a bundle without the archive."""
    bundle, archive = bundle_with_archives(tmp_path)
    with zipfile.ZipFile(bundle) as original:
        before = json.loads(original.read("module.json"))["dependencies"]
    folder = tmp_path / "converted"
    folder.mkdir()
    done = run_modpack("init", "converted", "--from", bundle, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (folder / "dep1.tgz").read_bytes() == archive
    assert (folder / "dep2.tgz").read_bytes() == archive
    for name in ("dep1", "dep2"):
        assert (
            f"  changed: dependencies.{name}: the bundle's deps/{name}.tgz is extracted to converted/{name}.tgz;"
            f' local_path = "{name}.tgz" names it' in done.stdout
        )
    text = (folder / "modpack.toml").read_text()
    assert 'dep2 = { local_path = "dep2.tgz" }' in text
    assert 'dep1 = { url = "https://example.com/dep1.tgz", local_path = "dep1.tgz" }' in text
    out = tmp_path / "again"
    done = run_modpack("build", folder, "--so", HELLO, "-o", out)
    assert done.returncode == 0, done.stdout + done.stderr
    (rebuilt,) = out.glob("*.zip")
    with zipfile.ZipFile(rebuilt) as again:
        assert again.read("deps/dep1.tgz") == again.read("deps/dep2.tgz") == archive
        assert json.loads(again.read("module.json"))["dependencies"] == before


def test_init_from_bundle_never_replaces_another_archive(tmp_path: Path) -> None:
    """A file of an archive's name with other content is refused before anything is written; one
    with the archive's content is used as it is."""
    bundle, archive = bundle_with_archives(tmp_path)
    folder = tmp_path / "converted"
    folder.mkdir()
    (folder / "dep2.tgz").write_bytes(b"the user's own\n")
    refused = run_modpack("init", folder, "--from", bundle, "--force")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith(
        f"modpack: {folder / 'dep2.tgz'} exists, and is not the bundle's deps/dep2.tgz"
    )
    assert "hint: Move the file away, or write modpack.toml to another folder." in refused.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["dep2.tgz"]
    assert (folder / "dep2.tgz").read_bytes() == b"the user's own\n"
    (folder / "dep2.tgz").write_bytes(archive)
    done = run_modpack("init", folder, "--from", bundle)
    assert done.returncode == 0, done.stderr
    assert (
        "changed: dependencies.dep2: the bundle's deps/dep2.tgz was already there with its content"
        in done.stdout
    )
    assert sorted(p.name for p in folder.iterdir()) == ["dep1.tgz", "dep2.tgz", "modpack.toml"]
