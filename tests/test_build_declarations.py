"""`modpack build` and `modpack validate` agree on declarations: settings, numbers, dependencies,
modules without commands, ramp.yml as RAMP users write it, and `init` output that builds."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import tarfile
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import run_modpack
from tests.support.modules import compile_module
from tests.support.paths import FIXTURES, HELLO, REALWORLD, ROOT
from tests.support.tools import needs_realworld, require_redis

EXAMPLE = (FIXTURES / "example" / "modpack.toml").read_text()


def project(folder: Path, text: str = EXAMPLE) -> Path:
    toml = folder / "modpack.toml"
    toml.write_text(text.replace("../so/x86_64/hello.so", str(HELLO)))
    return toml


def bundles(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.zip")) if folder.is_dir() else []


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code", "path", "fix"),
    [
        ("arity = 3\n", "arity = 3.0\n", "CMD004", "commands[0].arity", "Write 3, without the decimal point"),
        ("arity = 2\n", "arity = 2.5\n", "CMD004", "commands[1].arity", "Write a whole number"),
        ("step = 2\n", "step = 1e308\n", "SCH002", "commands[2].step", "Write a whole number"),
        ("step = 2\n", "step = 99999999999\n", "SCH005", "commands[2].step", "Use a value of the form"),
        (
            'compatible_redis_version = "7.4"\n',
            'compatible_redis_version = "7.4"\ncrdb = { supported_featureset_versions = [1.0] }\n',
            "SCH002",
            "module.crdb.supported_featureset_versions[0]",
            "Write 1, without the decimal point",
        ),
    ],
    ids=["integral-float", "fraction", "huge-float", "past-c-int", "crdb-float"],
)
def test_a_float_or_huge_number_in_an_integer_field_is_one_error(
    tmp_path: Path, old: str, new: str, code: str, path: str, fix: str
) -> None:
    assert old in EXAMPLE
    toml = project(tmp_path, EXAMPLE.replace(old, new, 1))
    line = EXAMPLE.replace(old, new, 1).splitlines().index(new.splitlines()[-1]) + 1
    for command in (("validate", toml), ("build", toml, "-o", tmp_path / "out")):
        result = run_modpack(*command)
        assert result.returncode == 1, result.stdout + result.stderr
        errors = [row for row in result.stdout.splitlines() if ": error " in row]
        assert errors == [row for row in errors if f"{toml}:{line} [{path}]: error {code}" in row], errors
        assert len(errors) == 1 and fix in result.stdout
    assert bundles(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('author = "modpack"\n', "author = 2024-01-15\n", "`module.author` is a date (2024-01-15)"),
        ("arity = 3\n", "arity = 07:32:00\n", "`commands[0].arity` is a time (07:32:00)"),
        (
            'display_name = "Hello"\n',
            "display_name = 1979-05-27T07:32:00Z\n",
            "`module.display_name` is a datetime (1979-05-27T07:32:00+00:00)",
        ),
    ],
    ids=["date", "time", "datetime"],
)
def test_a_toml_date_or_time_is_a_finding_of_build_as_of_validate(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    """A TOML date or time where a string or number belongs: build ended in 'internal error:
    TypeError: Object of type date is not JSON serializable', and validate showed the value as
    "datetime.date(2024, 1, 15)"."""
    assert old in EXAMPLE
    toml = project(tmp_path, EXAMPLE.replace(old, new, 1))
    for command in (("validate", toml), ("build", toml, "-o", tmp_path / "out")):
        result = run_modpack(*command)
        assert result.returncode == 1, result.stdout + result.stderr
        assert said in result.stdout and "internal error" not in result.stderr, result.stdout + result.stderr
    assert bundles(tmp_path / "out") == []


def test_an_integer_past_python_s_digit_limit_is_a_finding(tmp_path: Path) -> None:
    toml = project(tmp_path, EXAMPLE.replace("step = 2\n", "step = 1" + "0" * 4400 + "\n", 1))
    for command in (("validate", toml), ("build", toml, "-o", tmp_path / "out")):
        result = run_modpack(*command)
        assert result.returncode == 1 and "IN003" in result.stdout
        assert "internal error" not in result.stdout + result.stderr


def test_module_json_of_a_build_holds_no_float(tmp_path: Path) -> None:
    result = run_modpack("build", project(tmp_path), "-o", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(bundles(tmp_path / "out")[0]) as archive:
        text = archive.read("module.json").decode()
    json.loads(text, parse_float=lambda s: pytest.fail(f"a float in module.json: {s}"))


# --- [validate] settings ------------------------------------------------------------------------

NO_CAPABILITIES = EXAMPLE.replace(
    'capabilities = ["types", "replica_of", "persistence_rdb", "persistence_aof", "clustering", "failover_migrate", "reshard_rebalance", "backup_restore", "eviction_expiry"]',
    "capabilities = []",
)


@pytest.mark.parametrize(
    ("settings", "exit_status", "shown"),
    [
        ("", 0, {"CAP004"}),
        ('[validate]\nignore = ["CAP004"]\n', 0, set()),
        ("[validate]\nstrict = true\n", 1, {"CAP004"}),
        ('[validate]\nstrict = true\nignore = ["CAP"]\n', 0, set()),
        ('[validate]\nstrict = true\nselect = ["ELF"]\n', 0, set()),
    ],
    ids=["default", "ignore", "strict", "strict-ignore", "strict-select"],
)
def test_build_honours_validate_settings_as_validate_does(
    tmp_path: Path, settings: str, exit_status: int, shown: set[str]
) -> None:
    assert NO_CAPABILITIES != EXAMPLE
    toml = project(tmp_path, NO_CAPABILITIES.replace("[build]", f"{settings}\n[build]"))
    checked = run_modpack("validate", toml, cwd=tmp_path)
    built = run_modpack("build", toml, "-o", tmp_path / "out", cwd=tmp_path)
    assert (checked.returncode, built.returncode) == (exit_status, exit_status), built.stdout + built.stderr

    def codes(text: str) -> set[str]:
        return {word for word in text.split() if word[:3] in ("CAP", "ELF") and word[3:].isdigit()}

    assert codes(checked.stdout) - {"ELF029"} == shown
    assert codes(built.stdout) == codes(checked.stdout)  # the same findings for the same inputs
    assert len(bundles(tmp_path / "out")) == (1 if exit_status == 0 else 0)
    if exit_status:
        assert "strict" in built.stderr


@pytest.mark.redis
def test_build_with_load_true_loads_the_module_like_validate(tmp_path: Path) -> None:
    require_redis()
    drifted = EXAMPLE.replace('name = "hello.copy"', 'name = "hello.nothing"')
    toml = project(tmp_path, drifted.replace("[build]", "[validate]\nload = true\n\n[build]"))
    checked = run_modpack("validate", toml, cwd=tmp_path)
    built = run_modpack("build", toml, "-o", tmp_path / "out", cwd=tmp_path)
    assert checked.returncode == built.returncode == 1, built.stdout + built.stderr
    loaded = [row for row in checked.stdout.splitlines() if " LOAD" in row]
    assert loaded and "hello.nothing" in "".join(loaded)
    assert [row for row in built.stdout.splitlines() if " LOAD" in row] == loaded
    assert bundles(tmp_path / "out") == []


# --- modules without commands -------------------------------------------------------------------


def test_a_module_without_commands_is_said_once_by_validate_and_build(tmp_path: Path) -> None:
    toml = project(tmp_path, EXAMPLE[: EXAMPLE.index("[[commands]]")])
    for command in (("validate", toml), ("build", toml, "-o", tmp_path / "out")):
        result = run_modpack(*command)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("warning CMD030") == 1 and "the proxy routes no command" in result.stdout
    strict = project(tmp_path, EXAMPLE[: EXAMPLE.index("[[commands]]")] + "[validate]\nstrict = true\n")
    assert run_modpack("build", strict, "-o", tmp_path / "strict").returncode == 1
    assert bundles(tmp_path / "strict") == []


# --- local dependency archives ------------------------------------------------------------------


def make_tgz(path: Path, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("plugin.so")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


DEPENDENCY = '\n[module.dependencies.plugin]\nurl = "https://example.com/plugin.tgz"\nlocal_path = "{path}"\n'


def with_dependency(path: str) -> str:
    head, tail = EXAMPLE.split("[platform]", 1)
    return head + DEPENDENCY.format(path=path) + "\n[platform]" + tail


def test_a_local_dependency_archive_ships_and_validates_clean(tmp_path: Path) -> None:
    data = make_tgz(tmp_path / "plugin.tgz", b"\x7fELF plugin" * 1000)
    toml = project(tmp_path, with_dependency("plugin.tgz"))
    assert run_modpack("validate", toml).returncode == 0
    result = run_modpack("build", toml, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "out")
    with zipfile.ZipFile(bundle) as archive:
        assert [i.filename for i in archive.infolist()] == ["module.json", "hello.so", "deps/plugin.tgz"]
        assert archive.read("deps/plugin.tgz") == data
        assert archive.getinfo("deps/plugin.tgz").date_time == (1980, 1, 1, 0, 0, 0)
        module = json.loads(archive.read("module.json"))
    assert module["dependencies"] == {
        "plugin": {"url": "https://example.com/plugin.tgz", "sha256": hashlib.sha256(data).hexdigest()}
    }
    checked = run_modpack("validate", bundle)
    assert checked.returncode == 0 and "0 errors, 0 warnings, 0 infos" in checked.stdout, checked.stdout
    first = bundle.read_bytes()
    again = run_modpack("build", toml, "-o", tmp_path / "again")
    assert again.returncode == 0 and bundles(tmp_path / "again")[0].read_bytes() == first


SHA_A, SHA_B = "a" * 64, "b" * 64
NAMED_BY_VARIABLES = (
    f'\n[module.dependencies."${{DEP_NAME}}"]\nurl = "https://example.com/${{DEP_NAME}}.tgz"\nsha256 = "{SHA_A}"\n'
    f'\n[module.dependencies."a$${{b}}"]\nurl = "https://example.com/b.tgz"\nsha256 = "{SHA_B}"\n'
)


@pytest.mark.rule("DECL003")
def test_a_dependency_named_by_a_variable_takes_its_name_from_the_environment(tmp_path: Path) -> None:
    """`${VAR}` is read in every string, and a dependency's name is one (RedisAI's manifests name
    theirs by a build variable): module.json named the dependency `${DEP_NAME}`, its url expanded
    beside it, with nothing said. `$$` in a name is a literal `$` (`a$${b}` is `a${b}`), and init from the bundle writes
    it back so, for the same bundle again."""
    head, tail = EXAMPLE.split("[platform]", 1)
    toml = project(tmp_path, head + NAMED_BY_VARIABLES + "\n[platform]" + tail)
    built = run_modpack("build", toml, "-o", tmp_path / "out", env={"DEP_NAME": "torch"})
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = bundles(tmp_path / "out")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["dependencies"] == {
        "torch": {"url": "https://example.com/torch.tgz", "sha256": SHA_A},
        "a${b}": {"url": "https://example.com/b.tgz", "sha256": SHA_B},
    }
    missing = run_modpack("validate", toml)
    said = "[module.dependencies.${DEP_NAME}]: error DECL003 the environment variable DEP_NAME is not set"
    assert said in missing.stdout, missing.stdout
    again = tmp_path / "again"
    again.mkdir()
    assert run_modpack("init", "--from", bundle, cwd=again).returncode == 0
    rebuilt = run_modpack("build", again, "--so", HELLO, "-o", again / "out")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert bundles(again / "out")[0].read_bytes() == bundle.read_bytes()


@pytest.mark.rule("IN006")
def test_two_dependency_names_that_expand_alike_are_said(tmp_path: Path) -> None:
    head, tail = EXAMPLE.split("[platform]", 1)
    text = NAMED_BY_VARIABLES + NAMED_BY_VARIABLES.replace("DEP_NAME", "OTHER").replace('"a$${b}"', '"c"')
    toml = project(tmp_path, head + text + "\n[platform]" + tail)
    done = run_modpack("validate", toml, env={"DEP_NAME": "torch", "OTHER": "torch"})
    said = (
        "warning IN006 key '${OTHER}' expands to 'torch', as key '${DEP_NAME}' does: the last value is kept"
    )
    assert said in done.stdout, done.stdout


def test_a_local_dependency_needs_no_url(tmp_path: Path) -> None:
    """A local_path archive is shipped under deps/ and Redis Enterprise installs it from there, never
    from a url (redis-enterprise.md §8: 'RS does not download them'); RAMP packs such an entry with
    no url (normalize_dependencies skips local_path entries; RediSearch's Redis Enterprise manifest
    does it). The build wrote that module.json, then refused its own bundle: url was required."""
    data = make_tgz(tmp_path / "plugin.tgz", b"\x7fELF plugin" * 100)
    toml = project(
        tmp_path, with_dependency("plugin.tgz").replace('url = "https://example.com/plugin.tgz"\n', "")
    )
    checked = run_modpack("validate", toml)
    assert checked.returncode == 0 and "0 errors, 0 warnings" in checked.stdout, checked.stdout
    result = run_modpack("build", toml, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "out")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["dependencies"] == {"plugin": {"sha256": hashlib.sha256(data).hexdigest()}}
    assert run_modpack("validate", bundle).returncode == 0
    # Without local_path nothing ships: the {url, sha256} form is still whole or DEP001.
    (tmp_path / "bare").mkdir()
    (tmp_path / "nourl").mkdir()
    bare = project(tmp_path / "bare", with_dependency("x").replace('local_path = "x"\n', ""))
    assert "neither sha256 nor local_path" in run_modpack("validate", bare).stdout
    nourl = with_dependency("x").replace(
        'url = "https://example.com/plugin.tgz"\nlocal_path = "x"', f'sha256 = "{"a" * 64}"'
    )
    found = run_modpack("validate", project(tmp_path / "nourl", nourl)).stdout
    assert "DEP001" in found and "neither url nor local_path" in found, found


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"PK\x03\x04 a zip, not a tgz", "is not a gzip archive"),
        # cut to its first 100 bytes: only the gzip magic was read, and it validated and shipped
        (
            gzip.compress(b"x" * 50000 + bytes(range(256)) * 400)[:100],
            "is a damaged gzip archive: it ends before",
        ),
    ],
    ids=["missing", "not-gzip", "truncated"],
)
def test_an_unusable_dependency_archive_stops_the_build(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "plugin.tgz").write_bytes(content)
    toml = project(tmp_path, with_dependency("plugin.tgz"))
    checked = run_modpack("validate", toml)
    # validate, like [build] so, says that the checks of an archive not built yet did not run
    # (DECL010, an info); build needs it.
    assert ("DEP006" in checked.stdout) is (content is not None)
    assert ("info DECL010" in checked.stdout) is (content is None) and checked.returncode == (
        content is not None
    )
    result = run_modpack("build", toml, "-o", tmp_path / "out")
    assert result.returncode == 1 and "DEP006" in result.stdout and expected in result.stdout
    assert "[module.dependencies.plugin.local_path]" in result.stdout
    assert bundles(tmp_path / "out") == []


def test_a_dependency_needs_a_hash_or_an_archive(tmp_path: Path) -> None:
    head, tail = EXAMPLE.split("[platform]", 1)
    text = head + '\n[module.dependencies.plugin]\nurl = "https://example.com/p.tgz"\n\n[platform]' + tail
    result = run_modpack("validate", project(tmp_path, text))
    assert (
        result.returncode == 1
        and "DEP001" in result.stdout
        and "neither sha256 nor local_path" in result.stdout
    )


# --- ramp.yml -----------------------------------------------------------------------------------

MANIFEST = (ROOT / "tests" / "cases" / "good" / "ramp-yml" / "ramp.yml").read_text()


def test_build_in_a_folder_with_only_ramp_yml_names_exactly_what_to_add(tmp_path: Path) -> None:
    (tmp_path / "ramp.yml").write_text(MANIFEST)
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("modpack: ramp.yml does not give module_name, semantic_version, commands")
    assert lines[0].endswith(", add to ramp.yml:")
    assert [line.split("#")[0].strip() for line in lines[1:4]] == [  # each on its own line
        "module_name: NAME",
        "semantic_version: X.Y.Z",
        "commands: [...]",
    ]
    assert lines[4].startswith("  hint: Pass --discover")
    assert "DECL005" not in result.stdout + result.stderr


def test_ramp_yml_that_gives_name_version_and_commands_builds_without_a_contradicting_warning(
    tmp_path: Path,
) -> None:
    commands = (
        "commands:\n"
        '    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly", "fast"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + 'module_name: hello\nsemantic_version: "1.2.3"\n' + commands + "exclude_commands: []\n"
    )
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning DECL005" not in result.stdout and "info DECL005" in result.stdout
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert (module["module_name"], module["version"], module["semantic_version"]) == ("hello", 10203, "1.2.3")
    assert [c["command_name"] for c in module["commands"]] == ["hello.get"]
    assert "exclude_commands" not in module
    assert run_modpack("validate", bundle).returncode == 0


@pytest.mark.rule("SCH008")
def test_a_ramp_yml_with_a_text_field_left_empty_builds_without_it(tmp_path: Path) -> None:
    """`description:` left empty (RedisDebug's ramp.yml) is null in YAML, which RAMP packs as is:
    an error (SCH002) that failed CI on a real file, and build refused. It is a warning, and the
    bundle holds no null."""
    commands = (
        "commands:\n"
        '    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly", "fast"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    kept = "".join(
        line for line in MANIFEST.splitlines(True) if not line.startswith(("description:", "homepage:"))
    )
    manifest = kept + 'module_name: hello\nsemantic_version: "1.2.3"\n' + commands
    (tmp_path / "ramp.yml").write_text(manifest + "description:\nhomepage: ~\n")
    checked = run_modpack("validate", tmp_path / "ramp.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "warning SCH008 `description` is null, where a string is documented" in checked.stdout
    assert "warning SCH008 `homepage` is null" in checked.stdout
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert "description" not in module and "homepage" not in module
    assert None not in module.values()
    assert "SCH008" not in run_modpack("validate", bundle).stdout


@pytest.mark.redis
def test_a_ramp_yml_is_loaded_as_ramp_packs_it(tmp_path: Path) -> None:
    """A ramp.yml lists no commands (RAMP reads them from the module): `build ramp.yml --so` with
    [validate] load = true (a modpack.toml beside it) said LOAD017 "registered, but not declared"
    of every command the module registers, and strict failed the build. It is compared with the
    module.json RAMP packs: what it registers, with the manifest's edits applied."""
    require_redis()
    override = {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly", "fast"], "first_key": 0,
                "last_key": 0, "step": -1}  # fmt: skip
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + f"exclude_commands:\n    - hello.copy\noveride_command:\n    - {json.dumps(override)}\n"
    )
    (tmp_path / "modpack.toml").write_text("[validate]\nload = true\nstrict = true\n")
    result = run_modpack("build", "ramp.yml", "--so", HELLO, "--discover", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOAD017" not in result.stdout and "info LOAD003 hello 1.2.3 (10203) loaded into" in result.stdout
    # the override, compared, and said where the ramp.yml writes it (not at the packed commands[0])
    line = next(
        n for n, text in enumerate((tmp_path / "ramp.yml").read_text().splitlines(), 1) if "step" in text
    )
    assert f"ramp.yml:{line} [overide_command[0].step]: info LOAD023 hello.get: step -1 is a Redis" in (
        result.stdout
    )
    assert len(bundles(tmp_path / "dist")) == 1
    # What the manifest gives itself is what build writes without --discover, and is compared as
    # written: a wrong name and a command listed with wrong keys (they built clean when the whole
    # module was taken from what it registers)
    wrong = {"command_name": "hello.set", "command_arity": 3, "flags": ["write", "denyoom"], "first_key": 2,
             "last_key": 2, "step": 1}  # fmt: skip
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + f'module_name: hellox\nsemantic_version: "1.2.3"\ncommands:\n    - {json.dumps(wrong)}\n'
    )
    refused = run_modpack("build", "ramp.yml", "--so", HELLO, "-o", "wrong", cwd=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "error LOAD014 module_name is 'hellox', the module registers itself as 'hello'" in refused.stdout
    assert "error LOAD021 hello.set: first_key is 2, Redis registers 1" in refused.stdout
    assert not (tmp_path / "wrong").exists()


@pytest.mark.redis
def test_build_ramp_yml_with_discover_writes_what_redis_registers(tmp_path: Path) -> None:
    require_redis()
    from modpack.redis.discover import discover, module_json_commands

    extra = {"command_name": "hello.extra", "command_arity": -1, "flags": ["readonly"], "first_key": 0}
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + f"exclude_commands:\n    - hello.copy\nadd_command:\n    - {json.dumps(extra)}\n"
    )
    result = run_modpack("build", "ramp.yml", "--so", HELLO, "--discover", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    found = discover(HELLO)
    registered = [c for c in module_json_commands(found) if c["command_name"] != "hello.copy"]
    assert module["commands"][:-1] == registered and module["commands"][-1]["command_name"] == "hello.extra"
    assert (module["module_name"], module["version"]) == (found.module_name, found.module_version)
    # RAMP's records of its edits are written as RAMP writes them (ramp.md §3.3), its override
    # bookkeeping is not
    assert (module["exclude_commands"], module["add_command"]) == (["hello.copy"], [extra])
    assert "overide_command" not in module and "optional-dependencies" not in module
    assert run_modpack("validate", bundle).returncode == 0
    # Proved by the same redis-server, as RAMP users would: the command excluded on purpose and
    # the one added for a plugin to register are not differences (they were LOAD017 and LOAD016,
    # exit 1, while the records were dropped).
    loaded = run_modpack("validate", "--load", bundle)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "LOAD016" not in loaded.stdout and "LOAD017" not in loaded.stdout, loaded.stdout
    assert "info LOAD003 hello 1.2.3 (10203) loaded into redis-server" in loaded.stdout


# --- init output builds -------------------------------------------------------------------------


@pytest.mark.redis
def test_init_discover_writes_a_file_that_builds(tmp_path: Path) -> None:
    require_redis()
    toml = tmp_path / "modpack.toml"
    result = run_modpack("init", toml, "--discover", HELLO)
    assert result.returncode == 0, result.stderr
    assert "not carried over" not in result.stdout and "min_redis_version" in toml.read_text()
    built = run_modpack("build", toml, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    assert run_modpack("validate", *bundles(tmp_path / "out")).returncode == 0


@pytest.mark.redis
def test_init_discover_keeps_the_load_arguments_it_discovered_with(tmp_path: Path) -> None:
    """A module whose OnLoad needs `MODE fast`: init --discover --args loaded it so, and wrote a
    modpack.toml without command_line_args, which built a bundle every node fails to load."""
    so = compile_module(
        tmp_path, 'if (argc != 2) return REDISMODULE_ERR;\n    CC("a.get", "readonly", 1, 1, 1);'
    )
    toml = tmp_path / "modpack.toml"
    made = run_modpack("init", toml, "--discover", so, "--args", "MODE fast")
    assert made.returncode == 0, made.stdout + made.stderr
    assert 'changed: command_line_args = "MODE fast": the --args it was discovered with' in made.stdout
    assert tomllib.loads(toml.read_text())["module"]["command_line_args"] == "MODE fast"
    loaded = run_modpack("validate", tmp_path, "--load")
    assert loaded.returncode == 0 and "LOAD003" in loaded.stdout, loaded.stdout + loaded.stderr
    built = run_modpack("build", toml, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    [bundle] = bundles(tmp_path / "out")
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read("module.json"))["command_line_args"] == "MODE fast"
    # discover --write: a new file takes them too; an existing file keeps its own, and says so
    fresh = tmp_path / "fresh.toml"
    wrote = run_modpack("discover", so, "--args", "MODE fast", "--write", fresh)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    assert tomllib.loads(fresh.read_text())["module"]["command_line_args"] == "MODE fast"
    toml.write_text(toml.read_text().replace('command_line_args = "MODE fast"\n', ""))
    kept = run_modpack("discover", so, "--args", "MODE fast", "--write", toml)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert (
        "kept [module] command_line_args = '', though the module was discovered with --args 'MODE fast'"
    ) in kept.stdout


def hinted_inits(stderr: str) -> list[list[str]]:
    """The `modpack init ...` commands of a hint, as argument lists with the module's own name and
    version put in for NAME and X.Y.Z, as the user would."""
    [hint] = [line for line in stderr.splitlines() if line.startswith("  hint: ")]
    commands = [shlex.split(c) for c in re.findall(r"`([^`]*)`", hint) if c.startswith("modpack init")]
    assert commands, hint
    swap = {"NAME": "hello", "X.Y.Z": "1.2.3"}
    return [[swap.get(word, word) for word in command[1:]] for command in commands]


@pytest.mark.parametrize(
    ("given", "built"),
    [
        (None, None),  # the current folder
        ("my module", "my module"),  # a folder, with a space to quote
        ("mod.toml", "mod.toml"),  # a new declarations file: init writes it
        ("new/mod.toml", "new"),  # in a folder to be: init makes it
    ],
    ids=["current-folder", "folder", "new-file", "missing-folder"],
)
def test_build_without_declarations_hints_an_init_that_runs_as_written(
    tmp_path: Path, given: str | None, built: str | None
) -> None:
    """`modpack build` where there is no modpack.toml hinted "Run `modpack init` to write
    modpack.toml", which refuses ("init needs --name and --version", exit 2). The hint's command,
    with the module's name and version put in, writes declarations that build."""
    if given == "my module":
        (tmp_path / given).mkdir()
    done = run_modpack("build", *([given] if given else []), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [init] = hinted_inits(done.stderr)
    wrote = run_modpack(*init, cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    assert init[:5] == ["init", "--name", "hello", "--version", "1.2.3"], init
    made = run_modpack("build", *([built] if built else []), "--so", HELLO, "-o", "out", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert len(bundles(tmp_path / "out")) == 1


@pytest.mark.parametrize(
    ("given", "built"),
    [("-mod", "-mod"), ("-mod.toml", "-mod.toml"), ("-new/mod.toml", "-new")],
    ids=["folder", "new-file", "missing-folder"],
)
def test_an_init_hinted_for_a_path_starting_with_a_dash_runs_as_written(
    tmp_path: Path, given: str, built: str
) -> None:
    """`modpack build -- -mod` hinted `modpack init --name NAME --version X.Y.Z -mod`, which init
    refused ("No such option '-m'", exit 2): the path is written so that it is not an option."""
    if given == "-mod":
        (tmp_path / given).mkdir()
    done = run_modpack("build", "--", given, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [init] = hinted_inits(done.stderr)
    wrote = run_modpack(*init, cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    made = run_modpack("build", "--so", HELLO, "-o", "out", "--", built, cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert len(bundles(tmp_path / "out")) == 1


def test_build_of_a_missing_file_beside_declarations_names_them(tmp_path: Path) -> None:
    """A mistyped name beside a modpack.toml: the hint named `modpack init`, which would refuse
    the folder's modpack.toml as there already; it names that file."""
    project(tmp_path)
    done = run_modpack("build", "modpak.toml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "modpack: modpak.toml does not exist",
        "  hint: Pass modpack.toml, the declarations file in the current folder.",
    ]


@pytest.mark.redis
def test_build_in_a_folder_with_only_a_binary_hints_init_discover_of_it(tmp_path: Path) -> None:
    """The module's one .so in the folder build was given: the hint also names `init --discover`
    of it, and each init it names writes declarations that build."""
    require_redis()
    folder = tmp_path / "mod"
    folder.mkdir()
    shutil.copy(HELLO, folder / "hello.so")
    done = run_modpack("build", "mod", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    inits = hinted_inits(done.stderr)
    assert [init[:2] for init in inits] == [["init", "--name"], ["init", "--discover"]], inits
    for init in inits:
        (folder / "modpack.toml").unlink(missing_ok=True)
        wrote = run_modpack(*init, cwd=tmp_path)
        assert wrote.returncode == 0, wrote.stdout + wrote.stderr
        made = run_modpack("build", "mod", "-o", "out", "--force", cwd=tmp_path)
        assert made.returncode == 0, made.stdout + made.stderr


def test_a_binary_whose_name_cannot_be_module_file_is_not_offered_to_init(tmp_path: Path) -> None:
    """'my hello.so' alone in the folder: the hint named `init --discover 'mod/my hello.so'`, whose
    modpack.toml then did not build (SCH006: a module_file name validate refuses). init itself
    never takes such a file for [build] so; the hint now asks the same question init asks."""
    folder = tmp_path / "mod"
    folder.mkdir()
    shutil.copy(HELLO, folder / "my hello.so")
    done = run_modpack("build", "mod", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    inits = hinted_inits(done.stderr)
    assert [init[:2] for init in inits] == [["init", "--name"]], inits


def test_build_in_a_folder_with_module_json_and_its_binary_hints_an_init_that_builds(tmp_path: Path) -> None:
    """A folder of a module.json beside its .so (a bundle unpacked): the hint names `init --from`
    of the module.json, which wrote a modpack.toml without [build] so, and the build after it
    said "no module binary to build from". It takes the one .so beside it, as `init --name` does."""
    project(tmp_path)
    first = run_modpack("build", "-o", "first", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = tmp_path / "mod"
    with zipfile.ZipFile(bundles(tmp_path / "first")[0]) as bundle:
        bundle.extractall(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["hello.so", "module.json"]
    done = run_modpack("build", "mod", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    [converted] = [init for init in hinted_inits(done.stderr) if "--from" in init]
    assert converted == ["init", "--from", "mod/module.json", "mod"], converted
    wrote = run_modpack(*converted, cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    assert "[build] so = 'hello.so': the module_file beside module.json" in wrote.stdout
    made = run_modpack("build", "mod", "-o", "out", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert len(bundles(tmp_path / "out")) == 1


def realworld_manifests() -> list[str]:
    return sorted(p.name for p in REALWORLD.glob("*.yml")) if REALWORLD.is_dir() else []


class Run:
    """The real command line (cli.main), in this process: 45 files x 5 runs in subprocesses
    would take minutes on a shared machine. Exit status, stdout and stderr as a user sees them."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        from modpack.cli import main

        self.capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in out + err and "internal error" not in out + err, out + err
        return int(done.value.code or 0), out, err


def error_codes(out: str) -> list[tuple[str, str]]:
    rows = [row for row in out.splitlines() if ": error " in row]
    return [(row.split(": error ", 1)[1].split()[0], row) for row in rows]


@needs_realworld
@pytest.mark.parametrize("name", realworld_manifests())
def test_init_from_a_real_manifest_then_build(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """init --from, then build --so a fixture: a bundle that validates, or a message naming exactly
    what is missing, or a defect of the manifest itself (which validate reports on it too)."""
    run = Run(capsys)
    monkeypatch.chdir(tmp_path)
    source = REALWORLD / name
    _, checked, _ = run("validate", source)
    status, out, _ = run("init", "modpack.toml", "--from", source)
    if status != 0:
        # A {{...}} template: as written it is no manifest; the message says so, at its line.
        assert status == 1 and "IN004" in out and "template placeholder" in out, out
        assert not (tmp_path / "modpack.toml").exists()
        return
    assert "not carried over" not in out
    status, out, err = run("build", "--so", HELLO, "-o", "out")
    if status != 0:
        assert status == 1 and bundles(tmp_path / "out") == [], out + err
        assert error_codes(out), out + err
        for code, row in error_codes(out):
            if code == "SCH001":  # a required value: named, where it goes, how to get it
                assert any(k in row for k in ("module.name", "module.semantic_version", "min_redis_version"))
                assert "fix:" in out
            else:
                assert code in checked, (row, checked)
    # The same manifest with the name and version given: it builds, or fails on its own defects.
    status, out, _ = run("init", "named.toml", "--from", source, "--name", "hello", "--version", "1.2.3")
    assert status == 0, out
    status, out, err = run("build", "named.toml", "--so", HELLO, "-o", "named")
    if status == 0:
        assert run("validate", *bundles(tmp_path / "named"))[0] == 0
        return
    assert status == 1 and error_codes(out), out + err
    for code, row in error_codes(out):
        # SCH001 here is min_redis_version, which the manifest lacks or misspells.
        assert code in checked or (code == "SCH001" and "min_redis_version" in row), (row, checked)


def test_a_template_placeholder_in_modpack_toml_is_named(tmp_path: Path) -> None:
    toml = project(tmp_path, EXAMPLE.replace('command_line_args = ""', 'command_line_args = "X {{NUMVER}}"'))
    result = run_modpack("validate", toml)
    assert result.returncode == 1 and "[module.command_line_args]: error DECL002" in result.stdout
    assert "'{{NUMVER}}' is a template placeholder" in result.stdout


def test_a_sha256_beside_local_path_must_be_the_archive_s(tmp_path: Path) -> None:
    data = make_tgz(tmp_path / "plugin.tgz", b"plugin")
    right = hashlib.sha256(data).hexdigest()
    for given, status in ((right, 0), ("0" * 64, 1)):
        text = with_dependency("plugin.tgz").replace(
            'local_path = "plugin.tgz"', f'local_path = "plugin.tgz"\nsha256 = "{given}"'
        )
        result = run_modpack("validate", project(tmp_path, text))
        assert result.returncode == status, result.stdout
        assert ("DEP004" in result.stdout) is (status == 1)


def test_init_from_a_module_json_with_json_floats_writes_integers(tmp_path: Path) -> None:
    document = json.loads((ROOT / "tests" / "cases" / "good" / "module-json" / "module.json").read_text())
    document["version"] = float(document["version"])  # as RAMP writes it
    document["commands"][0]["command_arity"] = float(document["commands"][0]["command_arity"])
    document["crdb"] = {"supported_featureset_versions": [1.0, 3.0]}
    source = tmp_path / "module.json"
    source.write_text(json.dumps(document))
    toml = tmp_path / "modpack.toml"
    assert run_modpack("init", toml, "--from", source).returncode == 0
    tomllib.loads(toml.read_text(), parse_float=lambda s: pytest.fail(f"init wrote a float: {s}"))
    built = run_modpack("build", toml, "--so", HELLO, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr


def test_ramp_yml_local_path_is_packed_as_ramp_packs_it(tmp_path: Path) -> None:
    commands = (
        "commands:\n"
        '    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly", "fast"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    dependency = "dependencies:\n    plugin:\n        url: https://example.com/plugin.tgz\n        local_path: plugin.tgz\n"
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + 'module_name: hello\nsemantic_version: "1.2.3"\n' + commands + dependency
    )
    missing = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert missing.returncode == 1 and "[dependencies.plugin.local_path]: error DEP006" in missing.stdout
    data = make_tgz(tmp_path / "plugin.tgz", b"plugin")
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        packed = archive.read("deps/plugin.tgz")
        module = json.loads(archive.read("module.json"))
    # RAMP tar-gzips every local_path, a .tgz too (RAMP/packer.py `tar.add(local_path,
    # arcname=basename)`): a node unpacks deps/plugin.tgz to plugin.tgz. modpack stored the .tgz
    # as it was, so a node unpacked its content instead, and said it packed "as RAMP does".
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        assert tar.getnames() == ["plugin.tgz"]
        inner = tar.extractfile("plugin.tgz")
        assert inner is not None and inner.read() == data
    assert module["dependencies"]["plugin"]["sha256"] == hashlib.sha256(packed).hexdigest()
    assert "local_path" not in module["dependencies"]["plugin"]
    assert run_modpack("validate", bundle).returncode == 0


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_ramp_yml_local_path_that_is_no_archive_is_tarred_as_ramp_tars_it(tmp_path: Path, kind: str) -> None:
    """RAMP tar-gzips whatever local_path names into deps/<name>.tgz (ramp.md §3.4): RediSearch's
    Redis Enterprise manifest points it at libsvs_shared_library.so, RedisGears' at its V8 plugin.
    modpack refused such a ramp.yml (DEP006 'not a gzip archive'); it now packs the same tar.gz,
    made deterministically (sorted names, fixed times and owners, gzip without a timestamp)."""
    commands = (
        "commands:\n"
        '    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly", "fast"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    payload = b"\x7fELF not really a plugin" * 50
    if kind == "file":
        (tmp_path / "libplugin.so").write_bytes(payload)
        (tmp_path / "libplugin.so").chmod(0o755)
        local, names = "libplugin.so", ["libplugin.so"]
    else:
        (tmp_path / "plugin" / "lib").mkdir(parents=True)
        (tmp_path / "plugin" / "lib" / "b.so").write_bytes(payload)
        (tmp_path / "plugin" / "a.txt").write_bytes(b"readme")
        local, names = "plugin", ["plugin", "plugin/a.txt", "plugin/lib", "plugin/lib/b.so"]
    dependency = f"dependencies:\n    plugin:\n        local_path: {local}\n"
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + 'module_name: hello\nsemantic_version: "1.2.3"\n' + commands + dependency
    )
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        packed = archive.read("deps/plugin.tgz")
        module = json.loads(archive.read("module.json"))
    assert module["dependencies"]["plugin"] == {"sha256": hashlib.sha256(packed).hexdigest()}
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == names
        assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.mtime == 315532800 for m in members)
        so = next(m for m in members if m.name.endswith(".so"))
        assert so.mode == (0o755 if kind == "file" else 0o644)
        reader = tar.extractfile(so)
        assert reader is not None and reader.read() == payload
    assert run_modpack("validate", bundle).returncode == 0
    first = bundle.read_bytes()
    again = run_modpack("build", "--so", HELLO, "-o", tmp_path / "again", cwd=tmp_path)
    assert again.returncode == 0 and bundles(tmp_path / "again")[0].read_bytes() == first


def test_a_dependency_name_cannot_leave_deps(tmp_path: Path) -> None:
    make_tgz(tmp_path / "plugin.tgz", b"plugin")
    text = with_dependency("plugin.tgz").replace(
        "[module.dependencies.plugin]", '[module.dependencies."../x"]'
    )
    result = run_modpack("build", project(tmp_path, text), "-o", tmp_path / "out")
    assert (
        result.returncode == 1
        and "DEP006" in result.stdout
        and "cannot name a file under deps/" in result.stdout
    )
    assert bundles(tmp_path / "out") == []


def test_a_symlink_inside_a_ramp_local_path_folder_is_refused(tmp_path: Path) -> None:
    """A folder RAMP would tar is packed with its files and folders only: a symlink would point
    off the build machine (or at a secret on it); the build stops and writes nothing."""
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "link").symlink_to("/etc/hostname")
    commands = (
        'commands:\n    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    (tmp_path / "ramp.yml").write_text(
        MANIFEST
        + 'module_name: hello\nsemantic_version: "1.2.3"\n'
        + commands
        + "dependencies:\n    plugin:\n        local_path: plugin\n"
    )
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 1 and "only folders and regular files" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and bundles(tmp_path / "dist") == []


def _no_folder_link(folder: Path) -> None:
    (folder / "plugin-src").mkdir()
    (folder / "plugin").symlink_to("plugin-src")


def _no_file_link(folder: Path) -> None:
    (folder / "plugin.conf").write_text("threads 4\n")
    (folder / "plugin").symlink_to("plugin.conf")


def _cut_archive(folder: Path) -> None:
    (folder / "plugin").write_bytes(gzip.compress(b"plugin" * 1000)[:20])


_UNPACKABLE = "only folders and regular files go into a dependency archive"


@pytest.mark.parametrize(
    ("make", "name", "said"),
    [
        (_no_folder_link, "plugin", f"local_path of 'plugin': plugin is a symbolic link: {_UNPACKABLE}"),
        (_no_file_link, "plugin", f"local_path of 'plugin': plugin is a symbolic link: {_UNPACKABLE}"),
        (
            lambda folder: os.mkfifo(folder / "plugin"),
            "plugin",
            f"local_path of 'plugin': plugin is a named pipe (FIFO): {_UNPACKABLE}",
        ),
        (
            lambda folder: (folder / "plugin").write_text("threads 4\n"),
            "'a b'",
            "dependency name 'a b' cannot name a file under deps/ (letters, digits, '.', '_', '-')",
        ),
    ],
    ids=["link-to-folder", "link-to-file", "fifo", "name"],
)
def test_validate_of_a_ramp_yml_says_the_local_path_build_refuses(
    tmp_path: Path, make: Callable[[Path], None], name: str, said: str
) -> None:
    """validate of a ramp.yml whose local_path build cannot pack (a symlink, a FIFO, a damaged gzip
    file, a dependency name no deps/ entry can have) said nothing, exit 0, and build refused it:
    validate now says what build says, at the local_path's line; build says it once."""
    make(tmp_path)
    commands = (
        'commands:\n    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    text = (
        MANIFEST
        + 'module_name: hello\nsemantic_version: "1.2.3"\n'
        + commands
        + f"dependencies:\n    {name}:\n        local_path: plugin\n"
    )
    (tmp_path / "ramp.yml").write_text(text)
    line = text.splitlines().index("        local_path: plugin") + 1
    key = name.strip("'")
    finding = f"ramp.yml:{line} [dependencies.{key}.local_path]: error DEP006 {said}"
    checked = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout
    assert [s for s in checked.stdout.splitlines() if "DEP006" in s] == [finding], checked.stdout
    assert f"{finding}\n  fix: " in checked.stdout
    built = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert built.returncode == 1, built.stdout + built.stderr
    assert [s for s in built.stdout.splitlines() if "DEP006" in s] == [finding], built.stdout
    assert built.stderr == "modpack: ramp.yml has errors; nothing was written\n"
    assert bundles(tmp_path / "dist") == []


def test_a_ramp_yml_local_path_is_packed_unread_as_ramp_packs_it(tmp_path: Path) -> None:
    """A damaged .tgz named by a ramp.yml is a file RAMP tar-gzips without reading it: validate
    said DEP006 "a damaged gzip archive" and build refused a manifest ramp pack packs."""
    _cut_archive(tmp_path)
    commands = (
        'commands:\n    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    text = MANIFEST + 'module_name: hello\nsemantic_version: "1.2.3"\n' + commands
    (tmp_path / "ramp.yml").write_text(text + "dependencies:\n    plugin:\n        local_path: plugin\n")
    checked = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert checked.returncode == 0 and "DEP006" not in checked.stdout, checked.stdout
    built = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with (
        zipfile.ZipFile(bundle) as archive,
        tarfile.open(fileobj=io.BytesIO(archive.read("deps/plugin.tgz")), mode="r:gz") as tar,
    ):
        inner = tar.extractfile("plugin")
        assert inner is not None and inner.read() == (tmp_path / "plugin").read_bytes()


def test_validate_of_a_ramp_yml_says_the_version_0_build_refuses(tmp_path: Path) -> None:
    """A ramp.yml's semantic_version "0.0.0" packs version 0, which Redis Enterprise refuses:
    validate said nothing (exit 0) and build refused it at "ramp.yml:1 [version]", a key the file
    does not hold. Both now say it at the semantic_version line, build once; `version: 0` written
    is said where it is written."""
    commands = (
        'commands:\n    - {"command_name": "hello.get", "command_arity": 2, "flags": ["readonly"], '
        '"first_key": 1, "last_key": 1, "step": 1}\n'
    )
    text = MANIFEST + 'module_name: hello\nsemantic_version: "0.0.0"\n' + commands
    (tmp_path / "ramp.yml").write_text(text)
    line = text.splitlines().index('semantic_version: "0.0.0"') + 1
    said = [
        f"ramp.yml:{line} [semantic_version]: error VER012 version is 0: Redis Enterprise reads 0 as no"
        " version and refuses the bundle (module_version_missing), and semantic_version 0.0.0 encodes 0",
        "  fix: Release as 0.0.1 or later (version 1 or more).",
    ]
    checked = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout
    assert [s for s in checked.stdout.splitlines() if "VER012" in s] == said[:1], checked.stdout
    assert "\n".join(said) in checked.stdout
    built = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert built.returncode == 1, built.stdout + built.stderr
    assert [s for s in built.stdout.splitlines() if "VER012" in s] == said[:1], built.stdout
    assert built.stderr == "modpack: ramp.yml has errors; nothing was written\n"
    assert bundles(tmp_path / "dist") == []
    # as the fix says: 0.0.1 is taken by both
    (tmp_path / "ramp.yml").write_text(text.replace('"0.0.0"', '"0.0.1"'))
    assert "VER012" not in run_modpack("validate", "ramp.yml", cwd=tmp_path).stdout
    assert run_modpack("build", "--so", HELLO, cwd=tmp_path).returncode == 0


def test_build_of_a_bare_ramp_yml_lists_the_lines_to_add_one_per_line(tmp_path: Path) -> None:
    (tmp_path / "ramp.yml").write_text("module_name: hello\ncapabilities: [types]\n")
    result = run_modpack("build", "--so", HELLO, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[1] == "  semantic_version: X.Y.Z  # version = X*10000 + Y*100 + Z"
    assert lines[2].startswith("  commands: [...]")
    assert lines[3].startswith("  hint: Pass --discover") and lines[3].endswith("or add the lines above.")


def test_build_discover_of_a_modpack_toml_without_commands_says_nothing_of_empty_commands(
    tmp_path: Path,
) -> None:
    """The reader's CMD030 ("commands is empty") stayed after --discover had filled them: every
    build of a modpack.toml that leaves its commands to discovery warned, and with [validate]
    strict it wrote nothing. Without --discover the warning stands, and strict refuses."""
    require_redis()
    text = EXAMPLE[: EXAMPLE.index("[[commands]]")] + "\n[validate]\nstrict = true\n"
    toml = project(tmp_path, text)
    built = run_modpack("build", toml, "--discover", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "CMD030" not in built.stdout + built.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        assert json.loads(archive.read("module.json"))["commands"]
    plain = run_modpack("build", toml, "-o", tmp_path / "plain")
    assert plain.returncode == 1 and "warning CMD030 commands is empty" in plain.stdout
    assert bundles(tmp_path / "plain") == []


# --- RAMP's records of command edits in modpack.toml -----------------------------------------


def test_modpack_toml_edit_records_that_contradict_the_commands_are_decl004(tmp_path: Path) -> None:
    """[module] exclude_commands names what no [[commands]] table declares, add_command names
    tables: an excluded command that is declared, or an added one that is not, is an error at its
    line, and nothing is built."""
    text = EXAMPLE.replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nexclude_commands = ["HELLO.COPY"]\nadd_command = ["hello.later"]\n',
    )
    toml = project(tmp_path, text)
    result = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "modpack.toml:18 [module.exclude_commands[0]]: error DECL004 exclude_commands names 'HELLO.COPY',"
        " which a [[commands]] table declares: a command is declared or excluded, not both" in result.stdout
    )
    assert (
        "modpack.toml:19 [module.add_command[0]]: error DECL004 add_command names 'hello.later', which no"
        " [[commands]] table declares" in result.stdout
    )
    assert bundles(tmp_path / "dist") == []
    wrong = project(
        tmp_path, EXAMPLE.replace('license = "MIT"\n', 'license = "MIT"\nadd_command = "hello.copy"\n')
    )
    typed = run_modpack("validate", wrong)
    assert typed.returncode == 1 and "SCH002 `module.add_command` is a string" in typed.stdout, typed.stdout


@pytest.mark.redis
def test_modpack_toml_edit_records_reach_module_json_and_load(tmp_path: Path) -> None:
    """A command a plugin registers (add_command) and one left out on purpose (exclude_commands):
    module.json records them as RAMP does, `build --discover` leaves the excluded one out, and
    `validate --load` of the modpack.toml and of its bundle reports neither (LOAD016, exit 1, and
    LOAD017 before modpack.toml could say so)."""
    require_redis()
    extra = '\n[[commands]]\nname = "hello.later"\narity = -1\nflags = ["readonly"]\n'
    copy = EXAMPLE.index('[[commands]]\nname = "hello.copy"')
    text = (EXAMPLE[:copy] + extra).replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nexclude_commands = ["hello.copy"]\nadd_command = ["HELLO.LATER"]\n',
    )
    toml = project(tmp_path, text)
    result = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stdout + result.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert module["exclude_commands"] == ["hello.copy"]
    assert module["add_command"] == [c for c in module["commands"] if c["command_name"] == "hello.later"]
    for declared in (toml, bundle):
        loaded = run_modpack("validate", "--load", declared)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert "LOAD016" not in loaded.stdout and "LOAD017" not in loaded.stdout, loaded.stdout
    # Without the records, the same declarations are what --load said before
    bare = project(
        tmp_path, text.replace('exclude_commands = ["hello.copy"]\nadd_command = ["HELLO.LATER"]\n', "")
    )
    loaded = run_modpack("validate", "--load", bare)
    assert loaded.returncode == 1
    assert "error LOAD016 hello.later is declared, but the module does not register it" in loaded.stdout
    assert "warning LOAD017 hello.copy is registered, but not declared" in loaded.stdout
    # build --discover: the discovered commands less the excluded one; a name the module does not
    # register is LOAD028, as in a ramp.yml and under validate --load
    undeclared = EXAMPLE[: EXAMPLE.index("[[commands]]")].replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nexclude_commands = ["hello.copy"]\n',
    )
    discovered = run_modpack("build", project(tmp_path, undeclared), "--discover", "-o", tmp_path / "found")
    assert discovered.returncode == 0, discovered.stdout + discovered.stderr
    (bundle,) = bundles(tmp_path / "found")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    assert sorted(c["command_name"] for c in module["commands"]) == [
        "hello.get",
        "hello.mset",
        "hello.ping",
        "hello.set",
    ]
    assert module["exclude_commands"] == ["hello.copy"] and "add_command" not in module
    typo = project(tmp_path, undeclared.replace('["hello.copy"]', '["hello.cpy"]'))
    said = run_modpack("build", typo, "--discover", "-o", tmp_path / "typo")
    assert said.returncode == 0, said.stdout + said.stderr  # as validate --load judges it
    assert (
        "info LOAD028 exclude_commands names 'hello.cpy', which the module does not register" in said.stdout
    )


@pytest.mark.redis
def test_build_discover_adds_the_tables_add_command_names_to_what_it_finds(tmp_path: Path) -> None:
    """As RAMP: discovered commands, less exclude_commands, then add_command's. A [[commands]]
    table that add_command names turned discovery off, so the bundle declared only that command
    (a ramp.yml converted by init without --discover, then `build --discover`)."""
    require_redis()
    records = 'exclude_commands = ["hello.copy"]\nadd_command = ["hello.later"]\n'
    text = EXAMPLE[: EXAMPLE.index("[[commands]]")].replace(
        'compatible_redis_version = "7.4"\n', f'compatible_redis_version = "7.4"\n{records}'
    )
    toml = project(tmp_path, text + '[[commands]]\nname = "hello.later"\narity = -1\nflags = ["readonly"]\n')
    built = run_modpack("build", toml, "--discover", "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = bundles(tmp_path / "dist")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    names = [c["command_name"] for c in module["commands"]]
    assert sorted(names[:-1]) == ["hello.get", "hello.mset", "hello.ping", "hello.set"]
    assert names[-1] == "hello.later" and module["add_command"] == module["commands"][-1:]
    loaded = run_modpack("validate", "--load", bundle)
    assert loaded.returncode == 0 and "LOAD01" not in loaded.stdout, loaded.stdout


def test_add_command_entries_are_those_of_each_targets_build(tmp_path: Path) -> None:
    """A [[targets]] build canonicalises the flags for its own Redis (no `module` flag for 6.x):
    add_command kept the default build's entries, so it no longer matched commands."""
    text = EXAMPLE.replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nadd_command = ["hello.copy"]\n',
    )
    target = (
        '\n[[targets]]\nname = "old"\noperating_systems = ["rhel8"]\narchitecture = "x86_64"\n'
        f'compatible_redis_version = "6.2"\nmin_redis_version = "6.2"\nso = "{HELLO}"\n'
    )
    toml = project(tmp_path, text + target)
    for args, folder in ((["--target", "old"], "old"), ([], "default")):
        built = run_modpack("build", toml, *args, "-o", tmp_path / folder)
        assert built.returncode == 0, built.stdout + built.stderr
        (bundle,) = bundles(tmp_path / folder)
        with zipfile.ZipFile(bundle) as archive:
            module = json.loads(archive.read("module.json"))
        copy = [c for c in module["commands"] if c["command_name"] == "hello.copy"]
        assert module["add_command"] == copy, folder
        assert ("module" in copy[0]["flags"]) is (folder == "default")


def test_init_from_a_module_json_keeps_the_records_it_can_and_says_what_it_drops(tmp_path: Path) -> None:
    """RAMP's records in a module.json become [module] names; what cannot (not a name, not a list,
    an entry no command declares, or an exclusion of a declared command, which RAMP's exact match
    never applied and modpack.toml would refuse as DECL004) is said, not silently dropped."""
    document = json.loads((ROOT / "tests" / "cases" / "good" / "module-json" / "module.json").read_text())
    first, second = (c["command_name"] for c in document["commands"][:2])
    document["exclude_commands"] = ["hello.hidden", first.upper(), 5]
    document["add_command"] = [dict(document["commands"][1]), {"command_name": "hello.nowhere"}, "x"]
    document["overide_command"] = [dict(document["commands"][0])]
    source = tmp_path / "module.json"
    source.write_text(json.dumps(document))
    toml = tmp_path / "modpack.toml"
    result = run_modpack("init", toml, "--from", source)
    assert result.returncode == 0, result.stdout + result.stderr
    module = tomllib.loads(toml.read_text())["module"]
    assert (module["exclude_commands"], module["add_command"]) == (["hello.hidden"], [second])
    for said in (
        f"dropped: exclude_commands {first.upper()!r}: {first} is declared as a command (RAMP matches names"
        " exactly, so it never excluded it)",
        "dropped: exclude_commands item 5: not a command name",
        'dropped: add_command item {"command_name": "hello.nowhere"}: not a declared command\'s entry',
        'dropped: add_command item "x": not a declared command\'s entry',
        "dropped: overide_command: RAMP's record of the entries it replaced, which commands holds",
    ):
        assert said in result.stdout, said
    assert "DECL004" not in run_modpack("validate", toml).stdout
    document["exclude_commands"] = "hello.hidden"
    source.write_text(json.dumps(document))
    again = run_modpack("init", toml, "--from", source, "--force")
    assert again.returncode == 0 and 'dropped: exclude_commands is not a list: "hello.hidden"' in again.stdout


def test_a_modpack_toml_that_declares_only_add_commands_tables_is_cmd030(tmp_path: Path) -> None:
    """Only the tables add_command names (a plugin's commands): the module declares none of its
    own, which built silently, as an empty commands list does not."""
    text = EXAMPLE[: EXAMPLE.index("[[commands]]")].replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nadd_command = ["hello.later"]\n',
    )
    toml = project(tmp_path, text + '[[commands]]\nname = "hello.later"\narity = -1\nflags = ["readonly"]\n')
    result = run_modpack("validate", toml)
    assert (
        "warning CMD030 every command is one add_command names (a plugin registers it): the module"
        " declares none of its own" in result.stdout
    ), result.stdout


@pytest.mark.redis
def test_build_discover_refuses_add_command_naming_a_registered_command(tmp_path: Path) -> None:
    """add_command names a command the module registers: --discover declared it twice (CMD003
    'hello.set' duplicates 'hello.set', at a path the file does not have)."""
    require_redis()
    text = EXAMPLE[: EXAMPLE.index("[[commands]]")].replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nadd_command = ["HELLO.SET"]\n',
    )
    toml = project(tmp_path, text + '[[commands]]\nname = "hello.set"\narity = 3\nflags = ["write"]\n')
    result = run_modpack("build", toml, "--discover", "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert (
        "modpack.toml:18 [module.add_command]: error DECL004 add_command names 'hello.set', which the module"
        " registers itself" in result.stdout
    ), result.stdout
    assert "CMD003" not in result.stdout and bundles(tmp_path / "dist") == []


def test_a_nameless_table_is_no_command_the_records_can_name(tmp_path: Path) -> None:
    """A [[commands]] table without a name (its own error) was folded as the name 'none', so
    exclude_commands = ["none"] was also told the command is declared."""
    text = EXAMPLE.replace(
        'compatible_redis_version = "7.4"\n',
        'compatible_redis_version = "7.4"\nexclude_commands = ["none"]\n',
    )
    toml = project(tmp_path, text + "\n[[commands]]\narity = 1\n")
    result = run_modpack("validate", toml)
    assert result.returncode == 1 and "commands[5]" in result.stdout, result.stdout
    assert "exclude_commands names 'none'" not in result.stdout, result.stdout


@pytest.mark.parametrize("file_name", ["modpack.toml", "MODPACK.TOML"])  # kind_of ignores the case
def test_a_missing_arity_is_named_as_modpack_toml_spells_it(tmp_path: Path, file_name: str) -> None:
    """CMD005 told a modpack.toml author to 'Add command_arity.', and the table then failed
    with DECL001 unknown key 'command_arity': a [[commands]] table spells it `arity`."""
    toml = tmp_path / file_name
    toml.write_text(
        '[module]\nname = "hello"\nsemantic_version = "1.2.3"\nmin_redis_version = "7.0"\n'
        'compatible_redis_version = "7.0"\ncapabilities = ["clustering"]\n\n'
        '[[commands]]\nname = "hello.get"\nflags = ["readonly"]\nfirst_key = 1\nlast_key = 1\nstep = 1\n'
    )
    done = run_modpack("validate", toml)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error CMD005 command 'hello.get' has no arity" in done.stdout
    assert "fix: Add `arity = N` to its [[commands]] table" in done.stdout
    assert "command_arity" not in done.stdout
    fixed = toml.read_text().replace('flags = ["readonly"]', 'arity = 2\nflags = ["readonly"]')
    toml.write_text(fixed)
    again = run_modpack("validate", toml)
    assert "CMD005" not in again.stdout and "DECL001" not in again.stdout, again.stdout


def test_an_empty_command_name_is_named_as_modpack_toml_spells_it(tmp_path: Path) -> None:
    """CMD001 said 'command_name is empty' of a [[commands]] table, whose key is `name`."""
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        '[module]\nname = "hello"\nsemantic_version = "1.2.3"\nmin_redis_version = "7.0"\n'
        'compatible_redis_version = "7.0"\ncapabilities = ["clustering"]\n\n'
        '[[commands]]\nname = " "\narity = 2\nflags = ["readonly"]\nfirst_key = 1\nlast_key = 1\nstep = 1\n'
    )
    done = run_modpack("validate", toml)
    assert "modpack.toml:9 [commands[0].name]: error CMD001 name is empty" in done.stdout, done.stdout


@pytest.mark.rule("DECL011")
@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("{foo}.zip", "output name template '{foo}.zip' uses {foo}"),
        ("{module_name", "output name template '{module_name': expected '}' before end of string"),
        ("sub/{module_name}.zip", "the output name 'sub/hello.zip' is not a plain file name"),
        ("/tmp/x.zip", "the output name '/tmp/x.zip' is not a plain file name"),
        # a bundle not named .zip was written, and validate and publish then refused it (IN005)
        ("{module_name}", "the output name 'hello' does not end in .zip"),
        # said as "uses {version}", a field its fix allows
        (
            "{version:>10}.zip",
            "output name template '{version:>10}.zip' uses {version:>10}: a field takes no",
        ),
        # said as "the output name '.zip' is not a plain file name"
        (
            "{target}.zip",
            "output name template '{target}.zip' uses {target}, which only a [[targets]] entry's",
        ),
    ],
)
def test_validate_refuses_the_output_template_build_refuses(tmp_path: Path, template: str, said: str) -> None:
    """validate passed a [build] output template that build then refused (a usage error, no
    line), so the pre-commit hook passed the commit; both now say DECL011 at its line."""
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    so = (FIXTURES / "example" / "../so/x86_64/hello.so").resolve()
    text = text.replace('so = "../so/x86_64/hello.so"', f'so = "{so}"\noutput = {json.dumps(template)}')
    toml = tmp_path / "modpack.toml"
    toml.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("output = "))
    checked = run_modpack("validate", toml)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{toml}:{line} [build.output]: error DECL011 {said}" in checked.stdout, checked.stdout
    built = run_modpack("build", toml, "-o", tmp_path / "dist")
    assert built.returncode == 1 and f"error DECL011 {said}" in built.stdout, built.stdout + built.stderr
    assert not (tmp_path / "dist").exists()
    good = text.replace(f"output = {json.dumps(template)}", 'output = "{module_name}-{architecture}.zip"')
    toml.write_text(good)
    assert "DECL011" not in run_modpack("validate", toml).stdout


def test_findings_after_a_multi_line_string_or_array_name_their_own_line(tmp_path: Path) -> None:
    """A line matcher took `[commands]` inside a multi-line description for a table header: every
    key after it was placed in the wrong table, and CAP001 on a capability written on a line of
    its own pointed at the [module] header, 12 lines above it."""
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        '[module]\nname = "hello"\nsemantic_version = "1.2.3"\n'
        'description = """Counts things.\nUsage, in a table:\n[commands]\nname = "count"\n"""\n'
        'min_redis_version = "7.0"\ncompatible_redis_version = "7.0"\n'
        'capabilities = [\n  "clustering",\n  "replica_off",  # [sic]\n]\n\n'
        '[[commands]]\nname = "hello.get"\narity = 0\nflags = ["readonly"]\nfirst_key = 1\nlast_key = 1\nstep = 1\n'
    )
    done = run_modpack("validate", toml)
    assert (
        "modpack.toml:13 [module.capabilities[1]]: error CAP001 unknown capability 'replica_off'"
        in done.stdout
    )
    assert "modpack.toml:18 [commands[0].arity]: error CMD004" in done.stdout, done.stdout
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("", "capabilities is missing: the build writes an empty list"),
        ("capabilities = []\n", "capabilities is empty"),
    ],
    ids=["missing", "empty"],
)
def test_capabilities_left_out_of_modpack_toml_are_called_missing(
    tmp_path: Path, written: str, said: str
) -> None:
    """CAP004 said "capabilities is empty" of a [module] table without the key: the author looked
    for an empty list that is not there. The build writes [] for both, and both are warned of."""
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        '[module]\nname = "hello"\nsemantic_version = "1.2.3"\nmin_redis_version = "7.0"\n'
        f'compatible_redis_version = "7.0"\n{written}\n'
        '[[commands]]\nname = "hello.get"\narity = 2\nflags = ["readonly"]\nfirst_key = 1\nlast_key = 1\nstep = 1\n'
    )
    done = run_modpack("validate", toml)
    line = 6 if written else 1
    assert f"modpack.toml:{line} [module.capabilities]: warning CAP004 {said}\n" in done.stdout, done.stdout
    assert done.returncode == 0


@pytest.mark.parametrize("template", ["{module_name.zip", "{{module_name}}.zip", "{{ module_name }}.zip"])
def test_the_output_template_fixes_lead_to_a_template_that_passes(tmp_path: Path, template: str) -> None:
    """DECL011's fix for a lone brace was "write a literal brace twice", and DECL002 then said
    `{{module_name}}` is a placeholder modpack never expands (the output template does: to the
    text '{module_name}'). Each fix now says single braces, and following it passes."""
    text = (FIXTURES / "example" / "modpack.toml").read_text()
    so = (FIXTURES / "so" / "x86_64" / "hello.so").resolve()
    text = text.replace('so = "../so/x86_64/hello.so"', f'so = "{so}"\noutput = {json.dumps(template)}')
    toml = tmp_path / "modpack.toml"
    toml.write_text(text)
    checked = run_modpack("validate", toml)
    assert checked.returncode == 1 and "brace twice" not in checked.stdout, checked.stdout
    if "{{" in template:
        said = f"error DECL002 {template.removesuffix('.zip')!r} is a template placeholder; the output"
        assert f"{said} template writes doubled braces as braces, so it names no field\n" in checked.stdout
        assert "fix: Write each field in single braces: {module_name}, {os}" in checked.stdout
    else:
        assert "fix: A field is a name in one pair of braces, such as {module_name}" in checked.stdout
    toml.write_text(text.replace(f"output = {json.dumps(template)}", 'output = "{module_name}.zip"'))
    again = run_modpack("validate", toml)
    assert again.returncode == 0 and "DECL0" not in again.stdout, again.stdout


def test_findings_in_tables_opened_by_dotted_keys_have_a_line(tmp_path: Path) -> None:
    """A modpack.toml written with dotted keys (`module.name = ...`, no [module] header) printed
    findings about `module` and `module.dependencies.dep1` without a line (no `line=` in GitHub
    annotations), and a stray key under a [[commands]] table at the table's header."""
    so = (FIXTURES / "so" / "x86_64" / "hello.so").resolve()
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        f'module.name = "hello"\nmodule.semantic_version = "1.2.3"\nmodule.capabilities = ["types"]\n'
        f'module.dependencies.dep1.url = "https://example.com/x.tgz"\nbuild.so = "{so}"\n\n'
        '[[commands]]\nname = "hello.get"\narity = 2\nflags = ["readonly"]\nfirst_key = 1\nlast_key = 1\nstep = 1\n'
        "extra.sub = 1\n"
    )
    done = run_modpack("validate", toml)
    assert "modpack.toml:4 [module.dependencies.dep1]: error DEP001" in done.stdout, done.stdout
    assert "modpack.toml:1 [module.min_redis_version]: error SCH001" in done.stdout, done.stdout
    assert "modpack.toml:14 [commands[0].extra]: error DECL001" in done.stdout, done.stdout


@pytest.mark.rule("DEP003")
def test_a_url_dependency_builds_a_bundle_that_validates(tmp_path: Path) -> None:
    """The README's `dependencies = { dep1 = { url, sha256 } }` built a bundle that validate (so
    publish) then refused, DEP003 "not under deps/ in the bundle": Redis Enterprise fetches such a
    dependency from its url when the module is uploaded (RS 7.22 POST /v2/modules: 404 "Dependency
    not found", 500 "Failed to get dependency"). Only one with neither an archive nor a url is."""
    head, tail = EXAMPLE.split("[platform]", 1)
    dependency = (
        f'dependencies = {{ dep1 = {{ url = "https://example.com/dep1.tgz", sha256 = "{"a" * 64}" }} }}\n'
    )
    toml = project(tmp_path, head + dependency + "\n[platform]" + tail)
    assert run_modpack("validate", toml).returncode == 0
    built = run_modpack("build", toml, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    [bundle] = bundles(tmp_path / "out")
    checked = run_modpack("validate", bundle)
    assert checked.returncode == 0 and "DEP003" not in checked.stdout, checked.stdout
    # the same dependency without its url: nothing to install it from
    with zipfile.ZipFile(bundle) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    module = json.loads(entries["module.json"])
    del module["dependencies"]["dep1"]["url"]
    entries["module.json"] = json.dumps(module).encode()
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    refused = run_modpack("validate", broken)
    said = (
        "[dependencies.dep1]: error DEP003 dependency 'dep1' is not under deps/ in the bundle, and has no url"
    )
    assert refused.returncode == 1 and said in refused.stdout, refused.stdout


def test_a_modpack_toml_of_settings_only_is_not_a_module(tmp_path: Path) -> None:
    """A repository's root modpack.toml with only [validate] (the settings of the files under it,
    as the README says ruff finds pyproject.toml) was validated as a module: SCH001 "`module` is
    missing", so the pre-commit hook, which passes every modpack.toml, failed every commit."""
    (tmp_path / "hello").mkdir()
    module = tmp_path / "hello" / "ramp.yml"  # no compatible_redis_version (VER006): the root ignores it
    module.write_text(
        "display_name: Hello\nauthor: me\nemail: a@example.com\ndescription: says hello\n"
        'homepage: https://example.com\nlicense: MIT\ncommand_line_args: ""\nmin_redis_version: "7.0"\n'
        'min_redis_pack_version: "7.2"\ncapabilities:\n    - types\n'
    )
    assert "VER006" in run_modpack("validate", module).stdout
    root = tmp_path / "modpack.toml"
    root.write_text('[validate]\nignore = ["VER006"]\n')
    done = run_modpack("validate", "--skip-unrelated", "--strict", "--", root, module)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.endswith("2 files checked: 0 errors, 0 warnings, 0 infos\n"), done.stdout
    root.write_text('[validate]\nignore = ["VER0066"]\n')  # its own settings are still checked
    wrong = run_modpack("validate", root)
    assert wrong.returncode == 1 and "error DECL009 [validate] ignore names 'VER0066'" in wrong.stdout
    root.write_text('[validate]\nignore = ["VER006"]\n')
    built = run_modpack("build", root, "-o", tmp_path / "dist")
    assert built.returncode == 2 and "holds only [validate]" in built.stderr, built.stderr
    assert not (tmp_path / "dist").exists()


@pytest.mark.rule("PLT005")
def test_an_empty_operating_systems_list_is_warned_of_where_written_and_in_the_bundle(tmp_path: Path) -> None:
    """`operating_systems = []` built a bundle for no OS (hello.Linux-any-...) with no finding in
    validate of either file; a list that was left out gets PLT005, and [] declares no more."""
    toml = project(
        tmp_path,
        EXAMPLE.replace('architecture = "x86_64"', 'operating_systems = []\narchitecture = "x86_64"'),
    )
    line = toml.read_text().splitlines().index("operating_systems = []") + 1
    checked = run_modpack("validate", "--strict", toml)
    assert checked.returncode == 1
    assert (
        f"modpack.toml:{line} [platform.operating_systems]: warning PLT005 operating_systems is empty"
        in checked.stdout
    )
    # the rule's own fix, "modpack build fills it from the binary", is untrue of []: build writes []
    assert "fix: List the OSes the module is for, or leave operating_systems out" in checked.stdout
    built = run_modpack("build", toml, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    [bundle] = bundles(tmp_path / "out")
    again = run_modpack("validate", bundle)
    assert "[operating_systems]: warning PLT005 operating_systems is empty" in again.stdout, again.stdout


def test_a_target_s_finding_outside_its_entry_names_the_target(tmp_path: Path) -> None:
    """VER007 between [module] min_redis_version and one target's compatible_redis_version was
    said at [module] without naming the target: with several, which one was unsaid."""
    text = EXAMPLE.replace('min_redis_version = "7.0"', 'min_redis_version = "7.2"')
    text += f'\n[[targets]]\nname = "new"\nso = "{HELLO}"\n'
    text += f'\n[[targets]]\nname = "old"\ncompatible_redis_version = "7.0"\nso = "{HELLO}"\n'
    toml = project(tmp_path, text)
    done = run_modpack("validate", toml)
    said = (
        "[module.min_redis_version]: error VER007 min_redis_version '7.2' is above compatible_redis_version"
    )
    assert f"{said} '7.0' (for [[targets]] 'old')\n" in done.stdout, done.stdout
    assert "(for [[targets]] 'new')" not in done.stdout


def test_an_unclosed_multi_line_string_is_said_at_the_line_it_opens(tmp_path: Path) -> None:
    """tomllib says "Unterminated string (at end of document)" with no line, and the fix said to
    fix the syntax "at the reported line": none was reported."""
    toml = tmp_path / "modpack.toml"
    toml.write_text('[module]\nname = "a"\ndescription = """never\nclosed\n[b]\nx = 1\n')
    done = run_modpack("validate", toml)
    assert done.returncode == 1
    assert f"{toml}:3: error IN003 TOML syntax error: Unterminated string" in done.stdout, done.stdout


def test_a_file_cut_short_is_said_at_its_last_line(tmp_path: Path) -> None:
    """Any other error "at end of document" (a file cut mid-key, as a truncated copy is) had no
    line either, under the same fix."""
    toml = tmp_path / "modpack.toml"
    example = (Path(__file__).parent.parent / "fixtures" / "example" / "modpack.toml").read_text()
    cut = example[: example.index("description")] + "descri"
    toml.write_text(cut)
    done = run_modpack("validate", toml)
    assert done.returncode == 1
    line = cut.count("\n") + 1
    assert f"{toml}:{line}: error IN003 TOML syntax error: Expected '=' after a key" in done.stdout, (
        done.stdout
    )


def test_an_output_template_of_a_field_the_binary_gives_is_no_finding(tmp_path: Path) -> None:
    """validate judged `{architecture}.zip` as the name '.zip' when [platform] leaves architecture
    to the binary, and build, which checks the same, refused a template it writes as x86_64.zip."""
    so = (FIXTURES / "so" / "x86_64" / "hello.so").resolve()
    text = (FIXTURES / "example" / "modpack.toml").read_text().replace('architecture = "x86_64"\n', "")
    text = text.replace('so = "../so/x86_64/hello.so"', f'so = "{so}"\noutput = "{{architecture}}.zip"')
    toml = tmp_path / "modpack.toml"
    toml.write_text(text)
    checked = run_modpack("validate", toml)
    assert checked.returncode == 0 and "DECL011" not in checked.stdout, checked.stdout
    built = run_modpack("build", toml, "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    assert [p.name for p in bundles(tmp_path / "out")] == ["x86_64.zip"]


def test_a_build_so_that_is_not_there_names_the_file_and_line_not_so_option(tmp_path: Path) -> None:
    """[build] so naming nothing: build said 'x does not exist; hint: Build the module first, or
    fix --so', of a run given no --so, and named neither modpack.toml nor its line."""
    text = EXAMPLE.replace('so = "../so/x86_64/hello.so"', 'so = "x"', 1)
    assert text != EXAMPLE
    toml = project(tmp_path, text)
    line = text.splitlines().index('so = "x"') + 1
    done = run_modpack("build", tmp_path, "-o", tmp_path / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"modpack: {tmp_path / 'x'} does not exist ([build] so of {toml}:{line})" in done.stderr, (
        done.stderr
    )
    assert "fix `so` under [build] in modpack.toml, or pass --so FILE" in done.stderr
    assert "fix --so." not in done.stderr


@pytest.mark.parametrize("kind", ["dangling link", "folder"])
def test_a_folder_whose_modpack_toml_is_no_file_says_what_it_is(tmp_path: Path, kind: str) -> None:
    """build of a folder whose modpack.toml is a link to nothing or a folder said 'the folder has no
    modpack.toml or ramp.yml', which the user could see was false; validate named the cause."""
    toml = tmp_path / "modpack.toml"
    if kind == "folder":
        toml.mkdir()
    else:
        toml.symlink_to("nowhere.toml")
    done = run_modpack("build", tmp_path, "-o", tmp_path / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    said = "is a folder, not a regular file" if kind == "folder" else "is a symbolic link to 'nowhere.toml'"
    assert f"modpack: {toml} {said}" in done.stderr, done.stderr
    assert "has no modpack.toml" not in done.stderr


def test_a_build_of_a_module_without_a_name_says_so_where_a_select_hides_the_finding(tmp_path: Path) -> None:
    """[modul] (a typo) with [validate] select = ["CMD", "KEY"]: the select hides SCH001 (no name),
    and build stopped at 'the output name '.Linux-...zip' is not a plain file name', naming no cause."""
    text = EXAMPLE.replace("[module]", "[modul]", 1) + '\n[validate]\nselect = ["CMD", "KEY"]\n'
    toml = project(tmp_path, text)
    done = run_modpack("build", toml, "-o", tmp_path / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "modpack: the bundle is named after the module, which has no name" in done.stderr, done.stderr
    assert "[module] name in modpack.toml" in done.stderr and "not a plain file name" not in done.stderr


def test_init_says_when_an_add_command_record_is_not_its_commands_entry(tmp_path: Path) -> None:
    """A ramp.yml build records an add_command entry as written (flags ["deny-oom"]) and packs it
    canonical (["denyoom"]). init from that bundle or module.json named the table and said nothing,
    and the bundle rebuilt from its modpack.toml recorded the packed entry: another module.json."""
    document = json.loads((ROOT / "tests" / "cases" / "good" / "module-json" / "module.json").read_text())
    packed = next(c for c in document["commands"] if "denyoom" in c.get("flags", []))
    written = {**packed, "flags": ["deny-oom" if f == "denyoom" else f for f in packed["flags"]]}
    document["add_command"] = [written]
    source = tmp_path / "module.json"
    source.write_text(json.dumps(document))
    result = run_modpack("init", tmp_path / "modpack.toml", "--from", source)
    assert result.returncode == 0, result.stdout + result.stderr
    said = (
        f"changed: add_command {packed['command_name']!r}: the record differs from its commands entry in flags"
        f" {json.dumps(written['flags'])} (commands: {json.dumps(packed['flags'])})"
    )
    assert said in result.stdout, result.stdout
    # a record differing in more fields than are shown says how many more (it listed 3, no more)
    document["add_command"] = [{**written, "command_arity": 9, "first_key": 2, "last_key": 2, "step": 2}]
    source.write_text(json.dumps(document))
    many = run_modpack("init", tmp_path / "modpack.toml", "--from", source, "--force")
    assert many.returncode == 0, many.stdout + many.stderr
    (line,) = [line for line in many.stdout.splitlines() if "changed: add_command" in line]
    assert " and 2 more fields; add_command names the [[commands]] table" in line, line
    document["add_command"] = [packed]  # the record a modpack.toml build writes: nothing to say
    source.write_text(json.dumps(document))
    same = run_modpack("init", tmp_path / "modpack.toml", "--from", source, "--force")
    assert same.returncode == 0 and "changed: add_command" not in same.stdout, same.stdout


def test_a_binary_or_bundle_given_to_build_is_hinted_commands_quoted_as_a_shell_takes_them(
    tmp_path: Path,
) -> None:
    """build of a .so, a bundle or a module.json names the init (or validate) that takes it, and
    the path was put in as it is: for my module/hello.so the hint said `modpack init --discover my
    module/hello.so`, two arguments (Got unexpected extra argument). The paths are shell-quoted,
    and each command runs as printed."""
    require_redis()
    folder = tmp_path / "my module"
    folder.mkdir()
    shutil.copy2(HELLO, folder / "hello.so")

    refused = run_modpack("build", "my module/hello.so", cwd=tmp_path)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    command = "modpack init --discover 'my module/hello.so'"
    assert f"Pass it as `--so 'my module/hello.so'` with the declarations, or write them: `{command}`." in (
        refused.stderr
    ), refused.stderr
    assert run_modpack(*shlex.split(command)[1:], cwd=tmp_path).returncode == 0
    built = run_modpack("build", "-o", "my module/dist", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    bundle = next((folder / "dist").iterdir()).relative_to(tmp_path)

    refused = run_modpack("build", bundle, cwd=tmp_path)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    validate = f"modpack validate {shlex.quote(str(bundle))}"
    assert f"Check it with `{validate}`, or write its declarations: `modpack init --from" in refused.stderr
    assert run_modpack(*shlex.split(validate)[1:], cwd=tmp_path).returncode == 0
    (tmp_path / "modpack.toml").unlink()
    init = re.search(r"`(modpack init --from [^`]*)`", refused.stderr).group(1)  # type: ignore[union-attr]
    assert run_modpack(*shlex.split(init)[1:], cwd=tmp_path).returncode == 0, init


def test_a_ramp_yml_built_without_so_is_told_to_pass_it(tmp_path: Path) -> None:
    """The hint said "Pass --so FILE, or set `so` under [build]": a ramp.yml has no [build]."""
    (tmp_path / "ramp.yml").write_text(MANIFEST + 'module_name: hello\nsemantic_version: "1.2.3"\n')
    shutil.copy(HELLO, tmp_path / "hello.so")
    done = run_modpack("build", ".", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "modpack: no module binary to build from: ramp.yml names none (RAMP takes the .so on its"
        in done.stderr
    )
    assert "hint: Pass it with --so: modpack build ramp.yml --so hello.so\n" in done.stderr
    assert "[build]" not in done.stderr


def test_validate_of_a_ramp_yml_says_a_local_path_not_there_yet(tmp_path: Path) -> None:
    """modpack.toml's local_path not there yet is DECL010 (its checks did not run); a ramp.yml's was
    said nothing of, and build then refused it."""
    (tmp_path / "ramp.yml").write_text(
        MANIFEST + 'module_name: hello\nsemantic_version: "1.2.3"\n'
        "dependencies:\n    plugin:\n        local_path: build/plugin.so\n"
    )
    done = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "[dependencies.plugin.local_path]: info DECL010 build/plugin.so is not built yet" in done.stdout


@pytest.mark.rule("SCH002")
def test_a_name_of_the_wrong_type_is_told_its_type_not_to_add_a_name(tmp_path: Path) -> None:
    """`name = 5` was told 'Add name = "..." under [module]', the hint for a missing name, though
    the key is there: a wrong type gets the type's fix, a missing name still the hint to add it."""
    body = 'semantic_version = "1.2.3"\ncapabilities = ["types"]\n'
    (tmp_path / "modpack.toml").write_text("[module]\nname = 5\n" + body)
    wrong = run_modpack("validate", tmp_path / "modpack.toml")
    assert "error SCH002 `module.name` is an integer (5); expected a string" in wrong.stdout, wrong.stdout
    assert "Add name =" not in wrong.stdout
    assert "  fix: Give the field a value of the type shown." in wrong.stdout
    (tmp_path / "modpack.toml").write_text("[module]\n" + body)
    missing = run_modpack("validate", tmp_path / "modpack.toml")
    assert '  fix: Add name = "..." under [module]' in missing.stdout, missing.stdout
