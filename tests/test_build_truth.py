"""What `modpack build` and `modpack ramp-pack` say is what they did, and build refuses exactly
when validate fails.

Each test runs the command as a user runs it and checks the exit status, the message and the
files left in the output folder: a multi-target build is all or nothing; a build from a real
ramp.yml writes the defaults RAMP writes (ramp.md §2.1) instead of refusing a manifest validate
passed; the refusal line names the file that has the errors, and the counts are validate's; a
ramp-pack whose --packname-file cannot be written leaves no bundle.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from modpack.errors import FindingsError, UsageError
from tests.support.cli import run_modpack, run_python
from tests.support.paths import FIXTURES, HELLO, REALWORLD, SO
from tests.support.tools import needs_realworld, require_redis

NO_ONLOAD = SO / "x86_64" / "no_onload.so"
SUMMARY = re.compile(r"\d+ files? checked: (.*)")

TARGET = """
[[targets]]
name = "{name}"
operating_systems = ["{os}"]
so = "{so}"
"""


def example(folder: Path, extra: str = "", **replace: str) -> Path:
    """fixtures/example's modpack.toml in `folder`, its binary named absolutely, plus `extra`."""
    text = (FIXTURES / "example" / "modpack.toml").read_text(encoding="utf-8")
    text = text.replace('"../so/x86_64/hello.so"', json.dumps(str(HELLO)))
    for old, new in replace.items():
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modpack.toml").write_text(text + extra, encoding="utf-8")
    return folder


def three_targets(folder: Path, third: Path | str) -> Path:
    extra = (
        TARGET.format(name="rhel9", os="rhel9", so=HELLO)
        + TARGET.format(name="ubuntu22", os="ubuntu22", so=HELLO)
        + TARGET.format(name="rhel8", os="rhel8", so=third)
    )
    return example(folder, extra)


def left_in(folder: Path) -> list[str]:
    """Every name in the output folder, temporary files included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def summary(stdout: str) -> str:
    """The counts of the last `N files checked: ...` line."""
    found = SUMMARY.findall(stdout)
    assert found, stdout
    return str(found[-1])


def module_json(bundle: Path) -> dict[str, object]:
    with zipfile.ZipFile(bundle) as archive:
        document: dict[str, object] = json.loads(archive.read("module.json"))
    return document


# --- 1. a multi-target build is all or nothing --------------------------------------------------


@pytest.mark.parametrize("third", ["missing.so", NO_ONLOAD], ids=["missing", "no-onload"])
def test_build_all_writes_nothing_when_one_target_fails(tmp_path: Path, third: Path | str) -> None:
    project = three_targets(tmp_path / "t1", tmp_path / third if isinstance(third, str) else third)
    out = tmp_path / "out"
    done = run_modpack("build", project, "--all", "-o", out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nothing was written" in done.stderr
    assert "'rhel8'" in done.stderr  # the target that failed
    assert left_in(out) == []


def test_build_all_reports_every_failing_target_before_writing(tmp_path: Path) -> None:
    extra = (
        TARGET.format(name="good", os="rhel9", so=HELLO)
        + TARGET.format(name="gone", os="ubuntu22", so=tmp_path / "gone.so")
        + TARGET.format(name="empty", os="rhel8", so=tmp_path / "empty.so")
    )
    (tmp_path / "empty.so").write_bytes(b"")
    project = example(tmp_path / "p", extra)
    out = tmp_path / "out"
    done = run_modpack("build", project, "--all", "-o", out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "IN001" in done.stdout and "ELF001" in done.stdout  # both targets, not the first only
    assert "'gone'" in done.stderr and "'empty'" in done.stderr
    assert left_in(out) == []


def test_build_all_writes_nothing_when_a_later_bundle_cannot_replace_its_file(tmp_path: Path) -> None:
    """The existing-file check of the second bundle runs before the first one is renamed in."""
    project = three_targets(tmp_path / "p", HELLO)
    out = tmp_path / "out"
    out.mkdir()
    (out / "hello.Linux-ubuntu22-x86_64.1.2.3.zip").write_bytes(b"an older build")
    done = run_modpack("build", project, "--all", "-o", out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "exists with different content" in done.stderr
    assert left_in(out) == ["hello.Linux-ubuntu22-x86_64.1.2.3.zip"]
    assert (out / "hello.Linux-ubuntu22-x86_64.1.2.3.zip").read_bytes() == b"an older build"


# The second rename fails (a disk error, say): the message names what was written and what not.
_SECOND_RENAME_FAILS = """
import errno, sys
from modpack import atomic
real = atomic.AtomicFile.commit
calls = []
def commit(self):
    calls.append(self.target)
    if len(calls) == 2:
        raise atomic.write_error(self.target, OSError(errno.EIO, "Input/output error"))
    real(self)
atomic.AtomicFile.commit = commit
from modpack.cli.app import main
main(sys.argv[1:])
"""


def test_build_all_says_exactly_what_was_written_when_a_rename_fails(tmp_path: Path) -> None:
    project = three_targets(tmp_path / "p", HELLO)
    out = tmp_path / "out"
    done = run_python(_SECOND_RENAME_FAILS, "build", project, "--all", "-o", out)
    assert done.returncode == 1, done.stdout + done.stderr
    first, second, third = (
        out / f"hello.Linux-{os}-x86_64.1.2.3.zip" for os in ("rhel9", "ubuntu22", "rhel8")
    )
    assert left_in(out) == [first.name]
    assert "nothing was written" not in done.stderr
    assert f"cannot write {second}: Input/output error" in done.stderr
    assert "1 of 3 bundles" in done.stderr
    assert f"written: {first}" in done.stderr
    assert f"not written: {second}" in done.stderr and f"not written: {third}" in done.stderr


# Ctrl+C (or SIGTERM) at the second rename: before it (after=False) or once it took place.
_STOPPED_AT_SECOND_RENAME = """
import sys
from modpack import atomic
from modpack.errors import Terminated
real = atomic.AtomicFile.commit
calls = []
stop = {"int": KeyboardInterrupt, "term": Terminated}[sys.argv.pop(1)]
after = sys.argv.pop(1) == "after"
def commit(self):
    calls.append(self.target)
    if len(calls) == 2:
        if after:
            real(self)
        raise stop
    real(self)
atomic.AtomicFile.commit = commit
from modpack.cli.app import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(("signal", "status"), [("int", 130), ("term", 143)])
@pytest.mark.parametrize("after", [False, True])
def test_build_all_stopped_between_renames_says_what_was_written(
    tmp_path: Path, signal: str, status: int, after: bool
) -> None:
    """It said only "interrupted", and left the bundles renamed before the stop in place."""
    project = three_targets(tmp_path / "p", HELLO)
    out = tmp_path / "out"
    when = "after" if after else "before"
    done = run_python(_STOPPED_AT_SECOND_RENAME, signal, when, "build", project, "--all", "-o", out)
    assert done.returncode == status, done.stdout + done.stderr
    first, second, third = (
        out / f"hello.Linux-{os}-x86_64.1.2.3.zip" for os in ("rhel9", "ubuntu22", "rhel8")
    )
    written = [first, second] if after else [first]
    assert left_in(out) == sorted(p.name for p in written)
    word = "terminated" if signal == "term" else "interrupted"
    assert f"modpack: {word}; {len(written)} of 3 bundles written" in done.stderr, done.stderr
    for path in written:
        assert f"written: {path}" in done.stderr
    for path in {first, second, third} - set(written):
        assert f"not written: {path}" in done.stderr
    assert "Traceback" not in done.stderr


def test_build_all_still_writes_every_bundle(tmp_path: Path) -> None:
    project = three_targets(tmp_path / "p", HELLO)
    out = tmp_path / "out"
    done = run_modpack("build", project, "--all", "-o", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(left_in(out)) == 3 and done.stdout.count("wrote ") == 3
    again = run_modpack("build", project, "--all", "-o", out)
    assert again.returncode == 0 and again.stdout.count("unchanged ") == 3


# --- 2. a build from ramp.yml writes RAMP's defaults --------------------------------------------

# RAMP's create_default_metadata() for the keys these manifests leave out (ramp.md §2.1).
RAMP_WRITES = {
    "command_line_args": "",
    "capabilities": [],
    "min_redis_version": "4.0",
    "min_redis_pack_version": "5.2",
}
# Real manifests that leave some of those keys out, and that validate passes.
SHORT_OF_DEFAULTS = [
    "danitseitlin__redis-interval-sets@c0302e0016__ramp.yml",  # command_line_args, capabilities, ...
    "RedisGraph__RedisGraph@76f5725bed__ramp_manifest.yml",  # capabilities
    "RedisLabsModules__redis-state-machine@a2454c559b__ramp.yml",  # min_redis_version (misspelled)
    "FalkorDB__FalkorDB@6efd9178c4__ramp.yml",  # hyphenated keys RAMP ignores
]


@needs_realworld
@pytest.mark.redis
@pytest.mark.parametrize("name", SHORT_OF_DEFAULTS)
def test_build_discover_from_a_real_ramp_yml_writes_what_ramp_writes(tmp_path: Path, name: str) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    shutil.copy(REALWORLD / name, manifest)
    checked = run_modpack("validate", manifest)
    assert checked.returncode == 0, checked.stdout
    built = run_modpack("build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    assert summary(built.stdout) == summary(checked.stdout)  # each finding once, none more
    (bundle,) = (tmp_path / "out").glob("*.zip")
    written = module_json(bundle)
    given = set(json.loads(json.dumps(_yaml(manifest))))
    for key, value in RAMP_WRITES.items():
        if key not in given:
            assert written[key] == value, key
    # ramp-pack -m, the same manifest: the same module.json (one table of defaults for both)
    packed = run_modpack("ramp-pack", HELLO, "-m", manifest, "-o", tmp_path / "rp" / "m.zip")
    assert packed.returncode == 0, packed.stdout + packed.stderr
    assert module_json(tmp_path / "rp" / "m.zip") == written


def _yaml(path: Path) -> dict[str, object]:
    import yaml

    loaded: dict[str, object] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def test_build_from_a_hand_written_ramp_yml_without_discover(tmp_path: Path) -> None:
    """commands and the module's identity written in, none of RAMP's defaulted keys: validate
    passes, and so does build, with the defaults in module.json."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        "module_name: hello\nsemantic_version: 1.2.3\ndisplay_name: Hello\n"
        "compatible_redis_version: '7.4'\ncapabilities: [types]\n"
        "commands:\n  - {command_name: hello.ping, command_arity: 1, flags: [fast],"
        " first_key: 0, last_key: 0, step: 0}\n",
        encoding="utf-8",
    )
    checked = run_modpack("validate", manifest)
    assert checked.returncode == 0, checked.stdout
    built = run_modpack("build", manifest, "--so", HELLO, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (tmp_path / "out").glob("*.zip")
    written = module_json(bundle)
    assert written["command_line_args"] == ""
    assert written["min_redis_version"] == "4.0"
    assert written["min_redis_pack_version"] == "5.2"
    assert written["capabilities"] == ["types"]  # the manifest's value beats the default


def _real_manifests() -> list[str]:
    if not REALWORLD.is_dir():
        return []
    return sorted(p.name for p in REALWORLD.iterdir() if p.name.endswith((".yml", ".yaml")))


@needs_realworld
@pytest.mark.redis
@pytest.mark.slow
def test_build_refuses_exactly_when_validate_fails_on_every_real_manifest(tmp_path: Path) -> None:
    """The README's promise over every real ramp.yml, built with hello.so, with and without
    --discover. Where validate passes, build writes the bundle, or asks for --discover (a usage
    error: RAMP reads the module's name, version and commands from the loaded module), or, after
    discovery, refuses an exclude_commands/overide_command naming a command hello.so does not
    register (DECL004: a fact about the binary, which validate of the manifest alone cannot know)."""
    from modpack.builder import build_project
    from modpack.validate import validate_paths

    require_redis()
    names = _real_manifests()
    assert len(names) == 44
    wrong: list[str] = []
    for index, name in enumerate(names):
        manifest = tmp_path / f"m{index}" / "ramp.yml"
        manifest.parent.mkdir()
        shutil.copy(REALWORLD / name, manifest)
        report = validate_paths([manifest])
        fails = report.failed
        validated = Counter(f.identity for f in report.findings())
        for discover in (False, True):
            out = manifest.parent / f"out-{discover}"
            try:
                build_project(manifest, HELLO, out, discover=discover)
                verdict = "wrote"
            except UsageError:
                verdict = "usage"
            except FindingsError as exc:
                errors = {f.code for f in exc.findings if f.severity.name == "ERROR"}
                if fails and Counter(f.identity for f in exc.findings) != validated:
                    wrong.append(f"{name} discover={discover}: build shows other findings than validate")
                verdict = "refused" if not fails and errors == {"DECL004"} and discover else "failed"
            expected = {"failed"} if fails else {"wrote", "usage", "refused"}
            if verdict not in expected or (verdict == "usage" and discover):
                wrong.append(
                    f"{name} discover={discover}: validate {'fails' if fails else 'passes'}, {verdict}"
                )
            if verdict != "wrote":
                assert left_in(out) == [], name
    assert wrong == []


# --- 3. the refusal names what has the errors; counts are validate's ----------------------------


def test_a_bad_binary_is_named_not_the_declarations(tmp_path: Path) -> None:
    project = example(tmp_path / "m1")
    empty = tmp_path / "e.so"
    empty.write_bytes(b"")
    done = run_modpack("build", project, "--so", empty, "-o", tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"modpack: {empty} has errors; nothing was written"
    assert "modpack.toml" not in done.stderr
    assert summary(done.stdout) == "1 error, 0 warnings, 0 infos"
    assert left_in(tmp_path / "out") == []


def test_a_reader_error_is_counted_with_every_warning_validate_gives(tmp_path: Path) -> None:
    """arity = 3.0 stops the build at reading; the warnings validate gives (CAP004: no
    capabilities) are printed and counted too."""
    project = example(
        tmp_path / "m1",
        **{
            'arity = 3\nflags = ["write", "deny-oom"]': 'arity = 3.0\nflags = ["write", "deny-oom"]',
            "capabilities = [": "# capabilities = [",
        },
    )
    checked = run_modpack("validate", project)
    built = run_modpack("build", project, "-o", tmp_path / "out")
    assert checked.returncode == built.returncode == 1, built.stdout + built.stderr
    assert summary(checked.stdout) == summary(built.stdout) == "1 error, 1 warning, 0 infos"
    assert "CAP004" in built.stdout and "CMD004" in built.stdout
    assert built.stderr.strip().splitlines()[-1] == (
        f"modpack: {project / 'modpack.toml'} has errors; nothing was written"
    )
    assert left_in(tmp_path / "out") == []


# --- 4. ramp-pack --packname-file ---------------------------------------------------------------


def test_ramp_pack_fails_on_a_packname_file_before_packing(tmp_path: Path) -> None:
    """The name file is opened before anything is packed: its failure leaves no bundle."""
    out = tmp_path / "rp"
    for packname in (tmp_path / "nope" / "x", Path("/proc/nope/x")):
        done = run_modpack("ramp-pack", "-o", out / "q.zip", "--packname-file", packname, HELLO)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"modpack: cannot write {packname}: No such file or directory" in done.stderr
        assert "wrote" not in done.stdout
        assert left_in(out) == []
        assert not packname.exists()


# --- 5. smaller ---------------------------------------------------------------------------------


def test_target_without_targets_hints_the_option_given(tmp_path: Path) -> None:
    done = run_modpack("build", FIXTURES / "example", "--target", "x", "-o", tmp_path / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "declares no [[targets]]" in done.stderr
    assert "without --target" in done.stderr and "--all" not in done.stderr
    everything = run_modpack("build", FIXTURES / "example", "--all", "-o", tmp_path / "out")
    assert everything.returncode == 2 and "without --all" in everything.stderr


@pytest.mark.parametrize("given", ["modpack.toml"])
def test_ramp_pack_manifest_must_be_a_ramp_yml(tmp_path: Path, given: str) -> None:
    wrong = tmp_path / given
    wrong.write_text((FIXTURES / "example" / "modpack.toml").read_text(encoding="utf-8"), encoding="utf-8")
    done = run_modpack("ramp-pack", "-m", wrong, "-o", tmp_path / "rp" / "q.zip", HELLO)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "-m" in done.stderr and "ramp.yml" in done.stderr
    assert "YAML" not in done.stdout + done.stderr
    assert left_in(tmp_path / "rp") == []


@pytest.mark.redis
def test_an_architecture_alias_is_named_as_written(tmp_path: Path) -> None:
    """ELF007 said "architecture is aarch64" of `-A arm64`, a value the user never wrote; the
    same in validate and in build, as the README promises they agree."""
    require_redis()
    done = run_modpack("ramp-pack", "-A", "arm64", "-o", tmp_path / "rp" / "q.zip", HELLO)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PLT003" in done.stdout and "'arm64'" in done.stdout
    assert "but architecture is 'arm64' (aarch64)" in done.stdout, done.stdout
    assert "architecture is aarch64" not in done.stdout
    assert left_in(tmp_path / "rp") == []
    toml = tmp_path / "m" / "modpack.toml"
    toml.parent.mkdir()
    example = (FIXTURES / "example" / "modpack.toml").read_text()
    toml.write_text(example.replace('"x86_64"', '"arm64"').replace("../so/x86_64/hello.so", str(HELLO)))
    checked = run_modpack("validate", toml)
    built = run_modpack("build", toml, "-o", tmp_path / "out")
    for run in (checked, built):
        assert "but architecture is 'arm64' (aarch64)" in run.stdout, run.stdout + run.stderr


@pytest.mark.redis
def test_ramp_pack_takes_a_manifest_written_as_json(tmp_path: Path) -> None:
    """RAMP reads -m with a YAML parser, and JSON is YAML: refusing manifest.json by its name
    refused a manifest RAMP takes."""
    require_redis()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"display_name": "Hello", "capabilities": ["types"], "min_redis_version": "7.0"})
    )
    done = run_modpack("ramp-pack", "-m", manifest, "-o", tmp_path / "rp" / "q.zip", HELLO)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(tmp_path / "rp" / "q.zip") as bundle:
        assert json.loads(bundle.read("module.json"))["display_name"] == "Hello"
