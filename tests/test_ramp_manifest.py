"""Reading ramp.yml as real repositories write it: one cause one finding, templates, local deps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modpack.validate import validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import REALWORLD, ROOT
from tests.support.tools import needs_realworld

BASE = """display_name: Hello
author: modpack
email: modules@example.com
description: test module
homepage: https://example.com
license: MIT
command_line_args: ""
compatible_redis_version: "7.4"
min_redis_version: "7.4"
min_redis_pack_version: "7.8"
capabilities:
    - types
"""


def findings(path: Path) -> list[tuple[str, int | None, str, str]]:
    report = validate_paths([path])
    return [(f.code, f.location.line, f.message, f.fix) for f in report.findings()]


@pytest.mark.parametrize(
    ("tail", "line"),
    [
        ("commands: [1\n", 14),  # a syntax error: the parser stops
        ("crdb: {? [1]: 2}\n", 13),  # a list as a mapping key: the constructor stops
    ],
    ids=["syntax", "unhashable-key"],
)
def test_a_yaml_read_failure_is_one_finding(tmp_path: Path, tail: str, line: int) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + tail)
    found = findings(manifest)
    assert [(code, at) for code, at, _, _ in found] == [("IN004", line)], found
    result = run_modpack("validate", manifest)
    assert result.returncode == 1 and "DECL007" not in result.stdout and "null" not in result.stdout


def test_a_manifest_that_is_not_a_mapping_is_still_decl007(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text("- a\n- b\n")
    assert [code for code, *_ in findings(manifest)] == ["DECL007"]
    said = run_modpack("validate", manifest)  # it said "the manifest is array"
    assert "error DECL007 the manifest is a list, not a mapping of keys" in said.stdout, said.stdout


TEMPLATE = (
    BASE.replace('command_line_args: ""', 'command_line_args: "PATH /opt/{{NUMVER}}/deps"')
    + """    - resharding
dependencies:
    {{NAME_torch}}:
        url: http://example.com/{{PATH_torch}}
        sha256: {{SHA256_torch}}
# {{NAME_all}}: commented out, not counted
"""
)


def test_template_manifest_is_named_a_template_at_its_line_and_the_rest_is_checked(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(TEMPLATE)
    found = findings(manifest)
    codes = sorted(code for code, *_ in found)
    # The template once, where YAML stops reading it; the unknown capability behind it still found;
    # nothing about the placeholders' values (a sha256 of "{{SHA256_torch}}" is not a bad sha256).
    assert codes == ["CAP001", "IN004"], found
    template = next(f for f in found if f[0] == "IN004")
    assert template[1] == 15  # the line of `{{NAME_torch}}:`, not line 1
    assert "{{NAME_torch}} is a template placeholder" in template[2]
    assert "4 placeholders" in template[2] and "opaque" in template[2]
    assert "${VAR}" in template[3]
    capability = next(f for f in found if f[0] == "CAP001")
    assert capability[1] == 13 and "resharding" in capability[2]


def test_template_placeholders_inside_valid_yaml_are_decl002_each(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE.replace('command_line_args: ""', 'command_line_args: "PATH {{NUMVER}}"'))
    assert [(code, line) for code, line, *_ in findings(manifest)] == [("DECL002", 7)]


@needs_realworld
@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        ("RedisAI__RedisAI@304ad0c33e__ramp.yml", 30, ["IN004", "VER006"]),
        # `resharding` is not a capability (reshard_rebalance is): a real defect behind the template.
        ("RedisAI__RedisAI@304ad0c33e__ramp-rce.yml", 24, ["CAP001", "IN004", "VER006"]),
        ("RedisGears__RedisGears@a2370f09e7__ramp_python.yml", 43, None),
    ],
)
def test_real_template_manifests(name: str, line: int, expected: list[str] | None) -> None:
    found = findings(REALWORLD / name)
    template = [f for f in found if f[0] == "IN004"]
    assert len(template) == 1 and template[0][1] == line and "template" in template[0][2]
    assert "DECL007" not in {f[0] for f in found}
    assert not {"DEP001", "DEP002", "DEP005", "DECL002"} & {f[0] for f in found}
    if expected is not None:
        assert sorted(f[0] for f in found) == expected


def test_a_local_path_dependency_needs_neither_url_nor_sha256(tmp_path: Path) -> None:
    """As RAMP's normalize_dependencies (v2.5.16): a map entry with local_path is packed and hashed
    by the packer and needs neither url nor sha256 (RediSearch's Redis Enterprise manifest ships
    `svs: {local_path: ...}` alone); any other map entry needs both, and the list form needs name,
    url and sha256 whatever it holds. The old check asked a url of `bare`."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE
        + "dependencies:\n"
        + "    plugin:\n        url: https://x/p.tgz\n        local_path: build/plugin.tgz\n"
        + "    bare:\n        local_path: build/bare.tgz\n"
        + "    other:\n        url: https://x/o.tgz\n"
        + "    nourl:\n        sha256: "
        + "a" * 64
        + "\n"
        + "optional-dependencies:\n"
        + "    - {name: listed, local_path: build/l.tgz, sha256: "
        + "b" * 64
        + "}\n"
    )
    found = findings(manifest)
    # the two local paths not built yet: their checks did not run (DECL010, information)
    assert sorted(message.split()[0] for code, _, message, _ in found if code == "DECL010") == [
        str(tmp_path / "build" / "bare.tgz"),
        str(tmp_path / "build" / "plugin.tgz"),
    ]
    found = [f for f in found if f[0] != "DECL010"]
    assert sorted((code, message) for code, _, message, _ in found) == [
        ("DEP001", "`dependencies.nourl.url` is missing"),
        ("DEP001", "`dependencies.other.sha256` is missing"),
        ("DEP001", "`optional-dependencies[0].url` is missing"),
    ]


def test_an_f_string_value_is_one_finding(tmp_path: Path) -> None:
    """In the module's load arguments, which RAMP evaluates as an f-string for discovery."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE.replace('command_line_args: ""', 'command_line_args: "{os.environ}"'))
    assert [(code, line) for code, line, *_ in findings(manifest)] == [("DECL002", 7)]


def test_an_f_string_in_the_local_path_of_a_dotted_dependency_is_found(tmp_path: Path) -> None:
    """A dependency named gears.v8: its local_path, which RAMP evaluates, was not matched as one
    (a review)."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + 'dependencies:\n    gears.v8:\n        local_path: "{ROOT}/v8.tgz"\n')
    assert [code for code, *_ in findings(manifest)] == ["DECL002"]


def test_braces_in_a_value_ramp_copies_are_text(tmp_path: Path) -> None:
    """RAMP evaluates only the load arguments and a dependency's local_path (ramp.md §2, §3.4) and
    copies every other value as written: "Stores {field: value} documents" was DECL002, an error
    that stopped the build, for a description RAMP packs as it is. A value that is not a version
    either way is said to be one: "{version}" reaches module.json as it stands."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE.replace("description: test module", 'description: "Stores {field: value} documents"').replace(
            "display_name: Hello", "display_name: Hello {beta}"
        )
    )
    assert findings(manifest) == []
    manifest.write_text(BASE.replace('min_redis_version: "7.4"', 'min_redis_version: "{version}"'))
    assert "DECL002" not in {code for code, *_ in findings(manifest)}
    assert [code for code, *_ in findings(manifest)] == ["VER005"]  # not a version


@pytest.mark.parametrize(
    "value", ["{os.getenv('BINDIR')}/lib/libsvs.so", '{os.getenv( "BINDIR" )}/lib/libsvs.so']
)
def test_an_os_getenv_field_reads_the_environment_as_ramp_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """RediSearch's Redis Enterprise manifest writes local_path: "{os.getenv('BINDIR')}/...", which
    RAMP's f-string evaluation reads from the environment. It was DECL002 (modpack never evaluates
    code), an error on a file Redis ships; it is read as ${BINDIR}: set, the file is clean, unset,
    the one finding names the variable, as RAMP would pack the path "None/lib/libsvs.so"."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + f"dependencies:\n    svs:\n        local_path: {json.dumps(value)}\n")
    monkeypatch.delenv("BINDIR", raising=False)
    assert [(code, line, message) for code, line, message, _ in findings(manifest)] == [
        ("DECL003", 15, "the environment variable BINDIR is not set ({os.getenv('BINDIR')} reads it)")
    ]
    # RAMP reads it too: the fix is not the one for a ${BINDIR}, which `ramp pack` never expands
    assert [fix for *_, fix in findings(manifest)] == [
        "Set BINDIR for modpack, as for `ramp pack`, which reads it too, or write the value."
    ]
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libsvs.so").write_bytes(b"\x7fELF")
    monkeypatch.setenv("BINDIR", str(tmp_path))
    assert findings(manifest) == []


def test_an_unset_os_getenv_field_is_said_as_ramp_reads_that_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only where RAMP evaluates a value and leaves it out of module.json (run_command_line_args, a
    dependency's local_path) does it read the variable; a copied value it packs as written, which
    DECL012 says beside it: DECL003 said there too that RAMP reads it. redis_args RAMP never packs
    and modpack never runs: nothing is packed otherwise there (it was DECL012, 'packs as written'), and
    nothing unset is a finding there (it was DECL003, 'packs as written')."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE.replace("description: test module", "description: \"Built {os.getenv('NOPE')}\"")
        + "run_command_line_args: \"A {os.getenv('NOPE')}\"\n"
        + "redis_args:\n    loadmodule: \"{os.getenv('HOME')}/dep.so\"\n"
    )
    monkeypatch.delenv("NOPE", raising=False)
    manifest.write_text(manifest.read_text().replace("{os.getenv('HOME')}", "{os.getenv('NOPE')}"))
    said = [(code, message, fix) for code, _line, message, fix in findings(manifest)]
    assert len(said) == 3  # nothing of redis_args
    assert set(said) == {
        (
            "DECL012",
            "`ramp pack` packs {os.getenv('NOPE')} as written, where modpack reads NOPE from the environment",
            "If the file is packed with ramp pack too, write the value itself; modpack expands it.",
        ),
        (
            "DECL003",
            "the environment variable NOPE is not set",
            "Set NOPE for modpack, or write the value: `ramp pack` packs {os.getenv('NOPE')} as written.",
        ),
        (
            "DECL003",
            "the environment variable NOPE is not set ({os.getenv('NOPE')} reads it)",
            "Set NOPE for modpack, as for `ramp pack`, which reads it too, or write the value.",
        ),
    }


def test_an_old_key_name_hints_its_new_name_everywhere(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE.replace("min_redis_pack_version", "min_rlec_version"))
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        '[module]\nname = "m"\nsemantic_version = "1.0.0"\nmin_redis_version = "7.4"\n'
        'compatible_redis_version = "7.4"\nmin_rlec_version = "7.8"\n'
        '[[commands]]\nname = "m.get"\narity = 2\nflags = ["readonly"]\nfirst_key = 1\nlast_key = 1\nstep = 1\n'
    )
    document = json.loads((ROOT / "tests" / "cases" / "good" / "module-json" / "module.json").read_text())
    document["min_rlec_version"] = "7.8"
    module_json = tmp_path / "module.json"
    module_json.write_text(json.dumps(document))
    for path, code in ((manifest, "DECL006"), (toml, "DECL001"), (module_json, "SCH003")):
        hints = [fix for found, _, _, fix in findings(path) if found == code]
        assert hints == [
            "'min_rlec_version' is the old name of 'min_redis_pack_version': write min_redis_pack_version."
        ], path


def test_numbers_ramp_would_copy_as_floats_are_errors_at_the_entry(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE
        + "crdb:\n    supported_featureset_versions: [1.0]\n"
        + 'add_command:\n    - {"command_arity": 3.0, "command_name": "x.get", "first_key": 1, '
        '"flags": ["readonly", "module"], "last_key": "1e308", "step": 1}\n'
    )
    found = findings(manifest)
    assert sorted((code, line) for code, line, *_ in found) == [
        ("CMD004", 16),
        ("SCH002", 14),
        ("SCH002", 16),
    ]
    arity = next(f for f in found if f[0] == "CMD004")
    assert "`add_command[0].command_arity` is a float (3.0)" in arity[2] and arity[3].startswith("Write 3,")
    last_key = next(f for f in found if f[0] == "SCH002" and f[1] == 16)
    assert "`add_command[0].last_key` is a string" in last_key[2]  # YAML 1.1 reads 1e308 as text


def test_an_unset_variable_is_the_one_finding_of_its_value(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE.replace('min_redis_version: "7.4"', 'min_redis_version: "${MODPACK_UNSET_X}"'))
    assert [(code, line) for code, line, *_ in findings(manifest)] == [("DECL003", 9)]


def test_an_unset_variable_in_a_value_nobody_reads_is_no_error(tmp_path: Path) -> None:
    """FalkorDB's ramp.yml: `version: ${SEMVER}` (RAMP takes version from the module) and
    hyphenated keys RAMP ignores. Their own DECL005/DECL006 say so; an unset-variable error on a
    value never read was a false alarm, and so would be a type finding on the raw text."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE
        + "version: ${MODPACK_UNSET_X}\n"
        + "semantic-version: ${MODPACK_UNSET_X}\n"
        + 'config_command: "${MODPACK_UNSET_Y}"\n'
    )
    found = sorted((code, line) for code, line, *_ in findings(manifest))
    assert found == [("DECL003", 15), ("DECL005", 13), ("DECL006", 14)]
    result = run_modpack("validate", manifest)
    assert result.returncode == 1 and "the environment variable MODPACK_UNSET_Y is not set" in result.stdout
    assert "MODPACK_UNSET_X" not in result.stdout


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        (None, [("CAP004", "capabilities is missing: RAMP writes an empty list")]),
        ("capabilities: []\n", [("CAP004", "capabilities is empty")]),
        ("capabilities:\n    - types\n", []),
    ],
    ids=["missing", "empty", "declared"],
)
def test_a_manifest_without_capabilities_packs_an_empty_list(
    tmp_path: Path, capabilities: str | None, expected: list[tuple[str, str]]
) -> None:
    """RAMP's default for capabilities is [] (ramp.md §2.1, create_default_metadata), so a manifest
    that leaves the key out packs exactly what `capabilities: []` packs, and modpack.toml, which
    defaults to the same [], says CAP004 for both. A real manifest (redis-interval-sets) omits it."""
    body = BASE.replace("capabilities:\n    - types\n", capabilities or "")
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(body)
    found = [(code, message) for code, _, message, _ in findings(manifest) if code.startswith("CAP")]
    assert found == expected


def test_os_list_is_named_as_the_old_name_of_operating_systems(tmp_path: Path) -> None:
    """A 2019 RedisAI fork lists `os_list:` (RAMP's first attempt, PR #18, reverted by #33; RAMP
    2.5.2 named the field operating_systems, ramp.md §8). The fix offered was the generic 'Correct
    the key's spelling', which os_list, spelt right, cannot follow."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + "os_list:\n    - rhel8\n")
    [(code, _, message, fix)] = findings(manifest)
    assert (code, message) == ("DECL006", "RAMP does not know the key 'os_list'")
    assert fix == "'os_list' is the old name of 'operating_systems': write operating_systems."


@pytest.mark.rule("KEY003", "SCH006")
def test_what_build_packs_from_a_manifest_is_validated_as_build_judges_it(tmp_path: Path) -> None:
    """RAMP reads module_name, semantic_version and commands from the module (DECL005), but
    `modpack build` without --discover packs the manifest's own, and module_file names the
    packed binary: a last_key below the first key and module_file '../hello.so' passed validate,
    and build refused both."""
    from tests.support.paths import HELLO

    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE
        + 'module_name: hello\nsemantic_version: "1.2.3"\nmodule_file: ../hello.so\ncommands:\n'
        + "  - {command_name: hello.set, command_arity: 3, flags: [write], first_key: 5, last_key: 1, step: 1}\n"
    )
    lines = manifest.read_text().splitlines()
    at = {
        key: 1 + next(i for i, line in enumerate(lines) if line.startswith(key))
        for key in ("module_file", "  - ")
    }
    checked = run_modpack("validate", manifest)
    built = run_modpack("build", tmp_path, "--so", HELLO, "-o", tmp_path / "out")
    for done in (checked, built):
        assert done.returncode == 1, done.stdout + done.stderr
        said = done.stdout
        assert (
            f"ramp.yml:{at['module_file']} [module_file]: error SCH006 module_file '../hello.so'" in said
        ), said
        assert f"ramp.yml:{at['  - ']} [commands[0].last_key]: error KEY003 command 'hello.set'" in said, said
        assert said.count("KEY003") == said.count("SCH006") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.rule("SCH002")
@pytest.mark.parametrize("key", ["add_command", "overide_command", "commands"])
def test_a_command_list_that_is_no_list_is_said_by_validate_as_by_build(tmp_path: Path, key: str) -> None:
    """`add_command: {command_name: x}` (an object, not a list of them) passed validate, and build
    --discover refused it (SCH002)."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + f'{key}: {{"command_name": "x"}}\n')
    done = run_modpack("validate", manifest)
    assert done.returncode == 1, done.stdout
    assert f"[{key}]: error SCH002 `{key}` is an object" in done.stdout, done.stdout
    assert done.stdout.count("SCH002") == 1


@pytest.mark.redis
def test_what_discovery_replaces_is_not_judged_where_it_is_replaced(tmp_path: Path) -> None:
    """ramp-pack and build --discover take module_name and commands from the loaded module, as RAMP
    does: the manifest's own, which validate and a plain build judge (they pack them), refused
    those runs too (SCH006 of '../evil', KEY003 of a command the module does not register so)."""
    from tests.support.paths import HELLO
    from tests.support.tools import require_redis

    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE
        + 'module_name: "../evil"\nsemantic_version: "1.x"\ncommands:\n'
        + "  - {command_name: hello.get, command_arity: 2, flags: [readonly], first_key: 2, last_key: 1, step: 1}\n"
    )
    for command in (
        ["ramp-pack", HELLO, "-m", manifest, "-o", tmp_path / "r.zip"],
        ["build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "d"],
    ):
        done = run_modpack(*command)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SCH006" not in done.stdout and "KEY003" not in done.stdout, done.stdout
        assert "VER001" not in done.stdout, done.stdout  # semantic_version too: the module's is packed
    plain = run_modpack("build", manifest, "--so", HELLO, "-o", tmp_path / "p")
    assert plain.returncode == 1 and "SCH006" in plain.stdout and "KEY003" in plain.stdout, plain.stdout
    assert "VER001" in plain.stdout


@pytest.mark.rule("DECL011")
def test_a_ramp_yml_whose_default_bundle_name_is_too_long_is_refused_with_its_line(tmp_path: Path) -> None:
    """build of a ramp.yml whose module_name makes the default bundle name longer than 200 bytes
    (with every OS the binary loads on) said 'the output name is 212 bytes long', exit 2, naming no
    file, and its fix named [build] output, which a ramp.yml does not have."""
    from tests.support.paths import HELLO

    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE
        + f'module_name: {"h" * 150}\nsemantic_version: "1.2.3"\ncommands:\n'
        + "  - {command_name: hello.get, command_arity: 2, flags: [readonly], first_key: 1, last_key: 1, step: 1}\n"
    )
    line = manifest.read_text().splitlines().index(f"module_name: {'h' * 150}") + 1
    done = run_modpack("build", manifest, "--so", HELLO, "-o", tmp_path / "out")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"ramp.yml:{line} [module_name]: error DECL011 the output name is 212 bytes long" in done.stdout
    assert "fix: Shorten the module name, or build with --name." in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.rule("SCH002")
@pytest.mark.parametrize("key", ["add_command", "overide_command", "dependencies", "optional-dependencies"])
def test_a_list_left_empty_is_an_error_as_ramp_pack_fails_on_it(tmp_path: Path, key: str) -> None:
    """`add_command:` with its entries commented out is YAML null, which RAMP copies over its default
    and then iterates (TypeError, or "invalid dependencies format"): no zip. It validated clean."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + f"{key}:\n#  - {{command_name: hello.search}}\n")
    done = run_modpack("validate", manifest)
    assert done.returncode == 1, done.stdout
    assert f"ramp.yml:13 [{key}]: error SCH002 `{key}` is a null (null)" in done.stdout, done.stdout
    assert "`ramp pack` fails on it and writes no zip" in done.stdout


def test_an_alias_is_read_as_ramp_reads_it(tmp_path: Path) -> None:
    """RAMP loads the manifest with yaml.FullLoader, which follows aliases; modpack refused any
    alias ("IN004 ... manifests may not use aliases", with no line) and checked nothing else."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        'display_name: Hello\ncapabilities: [types]\ncommand_line_args: ""\n'
        'compatible_redis_version: &redis "7.4"\nmin_redis_version: *redis\n'
    )
    done = run_modpack("validate", manifest)
    assert done.returncode == 0, done.stdout
    # the alias's value is what is checked: a bad one is said at both keys
    manifest.write_text(manifest.read_text().replace('"7.4"', '"7"'))
    done = run_modpack("validate", manifest)
    assert done.returncode == 1, done.stdout
    assert "[compatible_redis_version]: error VER005" in done.stdout, done.stdout
    assert "[min_redis_version]: error VER005" in done.stdout, done.stdout


@pytest.mark.rule("IN004")
@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "a1: &a1 [*a1]\n",
            "ramp.yml:1: error IN004 YAML alias *a1 at line 1 refers to a collection it is inside",
        ),
        (
            'a0: &a0 ["x","x","x","x","x","x","x","x","x"]\n'
            + "".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)),
            "error IN004 YAML document with more than 100000 values, aliases expanded",
        ),
    ],
)
def test_an_alias_that_cycles_or_explodes_is_refused_at_its_line(
    tmp_path: Path, text: str, said: str
) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(text)
    done = run_modpack("validate", manifest)
    assert done.returncode == 1 and said in done.stdout, done.stdout


GET = '{"command_name": "hello.get", "command_arity": 2, "first_key": 1, "last_key": 1, "step": 1, "flags": ["readonly"]}'


@pytest.mark.parametrize(
    "tail",
    [
        f"overide_command:\n  - {GET}\n  - {GET.replace('2,', '-2,')}\n",  # the second replaces the first
        f"commands:\n  - {GET}\noveride_command:\n  - {GET}\n",  # the override replaces the entry
    ],
)
def test_an_override_replaces_the_entry_of_its_name_as_ramp_packs_it(tmp_path: Path, tail: str) -> None:
    """RAMP replaces the entry whose command_name is the override's, in place, each time: module.json
    carries one hello.get. Validation judged both entries as packed and said CMD003 (a duplicate
    command, whose second registration fails), which never happens."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + tail)
    done = run_modpack("validate", manifest)
    assert done.returncode == 0 and "CMD003" not in done.stdout, done.stdout


@pytest.mark.rule("DECL004")
def test_an_override_of_an_excluded_command_is_an_error(tmp_path: Path) -> None:
    """RAMP excludes first, so an override of an excluded command matches nothing: RAMP drops it
    with a message and exit 0, and module.json carries neither. modpack said nothing."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + f"exclude_commands: [hello.get]\noveride_command:\n  - {GET}\n")
    done = run_modpack("validate", manifest)
    assert done.returncode == 1, done.stdout
    line = BASE.count("\n") + 3
    assert (
        f"ramp.yml:{line} [overide_command[0].command_name]: error DECL004 overide_command 'hello.get'"
        in done.stdout
    )


def test_a_flag_of_an_override_is_no_load_failure(tmp_path: Path) -> None:
    """An override replaces module.json's text of a command, never what RedisModule_CreateCommand
    is given: CMD023 said its `internal` (Redis 8.0) meant "the module does not load on Redis 7.4"."""
    manifest = tmp_path / "ramp.yml"
    override = GET.replace('["readonly"]', '["readonly", "internal"]')
    manifest.write_text(BASE + f"overide_command:\n  - {override}\n")
    done = run_modpack("validate", manifest)
    assert "CMD023" not in done.stdout and "does not load" not in done.stdout, done.stdout
    assert "warning CMD008 flag 'internal' is the RedisModule_CreateCommand spelling" in done.stdout


@pytest.mark.parametrize(
    "tail",
    [
        'commands:\n  - {"command_name": [a, b]}\nexclude_commands: [x]\n',
        'overide_command:\n  - {"command_name": [a]}\n  - {"command_name": [a]}\n',
    ],
)
def test_a_command_name_that_is_no_string_is_a_finding_not_a_crash(tmp_path: Path, tail: str) -> None:
    """The packing of the entries as RAMP packs them (9d80af4) looked names up in a set: a
    command_name written as a list ended in "internal error: TypeError: unhashable type"."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(BASE + tail)
    done = run_modpack("validate", manifest)
    assert done.returncode == 1 and "internal error" not in done.stderr, done.stderr
    assert "SCH002" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "ramp.yml",
            BASE.replace(
                'min_redis_version: "7.4"\n', 'min_redis_version: "7.4"\nmin_redis_version: "8.0"\n'
            ),
        ),
    ],
)
def test_a_repeated_key_is_judged_at_the_value_readers_keep(tmp_path: Path, name: str, text: str) -> None:
    """YAML readers (RAMP's) keep a repeated key's last value; its findings (and IN006 itself) were
    said at the first occurrence, a line that reads "7.4" for a VER007 about '8.0'. module.json's
    locator still maps a repeated key to its first occurrence (its walking resolver must agree with
    the full map on keys whose paths collide, such as "" and "a.b")."""
    path = tmp_path / name
    path.write_text(text)
    line = (
        text.splitlines().index(
            'min_redis_version: "8.0"' if name == "ramp.yml" else '  "min_redis_version": "8.0"'
        )
        + 1
    )
    done = run_modpack("validate", path)
    assert f"{name}:{line} [min_redis_version]: error VER007 min_redis_version '8.0'" in done.stdout, (
        done.stdout
    )
    assert f"{name}:{line} [min_redis_version]: warning IN006" in done.stdout, done.stdout


def test_merge_keys_are_merged_not_repeated(tmp_path: Path) -> None:
    """`<<: *a` then `<<: *b` merges both mappings (RAMP's FullLoader does); IN006 called the second
    merge key a repeated key whose last value wins."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        'display_name: Hello\ncapabilities: [types]\ncommand_line_args: ""\n'
        'x-a: &a {min_redis_version: "7.4"}\nx-b: &b {compatible_redis_version: "7.4"}\n<<: *a\n<<: *b\n'
    )
    done = run_modpack("validate", manifest)
    assert "IN006" not in done.stdout, done.stdout
    assert "VER006" not in done.stdout, done.stdout  # compatible_redis_version came through the merge
    # a repeated key inside a merged mapping is still one (b12a238 stopped looking inside merges)
    manifest.write_text(BASE + '<<: {min_redis_pack_version: "7.8", min_redis_pack_version: "8.0"}\n')
    inside = run_modpack("validate", manifest)
    assert "[<<.min_redis_pack_version]: warning IN006" in inside.stdout, inside.stdout


@pytest.mark.rule("DECL003")
def test_an_unset_variable_in_a_ramp_yml_gets_a_fix_for_a_ramp_yml(tmp_path: Path) -> None:
    """DECL003's fix spoke of a [[targets]] entry's so, which a ramp.yml has none of, and not of
    `ramp pack`, which never expands ${NAME}: it copies it, or reads it as a Python name where it
    evaluates the value (command_line_args), so "copies it as it is" was untrue there."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        BASE.replace('compatible_redis_version: "7.4"', 'compatible_redis_version: "${MODPACK_TEST_UNSET}"')
    )
    done = run_modpack("validate", manifest)
    assert "error DECL003 the environment variable MODPACK_TEST_UNSET is not set" in done.stdout, done.stdout
    said = "fix: Set MODPACK_TEST_UNSET for modpack, or write the value: `ramp pack` never expands"
    assert f"{said} ${{MODPACK_TEST_UNSET}}." in done.stdout, done.stdout
    assert "[[targets]]" not in done.stdout


_TABBED = 'command_line_args: ""\ncompatible_redis_version: "7.4"\nmin_redis_version: "7.4"\ncapabilities: [types]\n'


@pytest.mark.rule("IN004")
@pytest.mark.parametrize(
    ("first", "line"),
    [
        ("display_name: X\t\n", 1),  # a tab after a value
        ("display_name: X\t# the name\n", 1),  # before a comment
        ("dependencies: {dep: {url: https://example.com/d.tgz?raw=1}}\n", 1),  # a `?` in a flow scalar
        ('add_command:\n  - {"command_name": "ts.mget",\t"command_arity": -1}\n', 2),  # in a flow mapping
    ],
)
def test_a_tab_ramp_cannot_read_is_an_error(tmp_path: Path, first: str, line: int) -> None:
    """libyaml takes these tabs, PyYAML's own reader (RAMP's, yaml.FullLoader) refuses them and
    `ramp pack` then packs defaults for every field: validate said the file was clean."""
    import yaml

    text = first + _TABBED
    with pytest.raises(yaml.YAMLError):
        yaml.load(text, Loader=yaml.FullLoader)  # RAMP's own call
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(text, "utf-8")
    done = run_modpack("validate", manifest)
    assert done.returncode == 1, done.stdout
    assert f"ramp.yml:{line}: error IN004 YAML syntax error: " in done.stdout, done.stdout
    assert "packs its defaults for every field of a manifest it cannot read" in done.stdout, done.stdout


def test_a_tab_inside_quotes_is_text(tmp_path: Path) -> None:
    manifest = tmp_path / "ramp.yml"
    manifest.write_text('display_name: "X\tY"\n' + _TABBED, "utf-8")
    done = run_modpack("validate", "--format", "json", manifest)
    assert done.returncode == 0, done.stdout


_VERSIONS = (
    'display_name: X\ncapabilities: [types]\nmin_redis_version: "7.4"\ncompatible_redis_version: "7.4"\n'
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        pytest.param(
            'display_name: X\nmin_redis_version: "7.4"\ncompatible_redis_version: "${REDIS_MM}"\n',
            "ramp.yml:3 [compatible_redis_version]: warning DECL012 `ramp pack` packs ${REDIS_MM} as written,"
            " where modpack expands it from the environment",
            marks=pytest.mark.rule("DECL012"),
            id="a variable RAMP copies",
        ),
        pytest.param(
            _VERSIONS + 'command_line_args: "BACKENDSPATH ${REDIS_MM}/deps"\n',
            "ramp.yml:5 [command_line_args]: warning DECL012 `ramp pack` reads {REDIS_MM} in ${REDIS_MM} as a"
            " Python name and stops (NameError)",
            marks=pytest.mark.rule("DECL012"),
            id="a variable RAMP evaluates",
        ),
        pytest.param(
            _VERSIONS + "command_line_args: 'CONFIG \"a b\"'\n",
            "ramp.yml:5 [command_line_args]: warning DECL012 `ramp pack` evaluates command_line_args as a"
            " Python f-string, which this value is not (a double quote, which ends the f-string)",
            marks=pytest.mark.rule("DECL012"),
            id="a double quote",
        ),
        pytest.param(
            _VERSIONS + 'run_command_line_args: "PATTERN {a"\n',
            "ramp.yml:5 [run_command_line_args]: warning DECL012 `ramp pack` evaluates run_command_line_args as a"
            " Python f-string, which this value is not (a { that no } closes)",
            marks=pytest.mark.rule("DECL012"),
            id="a lone brace",
        ),
        pytest.param(
            'display_name: X\nmin_redis_version: "8.0"\n',
            "ramp.yml:2 [min_redis_version]: warning DECL012 `ramp pack` (2.5.9 and later) writes"
            " compatible_redis_version '7.4' when nothing sets it, below min_redis_version '8.0'",
            marks=pytest.mark.rule("DECL012"),
            id="RAMP's 7.4 below the minimum",
        ),
        pytest.param(
            _VERSIONS + 'dependencies:\n  "${REDIS_MM}":\n    url: https://example.com/d.tgz\n',
            "ramp.yml:6 [dependencies.${REDIS_MM}]: warning DECL012 `ramp pack` packs ${REDIS_MM} as written,"
            " where modpack expands it from the environment",
            marks=pytest.mark.rule("DECL012"),
            id="a variable in a dependency's name",
        ),
        pytest.param(
            _VERSIONS + "command_line_args: \"PATH {os.getenv('REDIS_MM')}/deps\"\n",
            "ramp.yml:5 [command_line_args]: warning DECL012 `ramp pack` packs {os.getenv('REDIS_MM')} into"
            " module.json as written (only its discovery evaluates command_line_args): Redis Enterprise"
            " loads the module with that text, where modpack writes REDIS_MM's value\n"
            "  fix: Write the value itself; a value only RAMP's discovery needs goes in run_command_line_args,",
            marks=pytest.mark.rule("DECL012"),
            id="an os.getenv field in the load arguments",
        ),
        pytest.param(
            _VERSIONS + "description: \"Built for {os.getenv('REDIS_MM')}\"\n",
            "ramp.yml:5 [description]: warning DECL012 `ramp pack` packs {os.getenv('REDIS_MM')} as written,"
            " where modpack reads REDIS_MM from the environment",
            marks=pytest.mark.rule("DECL012"),
            id="an os.getenv field RAMP never evaluates",
        ),
        pytest.param(
            _VERSIONS + 'command_line_args: "PATH ${REDIS_MM}/deps"\n',
            "ramp.yml:5 [command_line_args]: warning DECL012 `ramp pack` reads {REDIS_MM} in ${REDIS_MM} as a"
            " Python name and stops (NameError)\n  fix: Write the value itself: `ramp pack` packs"
            " command_line_args into module.json as written; give its discovery the environment's value in"
            " run_command_line_args, as {os.getenv('REDIS_MM')}.",
            marks=pytest.mark.rule("DECL012"),
            id="a variable in the load arguments",
        ),
        # RAMP's own forms: evaluated, then left out of module.json
        (_VERSIONS + "run_command_line_args: \"PATH {os.getenv('REDIS_MM')}/deps\"\n", None),
        (_VERSIONS + "dependencies:\n  d:\n    local_path: \"{os.getenv('REDIS_MM')}/d.tgz\"\n", None),
        (_VERSIONS + 'command_line_args: "PATH {{NUMVER}}/deps"\n', None),  # literal braces for RAMP
        ('display_name: X\nmin_redis_version: "7.2"\n', None),
        (_VERSIONS + "run_command_line_args: 'PATH {os.getenv(\"REDIS_MM\")}/deps'\n", None),  # Python 3.12's
        ('display_name: X\nmin_redis_version: "8.0"\ncompatible_redis_version: "8.0"\n', None),
        # RAMP evaluates run_command_line_args in its place, and overwrites the discovered keys
        (_VERSIONS + "command_line_args: 'A \"b c\"'\nrun_command_line_args: A\n", None),
        (_VERSIONS + 'semantic_version: "${REDIS_MM}"\nmodule_name: "m${REDIS_MM}"\n', None),
    ],
)
def test_what_ramp_packs_otherwise_is_said(tmp_path: Path, text: str, said: str | None) -> None:
    """`ramp pack` never expands ${VAR} (validate said nothing when it was set), stops on a value
    it evaluates as an f-string that is none, and writes compatible_redis_version 7.4 below an 8.0
    minimum; modpack build does none of these, so validate said the file was clean."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(text, "utf-8")
    done = run_modpack("validate", manifest, env={"REDIS_MM": "7.4"})
    if said is None:
        assert "DECL012" not in done.stdout, done.stdout
    else:
        assert said in done.stdout, done.stdout


@pytest.mark.rule("SCH002")
@pytest.mark.parametrize("systems", ["87654", "rhel8", "{a: 1}", "true"])
def test_operating_systems_of_another_type_is_a_finding_not_an_internal_error(
    tmp_path: Path, systems: str
) -> None:
    """The bundle-name check iterated operating_systems: a number or a bool was "internal error:
    TypeError: 'int' object is not iterable" (exit 1, no finding said). Found by the fuzzing test;
    a string and a mapping are here beside them."""
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(_VERSIONS + f"module_name: hello\noperating_systems: {systems}\n", "utf-8")
    done = run_modpack("validate", manifest)  # module_name: build names the bundle after it
    assert "internal error" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1, done.stdout
    assert "ramp.yml:6 [operating_systems]: error SCH002" in done.stdout, done.stdout
