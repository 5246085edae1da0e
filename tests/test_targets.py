"""Multi-target builds: one command, one bundle per target, each checked against its own OS."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, SO
from tests.support.tools import require_redis

TARGETS = """
[[targets]]
name = "rhel9-x86_64"
operating_systems = ["rhel9"]
architecture = "x86_64"
so = "{so}/x86_64/hello.so"

[[targets]]
name = "ubuntu22-x86_64"
operating_systems = ["ubuntu22"]
architecture = "x86_64"
compatible_redis_version = "7.2"
so = "{so}/${{arch}}/hello.so"

[[targets]]
name = "rhel9-aarch64"
operating_systems = ["rhel9"]
architecture = "aarch64"
so = "{so}/${{arch}}/hello.so"
"""


def project(tmp_path: Path, targets: str) -> Path:
    text = (FIXTURES / "example" / "modpack.toml").read_text().replace('architecture = "x86_64"\n', "")
    toml = tmp_path / "modpack.toml"
    toml.write_text(text + targets.format(so=SO))
    return toml


def test_build_all_targets_in_one_command(tmp_path: Path) -> None:
    toml = project(tmp_path, TARGETS)
    result = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stdout + result.stderr
    bundles = sorted((tmp_path / "dist").glob("*.zip"))
    assert [b.name for b in bundles] == [
        "hello.Linux-rhel9-aarch64.1.2.3.zip",
        "hello.Linux-rhel9-x86_64.1.2.3.zip",
        "hello.Linux-ubuntu22-x86_64.1.2.3.zip",
    ]
    seen = {}
    for bundle in bundles:
        with zipfile.ZipFile(bundle) as archive:
            module = json.loads(archive.read("module.json"))
        seen[bundle.name] = (
            module["architecture"],
            module["operating_systems"],
            module["compatible_redis_version"],
        )
    assert seen["hello.Linux-rhel9-aarch64.1.2.3.zip"] == ("aarch64", ["rhel9"], "7.4")
    assert seen["hello.Linux-ubuntu22-x86_64.1.2.3.zip"] == ("x86_64", ["ubuntu22"], "7.2")
    assert run_modpack("validate", *bundles).returncode == 0


def test_one_target_by_name(tmp_path: Path) -> None:
    toml = project(tmp_path, TARGETS)
    result = run_modpack("build", toml, "--target", "rhel9-aarch64", "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "dist").iterdir()] == ["hello.Linux-rhel9-aarch64.1.2.3.zip"]
    assert run_modpack("build", toml, "--target", "nope", "-o", tmp_path / "dist").returncode == 2


def test_target_that_cannot_load_on_its_os_fails_with_the_elf_finding(tmp_path: Path) -> None:
    toml = project(
        tmp_path,
        TARGETS
        + '\n[[targets]]\nname = "old"\noperating_systems = ["rhel8"]\nso = "{so}/x86_64/cxx_module.so"\n',
    )
    result = run_modpack("build", toml, "--target", "old", "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert "GLIBCXX" in result.stdout and "rhel8" in result.stdout
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_two_targets_of_one_name_are_refused(tmp_path: Path) -> None:
    """`--target twin` built only the last of two [[targets]] named twin, in silence."""
    twins = TARGETS.replace('"ubuntu22-x86_64"', '"rhel9-x86_64"')
    toml = project(tmp_path, twins)
    for chooser in (["--all"], ["--target", "rhel9-x86_64"]):
        result = run_modpack("build", toml, *chooser, "-o", tmp_path / "dist")
        assert result.returncode == 1, result.stdout + result.stderr  # the finding validate reports
        assert (
            "error DECL008 two [[targets]] are named 'rhel9-x86_64': this one and targets[0]" in result.stdout
        )
        assert "[targets[1].name]" in result.stdout
        assert not (tmp_path / "dist").exists()


def test_two_targets_writing_one_bundle_name_are_refused(tmp_path: Path) -> None:
    """Two targets whose bundles get the same name: the second was 'unchanged' (or, with --force
    and other bytes, replaced the first), and one platform's bundle was missing without a word."""
    same = TARGETS.replace('operating_systems = ["ubuntu22"]', 'operating_systems = ["rhel9"]')
    toml = project(tmp_path, same)
    result = run_modpack("build", toml, "--all", "-o", tmp_path / "dist", "--force")
    # a finding of the file, as validate says it (it was a usage error, exit 2, saying the first
    # bundle was written "in this run" when nothing was)
    assert result.returncode == 1, result.stdout + result.stderr
    line = toml.read_text().splitlines().index('name = "ubuntu22-x86_64"')
    assert (
        f"{toml}:{line} [targets[1]]: error DECL011 [[targets]] 'ubuntu22-x86_64' would write the bundle"
        " 'hello.Linux-rhel9-x86_64.1.2.3.zip', as [[targets]] 'rhel9-x86_64' does"
    ) in result.stdout
    assert "wrote" not in result.stdout + result.stderr and not (tmp_path / "dist").exists()


def test_target_in_the_output_name_builds_every_target(tmp_path: Path) -> None:
    """`{target}` in [build] output, as DECL011's own fix advises, was refused by `build --all`
    and by validate: each target's build judged the template for [build] so's bundle too, which
    has no {target} (here there is no [build] so at all)."""
    toml = project(tmp_path, TARGETS)
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, 'output = "{target}-{semantic_version}.zip"'))
    validated = run_modpack("validate", toml)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [
        "rhel9-aarch64-1.2.3.zip",
        "rhel9-x86_64-1.2.3.zip",
        "ubuntu22-x86_64-1.2.3.zip",
    ]


@pytest.mark.rule("DECL011")
def test_validate_says_two_targets_would_write_one_bundle_name(tmp_path: Path) -> None:
    """validate and the pre-commit hook passed two [[targets]] whose bundles get one name, which
    `build --all` then refused; the name takes the OS list and architecture each entry gives."""
    same = TARGETS.replace('operating_systems = ["ubuntu22"]', 'operating_systems = ["rhel9"]')
    toml = project(tmp_path, same)
    result = run_modpack("validate", toml)
    assert result.returncode == 1, result.stdout + result.stderr
    line = toml.read_text().splitlines().index('name = "ubuntu22-x86_64"')  # its [[targets]] header
    assert (
        f"{toml}:{line} [targets[1]]: error DECL011 [[targets]] 'ubuntu22-x86_64' would write the bundle"
        " 'hello.Linux-rhel9-x86_64.1.2.3.zip', as [[targets]] 'rhel9-x86_64' does:"
        " `modpack build --all` refuses the second"
    ) in result.stdout
    assert "fix: Put {target} in [build] output" in result.stdout
    assert result.stdout.count("DECL011") == 1
    # {target} in the name tells them apart (for targets only: [build] so's bundle has none),
    # and so does another OS (TARGETS as it is)
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, 'output = "{target}-{semantic_version}.zip"'))
    assert run_modpack("validate", toml).returncode == 0
    assert run_modpack("validate", project(tmp_path, TARGETS)).returncode == 0


def test_many_targets_of_one_bundle_name_are_said_without_a_crash(tmp_path: Path) -> None:
    """Past the 50 findings of one rule a file lists, the summary finding has no target: the first
    version of the shared-name check looked its target up by path and raised KeyError."""
    one = 'name = "t{i}"\noperating_systems = ["rhel9"]\nso = "{so}/x86_64/hello.so"\n'
    entries = "".join("\n[[targets]]\n" + one.replace("{i}", str(i)) for i in range(55))
    toml = project(tmp_path, entries)
    result = run_modpack("validate", toml)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error DECL011 and 4 more DECL011 findings in this file" in result.stdout
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_validate_checks_each_targets_binary_as_build_all_does(tmp_path: Path) -> None:
    """validate checked only [build] so: an aarch64 target given the x86_64 binary passed every
    pre-commit run and was refused by the release's `build --all`."""
    (tmp_path / "right").mkdir()
    right = project(tmp_path / "right", TARGETS)
    clean = run_modpack("validate", right)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    wrong_targets = TARGETS.replace(
        'architecture = "aarch64"\nso = "{so}/${{arch}}/hello.so"',
        'architecture = "aarch64"\nso = "{so}/x86_64/hello.so"',
    )
    assert wrong_targets != TARGETS
    (tmp_path / "wrong").mkdir()
    wrong = project(tmp_path / "wrong", wrong_targets)
    validated = run_modpack("validate", wrong)
    built = run_modpack("build", wrong, "--all", "-o", tmp_path / "dist")
    assert validated.returncode == 1 and built.returncode == 1, validated.stdout + built.stdout
    # at the target's architecture, where the fix is made (it was on the .so, with no line)
    line = wrong.read_text().splitlines().index('architecture = "aarch64"') + 1
    said = f"{wrong}:{line} [targets[2].architecture]: error ELF007 the binary is built for x86_64"
    assert said in validated.stdout and said in built.stdout
    assert validated.stdout.count("ELF007") == 1


@pytest.mark.rule("IN001", "SCH004")
def test_a_target_so_that_is_no_file_is_said_by_validate_and_refused_by_build(tmp_path: Path) -> None:
    """A target's so naming a loop of links ended `build --all` in 'internal error: RuntimeError:
    Symlink loop', and validate called it "not built yet"; a folder, a device or an empty so
    passed validate, which build then refused."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "loop.so").symlink_to("loop.so")
    cases = {
        "bin/loop.so": ("is a loop of symbolic links", "IN001"),
        "bin": ("is a folder", "IN001"),
        "/dev/null": ("is a character device", "IN001"),
        "": ("so is empty", "SCH004"),
    }
    for so, (said, code) in cases.items():
        toml = project(tmp_path, f'\n[[targets]]\nname = "t"\narchitecture = "x86_64"\nso = "{so}"\n')
        line = toml.read_text().splitlines().index(f'so = "{so}"') + 1
        checked = run_modpack("validate", toml)
        assert checked.returncode == 1, checked.stdout
        assert f"{toml}:{line} [targets[0].so]: error {code} " in checked.stdout, checked.stdout
        assert said in checked.stdout and "[targets[0].so]: info DECL010" not in checked.stdout
        built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
        assert built.returncode == 1, built.stdout + built.stderr  # as validate says, where it says
        assert f"{toml}:{line} [targets[0].so]: error {code} " in built.stdout, built.stdout
        assert "internal error" not in built.stderr and not (tmp_path / "dist").exists()


@pytest.mark.rule("DECL011")
def test_a_target_name_with_a_control_character_never_becomes_a_file_name(tmp_path: Path) -> None:
    """A [[targets]] name with a newline, put in the bundle's name by {target}, wrote a file whose
    name held it, and `wrote dist/hello-x86` was followed by a line of its own that GitHub reads as
    a workflow command (the README's CI job runs build --all)."""
    name = "x86\\n::error file=README.md::injected\\u001b[31m"
    targets = f'\n[[targets]]\nname = "{name}"\narchitecture = "x86_64"\nso = "{{so}}/x86_64/hello.so"\n'
    toml = project(tmp_path, targets)
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, 'output = "{module_name}-{target}.zip"', 1))
    checked = run_modpack("validate", toml)
    assert checked.returncode == 1, checked.stdout
    assert (
        "error DECL011 the output name 'hello-x86\\n::error file=README.md::injected\\x1b[31m.zip'"
        in checked.stdout
    )
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 1, built.stdout + built.stderr
    assert not (tmp_path / "dist").exists()
    lines = (built.stdout + built.stderr).splitlines()
    assert not any(line.startswith("::") for line in lines), lines


def test_a_target_s_min_redis_version_defaults_to_its_own_compatible_version(tmp_path: Path) -> None:
    """min_redis_version defaults to compatible_redis_version; a target giving compatible 7.2 under
    a [module] of 7.4 without a min was refused with VER007 "min_redis_version '7.4' is above
    compatible_redis_version '7.2'", a minimum nobody wrote, by validate and by build --all."""
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    text = text.replace('min_redis_version = "7.0"\n', "").replace('architecture = "x86_64"\n', "")
    assert "min_redis_version" not in text
    targets = '\n[[targets]]\nname = "old"\ncompatible_redis_version = "7.2"\nso = "{so}/x86_64/hello.so"\n'
    toml = tmp_path / "modpack.toml"
    toml.write_text(text + targets.format(so=SO))
    checked = run_modpack("validate", toml)
    assert checked.returncode == 0, checked.stdout
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert (module["min_redis_version"], module["compatible_redis_version"]) == ("7.2", "7.2")
    # a minimum written in [module] stays the module's, and the target is judged against it
    toml.write_text(
        text.replace("[module]\n", '[module]\nmin_redis_version = "7.4"\n', 1) + targets.format(so=SO)
    )
    assert "VER007" in run_modpack("validate", toml).stdout


@pytest.mark.rule("SCH004")
def test_a_target_without_a_name_is_said_once_where_written(tmp_path: Path) -> None:
    """`name = ""` passed validate (without {target} in the bundle name), and with {target} it got
    DECL011's "{target} only a [[targets]] entry's build fills" and its fix "add [[targets]]"."""
    empty = TARGETS.replace('name = "rhel9-aarch64"', 'name = ""')
    toml = project(tmp_path, empty)
    line = toml.read_text().splitlines().index('name = ""') + 1
    for output in ("", 'output = "{module_name}-{target}.zip"'):
        if output:
            so_line = next(x for x in toml.read_text().splitlines() if x.startswith("so = "))
            toml.write_text(toml.read_text().replace(so_line, output, 1))
        checked = run_modpack("validate", toml)
        assert checked.returncode == 1, checked.stdout
        assert f"{toml}:{line} [targets[2].name]: error SCH004 name is empty" in checked.stdout
        assert "DECL011" not in checked.stdout, checked.stdout


@pytest.mark.rule("DECL011")
def test_a_bundle_name_too_long_with_the_binary_s_oses_is_said_by_validate(tmp_path: Path) -> None:
    """validate judged the bundle name with the stand-in OS list 'any', where build fills in every
    OS the binary loads on: a long module name passed validate and build refused it (exit 2)."""
    name = "m" * 165
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    text = text.replace('name = "hello"', f'name = "{name}"').replace(
        'so = "../so/x86_64/hello.so"', f'so = "{SO}/x86_64/hello.so"\noutput = "{{module_name}}.{{os}}.zip"'
    )
    toml = tmp_path / "modpack.toml"
    toml.write_text(text)
    line = text.splitlines().index('output = "{module_name}.{os}.zip"') + 1
    checked = run_modpack("validate", toml)
    assert checked.returncode == 1, checked.stdout
    assert f"{toml}:{line} [build.output]: error DECL011 the output name is " in checked.stdout
    assert "bytes long (the limit is 200)" in checked.stdout
    built = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert built.returncode == 1 and not (tmp_path / "dist").exists(), built.stdout + built.stderr
    assert f"{toml}:{line} [build.output]: error DECL011 the output name is " in built.stdout  # as validate


def test_build_all_says_a_target_s_warning_once_where_validate_does(tmp_path: Path) -> None:
    """build --all said each of a target's warnings twice: at the target's entry, and again from
    the check of the module.json it writes, at [module] compatible_redis_version (a line holding
    another value) and at [platform] operating_systems (a table the file does not have)."""
    target = (
        '\n[[targets]]\nname = "t"\ncompatible_redis_version = "8.0.2"\n'
        'operating_systems = ["rhel9", "rhel9"]\nso = "{so}/x86_64/hello.so"\n'
    )
    toml = project(tmp_path, target)
    checked = run_modpack("validate", toml)
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    for done in (checked, built):
        assert "[targets[0].compatible_redis_version]: warning VER009" in done.stdout, done.stdout
        assert "[targets[0].operating_systems[1]]: warning PLT007" in done.stdout
        assert "[module.compatible_redis_version]" not in done.stdout
        assert "[platform.operating_systems" not in done.stdout
    assert built.stdout.count("VER009") == checked.stdout.count("VER009") == 1


@pytest.mark.rule("DECL011")
def test_target_in_the_name_with_build_so_too_says_what_to_do_with_the_targets(tmp_path: Path) -> None:
    """With [build] so and [[targets]] both, `{target}` in the name is refused for [build] so's
    bundle, and the fix said "add [[targets]]" to a file that has them."""
    (tmp_path / "so").mkdir()
    shutil.copy(SO / "x86_64" / "hello.so", tmp_path / "so" / "hello.so")
    toml = project(tmp_path, TARGETS)
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, 'so = "so/hello.so"\noutput = "{target}.zip"', 1))
    checked = run_modpack("validate", toml)
    assert "error DECL011 output name template '{target}.zip' uses {target}" in checked.stdout, checked.stdout
    assert (
        "fix: [build] so's bundle has no target: leave {target} out, or remove [build] so" in checked.stdout
    )
    assert "add [[targets]]" not in checked.stdout
    # without [build] so, `build --so X` builds a bundle of no target: the fix named [build] so
    toml.write_text(toml.read_text().replace('so = "so/hello.so"\n', "", 1))
    built = run_modpack("build", toml, "--so", tmp_path / "so" / "hello.so", "-o", tmp_path / "dist")
    assert built.returncode == 1, built.stdout + built.stderr
    assert "error DECL011 output name template '{target}.zip' uses {target}" in built.stdout, built.stdout
    assert (
        "fix: --so's bundle has no target: leave {target} out, or build the [[targets]] with --all"
        in built.stdout
    )
    assert "[build] so" not in built.stdout


@pytest.mark.redis
@pytest.mark.rule("LOAD003")
def test_load_true_in_a_targets_only_file_loads_each_target(tmp_path: Path) -> None:
    """`[validate] load = true` in a modpack.toml with [[targets]] and no [build] so: validate said
    LOAD025 ("set [build] so"), exit 1, while build --all loaded each target and wrote them."""
    require_redis()
    two = (
        '\n[[targets]]\nname = "el9"\noperating_systems = ["rhel9"]\nso = "{so}/x86_64/hello.so"\n'
        '\n[[targets]]\nname = "u22"\noperating_systems = ["ubuntu22"]\nso = "{so}/x86_64/hello.so"\n'
    )
    toml = project(tmp_path, two)
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, "", 1) + "\n[validate]\nload = true\n")
    checked = run_modpack("validate", toml)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "LOAD025" not in checked.stdout
    # loaded for each; the second target's binary is the first's, so the same line is said once
    assert "registered 5 commands (for [[targets]] 'el9')" in checked.stdout, checked.stdout
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.mark.rule("LOAD025", "LOAD024")
def test_load_of_a_targets_only_file_none_of_whose_targets_is_built_says_nothing_was_loaded(
    tmp_path: Path,
) -> None:
    """--load of a modpack.toml with [[targets]] and no [build] so, whose target binaries are not
    built: nothing was loaded and validate exited 0, where the same file with [build] so naming a
    missing binary says LOAD025."""
    toml = project(
        tmp_path, '\n[[targets]]\nname = "el9"\noperating_systems = ["rhel9"]\nso = "build/el9/hello.so"\n'
    )
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, "", 1))
    checked = run_modpack("validate", "--load", toml)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert (
        "error LOAD025 --load: nothing was loaded: modpack.toml names no module binary that exists"
        " ([build] so is not set, and no [[targets]] entry's so is built)"
    ) in checked.stdout
    assert "build/el9/hello.so is not built yet" in checked.stdout, checked.stdout
    quiet = run_modpack("validate", "--load-if-available", toml)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "info LOAD024 nothing was loaded" in quiet.stdout, quiet.stdout


@pytest.mark.rule("ELF007")
def test_a_literal_dollar_brace_from_double_dollar_is_judged_as_any_path(tmp_path: Path) -> None:
    """`$$` writes a literal `$`, so `bin/$${target}/hello.so` names a folder called ${target}; validate
    read the `${` left as a variable DECL003 had judged, and skipped the binary's checks (and the
    output template's), which build then failed on (ELF007)."""
    folder = tmp_path / "bin" / "${target}"
    folder.mkdir(parents=True)
    shutil.copy(SO / "x86_64" / "hello.so", folder / "hello.so")
    wrong = '\n[[targets]]\nname = "t"\narchitecture = "aarch64"\nso = "bin/$${{target}}/hello.so"\n'
    toml = project(tmp_path, wrong)
    checked = run_modpack("validate", toml)
    assert checked.returncode == 1, checked.stdout
    assert "[targets[0].architecture]: error ELF007 the binary is built for x86_64" in checked.stdout
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 1 and "ELF007" in built.stdout
    # validate of the folder: the binary the target names is checked once, as the target's
    # (it was also listed as a file of the folder: every finding of it twice, "2 files checked")
    (tmp_path / "bin" / "${target}" / "hello.so").unlink()
    shutil.copy(SO / "x86_64" / "execstack.so", folder / "hello.so")
    toml.write_text(toml.read_text().replace('architecture = "aarch64"', 'architecture = "x86_64"'))
    whole = run_modpack("validate", tmp_path)
    assert whole.stdout.count("ELF021") == 1 and "1 file checked" in whole.stdout, whole.stdout
    so_line = next(line for line in toml.read_text().splitlines() if line.startswith("so = "))
    toml.write_text(toml.read_text().replace(so_line, 'output = "{module_name}-$${x}.zip"', 1))
    assert (
        "error DECL011 output name template '{module_name}-${x}.zip' uses {x}"
        in run_modpack("validate", toml).stdout
    )


@pytest.mark.rule("DECL010")
def test_a_so_linking_into_a_build_folder_not_built_yet_is_not_built_yet(tmp_path: Path) -> None:
    """A target's so (or [build] so) that is a link into a build folder a fresh clone has not built
    yet: validate said IN001 "no module binary" ("Name the module's .so (a regular file) here")
    and exited 1, where a missing file is "not built yet" (DECL010, exit 0): a fresh clone's
    pre-commit failed on a correct path. build --all still refuses it, saying where the link goes."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "hello.so").symlink_to("../build/hello.so")
    toml = project(tmp_path, '\n[[targets]]\nname = "t"\narchitecture = "x86_64"\nso = "bin/hello.so"\n')
    line = toml.read_text().splitlines().index('so = "bin/hello.so"') + 1
    checked = run_modpack("validate", toml)
    assert checked.returncode == 0, checked.stdout
    said = "bin/hello.so (a link to '../build/hello.so') is not built yet"
    assert f"{toml}:{line} [targets[0].so]: info DECL010 " in checked.stdout and said in checked.stdout
    assert "IN001" not in checked.stdout
    built = run_modpack("build", toml, "--all", "-o", tmp_path / "dist")
    assert built.returncode == 1, built.stdout + built.stderr
    assert "is a symbolic link to '../build/hello.so', which does not exist" in built.stdout, built.stdout
    assert not (tmp_path / "dist").exists()

    so_line = next(x for x in toml.read_text().splitlines() if x.startswith("so = ") and "bin/" not in x)
    toml.write_text(toml.read_text().replace(so_line, 'so = "bin/hello.so"', 1))  # [build] so too
    checked = run_modpack("validate", toml)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count(said) == 2, checked.stdout  # the target's and [build] so's
