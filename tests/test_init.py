"""`modpack init`: a new module's modpack.toml, or one converted from ramp.yml, module.json or a
bundle (with `--discover`, from what the loaded module registers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from modpack.validate import validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import CASES, FIXTURES, HELLO, RAMP_EXAMPLES, REALWORLD
from tests.support.tools import needs_manifests, require_redis

MANIFESTS = RAMP_EXAMPLES
HELLO_MANIFEST = (CASES / "good" / "ramp-yml" / "ramp.yml").read_text()
# The real manifests test_ramp_import.py validates, converted here.
REAL_MANIFESTS = (
    "RAMP__example.manifest.yml",
    "RAMP__example2.manifest.yml",
    "RediSearch__pack__ramp-enterprise.yml",
    "RedisBloom__pack__ramp.yml",
    "RedisJSON__pack__ramp.yml",
)


@needs_manifests
@pytest.mark.parametrize("name", REAL_MANIFESTS)
def test_init_from_real_manifest(tmp_path: Path, name: str) -> None:
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", MANIFESTS / name, "--name", "mod", "--version", "1.0.0")
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert 'name = "mod"' in text and 'semantic_version = "1.0.0"' in text
    codes = [f.code for f in validate_paths([target]).findings()]
    if name.startswith("RAMP__"):
        assert (
            "to do: exclude_commands (1 name) applies to the commands the module registers" in result.stdout
        )
        assert "not carried over" not in result.stdout and "exclude_commands:" not in result.stdout
        assert sorted(codes) == ["CMD005", "CMD005", "VER006"]  # the same defects, carried over
        # RAMP's records, kept by name for module.json and `validate --load` (the `test` command
        # is an add_command entry, now a [[commands]] table)
        assert 'exclude_commands = ["graph.BULK"]\nadd_command = ["test"]\n' in text
        # its override became the only table of the module's own: build --discover would find nothing
        assert (
            "to do: the overide_command entries are the only commands declared, and with them `modpack"
            " build --discover` discovers nothing" in result.stdout
        )
    elif name.startswith("RediSearch"):
        assert codes == ["VER010"]
    else:  # no overide_command or add_command: nothing declares a command until --discover
        assert sorted(codes) == ["CMD030", "VER010"]
    if name.startswith("RediSearch"):
        assert "step = -3" in text and 'name = "FT.CURSOR"' in text


def test_init_from_manifest_without_name_reports_it(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST + "run_command_line_args: \"{os.getenv('ARGS')}\"\n")
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest)
    assert result.returncode == 0
    assert "to do: set [module] name (the name the module passes to RedisModule_Init)" in result.stdout
    assert "to do: set [module] semantic_version" in result.stdout
    assert "dropped: run_command_line_args" in result.stdout
    text = (tmp_path / "modpack.toml").read_text()
    assert "# name = ...  # to do:" in text and 'name = ""' not in text  # never an empty value to trip on
    found = validate_paths([tmp_path / "modpack.toml"]).findings()
    # What is missing, by name, with how to fill it; and no command is declared (RAMP discovers them).
    assert sorted((f.code, f.location.path) for f in found) == [
        ("CMD030", "commands"),
        ("SCH001", "module.name"),
        ("SCH001", "module.semantic_version"),
    ]
    assert "RedisModule_Init" in next(f.fix for f in found if f.location.path == "module.name")


def test_init_from_module_json_and_bundle(tmp_path: Path) -> None:
    for source in (CASES / "good" / "module-json" / "module.json", CASES / "good" / "bundle" / "bundle.zip"):
        target = tmp_path / f"{source.suffix[1:]}.toml"
        result = run_modpack("init", target, "--from", source)
        assert result.returncode == 0, result.stderr
        assert validate_paths([target]).findings() == []
        text = target.read_text()
        assert 'name = "hello"' in text and "[[commands]]" in text and "arity = -3" in text


def test_init_new_module_non_interactive(tmp_path: Path) -> None:
    target = tmp_path / "modpack.toml"
    assert run_modpack("init", target, "--name", "mymod", "--version", "0.1.0").returncode == 0
    # The template declares no capability and no command yet: both are said, neither is an error.
    assert sorted(f.code for f in validate_paths([target]).findings()) == ["CAP004", "CMD030"]
    assert run_modpack("init", target, "--name", "x", "--version", "1.0.0").returncode == 2  # exists
    assert run_modpack("init", tmp_path / "other.toml").returncode == 2  # no TTY to ask on
    # A bare init beside the file said it needed --name and --version: the file's being there is why
    bare = run_modpack("init", cwd=tmp_path)
    assert bare.returncode == 2
    assert bare.stderr == "modpack: modpack.toml exists\n  hint: Pass --force to replace it.\n"


@pytest.mark.redis
def test_from_with_discover_names_the_binary_from_the_file_written(tmp_path: Path) -> None:
    """`init --from mod/ramp.yml --discover mod/hello.so mod` wrote `so = "mod/hello.so"`, the path
    as given from the current folder, into mod/modpack.toml, which reads it from its own folder:
    the build said "mod/mod/hello.so does not exist". It names the binary from the file written,
    as `init --discover` alone does."""
    require_redis()
    folder = tmp_path / "mod"
    folder.mkdir()
    shutil.copy(HELLO, folder / "hello.so")
    (folder / "ramp.yml").write_text(HELLO_MANIFEST)
    wrote = run_modpack("init", "--from", "mod/ramp.yml", "--discover", "mod/hello.so", "mod", cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    assert tomllib.loads((folder / "modpack.toml").read_text())["build"]["so"] == "hello.so"
    built = run_modpack("build", "mod", "-o", "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.mark.redis
def test_ramp_edits_applied_to_discovered_commands(tmp_path: Path) -> None:
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST
        + "exclude_commands:\n    - hello.copy\n"
        + 'overide_command:\n    - {"command_name": "hello.ping", "command_arity": 1, "flags": ["module", "fast"], "first_key": 0, "last_key": 0, "step": -1}\n'
        + 'add_command:\n    - {"command_name": "hello.extra", "command_arity": -1, "flags": ["module"], "first_key": 0, "last_key": 0, "step": 0}\n'
    )
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", manifest, "--discover", HELLO)
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert 'name = "hello"' in text and 'semantic_version = "1.2.3"' in text
    assert 'name = "hello.copy"' not in text and 'name = "hello.extra"' in text and "step = -1" in text
    assert 'exclude_commands = ["hello.copy"]\nadd_command = ["hello.extra"]\n' in text
    # operating_systems is left to the build, which fills it from the binary: nothing to say
    assert [f.code for f in validate_paths([target]).findings()] == []
    # Converted, the module passes `validate --load` as RAMP's bundle of the manifest does: the
    # excluded command and the added one (which no plugin registers here) are RAMP's records, not
    # differences. They were LOAD017 and LOAD016 (exit 1) while init dropped the records.
    loaded = run_modpack("validate", "--load", target)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "LOAD016" not in loaded.stdout and "LOAD017" not in loaded.stdout, loaded.stdout
    assert "info LOAD003 hello 1.2.3 (10203) loaded" in loaded.stdout
    built = run_modpack("build", target, "--so", HELLO, "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["exclude_commands"] == ["hello.copy"]
    assert [c["command_name"] for c in module["add_command"]] == ["hello.extra"]
    loaded = run_modpack("validate", "--load", bundle)
    assert loaded.returncode == 0 and "LOAD016" not in loaded.stdout and "LOAD017" not in loaded.stdout


def test_a_ramp_command_entry_that_is_no_object_is_skipped_not_a_crash(tmp_path: Path) -> None:
    """A `commands` item that is not a mapping has no name to edit: RAMP's edits run over the
    others (it once ended init in 'internal error: AttributeError')."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        "module_name: hello\nsemantic_version: 1.0.0\n"
        'commands: [1, {command_name: "x.y", command_arity: 1}]\nexclude_commands: [X.Y]\n'
    )
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest)
    assert result.returncode == 1 and "internal error" not in result.stderr, result.stderr
    assert "DECL004 exclude_commands names 'X.Y', which the module registers as 'x.y'" in result.stdout
    assert not (tmp_path / "modpack.toml").exists()


def test_init_from_ramp_says_a_local_path_that_is_no_archive_must_become_one(tmp_path: Path) -> None:
    """RAMP tar-gzips what local_path names (RediSearch's Redis Enterprise manifest names
    libsvs_shared_library.so); modpack.toml's local_path is the .tgz itself, so the converted file
    built with DEP006 'not a gzip archive' and init said nothing of it."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST
        + "dependencies:\n    svs:\n        local_path: \"{os.getenv('BINDIR')}/lib/libsvs.so\"\n"
        + "    ready:\n        local_path: build/ready.tgz\n"
    )
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest)
    assert result.returncode == 0, result.stderr
    todo = [line for line in result.stdout.splitlines() if "local_path" in line and "to do" in line]
    assert len(todo) == 1 and "svs" in todo[0] and "tar czf svs.tgz" in todo[0], result.stdout
    assert "# NOTE: to do: dependencies.svs.local_path" in (tmp_path / "modpack.toml").read_text()


def test_a_source_file_name_with_a_newline_stays_in_its_comment(tmp_path: Path) -> None:
    """The name went into the `# converted from` comment as it was: its newline began a line of
    TOML, so a file named `x\\n[module]\\nname = "evil"\\n#.json` wrote a second [module] table."""
    import tomllib

    source = tmp_path / 'x\n[module]\nname = "evil"\n#.json'
    source.write_text((CASES / "good" / "module-json" / "module.json").read_text())
    out = tmp_path / "modpack.toml"
    result = run_modpack("init", "--from", source, out)
    assert result.returncode == 0, result.stdout + result.stderr
    text = out.read_text("utf-8")
    assert (
        text.splitlines()[0]
        == f'# modpack.toml converted from {tmp_path}/x\\n[module]\\nname = "evil"\\n#.json.'
    )
    assert tomllib.loads(text)["module"]["name"] != "evil"


def _run_bytes(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """run_modpack with the output decoded as the file system does: it prints names not in UTF-8."""
    from tests.support.cli import CHECKOUT

    return subprocess.run(
        [sys.executable, "-m", "modpack", *map(str, args)],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env={**os.environ, "PYTHONPATH": CHECKOUT},
        timeout=120,
        check=False,
    )


def test_a_file_name_that_is_not_utf8_is_escaped_or_refused(tmp_path: Path) -> None:
    """A name in another encoding reached the UTF-8 writer as a surrogate escape: an internal
    error (UnicodeEncodeError). In a comment it is shown escaped; as a value it is refused."""
    folder = tmp_path / "bad\udcff"
    folder.mkdir()
    (folder / "module.json").write_text((CASES / "good" / "module-json" / "module.json").read_text())
    converted = _run_bytes("init", "--from", folder / "module.json", folder / "modpack.toml")
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert (
        (folder / "modpack.toml")
        .read_text("utf-8")
        .startswith(f"# modpack.toml converted from {tmp_path}/bad\\udcff/module.json.")
    )
    named = _run_bytes("init", "--name", "bad\udcff", "--version", "1.2.3", tmp_path / "n.toml")
    assert named.returncode == 2, named.stdout + named.stderr  # no module name: refused as usage
    assert "modpack: --name 'bad\\udcff' is not a module name" in named.stderr
    assert not (tmp_path / "n.toml").exists()


@pytest.mark.parametrize("how", ["--from", "--from, as a hard link", "--discover"])
def test_init_never_writes_over_what_it_reads(tmp_path: Path, how: str) -> None:
    """`init --from ramp.yml ramp.yml --force` replaced the manifest with its own conversion (and
    `init hello.so --discover hello.so --force` the module with TOML): refused before reading."""
    if how == "--discover":
        source = tmp_path / "hello.so"
        source.write_bytes(HELLO.read_bytes())
        target, args = source, ["--discover", source]
    else:
        source = tmp_path / "ramp.yml"
        source.write_text(HELLO_MANIFEST)
        target = source
        if how.endswith("hard link"):
            target = tmp_path / "modpack.toml"
            os.link(source, target)
        args = ["--from", source]
    before = source.read_bytes()
    result = run_modpack("init", target, *args, "--force")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"modpack: init would write {target} over its own input {source}" in result.stderr
    assert source.read_bytes() == before


def test_init_from_ramp_keeps_variables_as_written_whatever_the_environment(tmp_path: Path) -> None:
    """modpack.toml expands ${VAR} at build time, so init carries the reference, not this
    machine's value: with BINDIR set, {os.getenv('BINDIR')} was written as the expanded path."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        HELLO_MANIFEST
        + 'command_line_args: "${ARGS}"\n'
        + "dependencies:\n    svs:\n        local_path: \"{os.getenv('BINDIR')}/lib/svs.tgz\"\n"
    )
    result = run_modpack(
        "init", tmp_path / "modpack.toml", "--from", manifest, env={"BINDIR": "/opt/bin", "ARGS": "X 1"}
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "modpack.toml").read_text()
    assert 'local_path = "${BINDIR}/lib/svs.tgz"' in text and 'command_line_args = "${ARGS}"' in text
    assert "/opt/bin" not in text and "X 1" not in text


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--version", "1", "--version: '1' is not a semantic version X.Y.Z"),
        ("--version", "1.0", "--version: '1.0' is not a semantic version X.Y.Z"),
        ("--version", "1.2.3-rc1", "Redis Enterprise needs plain X.Y.Z without '-rc1'"),
        ("--version", "1.100.0", "--version: minor 100 is above 99"),
        ("--version", "0.0.0", "--version: version is 0: Redis Enterprise reads 0 as no version"),
        ("--name", "my module", "--name 'my module' is not a module name"),
        ("--version", "", "--version is empty"),
    ],
)
def test_init_refuses_a_name_or_version_validate_would_refuse(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    """`init --name TOPK --version 1` wrote a modpack.toml whose first validate said VER001: 1 is
    what real modules (countminsketch, topk) pass to RedisModule_Init, so it is what an author
    types."""
    given = {"--name": "mod", "--version": "1.0.0", option: value}
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, *(item for pair in given.items() for item in pair))
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr
    assert not target.exists()


def test_init_beside_one_binary_names_it(tmp_path: Path) -> None:
    """`init --name --version` in the folder holding the module's .so left [build] so commented
    out, so the next `build --discover` stopped at "no module binary to build from"."""
    shutil.copy(HELLO, tmp_path / "hello.so")
    made = run_modpack("init", "--name", "hello", "--version", "1.2.3", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "[build] so = 'hello.so': the one .so beside modpack.toml" in made.stdout
    assert '\nso = "hello.so"\n' in (tmp_path / "modpack.toml").read_text()
    built = run_modpack("build", "--discover", "--output", "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr

    two = tmp_path / "two"
    two.mkdir()
    for name in ("a.so", "b.so"):
        shutil.copy(HELLO, two / name)
    run_modpack("init", "--name", "hello", "--version", "1.2.3", cwd=two)
    assert '# so = "build/mymodule.so"' in (two / "modpack.toml").read_text()  # which one is not for init
    for odd_name in ("bad\udcff.so", "café.so", 'we"ird.so'):  # validate refuses them as module_file
        odd = tmp_path / f"odd{len(odd_name)}{odd_name[:2]!r}".replace("'", "")
        odd.mkdir()
        shutil.copy(HELLO, odd / odd_name)
        named = _run_bytes("init", "--name", "hello", "--version", "1.2.3", odd / "modpack.toml")
        assert named.returncode == 0, named.stdout + named.stderr
        assert '# so = "build/mymodule.so"' in (odd / "modpack.toml").read_text()


def test_init_of_a_folder_writes_modpack_toml_in_it(tmp_path: Path) -> None:
    """`modpack init .` said "File '.' is a directory" (exit 2), while `modpack build .` takes a
    folder: a folder is where modpack.toml goes, as build looks for it."""
    folder = tmp_path / "mod"
    folder.mkdir()
    result = run_modpack("init", folder, "--name", "hello", "--version", "1.2.3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"wrote {folder / 'modpack.toml'}")
    assert 'name = "hello"' in (folder / "modpack.toml").read_text()
    again = run_modpack("init", ".", "--name", "hello", "--version", "1.2.3", cwd=folder)
    assert again.returncode == 2 and "modpack.toml exists" in again.stderr  # not over it unasked


def _module_json_with(tmp_path: Path, **changes: object) -> Path:
    document = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    document.update(changes)
    path = tmp_path / "module.json"
    path.write_text(json.dumps(document))
    return path


def test_nulls_nested_in_module_json_are_left_out_with_a_note(tmp_path: Path) -> None:
    """TOML has no null: `dependencies: {a: null}` or a command's `flags: null` ended init in
    'cannot write None to TOML', naming no field. Each is now left out, and named."""
    commands = json.loads((CASES / "good" / "module-json" / "module.json").read_text())["commands"]
    odd = [1, "x", None, {**commands[0], "flags": None, "first_key": None}]
    source = _module_json_with(tmp_path, dependencies={"a": None}, commands=odd)
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", source)
    assert result.returncode == 0, result.stdout + result.stderr
    for note in (
        "dropped: dependencies.a is empty (null)",
        "dropped: commands[0] is 1, not a command object",
        'dropped: commands[1] is "x", not a command object',
        "dropped: commands[2] is null, not a command object",
        "dropped: commands[3].flags is empty (null)",
        "dropped: commands[3].first_key is empty (null)",
    ):
        assert note in result.stdout and f"# NOTE: {note}" in target.read_text(), note
    assert target.read_text().count("[[commands]]") == 1


def test_a_ramp_command_with_null_flags_is_converted_with_a_note(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        "module_name: hello\nsemantic_version: 1.0.0\ncapabilities: []\n"
        "commands:\n  - {command_name: hello.get, command_arity: 2, flags: null}\n"
    )
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", manifest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flags is empty (null)" in result.stdout, result.stdout
    assert 'name = "hello.get"' in target.read_text()


def test_a_semantic_version_that_is_not_one_is_named_not_the_version(tmp_path: Path) -> None:
    """It said "changed: version 10203 does not encode semantic_version" of a good version."""
    source = _module_json_with(tmp_path, semantic_version="1.2.3\u0000", version=10203)
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", source)
    assert "to do: semantic_version '1.2.3\\x00' is not MAJOR.MINOR.PATCH: fix it" in result.stdout, (
        result.stdout
    )
    assert "does not encode semantic_version" not in result.stdout


def test_init_from_ramp_writes_ramps_defaults_for_what_the_manifest_leaves_out(tmp_path: Path) -> None:
    """A bundle built from the converted modpack.toml lacked min_redis_pack_version "5.2" (and the
    other defaults) that `ramp pack`, and `modpack build ramp.yml`, write for a manifest without them."""
    import tomllib

    manifest = tmp_path / "ramp.yml"
    manifest.write_text("display_name: Hello\nauthor: me\nemail: me@example.com\nlicense: MIT\n")
    target = tmp_path / "modpack.toml"
    result = run_modpack("init", target, "--from", manifest, "--name", "hello", "--version", "1.2.3")
    assert result.returncode == 0, result.stdout + result.stderr
    written = tomllib.loads(target.read_text())["module"]
    expected = {
        "command_line_args": "",
        "capabilities": [],
        "min_redis_version": "4.0",
        "min_redis_pack_version": "5.2",
    }
    assert {k: written.get(k) for k in expected} == expected
    for key in expected:
        assert (
            f"changed: {key} = " in result.stdout
            and "RAMP's default where ramp.yml has none" in result.stdout
        )
    kept = tmp_path / "kept.yml"
    kept.write_text("display_name: Hello\nmin_redis_version: '7.0'\ncapabilities: [types]\n")
    again = run_modpack(
        "init", tmp_path / "kept.toml", "--from", kept, "--name", "hello", "--version", "1.2.3"
    )
    assert "changed: min_redis_version" not in again.stdout and "changed: capabilities" not in again.stdout
    assert tomllib.loads((tmp_path / "kept.toml").read_text())["module"]["min_redis_version"] == "7.0"


def test_init_from_a_manifest_with_capabilities_as_one_string_writes_the_list(tmp_path: Path) -> None:
    """RedisTimeSeries' ramp_manifest.yml gives capabilities as one comma-separated string: init
    copied the string and said nothing, and the build of what it wrote failed on CAP003."""
    manifest = REALWORLD / "RedisTimeSeries__RedisTimeSeries@38a6ddd59f__ramp_manifest.yml"
    target = tmp_path / "modpack.toml"
    done = run_modpack("init", "--from", manifest, target, "--name", "timeseries", "--version", "1.2.3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed: capabilities: the string 'types,no_multi_key," in done.stdout
    written = tomllib.loads(target.read_text())
    assert written["module"]["capabilities"][:3] == ["types", "no_multi_key", "replica_of"]
    assert "CAP003" not in {f.code for f in validate_paths([target]).findings()}


def test_init_refuses_its_own_input_before_an_existing_file_and_keeps_templates_whole(tmp_path: Path) -> None:
    """`init --from ramp.yml ramp.yml` said "exists: pass --force", which then was refused as its
    own input; and a capabilities template with a comma was split into three broken names."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text("display_name: x\ncapabilities: \"{os.getenv('CAPS', 'types,flash')}\"\n")
    done = run_modpack("init", "--from", manifest, manifest)
    assert done.returncode == 2 and "over its own input" in done.stderr, done.stderr
    target = tmp_path / "modpack.toml"
    made = run_modpack("init", "--from", manifest, target, "--name", "x", "--version", "1.0.0")
    assert made.returncode == 0, made.stdout + made.stderr
    assert isinstance(tomllib.loads(target.read_text())["module"]["capabilities"], str)
    assert "became the list" not in made.stdout


@pytest.mark.parametrize("given", ["", 'compatible_redis_version: "7.2"\n'])
def test_init_from_ramp_says_what_ramp_writes_for_a_missing_compatible_version(
    tmp_path: Path, given: str
) -> None:
    """RAMP 2.5.9 and later write compatible_redis_version "7.4" when the manifest has none, for
    any module; init listed RAMP's other injected defaults but said nothing of this one."""
    lines = [
        line for line in HELLO_MANIFEST.splitlines(keepends=True) if "compatible_redis_version" not in line
    ]
    manifest = tmp_path / "ramp.yml"
    manifest.write_text("".join(lines) + given)
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", manifest)
    assert result.returncode == 0, result.stderr
    said = 'to do: compatible_redis_version: `ramp pack` writes "7.4" where ramp.yml has none'
    assert (said in result.stdout) is (not given), result.stdout


def test_an_unset_variable_in_semantic_version_is_said_once(tmp_path: Path) -> None:
    """DECL003 said the variable is not set, and VER001 then said '${VERSION}' is not a semantic
    version, with a fix to write a literal: two findings, one cause."""
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    text = text.replace('"../so/x86_64/hello.so"', json.dumps(str(HELLO)))
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        text.replace('semantic_version = "1.2.3"', 'semantic_version = "${MODPACK_UNSET_VERSION}"')
    )
    done = run_modpack(
        "validate", toml, env={k: v for k, v in os.environ.items() if k != "MODPACK_UNSET_VERSION"}
    )
    assert "error DECL003 the environment variable MODPACK_UNSET_VERSION is not set" in done.stdout
    assert "VER001" not in done.stdout, done.stdout
    # `$$` writes a literal `$`: "1.0.${X}" is what the bundle would hold, and no semantic version;
    # any `${` kept VER001 quiet, as it did in a module.json, where nothing is expanded at all.
    # A local dependency archive under such a path went unchecked the same way.
    toml.write_text(
        text.replace('semantic_version = "1.2.3"', 'semantic_version = "1.0.$${X}"')
        + '\n[module.dependencies.dep]\nlocal_path = "deps/$${V}/dep.tgz"\n'
    )
    done = run_modpack("validate", toml)
    assert "error VER001 '1.0.${X}' is not a semantic version" in done.stdout, done.stdout
    assert (
        "[module.dependencies.dep.local_path]: info DECL010 " in done.stdout and "${V}/dep.tgz" in done.stdout
    )
    assert "DECL003" not in done.stdout
    module = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    module["semantic_version"] = "1.0.${X}"
    (tmp_path / "module.json").write_text(json.dumps(module))
    done = run_modpack("validate", tmp_path / "module.json")
    assert "error VER001 '1.0.${X}' is not a semantic version" in done.stdout, done.stdout


def test_init_from_module_json_says_a_command_field_it_cannot_keep(tmp_path: Path) -> None:
    """A command's unknown field (`acl_categories`) vanished from the converted file without the
    `dropped:` line every unknown top-level field gets, though init says nothing is lost unsaid."""
    source = tmp_path / "module.json"
    module = json.loads((CASES / "good" / "module-json" / "module.json").read_text())
    module["commands"][0]["acl_categories"] = ["@read"]
    source.write_text(json.dumps(module))
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", source)
    assert result.returncode == 0, result.stderr
    said = "dropped: commands[0].acl_categories is not a command field modpack knows"
    assert said in result.stdout, result.stdout
    assert "acl_categories" not in (tmp_path / "modpack.toml").read_text().replace(said, "")


@pytest.mark.parametrize(
    ("name", "option"),
    [("ramp.yml", "--from"), ("module.json", "--from"), ("x.zip", "--from"), ("x.so", "--discover")],
)
def test_init_writes_no_toml_under_a_name_read_as_another_kind(
    tmp_path: Path, name: str, option: str
) -> None:
    """`init ramp.yml` (or module.json, x.zip, x.so) wrote TOML there, which validate, build and
    publish then read as that other kind and misread."""
    done = run_modpack("init", tmp_path / name, "--name", "x", "--version", "1.2.3")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"modpack: init writes a modpack.toml, not {tmp_path / name}" in done.stderr
    assert f"pass {name} with {option} to read it" in done.stderr
    assert not (tmp_path / name).exists()


def test_the_fix_for_a_missing_name_points_to_a_command_that_works_on_the_file(tmp_path: Path) -> None:
    """A modpack.toml without [module] name (as `init --from ramp.yml` leaves one, for a to-do):
    the fix said `modpack init --discover FILE.so` reads it, which refuses a file that exists, and
    with --force replaces it with everything it holds. discover shows the name without writing."""
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        f'[module]\ncompatible_redis_version = "7.2"\ncapabilities = ["types"]\n[build]\nso = "{HELLO}"\n'
    )
    done = run_modpack("validate", toml)
    assert done.returncode == 1, done.stdout
    assert "(`modpack discover FILE.so` shows it)" in done.stdout, done.stdout
    assert "init --discover" not in done.stdout


@pytest.mark.parametrize("command", [("init", "--discover"), ("ramp-pack",)])
def test_a_missing_redis_server_is_hinted_without_an_option_the_command_lacks(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """init --discover and ramp-pack have no --redis-server, and a redis-server that was not there
    was hinted "Fix or unset MODPACK_REDIS_SERVER, or pass --redis-server PATH" ("Install
    redis-server ... or pass --redis-server PATH" for none on PATH): passed, it is refused (No such
    option: --redis-server, exit 2). Their hint names only the environment variable, and done as
    it says the command runs."""
    require_redis()
    so = tmp_path / "hello.so"
    shutil.copy2(HELLO, so)
    broken = {"MODPACK_REDIS_SERVER": str(tmp_path / "no-redis-server")}

    failed = run_modpack(*command, so, cwd=tmp_path, env=broken)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "(MODPACK_REDIS_SERVER) is not an executable file" in failed.stderr
    assert "  hint: Fix or unset MODPACK_REDIS_SERVER.\n" in failed.stderr, failed.stderr
    assert run_modpack(*command, so, "--redis-server", "redis-server", cwd=tmp_path).returncode == 2
    fixed = run_modpack(
        *command, so, cwd=tmp_path, env={"MODPACK_REDIS_SERVER": shutil.which("redis-server") or ""}
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr

    # no redis-server on PATH (a machine's own, as these commands look for it first): the hint
    # those commands print names the environment variable, not the option
    from modpack.cli.authoring import no_server_option
    from modpack.redis.harness import RedisNotFoundError, find_redis_server

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(tmp_path / "empty"))
        patch.delenv("MODPACK_REDIS_SERVER", raising=False)
        with pytest.raises(RedisNotFoundError) as missing, no_server_option():
            find_redis_server()
    assert missing.value.hint.startswith("Install redis-server"), missing.value.hint
    assert "MODPACK_REDIS_SERVER" in missing.value.hint and "--redis-server" not in missing.value.hint


def test_a_converted_manifests_missing_name_names_a_rerun_that_replaces_the_file(tmp_path: Path) -> None:
    """A ramp.yml without module_name converted said "to do: set [module] name ...; or run init
    again with --discover FILE.so", and so run, init refused the file it had just written
    (modpack.toml exists, exit 2). The to-do adds --force, and run so, init writes the name and
    version the module registers."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(HELLO_MANIFEST)
    so = tmp_path / "hello.so"
    shutil.copy2(HELLO, so)
    first = run_modpack("init", "--from", "ramp.yml", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    todo = "or run the same init again with --discover FILE.so --force, which replaces this file"
    assert f"RAMP reads it from the loaded module; {todo}" in first.stdout, first.stdout

    again = run_modpack("init", "--from", "ramp.yml", "--discover", "hello.so", "--force", cwd=tmp_path)

    assert again.returncode == 0, again.stdout + again.stderr
    written = tomllib.loads((tmp_path / "modpack.toml").read_text())["module"]
    assert (written["name"], written["semantic_version"]) == ("hello", "1.2.3")


def test_a_converted_manifests_command_edits_name_a_rerun_that_applies_them(tmp_path: Path) -> None:
    """init --from of a ramp.yml with exclude_commands (or overide_command) and no --discover said
    "run `modpack init --from ramp.yml --discover FILE.so` to apply it": for my module/ramp.yml,
    from the folder above, that names no file (Invalid value for '--from'), writes to the
    current folder, and beside the file just written is refused ("exists"). The to-do names the
    same init again with --discover and --force, which applies the edits to what the module
    registers."""
    require_redis()
    folder = tmp_path / "my module"
    folder.mkdir()
    shutil.copy2(HELLO, folder / "hello.so")
    (folder / "ramp.yml").write_text(
        HELLO_MANIFEST + "module_name: hello\nsemantic_version: 1.2.3\nexclude_commands:\n  - hello.ping\n"
    )
    converted = run_modpack("init", "my module/", "--from", "my module/ramp.yml", cwd=tmp_path)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert (
        "to do: exclude_commands (1 name) applies to the commands the module registers: run the same"
        " init again with --discover FILE.so --force to apply it"
    ) in converted.stdout, converted.stdout

    again = run_modpack(
        "init",
        "my module/",
        "--from",
        "my module/ramp.yml",
        "--discover",
        "my module/hello.so",
        "--force",
        cwd=tmp_path,
    )

    assert again.returncode == 0, again.stdout + again.stderr
    written = tomllib.loads((folder / "modpack.toml").read_text())
    names = sorted(c["name"] for c in written["commands"])
    assert names == ["hello.copy", "hello.get", "hello.mset", "hello.set"], names


def _unpacked_example(tmp_path: Path, folder: str) -> Path:
    """The example's bundle, built into tmp_path/dist (returned), and its module.json and hello.so
    laid out in tmp_path/`folder`, as a RAMP-era project keeps them."""
    built = run_modpack("build", FIXTURES / "example", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (tmp_path / "dist").iterdir()
    (tmp_path / folder).mkdir()
    with zipfile.ZipFile(bundle) as archive:
        (tmp_path / folder / "module.json").write_bytes(archive.read("module.json"))
    shutil.copy(HELLO, tmp_path / folder / "hello.so")
    return bundle


def test_init_from_a_module_json_written_elsewhere_names_the_so_beside_the_module_json(
    tmp_path: Path,
) -> None:
    """The README says init --from module.json takes the one .so beside it; written to another
    folder, the new modpack.toml got no [build] so, and its build said "no module binary"."""
    bundle = _unpacked_example(tmp_path, "src")
    made = run_modpack("init", "--from", "src/module.json", "out/", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "[build] so = '../src/hello.so': the module_file beside module.json" in made.stdout
    again = run_modpack("build", "out", "-o", "again", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    (rebuilt,) = (tmp_path / "again").iterdir()
    assert rebuilt.read_bytes() == bundle.read_bytes()


def test_init_from_a_module_json_takes_the_binary_it_names_not_another_so_beside_the_new_file(
    tmp_path: Path,
) -> None:
    """A keyspecs.so beside the new modpack.toml was taken over the hello.so the module.json names
    beside it, and build then packed keyspecs.so under hello's module.json without a word."""
    _unpacked_example(tmp_path, "sub")
    (tmp_path / "other.so").write_bytes(b"\x7fELF not this one")
    made = run_modpack("init", "--from", "sub/module.json", "modpack.toml", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert 'so = "sub/hello.so"' in (tmp_path / "modpack.toml").read_text()


def test_a_command_written_without_an_arity_is_a_to_do_not_a_later_build_failure(tmp_path: Path) -> None:
    """RAMP's override replaces the discovered entry whole: one giving only a name (RAMP's own
    example manifest has two) left [[commands]] with a name alone, init exited 0 listing no to-do,
    and the next build failed with CMD005. A module.json command without an arity did the same."""
    require_redis()
    shutil.copy2(HELLO, tmp_path / "hello.so")
    (tmp_path / "ramp.yml").write_text(
        HELLO_MANIFEST + 'overide_command:\n  - {"command_name": "hello.set"}\n'
    )
    converted = run_modpack("init", "--from", "ramp.yml", "--discover", "hello.so", cwd=tmp_path)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert (
        "to do: give [[commands]] hello.set its arity, flags and key positions (build refuses a command"
        " without an arity, CMD005: RAMP's override replaces the discovered entry whole)"
    ) in converted.stdout, converted.stdout
    assert "hello.get its arity" not in converted.stdout  # discovered whole: nothing to do
    built = run_modpack("build", ".", "-o", "dist", cwd=tmp_path)
    assert built.returncode == 1 and "CMD005 command 'hello.set' has no arity" in built.stdout, built.stdout

    module = tmp_path / "json"
    module.mkdir()
    shutil.copy2(HELLO, module / "hello.so")
    built_example = run_modpack("build", FIXTURES / "example", "-o", tmp_path / "dist-example")
    assert built_example.returncode == 0, built_example.stderr
    [bundle] = (tmp_path / "dist-example").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        document = json.loads(archive.read("module.json"))
    del document["commands"][0]["command_arity"]
    (module / "module.json").write_text(json.dumps(document))
    from_json = run_modpack("init", "--from", "module.json", cwd=module)
    assert from_json.returncode == 0, from_json.stdout + from_json.stderr
    name = document["commands"][0]["command_name"]
    assert (
        f"to do: give [[commands]] {name} its arity, flags and key positions (build refuses a command"
        " without an arity, CMD005)"
    ) in from_json.stdout, from_json.stdout


def test_every_module_json_field_init_does_not_write_is_listed_with_its_value(tmp_path: Path) -> None:
    """init said only "dependencies is empty" of RAMP's own test bundle's module.json, while the
    file it wrote held none of its git_sha, os, ramp_format_version or empty overide_command (the
    README: init "lists what it dropped"); nor of a cluster's uid and is_bundled."""
    source = RAMP_EXAMPLES.parent / "module-json" / "RAMP@ef5b2b5__test_module.zip__module.json"
    document = json.loads(source.read_text())
    document.update(uid="0123456789abcdef", is_bundled=False)
    (tmp_path / "module.json").write_text(json.dumps(document))
    converted = run_modpack("init", "--from", "module.json", cwd=tmp_path)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    for line in (
        f'dropped: git_sha "{document["git_sha"]}": RAMP bookkeeping',
        'dropped: os "Linux": RAMP\'s record of the OS it packed on, which modpack.toml does not hold',
        "dropped: ramp_format_version 1: RAMP bookkeeping",
        "dropped: overide_command is empty: RAMP replaced no entry",
        "dropped: sha256: computed from the binary at build time",
        "dropped: uid: what a cluster adds to the module object it keeps",
        "dropped: is_bundled: what a cluster adds to the module object it keeps",
    ):
        assert f"  {line}\n" in converted.stdout, converted.stdout


def test_a_manifests_name_and_version_the_loaded_module_replaces_are_said_to_be(tmp_path: Path) -> None:
    """RAMP takes the name and version from the loaded module; init did too, and listed nothing,
    so a manifest's module_name: foo became name = "hello" in silence."""
    require_redis()
    shutil.copy2(HELLO, tmp_path / "hello.so")
    (tmp_path / "ramp.yml").write_text(HELLO_MANIFEST + "module_name: foo\nsemantic_version: 9.9.9\n")
    converted = run_modpack("init", "--from", "ramp.yml", "--discover", "hello.so", cwd=tmp_path)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert (
        "changed: name is 'hello', from the loaded module; ramp.yml's 'foo' is not used" in converted.stdout
    )
    assert (
        "changed: semantic_version is '1.2.3', from the loaded module; ramp.yml's '9.9.9' is not used"
    ) in converted.stdout
    named = run_modpack(
        "init", "x.toml", "--from", "ramp.yml", "--discover", "hello.so", "--name", "hello", cwd=tmp_path
    )
    assert "changed: name is 'hello', from the option given; ramp.yml's 'foo' is not used" in named.stdout
