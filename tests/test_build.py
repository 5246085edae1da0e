"""`modpack build`: the README's example, determinism, layout, refusals, atomic writes."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from modpack import versions
from modpack.schema import check
from tests.support.cli import run_modpack
from tests.support.files import sha256
from tests.support.paths import FIXTURES, HELLO, SO

EXAMPLE = FIXTURES / "example"


def built(folder: Path) -> Path:
    bundles = list(folder.glob("*.zip"))
    assert len(bundles) == 1, bundles
    return bundles[0]


def test_example_builds_the_same_bytes_twice_and_from_another_folder(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    result = run_modpack("build", EXAMPLE, "-o", first)
    assert result.returncode == 0, result.stderr
    assert run_modpack("build", EXAMPLE, "-o", first).returncode == 0
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURES, copy / "fixtures")
    result = run_modpack("build", "fixtures/example", "-o", second, cwd=copy)
    assert result.returncode == 0, result.stderr
    assert sha256(built(first)) == sha256(built(second))
    assert "unchanged" in run_modpack("build", EXAMPLE, "-o", first).stdout


def test_source_date_epoch_sets_the_timestamps(tmp_path: Path) -> None:
    result = run_modpack("build", EXAMPLE, "-o", tmp_path, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(built(tmp_path)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_bundle_layout_and_module_json(tmp_path: Path) -> None:
    assert run_modpack("build", EXAMPLE, "-o", tmp_path).returncode == 0
    bundle = built(tmp_path)
    assert bundle.name == "hello.Linux-rhel8+rhel9+ubuntu20+ubuntu22+amzn2023-x86_64.1.2.3.zip"
    with zipfile.ZipFile(bundle) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["module.json", "hello.so"]
        assert [i.header_offset for i in infos] == sorted(i.header_offset for i in infos)
        assert (infos[1].external_attr >> 16) & 0o777 == 0o755
        assert infos[1].compress_type == zipfile.ZIP_DEFLATED
        module = json.loads(archive.read("module.json"))
        binary = archive.read("hello.so")
    assert binary == (SO / "x86_64" / "hello.so").read_bytes()
    assert check(module, "module") == []
    assert module["version"] == versions.encode(1, 2, 3) and isinstance(module["version"], int)
    assert module["sha256"] == hashlib.sha256(binary).hexdigest()
    assert module["architecture"] == "x86_64"
    assert list(module) == sorted(module)
    flags = {c["command_name"]: c["flags"] for c in module["commands"]}
    assert flags["hello.set"] == ["write", "denyoom", "module"]


def test_architecture_comes_from_the_binary(tmp_path: Path) -> None:
    toml = tmp_path / "modpack.toml"
    text = (EXAMPLE / "modpack.toml").read_text().replace('architecture = "x86_64"\n', "")
    toml.write_text(text.replace("../so/x86_64/hello.so", str(SO / "aarch64" / "hello.so")))
    result = run_modpack("build", toml, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(built(tmp_path / "out")) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["architecture"] == "aarch64"
    assert "rhel8" not in module["operating_systems"]  # Redis Enterprise ships rhel8 for x86_64 only


def test_declared_architecture_contradicting_the_binary_is_refused(tmp_path: Path) -> None:
    result = run_modpack("build", EXAMPLE, "--so", SO / "aarch64" / "hello.so", "-o", tmp_path / "out")
    assert result.returncode == 1
    assert "ELF" in result.stdout and "aarch64" in result.stdout
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


BAD_DECLARATIONS = {
    "toml syntax": (('name = "hello"', 'name = "hello'), "IN003", None),
    "no name": (
        ('name = "hello"                       # the name hello.c passes to RedisModule_Init\n', ""),
        "SCH001",
        "module.name",
    ),
    "semantic version 1.2": (('"1.2.3"', '"1.2"'), "VER001", "module.semantic_version"),
    "minor 100": (('"1.2.3"', '"1.100.3"'), "VER002", "module.semantic_version"),
    "arity 0": (("arity = 3", "arity = 0"), "CMD004", "commands[0].arity"),
    "unknown key": (('license = "MIT"', 'licence = "MIT"'), "DECL001", "module.licence"),
}


@pytest.mark.parametrize("case", BAD_DECLARATIONS, ids=str)
def test_bad_declarations_exit_1_naming_file_key_and_fix(tmp_path: Path, case: str) -> None:
    (old, new), code, key = BAD_DECLARATIONS[case]
    toml = tmp_path / "modpack.toml"
    text = (EXAMPLE / "modpack.toml").read_text()
    assert old in text
    toml.write_text(
        text.replace(old, new, 1).replace("../so/x86_64/hello.so", str(SO / "x86_64" / "hello.so"))
    )
    out = tmp_path / "out"
    result = run_modpack("build", toml, "-o", out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert str(toml) in result.stdout and code in result.stdout and "fix:" in result.stdout
    if key:
        assert f"[{key}]" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists()


def test_existing_different_bundle_needs_force(tmp_path: Path) -> None:
    assert run_modpack("build", EXAMPLE, "-o", tmp_path).returncode == 0
    bundle = built(tmp_path)
    bundle.write_bytes(b"something else")
    result = run_modpack("build", EXAMPLE, "-o", tmp_path)
    assert result.returncode == 1 and "--force" in result.stderr
    assert bundle.read_bytes() == b"something else"
    assert run_modpack("build", EXAMPLE, "-o", tmp_path, "--force").returncode == 0
    assert zipfile.is_zipfile(bundle)
    assert [p.name for p in tmp_path.iterdir()] == [bundle.name]  # no temporary file left behind


def test_name_template_cannot_leave_the_output_folder(tmp_path: Path) -> None:
    for template in ("../{module_name}.zip", "{module_name.__class__}.zip", "/tmp/x.zip", "{nope}.zip"):
        result = run_modpack("build", EXAMPLE, "-o", tmp_path, "--name", template)
        assert result.returncode == 2, (template, result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_missing_so_is_a_usage_error(tmp_path: Path) -> None:
    result = run_modpack("build", EXAMPLE, "--so", tmp_path / "nothing.so", "-o", tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_a_binary_name_that_is_no_so_name_is_reported_at_the_binary(tmp_path: Path) -> None:
    """module_file comes from the binary's file name when modpack.toml leaves it out; SCH006 about
    it was located at the [module] table of a modpack.toml that names no module_file."""
    so = tmp_path / "hello.so.debug"
    shutil.copyfile(SO / "x86_64" / "hello.so", so)
    result = run_modpack("build", EXAMPLE, "--so", so, "-o", tmp_path / "out")
    assert result.returncode == 1, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{so}: error SCH006 module_file 'hello.so.debug' does not name a .so file")
    assert f"module_file is not declared: it is the file name of {so}" in first
    assert "modpack.toml" not in result.stdout
    assert result.stdout.count("SCH006") == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # validate says what build will: it passed a [build] so that build then refused
    project = tmp_path / "named"
    shutil.copytree(EXAMPLE, project)
    (project / "modpack.toml").write_text(
        (EXAMPLE / "modpack.toml").read_text().replace('so = "../so/x86_64/hello.so"', f'so = "{so}"')
    )
    validated = run_modpack("validate", project / "modpack.toml")
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert validated.stdout.splitlines()[0] == first
    # declared, it is the declaration's finding, where the name is written
    project = tmp_path / "declared"
    shutil.copytree(EXAMPLE, project)
    toml = project / "modpack.toml"
    toml.write_text(
        toml.read_text()
        .replace("[module]\n", '[module]\nmodule_file = "hello.so.debug"\n', 1)
        .replace('so = "../so/x86_64/hello.so"', f'so = "{SO / "x86_64" / "hello.so"}"')
    )
    declared = run_modpack("build", project, "-o", tmp_path / "out2")
    assert declared.returncode == 1, declared.stdout + declared.stderr
    assert f"{toml}:" in declared.stdout and "SCH006" in declared.stdout
    assert "is not declared" not in declared.stdout


def test_the_binary_name_is_the_name_given_not_a_symlinks_target(tmp_path: Path) -> None:
    """build packs the binary under the name it was given (assemble: module_file = so.name), but
    SCH006 judged the symlink's resolved target: `--so hello.so` -> hello.so.1.0 was refused
    (and so was validate of [build] so = "hello.so"), and `--so hello.so.debug` -> real.so wrote
    a bundle the unpacker refuses, said by nothing."""
    shutil.copyfile(SO / "x86_64" / "hello.so", tmp_path / "hello.so.1.0")
    (tmp_path / "hello.so").symlink_to("hello.so.1.0")
    (tmp_path / "hello.so.debug").symlink_to("hello.so.1.0")
    versioned = run_modpack("build", EXAMPLE, "--so", tmp_path / "hello.so", "-o", tmp_path / "out")
    assert versioned.returncode == 0, versioned.stdout + versioned.stderr
    assert "SCH006" not in versioned.stdout
    assert [n for n in zipfile.ZipFile(built(tmp_path / "out")).namelist() if n.endswith(".so")] == [
        "hello.so"
    ]
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    toml = project / "modpack.toml"
    toml.write_text(toml.read_text().replace('so = "../so/x86_64/hello.so"', 'so = "../hello.so"'))
    validated = run_modpack("validate", toml)
    assert validated.returncode == 0 and "SCH006" not in validated.stdout, validated.stdout

    debug = tmp_path / "hello.so.debug"
    refused = run_modpack("build", EXAMPLE, "--so", debug, "-o", tmp_path / "out2")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    first = refused.stdout.splitlines()[0]
    assert first.startswith(f"{debug}: error SCH006 module_file 'hello.so.debug' does not name a .so file")
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


WRONG_PLACE = {
    # (what is moved or written, where it lands): the fix a user reads
    "operating_systems under [module]": (
        ("[module]\n", '[module]\noperating_systems = ["rhel9"]\n'),
        "module.operating_systems",
        "fix: operating_systems belongs in [platform], not [module]: move it there.",
    ),
    "so under [module], also a [[targets]] key": (
        ("[module]\n", '[module]\nso = "hello.so"\n'),
        "module.so",
        "fix: so belongs in [build], not [module]: move it there.",
    ),
    "module.json's module_name": (
        ("[module]\n", '[module]\nmodule_name = "hello"\n'),
        "module.module_name",
        "fix: modpack.toml calls it name, under [module]: write name = ... there.",
    ),
    "module.json's version": (
        ("[module]\n", "[module]\nversion = 10203\n"),
        "module.version",
        "fix: modpack.toml computes version from semantic_version",
    ),
    "a [module] key above every table": (
        ("[module]\n", 'display_name = "Hello"\n[module]\n'),
        "display_name",
        "fix: display_name belongs in [module]: move it there.",
    ),
    "ramp.yml's module_name above every table": (
        ("[module]\n", 'module_name = "hello"\n[module]\n'),
        "module_name",
        "fix: modpack.toml calls it name, under [module]: write name = ... there.",
    ),
    "ramp.yml's os under [module]": (
        ("[module]\n", '[module]\nos = "rhel9"\n'),
        "module.os",
        "fix: It is operating_systems, under [platform]: write operating_systems = [...] there.",
    ),
    "a misspelling keeps its own hint": (
        ('license = "MIT"', 'licence = "MIT"'),
        "module.licence",
        "fix: Did you mean 'license'?",
    ),
}


@pytest.mark.parametrize("case", WRONG_PLACE, ids=str)
def test_a_key_in_the_wrong_table_says_where_it_belongs(tmp_path: Path, case: str) -> None:
    """`operating_systems` under [module] got "Remove the key or correct its spelling", though
    [platform] takes it; module.json's own names got the same."""
    (old, new), key, fix = WRONG_PLACE[case]
    toml = tmp_path / "modpack.toml"
    toml.write_text((EXAMPLE / "modpack.toml").read_text().replace(old, new, 1))
    result = run_modpack("validate", toml)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if f"[{key}]: error DECL001" in line)
    assert lines[at + 1].strip().startswith(fix), lines[at : at + 2]


def test_module_json_with_modpack_tomls_name_says_module_name(tmp_path: Path) -> None:
    bundle = tmp_path / "out"
    assert run_modpack("build", EXAMPLE, "-o", bundle).returncode == 0
    document = json.loads(zipfile.ZipFile(built(bundle)).read("module.json"))
    document["name"] = document.pop("module_name")
    module = tmp_path / "module.json"
    module.write_text(json.dumps(document, indent=1))
    result = run_modpack("validate", module)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "[name]: warning SCH003 unknown key 'name'" in line)
    assert lines[at + 1].strip() == (
        "fix: Here the field is called 'module_name' (modpack.toml's [module] calls it 'name'):"
        " write module_name."
    )


@pytest.mark.parametrize(
    ("name", "what", "next_step"),
    [
        ("hello.so", "is a module binary", "modpack init --discover"),
        ("hello.zip", "is a bundle", "modpack init --from"),
        ("module.json", "is a module.json", "modpack init --from"),
        ("no-suffix", "is a module binary", "--so"),  # by its first bytes
    ],
)
def test_a_file_build_does_not_take_is_named_for_what_it_is(
    tmp_path: Path, name: str, what: str, next_step: str
) -> None:
    """`modpack build hello.so` read the binary as TOML: "holds a NUL byte ... save it as UTF-8",
    exit 1, as if the user's declarations had findings."""
    given = tmp_path / name
    if name == "hello.zip":
        done = run_modpack("build", EXAMPLE, "-o", tmp_path / "dist")
        assert done.returncode == 0, done.stderr
        shutil.copy(next((tmp_path / "dist").glob("*.zip")), given)
    elif name == "module.json":
        given.write_text('{"module_name": "hello"}\n')
    else:
        shutil.copy(HELLO, given)
    done = run_modpack("build", given, "-o", tmp_path / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{given} {what}" in done.stderr and next_step in done.stderr, done.stderr
    assert "NUL byte" not in done.stderr and not (tmp_path / "out").exists()


def test_a_modpack_toml_whose_first_key_starts_with_pk_is_still_read(tmp_path: Path) -> None:
    """The bundle test reads the zip signature PK\\x03\\x04, not "PK": a TOML may begin with PKG."""
    toml = tmp_path / "hello.toml"
    toml.write_text("PKG = 1\n")
    done = run_modpack("build", toml, "-o", tmp_path / "out")
    assert "is a bundle" not in done.stderr
    assert "PKG" in done.stdout + done.stderr, done.stdout + done.stderr
