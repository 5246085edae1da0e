"""RAMP compatibility: real manifests, `modpack ramp-pack`, and real RAMP (`init --from ramp.yml`:
test_init.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from modpack.validate import validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import CASES, HELLO, RAMP_EXAMPLES
from tests.support.tools import needs_manifests, require_redis

MANIFESTS = RAMP_EXAMPLES

# The findings each real manifest deserves, and why.
MANIFEST_FINDINGS = {
    # RAMP's own examples: no compatible_redis_version (RAMP then writes "7.4" silently), and an
    # override and an addition that carry only command_name: module.json would lack the arity
    # the Redis Enterprise proxy reads as a required key (ramp.md §3.2).
    "RAMP__example.manifest.yml": ["VER006", "CMD005", "CMD006", "CMD005", "CMD006"],
    "RAMP__example2.manifest.yml": ["VER006", "CMD005", "CMD006", "CMD005", "CMD006"],
    # Module repositories keep the "99.99" development placeholder in compatible_redis_version.
    # RediSearch's negative-step routing overrides are accepted as routing policies.
    "RediSearch__pack__ramp-enterprise.yml": ["VER010"],
    "RedisBloom__pack__ramp.yml": ["VER010"],
    "RedisJSON__pack__ramp.yml": ["VER010"],
}

HELLO_MANIFEST = (CASES / "good" / "ramp-yml" / "ramp.yml").read_text()


@needs_manifests
@pytest.mark.parametrize("name", sorted(MANIFEST_FINDINGS))
def test_real_manifest_gets_what_it_deserves(name: str) -> None:
    report = validate_paths([MANIFESTS / name])
    assert sorted(f.code for f in report.findings()) == sorted(MANIFEST_FINDINGS[name])


@pytest.mark.redis
def test_override_matching_nothing_is_an_error(tmp_path: Path) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST + "overide_command:\n    - {command_name: hello.nothing, command_arity: 2}\n"
    )
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest, "--discover", HELLO)
    assert result.returncode == 1
    # at its line, as build and ramp-pack say it (init said `ramp.yml [overide_command[0]]`)
    line = HELLO_MANIFEST.count("\n") + 2
    assert f"ramp.yml:{line} [overide_command[0]]: error DECL004" in result.stdout, result.stdout
    assert "hello.nothing" in result.stdout
    result = run_modpack("ramp-pack", "-m", manifest, "-o", tmp_path / "x.zip", HELLO)
    assert result.returncode == 1 and "DECL004" in result.stdout
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.redis
@pytest.mark.rule("LOAD028")
# hello.mget: near hello.get, and a real command of modules that have both (json.mget, json.get)
@pytest.mark.parametrize("name", ["hello.nothing", "hello.mget"])
def test_an_exclusion_the_module_lacks_is_judged_alike_by_every_command(tmp_path: Path, name: str) -> None:
    """A name no command of this build has is information, as `validate --load` said it (LOAD028:
    a light build lacks commands its manifest excludes), where init, ramp-pack and build --discover
    refused it (DECL004) and build refused what validate passed. A name near a registered one is
    no typo for sure (hello.mget beside hello.get): information too."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + f"exclude_commands:\n    - {name}\n")
    line = HELLO_MANIFEST.count("\n") + 2
    said = f"ramp.yml:{line} [exclude_commands[0]]: info LOAD028 exclude_commands names {name!r}"
    for command in (
        ("init", tmp_path / "modpack.toml", "--from", manifest, "--discover", HELLO),
        ("ramp-pack", "-m", manifest, "-o", tmp_path / "x.zip", HELLO),
        ("build", manifest, "--discover", "--so", HELLO, "-o", tmp_path / "dist"),
    ):
        result = run_modpack(*command)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        if command[0] != "init":  # init says what stops it, not information
            assert said in result.stdout, (command, result.stdout)
    with zipfile.ZipFile(tmp_path / "x.zip") as packed:
        module = json.loads(packed.read("module.json"))
    assert module["exclude_commands"] == [name]
    loaded = run_modpack("validate", "--load", tmp_path / "x.zip")
    assert loaded.returncode == 0 and f"info LOAD028 exclude_commands names {name!r}" in loaded.stdout


@pytest.mark.redis
def test_an_exclusion_listed_in_each_spelling_is_no_error(tmp_path: Path) -> None:
    """RAMP excludes by exact name, so real manifests list both spellings (RedisGears:
    tconfig_set and TCONFIG_SET): the spelling the module does not register was DECL004, an
    error that stopped every build of such a manifest. Only the spelling alone is still one: RAMP
    then keeps the command."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + "exclude_commands:\n    - hello.ping\n    - HELLO.PING\n")
    built = run_modpack("build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        commands = {c["command_name"] for c in json.loads(archive.read("module.json"))["commands"]}
    assert "hello.ping" not in commands and "hello.get" in commands
    manifest.write_text(HELLO_MANIFEST + "exclude_commands:\n    - HELLO.PING\n")
    alone = run_modpack("build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "dist2")
    assert alone.returncode == 1
    assert (
        "DECL004 exclude_commands names 'HELLO.PING', which the module registers as 'hello.ping'; RAMP"
        " matches names exactly, so the command is not excluded"
    ) in alone.stdout


@pytest.mark.redis
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("exclude_commands: hello.get", '`exclude_commands` is a string ("hello.get"); expected an array'),
        ("exclude_commands: 5", "`exclude_commands` is an integer (5); expected an array"),
        ("overide_command:\n    command_name: hello.get", "`overide_command` is an object"),
        ("add_command: true", "`add_command` is a boolean (true); expected an array"),
    ],
)
def test_a_command_edit_that_is_not_a_list_is_one_clear_error(
    tmp_path: Path, edit: str, message: str
) -> None:
    """RAMP walks a string exclude_commands letter by letter (and a number not at all): init said
    "exclude_commands names 'h', which the module does not register" once per letter, and ended
    in an internal TypeError on a number. Now one SCH002, as validate says it, and nothing written.
    ramp-pack, which checks the manifest and then applies its edits, said it twice (with another
    fix for an overide_command mapping): once, with validate's fix, there too."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + edit + "\n")
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest, "--discover", HELLO)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("error SCH002") == 1 and message in result.stdout
    assert "DECL004" not in result.stdout and "internal error" not in result.stderr
    assert not (tmp_path / "modpack.toml").exists()
    validated = run_modpack("validate", manifest)
    said = next(line for line in validated.stdout.splitlines() if "error SCH002" in line)
    fix = validated.stdout.splitlines()[validated.stdout.splitlines().index(said) + 1]
    packed = run_modpack("ramp-pack", "-m", manifest, HELLO, "-o", tmp_path / "m.zip")
    assert packed.returncode == 1 and "internal error" not in packed.stderr, packed.stdout + packed.stderr
    assert packed.stdout.count("error SCH002") == 1 and f"{said}\n{fix}\n" in packed.stdout, packed.stdout
    assert f"{said.split(': error')[1]}\n{fix}\n" in result.stdout, result.stdout  # init's fix too
    assert not (tmp_path / "m.zip").exists()


@pytest.mark.redis
@pytest.mark.rule("DECL004")
def test_an_override_of_an_excluded_command_is_said_once_as_what_it_is(tmp_path: Path) -> None:
    """An override of a command exclude_commands names matches nothing, because RAMP excludes
    first: ramp-pack said so, then "overide_command 'hello.get' matches 0 commands", a second
    finding of the same mistake that sent the user looking for a misspelt name (init --from and
    `ramp-pack -E` said only that one)."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    override = '{"command_name": "hello.get", "command_arity": 2, "flags": ["readonly"], "first_key": 1, "last_key": 1, "step": 1}'
    manifest.write_text(HELLO_MANIFEST + f"exclude_commands: [hello.get]\noveride_command:\n  - {override}\n")
    said = (
        "error DECL004 overide_command 'hello.get' overrides a command exclude_commands leaves out: RAMP"
        " excludes first, so the override matches nothing and module.json carries neither"
    )
    packed = run_modpack("ramp-pack", "-m", manifest, HELLO, "-o", tmp_path / "m.zip")
    made = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest, "--discover", HELLO)
    options = run_modpack(
        "ramp-pack", HELLO, "-E", "hello.get", "--overide-command", override, "-o", tmp_path / "o.zip"
    )
    for done in (packed, made, options):
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout.count("DECL004") == 1 and said in done.stdout, done.stdout
        assert "matches 0 commands" not in done.stdout


@pytest.mark.redis
def test_ramp_pack_takes_ramp_options(tmp_path: Path) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST)
    out = tmp_path / "out" / "{module_name}.{os}-{architecture}.{semantic_version}.zip"
    result = run_modpack(
        "ramp-pack", "-m", manifest, "-o", out, "-C", "types,clustering,flash", "-cr", "7.4", HELLO
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = tmp_path / "out" / "hello.Linux-x86_64.1.2.3.zip"
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["capabilities"] == ["types", "clustering", "flash"] and module["version"] == 10203
    assert validate_paths([bundle]).findings() == []
    printed = run_modpack("ramp-pack", "-P", "-m", manifest, "-o", out, HELLO)
    assert printed.stdout.strip() == str(bundle)  # output.format(...), as RAMP prints it: folder too


def ramp_available() -> bool:
    return (
        subprocess.run(
            [sys.executable, "-c", "import RAMP.ramp"], capture_output=True, check=False
        ).returncode
        == 0
    )


@pytest.mark.redis
def test_real_ramp_zip_differs_only_by_ramps_defects(tmp_path: Path) -> None:
    """A bundle packed by the real RAMP (ramp-packer from PyPI) and one by modpack, same manifest."""
    require_redis()
    if not ramp_available():
        pytest.fail("ramp-packer is not installed; `pip install -e .[test]` installs it")
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST)
    (tmp_path / "ramp").mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "RAMP.ramp",
            "pack",
            "-m",
            str(manifest),
            "-o",
            str(tmp_path / "ramp" / "{module_name}.zip"),
            str(HELLO),
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    ours = run_modpack("ramp-pack", "-m", manifest, "-o", tmp_path / "ours" / "{module_name}.zip", HELLO)
    assert ours.returncode == 0, ours.stderr
    ramp_codes = {f.code for f in validate_paths([tmp_path / "ramp" / "hello.zip"]).findings()}
    our_codes = {f.code for f in validate_paths([tmp_path / "ours" / "hello.zip"]).findings()}
    # RAMP's defects: a float version, and operating_systems taken from the packing host (Debian
    # here, not a Redis Enterprise OS), which also leaves no declared OS to check the binary against.
    ramp_defects = {"VER011", "PLT002", "ELF029"}
    assert "VER011" in ramp_codes
    assert ramp_codes - ramp_defects == our_codes


@pytest.mark.redis
def test_ramp_pack_records_command_edits_as_the_real_ramp_does(tmp_path: Path) -> None:
    """RAMP writes exclude_commands and add_command into module.json (ramp.md §3.3); `validate
    --load` reads them. modpack dropped them, so its own bundle of the same manifest then failed
    --load: LOAD016 (exit 1) for the command added for a plugin, LOAD017 for the excluded one."""
    require_redis()
    if not ramp_available():
        pytest.fail("ramp-packer is not installed; `pip install -e .[test]` installs it")
    extra = {
        "command_name": "hello.extra",
        "command_arity": -1,
        "flags": ["readonly"],
        "first_key": 0,
        "last_key": 0,
        "step": 0,
    }
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST + f"exclude_commands:\n    - hello.copy\nadd_command:\n    - {json.dumps(extra)}\n"
    )
    subprocess.run(
        [sys.executable, "-m", "RAMP.ramp", "pack", "-m", str(manifest), "-o", "ramp.zip", str(HELLO)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    ours = run_modpack("ramp-pack", "-m", manifest, "-o", tmp_path / "ours.zip", HELLO)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    written = {}
    for name in ("ramp.zip", "ours.zip"):
        with zipfile.ZipFile(tmp_path / name) as archive:
            written[name] = json.loads(archive.read("module.json"))
    for key in ("exclude_commands", "add_command"):
        assert written["ours.zip"][key] == written["ramp.zip"][key], key
    assert sorted(c["command_name"] for c in written["ours.zip"]["commands"]) == sorted(
        c["command_name"] for c in written["ramp.zip"]["commands"]
    )
    for name in ("ramp.zip", "ours.zip"):
        loaded = run_modpack("validate", "--load", tmp_path / name)
        assert "LOAD016" not in loaded.stdout and "LOAD017" not in loaded.stdout, (name, loaded.stdout)
    loaded = run_modpack("validate", "--load", tmp_path / "ours.zip")
    assert loaded.returncode == 0 and "info LOAD003 hello 1.2.3 (10203) loaded" in loaded.stdout
    # `init --from` RAMP's bundle keeps the records by name, so the modpack.toml loads as clean
    converted = tmp_path / "modpack.toml"
    init = run_modpack("init", converted, "--from", tmp_path / "ramp.zip")
    assert init.returncode == 0, init.stdout + init.stderr
    text = converted.read_text()
    assert 'exclude_commands = ["hello.copy"]\nadd_command = ["hello.extra"]\n' in text
    assert "exclude_commands is not a module.json field" not in init.stdout
    assert "\n[build]\n" not in text  # the binary is inside the bundle: init says to set it
    converted.write_text(text + f'\n[build]\nso = "{HELLO}"\n')
    loaded = run_modpack("validate", "--load", converted)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "LOAD016" not in loaded.stdout and "LOAD017" not in loaded.stdout, loaded.stdout


@pytest.mark.redis
def test_build_discover_of_a_flooded_manifest_says_its_flood_note_once(tmp_path: Path) -> None:
    """60 unknown keys: DECL006 lists 50 and notes "and 10 more". build ramp.yml --discover said
    the note twice and counted 52 warnings (b498783 added the edits' findings with the notes)."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + "".join(f"unknown_key_{i}: 1\n" for i in range(60)))
    done = run_modpack("build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("and 10 more DECL006 findings") == 1, done.stdout
    assert "0 errors, 51 warnings" in done.stdout, done.stdout


@pytest.mark.redis
def test_build_discover_says_the_flood_note_of_a_rule_the_edits_flood(tmp_path: Path) -> None:
    """60 exclusions the module does not register: LOAD028 lists 50 and notes "and 10 more".
    Taking the edits' findings without the sink's notes (31d138b) dropped that note, and counted
    50 infos (found by a review)."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST + "exclude_commands:\n" + "".join(f"  - hello.nothing{i}\n" for i in range(60))
    )
    done = run_modpack("build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("info LOAD028 and 10 more LOAD028 findings in this file") == 1, done.stdout
    assert "0 errors, 0 warnings, 51 infos" in done.stdout, done.stdout
