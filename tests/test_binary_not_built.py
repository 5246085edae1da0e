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


def _with_dependencies(tmp_path: Path, dependencies: dict[str, str]) -> Path:
    """The example with a [module.dependencies.NAME] table per entry (its local_path, and a
    sha256 of zeros for names starting with 'hashed')."""
    tables = ""
    for name, local in dependencies.items():
        tables += f"\n[module.dependencies.{name}]\nlocal_path = {json.dumps(local)}\n"
        tables += f'sha256 = "{"0" * 64}"\n' if name.startswith("hashed") else ""
    text = EXAMPLE.replace('so = "../so/x86_64/hello.so"', f'so = "{HELLO}"')
    return _project(tmp_path, text.replace("\n[platform]", tables + "\n[platform]"))


def _gzip(path: Path) -> None:
    import gzip

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"a tar would be here"))


@pytest.mark.rule("DEP006")
def test_an_unusable_archive_hides_no_other_dependency_s_hash(tmp_path: Path) -> None:
    """A folder as one local_path (DEP006 at validate since it is no archive, built or not) made
    validate skip every other dependency's hash check: the wrong sha256 of `hashed` went unsaid."""
    (tmp_path / "deps" / "folder").mkdir(parents=True)
    _gzip(tmp_path / "deps" / "hashed.tgz")
    toml = _with_dependencies(tmp_path, {"afolder": "deps/folder", "hashed": "deps/hashed.tgz"})
    done = run_modpack("validate", toml)
    assert done.returncode == 1
    assert "[module.dependencies.afolder.local_path]: error DEP006" in done.stdout, done.stdout
    assert "[module.dependencies.hashed.sha256]: error DEP004" in done.stdout, done.stdout


@pytest.mark.rule("DEP006")
def test_a_local_path_that_can_never_be_a_file_is_not_called_unbuilt(tmp_path: Path) -> None:
    """A path with a NUL, or a loop of links, is no file whatever is built: it was "not built yet"
    (DECL010, exit 0) at validate and DEP006 only at build."""
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "loop.tgz").symlink_to("loop.tgz")
    toml = _with_dependencies(tmp_path, {"nul": "deps/p\u0000.tgz", "loop": "deps/loop.tgz"})
    done = run_modpack("validate", toml)
    assert done.returncode == 1 and "DECL010" not in done.stdout, done.stdout
    assert (
        "[module.dependencies.nul.local_path]: error DEP006 local_path of 'nul' is not a usable path"
        in done.stdout
    )
    assert "error DEP006 local_path of 'loop': cannot read" in done.stdout and "symbolic links" in done.stdout


@pytest.mark.rule("DEP006")
def test_a_build_refused_for_another_reason_says_the_archive_is_missing(tmp_path: Path) -> None:
    """build printed validate's "not built yet ... Validate again once it is built" (DECL010) of a
    missing archive when another finding refused it; the archive's DEP006 came only in a run after."""
    _gzip(tmp_path / "deps" / "hashed.tgz")
    toml = _with_dependencies(tmp_path, {"missing": "deps/missing.tgz", "hashed": "deps/hashed.tgz"})
    built = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert built.returncode == 1 and not (tmp_path / "dist").exists()
    missing = tmp_path / "deps" / "missing.tgz"
    said = f"[module.dependencies.missing.local_path]: error DEP006 local_path of 'missing': {missing} does not exist"
    assert said in built.stdout and "error DEP004" in built.stdout, built.stdout
    assert "DECL010" not in built.stdout and "Validate again" not in built.stdout


@pytest.mark.rule("DECL010")
def test_a_target_after_one_without_a_name_is_placed_at_its_own_entry(tmp_path: Path) -> None:
    """Entries without a name were dropped before their places were counted, so the named entry
    after one was said as targets[0], at the nameless entry's line."""
    targets = '\n[[targets]]\nso = "first.so"\n\n[[targets]]\nname = "b"\nso = "second.so"\n'
    text = EXAMPLE.replace('so = "../so/x86_64/hello.so"', f'so = "{HELLO}"') + targets
    toml = _project(tmp_path, text)
    line = text.splitlines().index('so = "second.so"') + 1
    done = run_modpack("validate", toml)
    assert (
        f"modpack.toml:{line} [targets[1].so]: info DECL010 {tmp_path / 'second.so'} is not built yet"
        in done.stdout
    ), done.stdout


@pytest.mark.rule("DECL010")
def test_a_mistyped_so_names_the_binary_beside_it(tmp_path: Path) -> None:
    """`so = "build/helo.so"` beside a built build/hello.so was "not built yet ... Validate again
    once it is built", and build said only "does not exist, Build the module first": the author
    built again, and the message stayed. Both now name the file beside it, and the fix works."""
    (tmp_path / "build").mkdir()
    shutil.copyfile(HELLO, tmp_path / "build" / "hello.so")
    (tmp_path / "build" / "hello.o").write_bytes(b"an object file: another suffix, never named")
    toml = _project(tmp_path, EXAMPLE.replace("../so/x86_64/hello.so", "build/helo.so"))
    typo = tmp_path / "build" / "helo.so"

    done = run_modpack("validate", toml)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"[build.so]: info DECL010 {typo} is not there, but hello.so is beside it: the checks of the"
        " binary did not run\n  fix: Set so to build/hello.so if that is the module; or validate again"
        " once build/helo.so is built."
    ) in done.stdout, done.stdout

    built = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert built.returncode == 2 and not (tmp_path / "dist").exists(), built.stdout + built.stderr
    assert f"modpack: {typo} does not exist ([build] so of {toml}:" in built.stderr
    assert "); hello.so is beside it\n" in built.stderr
    assert (
        "hint: Set `so` under [build] in modpack.toml to build/hello.so if that is the module, or pass --so FILE."
        in built.stderr
    )
    given = run_modpack("build", toml, "--so", typo, "-o", tmp_path / "dist")
    assert given.returncode == 2, given.stdout + given.stderr
    assert f"modpack: {typo} does not exist; hello.so is beside it" in given.stderr
    assert f"hint: Pass --so {tmp_path / 'build' / 'hello.so'} if that is the module" in given.stderr

    toml.write_text(toml.read_text().replace("build/helo.so", "build/hello.so"))  # the fix, as said
    fixed = run_modpack("validate", toml)
    assert fixed.returncode == 0 and "DECL010" not in fixed.stdout, fixed.stdout


@pytest.mark.rule("DECL010")
def test_another_target_s_binary_is_not_offered_for_one_not_built_yet(tmp_path: Path) -> None:
    """hello-rhel8.so is close to hello-rhel9.so by name, but it is the rhel8 target's own build:
    the rhel9 binary is not built yet, not mistyped."""
    shutil.copyfile(HELLO, tmp_path / "hello-rhel8.so")
    targets = (
        '\n[[targets]]\nname = "rhel8"\noperating_systems = ["rhel8"]\nso = "hello-${os}.so"\n'
        '\n[[targets]]\nname = "rhel9"\noperating_systems = ["rhel9"]\nso = "hello-${os}.so"\n'
    )
    toml = _project(tmp_path, EXAMPLE.replace('so = "../so/x86_64/hello.so"', f'so = "{HELLO}"') + targets)
    done = run_modpack("validate", toml)
    assert f"[targets[1].so]: info DECL010 {tmp_path / 'hello-rhel9.so'} is not built yet" in done.stdout, (
        done.stdout
    )
    assert "beside it" not in done.stdout


@pytest.mark.rule("DECL010")
def test_a_mistyped_archive_names_the_archive_beside_it(tmp_path: Path) -> None:
    _gzip(tmp_path / "deps" / "plugin.tgz")
    toml = _with_dependencies(tmp_path, {"plugin": "deps/plugn.tgz"})
    typo = tmp_path / "deps" / "plugn.tgz"
    done = run_modpack("validate", toml)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"info DECL010 {typo} is not there, but plugin.tgz is beside it: the checks of the archive of"
        " dependency 'plugin' did not run\n  fix: Fix local_path if plugin.tgz is the archive"
    ) in done.stdout, done.stdout
    built = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert built.returncode == 1, built.stdout + built.stderr
    assert (
        f"error DEP006 local_path of 'plugin': {typo} does not exist; plugin.tgz is beside it" in built.stdout
    )
