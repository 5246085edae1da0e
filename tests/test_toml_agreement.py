"""`modpack build` refuses exactly when `modpack validate` fails: duplicate [[targets]] names,
variables with no value where they are used, and rule codes in [validate] that match no rule,
each reported by validate with its rule code and location, and named with where it came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.paths import CASES, FIXTURES, SO

EXAMPLE = (FIXTURES / "example" / "modpack.toml").read_text()
BUILD_SO = 'so = "../so/x86_64/hello.so"\n'


def project(folder: Path, *, so: str | None = None, extra: str = "") -> Path:
    """The example modpack.toml in `folder`, [build] so replaced by `so` (absolute by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    given = so if so is not None else str(SO / "x86_64" / "hello.so")
    assert BUILD_SO in EXAMPLE
    (folder / "modpack.toml").write_text(EXAMPLE.replace(BUILD_SO, f"so = {json.dumps(given)}\n") + extra)
    return folder


def target(name: str, arch: str, so: str | None = None, systems: str = "") -> str:
    path = so or str(SO / arch / "hello.so")
    return f'\n[[targets]]\nname = "{name}"\n{systems}architecture = "{arch}"\nso = {json.dumps(path)}\n'


def findings(folder: Path, *args: str) -> tuple[int, list[dict[str, object]]]:
    """`modpack validate FOLDER --format json`: its exit status and every finding."""
    done = run_modpack("validate", folder, "--format", "json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    return done.returncode, [f for file in report["files"] for f in file["findings"]]


def located(found: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(f["code"], f["location"]["path"]) for f in found]  # type: ignore[index]


# --- two [[targets]] with one name ------------------------------------------------------------


@pytest.mark.rule("DECL008")
def test_two_targets_with_one_name_fail_validate_at_the_second(tmp_path: Path) -> None:
    folder = project(
        tmp_path / "t1", extra=target("arm", "aarch64") + target("x86", "x86_64") + target("arm", "aarch64")
    )
    rc, found = findings(folder)
    assert rc == 1
    assert located(found) == [("DECL008", "targets[2].name")]
    (finding,) = found
    assert finding["message"] == "two [[targets]] are named 'arm': this one and targets[0]"
    assert finding["fix"] == "Give each [[targets]] entry its own name."
    lines = (folder / "modpack.toml").read_text().splitlines()
    second = [n for n, line in enumerate(lines, start=1) if line == 'name = "arm"'][1]
    assert finding["location"]["line"] == second  # type: ignore[index]


@pytest.mark.parametrize("choice", [("--all",), ("--target", "x86"), ("--target", "nope")])
def test_build_refuses_two_targets_with_one_name_with_validate_s_finding(
    tmp_path: Path, choice: tuple[str, ...]
) -> None:
    folder = project(
        tmp_path / "t1", extra=target("arm", "aarch64") + target("x86", "x86_64") + target("arm", "aarch64")
    )
    done = run_modpack("build", folder, "-o", tmp_path / "out", *choice)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DECL008" in done.stdout and "[targets[2].name]" in done.stdout
    assert not (tmp_path / "out").exists()


def test_targets_with_their_own_names_are_no_finding(tmp_path: Path) -> None:
    folder = project(tmp_path / "t", extra=target("arm", "aarch64") + target("x86", "x86_64"))
    assert findings(folder) == (0, [])


# --- variables with no value where they are used ----------------------------------------------


@pytest.mark.rule("DECL003")
@pytest.mark.parametrize("extra", ["", target("arm", "aarch64")], ids=["no-targets", "with-targets"])
def test_a_per_target_variable_in_build_so_fails_validate_and_build_alike(tmp_path: Path, extra: str) -> None:
    folder = project(tmp_path / "t2", so="${arch}/hello.so", extra=extra)
    rc, found = findings(folder)
    assert rc == 1
    assert located(found) == [("DECL003", "build.so")]
    assert found[0]["message"] == "${arch} has no value here: only a [[targets]] entry's so expands it"
    assert "[[targets]]" in str(found[0]["fix"])
    done = run_modpack("build", folder, "-o", tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DECL003" in done.stdout and "does not exist" not in done.stderr


@pytest.mark.parametrize(
    ("place", "old", "new"),
    [
        ("module.description", 'description = "', 'description = "${os} '),
        ("module.command_line_args", 'command_line_args = ""', 'command_line_args = "${target}"'),
        ("commands[0].name", 'name = "hello.set"', 'name = "hello.${arch}"'),
    ],
)
def test_a_per_target_variable_anywhere_but_a_target_s_so_is_a_finding(
    tmp_path: Path, place: str, old: str, new: str
) -> None:
    folder = project(tmp_path / "p")
    path = folder / "modpack.toml"
    path.write_text(path.read_text().replace(old, new, 1))
    rc, found = findings(folder)
    assert rc == 1 and ("DECL003", place) in located(found), found


def test_a_per_target_variable_in_the_output_template_points_at_the_template_s_field(tmp_path: Path) -> None:
    folder = project(tmp_path / "p", extra="")
    path = folder / "modpack.toml"
    path.write_text(path.read_text().replace("[build]\n", '[build]\noutput = "hello-${arch}.zip"\n'))
    rc, found = findings(folder)
    assert rc == 1 and located(found) == [("DECL003", "build.output")]
    assert "{architecture}" in str(found[0]["fix"])


def test_a_target_variable_the_entry_gives_no_value_is_a_finding(tmp_path: Path) -> None:
    no_arch = f'\n[[targets]]\nname = "a"\nso = "{SO}/${{arch}}/hello.so"\n'
    no_os = target("b", "aarch64", so=f"{SO}/${{arch}}/${{os}}hello.so", systems="operating_systems = []\n")
    folder = project(tmp_path / "p", extra=no_arch + no_os)
    rc, found = findings(folder)
    assert rc == 1
    # an empty operating_systems declares no OS: PLT005 says it too
    assert located(found) == [
        ("DECL003", "targets[0].so"),
        ("DECL003", "targets[1].so"),
        ("PLT005", "targets[1].operating_systems"),
    ]
    assert [f["message"] for f in found] == [
        "${arch} has no value: [[targets]] 'a' gives no architecture",
        "${os} has no value: [[targets]] 'b' gives no operating_systems",
        "operating_systems is empty",
    ]
    done = run_modpack("build", folder, "-o", tmp_path / "out", "--all")
    assert done.returncode == 1 and "DECL003" in done.stdout, done.stdout + done.stderr


def test_per_target_variables_in_a_target_s_so_and_a_literal_dollar_are_no_finding(tmp_path: Path) -> None:
    folder = project(
        tmp_path / "p",
        extra=target(
            "aarch64", "aarch64", so=f"{SO}/${{arch}}/hello.so", systems='operating_systems = ["rhel9"]\n'
        )
        + target("x86_64", "x86_64", so=f"{SO}/${{target}}/hello.so"),
    )
    path = folder / "modpack.toml"
    path.write_text(path.read_text().replace('description = "', 'description = "costs $${arch} '))
    assert findings(folder) == (0, [])
    done = run_modpack("build", folder, "-o", tmp_path / "out", "--all")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_doubled_dollar_in_a_target_s_so_is_a_literal_dollar(tmp_path: Path) -> None:
    """`$$` is a literal `$` (README), but a target's so had its `$$` undone before ${target} was
    expanded: `$${target}/hello.so` looked for x86/hello.so, not the folder named `${target}`."""
    folder = project(tmp_path / "p", extra=target("x86", "x86_64", so="$${target}/hello.so"))
    (folder / "${target}").mkdir()
    shutil.copyfile(SO / "x86_64" / "hello.so", folder / "${target}" / "hello.so")
    assert findings(folder) == (0, [])
    done = run_modpack("build", folder, "-o", tmp_path / "out", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "${target}" not in done.stdout  # nothing said of it: the folder was found


# --- rule codes in [validate] -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["ignore", "select"])
def test_an_unknown_code_in_the_nearest_modpack_toml_names_the_file_and_key(tmp_path: Path, key: str) -> None:
    nearest = tmp_path / "nearest"
    (nearest / "sub").mkdir(parents=True)
    (nearest / "modpack.toml").write_text(f'[validate]\n{key} = ["CMD013", "CMD99"]\n')
    done = run_modpack("validate", "x.zip", cwd=nearest / "sub")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"no rule matches 'CMD99' in [validate] {key} of {nearest / 'modpack.toml'}" in done.stderr


@pytest.mark.parametrize("option", ["--ignore", "--select"])
def test_an_unknown_code_on_the_command_line_names_its_option(tmp_path: Path, option: str) -> None:
    done = run_modpack("validate", "x.zip", option, "CMD013,CMD99", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"no rule matches 'CMD99' given to {option}" in done.stderr


def test_an_unset_variable_in_the_nearest_validate_table_is_named_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "modpack.toml").write_text('[validate]\nignore = ["${MODPACK_TEST_UNSET_CODE}"]\n')
    done = run_modpack("validate", "x.zip", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "[validate.ignore[0]]: the environment variable MODPACK_TEST_UNSET_CODE is not set" in done.stderr
    set_ = run_modpack("validate", "x.zip", cwd=tmp_path, env={"MODPACK_TEST_UNSET_CODE": "CMD013"})
    assert set_.returncode == 1 and "IN001" in set_.stdout, set_.stdout + set_.stderr


@pytest.mark.rule("DECL009")
def test_an_unknown_code_in_the_built_file_fails_build_as_validate_fails(tmp_path: Path) -> None:
    folder = project(tmp_path / "p", extra='\n[validate]\nignore = ["CMD013", "cmd99"]\n')
    rc, found = findings(folder)
    assert rc == 1 and located(found) == [("DECL009", "validate.ignore[1]")]
    assert found[0]["message"] == "[validate] ignore names 'cmd99', which matches no rule"
    done = run_modpack("build", folder, "-o", tmp_path / "out")
    assert done.returncode == 1 and "DECL009" in done.stdout, done.stdout + done.stderr
    # From its own folder too: the file's own table is its finding, not the run's usage error
    inside = run_modpack("validate", "modpack.toml", cwd=folder)
    assert inside.returncode == 1 and "DECL009" in inside.stdout, inside.stdout + inside.stderr
    # a select that selects no rule hid every finding, DECL009 included: build wrote the bundle
    # of a module whose version reads back as another (VER002) and exited 0
    text = (
        (folder / "modpack.toml").read_text().replace('ignore = ["CMD013", "cmd99"]', 'select = ["ZIP,CMD"]')
    )
    (folder / "modpack.toml").write_text(
        text.replace('semantic_version = "1.2.3"', 'semantic_version = "1.2.300"')
    )
    done = run_modpack("build", folder, "-o", tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error DECL009 [validate] select names 'ZIP,CMD', which matches no rule" in done.stdout
    assert not (tmp_path / "out").exists()


def test_codes_prefixes_and_rule_names_in_validate_are_no_finding(tmp_path: Path) -> None:
    folder = project(
        tmp_path / "p", extra='\n[validate]\nselect = ["cmd", "zero-step", "DECL0"]\nignore = ["CMD013"]\n'
    )
    assert findings(folder) == (0, [])
    done = run_modpack("validate", "modpack.toml", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_target_field_of_another_type_is_the_schema_s_finding_alone(tmp_path: Path) -> None:
    """architecture = [{}] crashed expanding the target's so (str.replace with a list)."""
    wrong = f'\n[[targets]]\nname = "a"\narchitecture = [{{}}]\nso = "{SO}/${{arch}}/hello.so"\n'
    rc, found = findings(project(tmp_path / "p", extra=wrong))
    assert rc == 1 and located(found) == [("SCH002", "targets[0].architecture")], found


def test_rule_names_select_and_ignore_whatever_their_case(tmp_path: Path) -> None:
    """`textrel` (ELF023's name) was upper-cased as if it were a code family and matched no rule:
    a correct [validate] ignore was refused (exit 2, and DECL009 in build)."""
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "modpack.toml").write_text('[validate]\nignore = ["textrel", "Movablekeys"]\n')
    module = folder / "module.json"
    module.write_text((CASES / "good" / "module-json" / "module.json").read_text())
    done = run_modpack("validate", module, "--ignore", "zero-step", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no rule matches" not in done.stderr
    checked = run_modpack("validate", "--config", folder / "modpack.toml", folder / "modpack.toml")
    assert "DECL009" not in checked.stdout, checked.stdout


def test_each_file_takes_the_validate_table_nearest_it_not_the_current_folder_s(tmp_path: Path) -> None:
    """From a repository's root a module's own [validate] was not read (the root has no
    modpack.toml): `ignore` there was not applied to its modpack.toml, nor to a module.json beside
    it, while `modpack build` of the module applied it. --config still names one for every file."""
    module = project(tmp_path / "repo" / "mod", extra='\n[validate]\nignore = ["VER009"]\n')
    text = (
        (module / "modpack.toml")
        .read_text()
        .replace('compatible_redis_version = "7.4"', 'compatible_redis_version = "7.4.1"')
    )
    (module / "modpack.toml").write_text(text)
    document = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    (module / "module.json").write_text(json.dumps({**document, "compatible_redis_version": "7.4.1"}))
    root = tmp_path / "repo"
    for name in ("mod/modpack.toml", "mod/module.json"):
        done = run_modpack("validate", name, "--strict", cwd=root)
        assert done.returncode == 0 and "VER009" not in done.stdout, done.stdout + done.stderr
    other = tmp_path / "other.toml"
    other.write_text("[validate]\nstrict = true\n")
    given = run_modpack("validate", "mod/module.json", "--config", other, cwd=root)
    assert given.returncode == 1 and "VER009" in given.stdout, given.stdout + given.stderr
    alone = tmp_path / "alone" / "module.json"  # no modpack.toml above it: the command line's alone
    alone.parent.mkdir()
    alone.write_text((module / "module.json").read_text())
    assert run_modpack("validate", alone, "--strict", cwd=root).returncode == 1


def test_settings_and_files_as_build_reads_them_whatever_the_order_and_links(tmp_path: Path) -> None:
    """A review of the per-file settings: the current folder's table was still read (an unknown
    code there failed a run of files with tables of their own); a broken table failed a run or
    not by the order of the files; a modpack.toml linked from another folder was checked once
    though each folder's [build] so names another binary; a linked modpack.toml's own table was
    not read, though build reads it."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "modpack.toml").write_text('[validate]\nignore = ["NOPE999"]\n')  # no file under it takes it
    project(root / "mod", extra='\n[validate]\nignore = ["VER009"]\n')
    done = run_modpack("validate", "mod/modpack.toml", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr

    broken = project(root / "broken", extra='\n[validate]\nignore = ["NOPE999"]\n')
    shutil.copyfile(CASES / "good" / "module-json" / "module.json", broken / "module.json")
    orders = [["broken/module.json", "broken/modpack.toml"], ["broken/modpack.toml", "broken/module.json"]]
    outcomes = {run_modpack("validate", *order, cwd=root).returncode for order in orders}
    assert outcomes == {2}  # the module.json's table is unusable, whatever comes first

    # Two folders linking one modpack.toml: each [build] so is its own folder's
    shared = EXAMPLE.replace(BUILD_SO, 'so = "m.so"\n')
    (root / "configs").mkdir()
    (root / "configs" / "modpack.toml").write_text(shared + "\n[validate]\nstrict = true\n")
    for name, so in (("good", SO / "x86_64" / "hello.so"), ("bad", SO / "aarch64" / "hello.so")):
        (root / name).mkdir()
        (root / name / "modpack.toml").symlink_to("../configs/modpack.toml")
        shutil.copyfile(so, root / name / "m.so")
    both = run_modpack("validate", "good", "bad", cwd=root)
    assert both.returncode == 1 and "2 files checked" in both.stdout, both.stdout + both.stderr
    assert "bad/modpack.toml:21 [platform.architecture]: error ELF007" in both.stdout  # bad's own binary
    assert "ELF007" in both.stdout  # the aarch64 binary against the declared x86_64
    built = run_modpack("build", "good", "-o", tmp_path / "dist", cwd=root)  # strict from the linked table
    alone = run_modpack("validate", "good", cwd=root)
    assert (built.returncode == 0) == (alone.returncode == 0), built.stdout + built.stderr + alone.stdout


@pytest.mark.parametrize(
    ("old", "new", "code", "path"),
    [
        pytest.param(
            'min_redis_version = "7.0"',
            'min_redis_version = ""',
            "SCH004",
            "module.min_redis_version",
            marks=pytest.mark.rule("SCH004"),
            id="empty-min-redis-version",
        ),
        pytest.param(
            "[[commands]]",
            '[[targets]]\nname = "t"\nso = "hello.so"\nmin_redis_version = ""\n\n[[commands]]',
            "SCH004",
            "targets[0].min_redis_version",
            marks=pytest.mark.rule("SCH004"),
            id="empty-target-min-redis-version",
        ),
        pytest.param(
            'name = "hello"',
            f'name = "{"h" * 150}"',
            "DECL011",
            "module.name",
            marks=pytest.mark.rule("DECL011"),
            id="default-name-too-long",
        ),
    ],
)
def test_what_build_refuses_validate_refuses_at_the_same_place(
    tmp_path: Path, old: str, new: str, code: str, path: str
) -> None:
    """An empty min_redis_version, and a module name that makes the default bundle name longer
    than 200 bytes, passed validate; build refused them (SCH004; 'the output name is 212 bytes
    long', exit 2, naming no file)."""
    folder = project(tmp_path / "p")
    toml = folder / "modpack.toml"
    assert old in toml.read_text()
    toml.write_text(toml.read_text().replace(old, new, 1))
    rc, found = findings(folder)
    assert rc == 1 and (code, path) in located(found), located(found)
    built = run_modpack("build", folder, "-o", tmp_path / "out")
    assert built.returncode == 1, built.stdout + built.stderr
    assert f"[{path}]: error {code}" in built.stdout, built.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.rule("DECL003")
@pytest.mark.parametrize("written", ["${SODIR:-/opt}", "${}", "${SODIR", "${ SODIR }"])
def test_a_shell_form_of_a_variable_is_said_not_kept_in_silence(tmp_path: Path, written: str) -> None:
    """Only ${NAME} is expanded: ${SODIR:-/opt} (a shell default), ${}, an unclosed ${SODIR or
    ${ SODIR } went into module.json as written (author), or made [build] so a file 'not built
    yet', with no finding."""
    folder = project(tmp_path / "p")
    toml = folder / "modpack.toml"
    toml.write_text(
        toml.read_text().replace('author = "modpack"', f"author = {json.dumps(written + 'x')}", 1)
    )
    rc, found = findings(folder)
    assert rc == 1 and ("DECL003", "module.author") in located(found), located(found)
    [said] = [f for f in found if f["code"] == "DECL003"]
    assert "is no variable modpack expands: only ${NAME} is" in str(said["message"])
    built = run_modpack("build", folder, "-o", tmp_path / "out")
    assert built.returncode == 1 and "DECL003" in built.stdout, built.stdout + built.stderr
    assert not (tmp_path / "out").exists()
