"""Paths (issue 8): nothing from a manifest or a name template chooses where `modpack build` writes.

A module name or version with `/`, `..`, NUL or an absolute path, in modpack.toml, in [build]
output, in a [[targets]] name or in `--name`, is refused with a clear message (exit 1 for
findings, 2 for usage), and nothing is written anywhere but the output folder: every test
snapshots the whole workspace (project, a sibling folder, the output folder's parent) before and
after. The names inside the bundle come from the manifest too (`module_file`), so they are held to
the same rule: the bundle that gets written must pass modpack's own zip checks.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modpack.builder import build_project
from modpack.errors import UsageError
from modpack.naming import output_name
from modpack.validate import validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, HELLO, ROOT

EXAMPLE = (FIXTURES / "example" / "modpack.toml").read_text("utf-8")

Snapshot = dict[str, tuple[int, int, int]]


def workspace(tmp_path: Path, toml: str = EXAMPLE) -> Path:
    """tmp/project/modpack.toml (the .so by absolute path), tmp/outside/, and tmp/dist/ for output."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "modpack.toml").write_text(
        toml.replace('"../so/x86_64/hello.so"', json.dumps(str(HELLO))), "utf-8"
    )
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("untouched\n")
    return project


def snapshot(root: Path, skip: Path) -> Snapshot:
    """Every path under root but `skip`: (mode, size, mtime) — a new, changed or removed one shows."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) != skip]
        for name in dirs + files:
            info = Path(folder, name).lstat()
            found[str(Path(folder, name).relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def build(tmp_path: Path, *args: str) -> tuple[int, str]:
    """`modpack build project -o dist ARGS` from tmp_path; the exit code and all it printed."""
    result = run_modpack("build", "project", "-o", "dist", *args, cwd=tmp_path)
    return result.returncode, result.stdout + result.stderr


def assert_refused(tmp_path: Path, before: Snapshot, code: int, output: str, *mentions: str) -> None:
    assert code in (1, 2), output
    assert "internal error" not in output and "Traceback" not in output, output
    assert "modpack:" in output, output  # one clear message on stderr
    for text in mentions:
        assert text in output, f"{text!r} not named in:\n{output}"
    assert snapshot(tmp_path, tmp_path / "dist") == before
    dist = tmp_path / "dist"
    assert not dist.exists() or not any(dist.iterdir()), list(dist.iterdir())


def assert_only_bundles_in(dist: Path) -> None:
    entries = list(dist.iterdir())
    assert entries, "nothing was written"
    for entry in entries:
        assert (
            stat.S_ISREG(entry.lstat().st_mode) and entry.suffix == ".zip" and not entry.name.startswith(".")
        ), entry


# --- names from the manifest -------------------------------------------------------------------------

MANIFEST_NAMES = {
    "parent": ('name = "hello"', 'name = "../evil"', "module_name"),
    "slash": ('name = "hello"', 'name = "a/b"', "module_name"),
    "absolute": ('name = "hello"', 'name = "/tmp/modpack-evil"', "module_name"),
    "nul": ('name = "hello"', 'name = "hel\\u0000lo"', "module_name"),
    "dot-dot": ('name = "hello"', 'name = ".."', "module_name"),
    "hidden": ('name = "hello"', 'name = ".hello"', "module_name"),
    "backslash": ('name = "hello"', 'name = "..\\\\evil"', "module_name"),
    "version-parent": (
        'semantic_version = "1.2.3"',
        'semantic_version = "1.2.3/../../evil"',
        "semantic_version",
    ),
    "version-nul": ('semantic_version = "1.2.3"', 'semantic_version = "1.2.3\\u0000"', "semantic_version"),
    "version-absolute": ('semantic_version = "1.2.3"', 'semantic_version = "/1.2.3"', "semantic_version"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_NAMES))
def test_a_hostile_name_or_version_in_modpack_toml_is_refused(tmp_path: Path, case: str) -> None:
    old, new, field = MANIFEST_NAMES[case]
    assert old in EXAMPLE
    workspace(tmp_path, EXAMPLE.replace(old, new, 1))
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path, "--name", "{module_name}-{semantic_version}.zip")
    assert_refused(tmp_path, before, code, output, field, "nothing was written")


OUTPUT_TEMPLATES = [
    "../{module_name}.zip",
    "../../{module_name}.zip",
    "{module_name}/../../escape.zip",
    "sub/{module_name}.zip",
    "/tmp/modpack-escape-{module_name}.zip",
    "..\\{module_name}.zip",
    "..",
    ".",
    ".{module_name}.zip",
    "{module_name.__class__}.zip",
    "{module_name!r}.zip",
    "{module_name:>300}.zip",
    # a lone brace was an internal error (ValueError from string.Formatter), in --name,
    # [build] output and ramp-pack -o alike
    "{",
    "}.zip",
    "{module_name.zip",
    "{0}.zip",
    "{}.zip",
    "{nope}.zip",
]


@pytest.mark.parametrize("template", OUTPUT_TEMPLATES)
def test_a_hostile_build_output_in_modpack_toml_is_refused(tmp_path: Path, template: str) -> None:
    toml = EXAMPLE.replace("[build]\n", f"[build]\noutput = {json.dumps(template)}\n", 1)
    workspace(tmp_path, toml)
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path)
    assert_refused(tmp_path, before, code, output)
    # a finding of the file, at its line, as validate says it (it was a usage error without one)
    assert code == 1 and "[build.output]: error DECL011 " in output, output


@pytest.mark.parametrize("template", OUTPUT_TEMPLATES)
def test_a_hostile_name_template_on_the_command_line_is_refused(tmp_path: Path, template: str) -> None:
    workspace(tmp_path)
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path, "--name", template)
    assert_refused(tmp_path, before, code, output)
    assert code == 2, output


def test_nul_in_a_name_template_is_refused_by_the_library(tmp_path: Path) -> None:
    """A NUL cannot cross argv, but a template can come from elsewhere (a config, the API)."""
    project = workspace(tmp_path)
    before = snapshot(tmp_path, tmp_path / "dist")
    with pytest.raises(UsageError, match="holds a control character"):
        build_project(
            project / "modpack.toml", None, tmp_path / "dist", name_template="x\x00{module_name}.zip"
        )
    assert snapshot(tmp_path, tmp_path / "dist") == before


TARGET_NAMES = ["../../evil", "/tmp/modpack-evil-target", "a/b", "x\\u0000y", ".."]


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_a_hostile_target_name_is_refused(tmp_path: Path, name: str) -> None:
    toml = EXAMPLE + (
        f'\n[[targets]]\nname = "{name}"\nso = {json.dumps(str(HELLO))}\narchitecture = "x86_64"\n'
        'operating_systems = ["rhel9"]\n'
    )
    workspace(tmp_path, toml)
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path, "--all", "--name", "{target}")
    assert_refused(tmp_path, before, code, output)


def test_a_hostile_operating_system_cannot_shape_the_name(tmp_path: Path) -> None:
    toml = EXAMPLE.replace(
        'architecture = "x86_64"', 'architecture = "x86_64"\noperating_systems = ["../../evil"]'
    )
    workspace(tmp_path, toml)
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path, "--name", "{module_name}-{os}.zip")
    assert_refused(tmp_path, before, code, output, "operating_systems")


def test_a_very_long_module_name_is_a_clear_error(tmp_path: Path) -> None:
    """Found by this suite: a 250-character name passes the checks, then mkstemp's temporary name
    (".<name>.XXXXXXXX.tmp") exceeds NAME_MAX and the CLI prints "internal error: OSError"."""
    workspace(tmp_path, EXAMPLE.replace('name = "hello"', 'name = "' + "h" * 250 + '"', 1))
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path)
    assert_refused(tmp_path, before, code, output)


# --- where the bundle lands ------------------------------------------------------------------------------


def test_a_good_build_writes_one_plain_file_in_the_output_folder_only(tmp_path: Path) -> None:
    workspace(tmp_path)
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path, "--name", "{module_name}-{semantic_version}.zip")
    assert code == 0, output
    assert snapshot(tmp_path, tmp_path / "dist") == before
    assert_only_bundles_in(tmp_path / "dist")
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["hello-1.2.3.zip"]


def test_a_symlink_at_the_bundle_name_is_replaced_not_followed(tmp_path: Path) -> None:
    """A link planted where the bundle goes must not redirect the write outside the folder."""
    workspace(tmp_path)
    dist = tmp_path / "dist"
    dist.mkdir()
    victim = tmp_path / "outside" / "keep.txt"
    (dist / "hello-1.2.3.zip").symlink_to(victim)
    before = snapshot(tmp_path, dist)
    code, output = build(tmp_path, "--name", "{module_name}-{semantic_version}.zip", "--force")
    assert code == 0, output
    assert victim.read_text() == "untouched\n"
    assert snapshot(tmp_path, dist) == before
    bundle = dist / "hello-1.2.3.zip"
    assert not bundle.is_symlink() and zipfile.is_zipfile(bundle)


def test_a_dangling_symlink_at_the_bundle_name_creates_nothing_outside(tmp_path: Path) -> None:
    workspace(tmp_path)
    dist = tmp_path / "dist"
    dist.mkdir()
    target = tmp_path / "outside" / "created-through-link.zip"
    (dist / "hello-1.2.3.zip").symlink_to(target)
    code, output = build(tmp_path, "--name", "{module_name}-{semantic_version}.zip")
    assert code in (0, 1), output
    assert not target.exists()
    assert "internal error" not in output


def test_an_output_folder_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    workspace(tmp_path)
    (tmp_path / "dist").write_text("a file, not a folder\n")
    code, output = build(tmp_path)
    assert code in (1, 2), output
    assert "internal error" not in output and "Traceback" not in output, output
    assert (tmp_path / "dist").read_text() == "a file, not a folder\n"


# --- names inside the bundle ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module_file", ["../../evil.so", "/tmp/modpack-evil.so", "sub/hello.so", "..\\\\evil.so"]
)
def test_a_hostile_module_file_is_refused(tmp_path: Path, module_file: str) -> None:
    toml = EXAMPLE.replace('license = "MIT"', f'license = "MIT"\nmodule_file = "{module_file}"', 1)
    workspace(tmp_path, toml)
    before = snapshot(tmp_path, tmp_path / "dist")
    code, output = build(tmp_path)
    assert_refused(tmp_path, before, code, output, "module_file")


@pytest.mark.parametrize("module_file", ["hello.txt", "hello", "module.json", "hello.so.1"])
def test_a_module_file_the_bundle_checks_refuse_is_not_written(tmp_path: Path, module_file: str) -> None:
    """module_file names the .so entry: build must not write a bundle its own validator rejects.

    Found by this suite: `module_file = "hello.txt"` is accepted by the build, which writes a zip
    holding hello.txt and no .so; `modpack validate` then reports ZIP003 and ZIP005.
    """
    toml = EXAMPLE.replace('license = "MIT"', f'license = "MIT"\nmodule_file = "{module_file}"', 1)
    workspace(tmp_path, toml)
    code, output = build(tmp_path)
    bundles = list((tmp_path / "dist").glob("*.zip")) if (tmp_path / "dist").is_dir() else []
    if code == 0:
        report = validate_paths(bundles)
        assert not report.failed, [f"{f.code} {f.message}" for f in report.findings()]
    else:
        assert code in (1, 2) and not bundles and "internal error" not in output, output


# --- the name function itself ---------------------------------------------------------------------------

_HOSTILE = (
    st.sampled_from(["..", ".", "/", "a/b", "/abs", "a\x00b", "\\", "..\\x", ".x", "", "x" * 300]) | st.text()
)
_TEMPLATE = st.sampled_from(
    [
        "{module_name}.zip",
        "{module_name}-{semantic_version}.zip",
        "{module_name}.Linux-{os}-{architecture}.{semantic_version}.zip",
        "{module_name}{version}{target}",
        "{os}",
        "{target}",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    template=_TEMPLATE,
    name=_HOSTILE,
    version=_HOSTILE,
    system=_HOSTILE,
    architecture=_HOSTILE,
    target=_HOSTILE,
)
def test_output_name_is_a_plain_name_inside_the_folder_or_refused(
    template: str, name: str, version: str, system: str, architecture: str, target: str
) -> None:
    module = {
        "module_name": name,
        "semantic_version": version,
        "version": version,
        "operating_systems": [system],
        "architecture": architecture,
    }
    try:
        result = output_name(template, module, target)
    except UsageError:
        return
    folder = Path("/srv/dist")
    assert result and "\x00" not in result and "/" not in result and "\\" not in result
    assert not result.startswith(".")
    assert os.path.normpath(folder / result) == str(folder / result)
    assert (folder / result).parent == folder


# --- outputs that cannot be written: a message naming the file, never an internal error ---------


BUNDLE = "hello.zip"


def test_a_folder_at_the_bundle_name_is_named_before_any_work(tmp_path: Path) -> None:
    """It was "exists with different content" without --force, and with --force an internal
    error (IsADirectoryError from the rename, after the whole zip was written)."""
    workspace(tmp_path)
    (tmp_path / "dist" / BUNDLE).mkdir(parents=True)
    for extra in ((), ("--force",)):
        code, output = build(tmp_path, "--name", BUNDLE, *extra)
        assert code == 1, output
        assert f"modpack: cannot write {Path('dist') / BUNDLE}: a folder has that name" in output
        assert "hint: Remove the folder, or choose another output name." in output
        assert "internal error" not in output
        assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [BUNDLE]
        assert (tmp_path / "dist" / BUNDLE).is_dir()


def test_an_output_folder_where_no_file_can_be_made_is_named(tmp_path: Path) -> None:
    """/proc exists but takes no new file: the temporary file's creation was an internal error."""
    workspace(tmp_path)
    result = run_modpack("build", "project", "-o", "/proc", "--name", BUNDLE, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: cannot write /proc/{BUNDLE}: No such file or directory" in result.stderr
    assert "internal error" not in result.stderr


def _file_size_limit(limit: int) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_write_that_fails_part_way_is_named_and_leaves_nothing(tmp_path: Path) -> None:
    """A full disk, a quota or a file size limit: the write failing half way was an internal
    error (OSError: [Errno 28] No space left on device). Now the bundle is named with the
    system's reason, exit 1, and neither the bundle nor a temporary file is left."""
    import subprocess
    import sys

    from tests.support.cli import CHECKOUT

    workspace(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "modpack", "build", "project", "-o", "dist", "--name", BUNDLE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": CHECKOUT},
        preexec_fn=lambda: _file_size_limit(4096),  # hello.so deflates to about 6 KB
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: cannot write {Path('dist') / BUNDLE}: File too large" in result.stderr
    assert "internal error" not in result.stderr
    assert list((tmp_path / "dist").iterdir()) == []


def test_init_into_a_missing_folder_is_named(tmp_path: Path) -> None:
    """init, discover --write and ramp-pack --packname-file write through modpack.atomic too."""
    target = tmp_path / "missing" / "modpack.toml"
    result = run_modpack("init", "--name", "hello", "--version", "1.2.3", target)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: cannot write {target}: No such file or directory" in result.stderr
    assert "internal error" not in result.stderr
    assert not target.parent.exists()


def test_ramp_pack_packname_file_in_a_missing_folder_is_named(tmp_path: Path) -> None:
    """It was an internal error (FileNotFoundError from Path.write_text)."""
    target = tmp_path / "missing" / "name.txt"
    result = run_modpack(
        "ramp-pack", HELLO, "-n", "hello", "-o", tmp_path / "m.zip", "--packname-file", target
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: cannot write {target}: No such file or directory" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("binary", "name", "said"),
    [
        # a bundle's name ends in .zip (validate and publish know it by that): refused for it first
        ("hello.so", "hello.so", "the output name 'hello.so' does not end in .zip"),
        ("hello.so", "modpack.toml", "the output name 'modpack.toml' does not end in .zip"),
        # a binary named like a bundle, and a hard link to it
        ("module.zip", "module.zip", "would replace its own input {project}/module.zip"),
        ("module.zip", "link.zip", "would replace its own input {project}/module.zip"),
    ],
)
def test_build_never_replaces_its_own_input(tmp_path: Path, binary: str, name: str, said: str) -> None:
    """`-o` the project folder and `--name hello.so` (or the manifest's name, or a hard link to
    the .so): with --force the bundle replaced the module binary, or modpack.toml, by a zip."""
    project = tmp_path / "p"
    project.mkdir()
    so = project / binary
    so.write_bytes(HELLO.read_bytes())
    so.chmod(0o755)
    (project / "link.zip").hardlink_to(so)
    text = EXAMPLE.replace('"../so/x86_64/hello.so"', f'"{binary}"')
    text = text.replace('license = "MIT"', 'license = "MIT"\nmodule_file = "hello.so"', 1)
    (project / "modpack.toml").write_text(text, "utf-8")
    before = snapshot(tmp_path, tmp_path / "none")
    result = run_modpack("build", project, "-o", project, "--name", name, "--force")
    assert result.returncode == 2, result.stdout + result.stderr
    assert said.format(project=project) in result.stderr, result.stderr
    assert snapshot(tmp_path, tmp_path / "none") == before


def test_ramp_pack_never_replaces_its_own_module(tmp_path: Path) -> None:
    so = tmp_path / "m.so"
    so.write_bytes(HELLO.read_bytes())
    so.chmod(0o755)
    result = run_modpack("ramp-pack", so, "-n", "hello", "-o", so, "--force")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"modpack: the bundle {so} would replace its own input {so}" in result.stderr
    assert so.read_bytes() == HELLO.read_bytes()


def test_a_name_file_or_modpack_toml_the_user_names_is_written_through_links_and_pipes(
    tmp_path: Path,
) -> None:
    """Files the user names to be written were renamed over whatever had the name: a symbolic link
    (a modpack.toml linked from elsewhere lost its link, and discover --write merged into a copy
    while the file it names kept the old text), a FIFO (its reader waited for ever) and, run as
    root, --packname-file /dev/stdout replaced /dev/stdout itself. RAMP writes the name file as it
    is: they are written through now."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "real.txt").write_text("old\n")
    (tmp_path / "link").symlink_to("real.txt")
    packed = tmp_path / "m.zip"
    for name_file in ("link", "pipe"):
        target = tmp_path / name_file
        reader = None
        if name_file == "pipe":
            import subprocess

            reader = subprocess.Popen(["cat", str(target)], stdout=subprocess.PIPE)
        done = run_modpack("ramp-pack", HELLO, "-o", packed, "-P", "--packname-file", target)
        assert done.returncode == 0, done.stdout + done.stderr
        if reader is not None:
            assert reader.communicate(timeout=30)[0] == str(packed).encode()
        assert target.is_symlink() if name_file == "link" else stat.S_ISFIFO(target.lstat().st_mode)
    assert (tmp_path / "real.txt").read_text() == str(packed)
    # a bundle is never written through: a FIFO or a device at its name is refused, named
    refused = run_modpack("ramp-pack", HELLO, "-o", tmp_path / "pipe", "--force")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"modpack: cannot write {tmp_path / 'pipe'}: it is a FIFO, not a file" in refused.stderr
    assert stat.S_ISFIFO((tmp_path / "pipe").lstat().st_mode)
    # init --force into a linked modpack.toml writes the file the link names
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "real.toml").write_text("old = 1\n")
    (tmp_path / "project" / "modpack.toml").symlink_to("real.toml")
    init = run_modpack(
        "init", tmp_path / "project" / "modpack.toml", "--name", "x", "--version", "1.2.3", "--force"
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert (tmp_path / "project" / "modpack.toml").is_symlink()
    assert 'name = "x"' in (tmp_path / "project" / "real.toml").read_text()


def test_a_link_to_nothing_at_a_named_file_creates_nothing_where_it_points(tmp_path: Path) -> None:
    """A link at modpack.toml pointing to a file that is not there: init wrote the new file where
    the link pointed (and without --force, exists() being false for it); a link at a bundle's name
    to /dev/null refused the bundle as 'a character device'. Both links are replaced now, not
    followed, and init asks for --force first."""
    victim = tmp_path / "victim"
    victim.mkdir()
    project = tmp_path / "named"
    project.mkdir()
    (project / "modpack.toml").symlink_to(victim / "planted.sh")
    made = run_modpack("init", project / "modpack.toml", "--name", "hello", "--version", "1.0.0")
    assert made.returncode == 2 and "Pass --force" in made.stderr, made.stdout + made.stderr
    forced = run_modpack("init", project / "modpack.toml", "--name", "hello", "--version", "1.0.0", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert list(victim.iterdir()) == [] and not (project / "modpack.toml").is_symlink()
    dist = tmp_path / "dist"
    dist.mkdir()
    planted = dist / "hello-1.2.3.zip"
    planted.symlink_to("/dev/null")
    workspace(tmp_path)
    code, output = build(tmp_path, "--name", "{module_name}-{semantic_version}.zip", "--force")
    assert code == 0, output
    assert not planted.is_symlink() and zipfile.is_zipfile(planted)


def test_packname_file_dev_stdout_sent_to_a_file_keeps_that_file(tmp_path: Path) -> None:
    """--packname-file /dev/stdout with stdout sent to a file: the file was replaced by a new one
    holding the name alone, and the shell's redirection went on writing to the deleted one."""
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    log.write_text("")
    inode = log.stat().st_ino
    with log.open("wb") as out:  # `>`: the name was written at offset 0, then printed over
        done = subprocess.run(
            [sys.executable, "-m", "modpack", "ramp-pack", str(HELLO), "-o", str(tmp_path / "x.zip"),
             "-r", "7.0", "-cr", "7.4", "-C", "types", "--packname-file", "/dev/stdout"],
            stdout=out, stderr=subprocess.PIPE, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert log.stat().st_ino == inode  # the file the redirection writes, not a new one
    text = log.read_text()
    assert f"wrote {tmp_path / 'x.zip'}" in text and text.count(str(tmp_path / "x.zip")) == 2, text


def test_a_link_another_user_planted_is_replaced_not_followed_and_gives_no_mode(tmp_path: Path) -> None:
    """Run as root, a named file's link was followed wherever it pointed: one another user planted
    in a shared folder (a sticky /tmp, /dev/shm) replaced root's own file, and the new file took
    the mode of what the link named (a link to /dev/null gave rw-rw-rw-). Only a link of the user's
    own to a regular file is written through now, and a replaced link gives the umask's mode."""
    victim = tmp_path / "victim"
    victim.write_text("root's\n")
    victim.chmod(0o600)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "name.txt"
    planted.symlink_to(victim)
    if os.geteuid() == 0:
        os.lchown(planted, 65534, 65534)  # nobody's link
    else:
        pytest.fail("run as root in CI: a link of another user cannot be made otherwise")
    done = run_modpack("ramp-pack", HELLO, "-o", tmp_path / "x.zip", "--packname-file", planted)
    assert done.returncode == 0, done.stdout + done.stderr
    assert victim.read_text() == "root's\n" and not planted.is_symlink()
    assert planted.read_text() == str(tmp_path / "x.zip")
    # a chain: the user's own link to a link another user planted: the chain is not followed
    (tmp_path / "mine").symlink_to(planted_again := shared / "again.txt")
    planted_again.symlink_to(victim)
    os.lchown(planted_again, 65534, 65534)
    again = run_modpack("ramp-pack", HELLO, "-o", tmp_path / "y.zip", "--packname-file", tmp_path / "mine")
    assert again.returncode == 0, again.stdout + again.stderr
    assert victim.read_text() == "root's\n" and not (tmp_path / "mine").is_symlink()
    # the user's own chain to a regular file is followed to it, the links kept
    own = tmp_path / "own.txt"
    own.write_text("old\n")
    (tmp_path / "hop").symlink_to(own)
    (tmp_path / "first").symlink_to(tmp_path / "hop")
    followed = run_modpack(
        "ramp-pack", HELLO, "-o", tmp_path / "z.zip", "--packname-file", tmp_path / "first"
    )
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert own.read_text() == str(tmp_path / "z.zip") and (tmp_path / "first").is_symlink()
    devnull = tmp_path / "toml"
    devnull.mkdir()
    (devnull / "modpack.toml").symlink_to("/dev/null")
    made = run_modpack("init", devnull / "modpack.toml", "--name", "x", "--version", "1.2.3", "--force")
    assert made.returncode == 0, made.stdout + made.stderr
    assert stat.S_IMODE((devnull / "modpack.toml").lstat().st_mode) & 0o022 == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
