"""`modpack discover`: exactly what each fixture registers, in a stable order, and `--write` merges."""

from __future__ import annotations

import json
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modpack import modpack_toml
from modpack.checks.load import check_load
from modpack.errors import ModpackError, UsageError
from modpack.findings import Sink
from modpack.redis import compare, discover
from modpack.redis.model import Discovery
from tests.support.cli import run_modpack
from tests.support.paths import HELLO
from tests.support.redis import LOADABLE, SO, expected_commands, expected_module
from tests.support.tools import require_redis

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def discovered() -> dict[str, Discovery]:
    """Each loadable fixture, discovered once for the tests that only read the result."""
    require_redis()
    return {name: discover.discover(SO / f"{name}.so") for name in LOADABLE}


def resp2_map(items: list[Any]) -> dict[str, Any]:
    return {items[i]: items[i + 1] for i in range(0, len(items), 2)}


def key_spec_as_json(flat: list[Any]) -> dict[str, Any]:
    """A recorded RESP2 key spec in the shape `modpack discover --format json` prints."""
    spec = resp2_map(flat)
    for part in ("begin_search", "find_keys"):
        typed = resp2_map(spec[part])
        spec[part] = {"type": typed["type"], "spec": resp2_map(typed["spec"])}
    return spec


def recorded_as_json(entry: list[Any]) -> dict[str, Any]:
    name, arity, flags, first, last, step = entry[:6]
    return {
        "name": name,
        "arity": arity,
        "flags": flags,
        "first_key": first,
        "last_key": last,
        "step": step,
        "key_specs": [key_spec_as_json(s) for s in entry[8]],
    }


@pytest.mark.parametrize("fixture", LOADABLE)
def test_lists_exactly_what_the_source_registers(discovered: dict[str, Discovery], fixture: str) -> None:
    found = discovered[fixture]
    recorded = expected_commands(fixture)
    assert [c.name for c in found.commands] == sorted(recorded, key=str.lower)
    for info in found.commands:
        shown = info.as_json()
        shown.pop("docs", None)
        assert shown == recorded_as_json(recorded[info.name]), info.name
    module = expected_module(fixture)
    assert (found.module_name, found.module_version) == (module["name"], module["ver"])
    assert found.redis_version.count(".") == 2


def test_subcommands_are_listed_with_their_parent(discovered: dict[str, Discovery]) -> None:
    names = [c.name for c in discovered["subcommands"].commands]
    assert names == ["sub.config", "sub.config|get", "sub.config|set", "sub.plain"]
    tables = tomllib.loads(discover.to_toml(discovered["subcommands"], include_subcommands=False))
    assert [t["name"] for t in tables["commands"]] == ["sub.config", "sub.plain"]


def test_same_output_on_every_run(discovered: dict[str, Discovery]) -> None:
    again = discover.discover(SO / "subcommands.so")
    first = discovered["subcommands"]
    assert discover.to_toml(again) == discover.to_toml(first)
    assert discover.to_json(again) == discover.to_json(first)


def test_toml_output_is_what_declarations_read(discovered: dict[str, Discovery]) -> None:
    text = discover.to_toml(discovered["keyspecs"])
    assert text.startswith("# Commands kspec 1.0.0 (10000) registers on redis-server ")
    assert (
        '# key spec: RO access; keyword "KEYS" startfrom 1; keynum keynumidx 0 firstkey 1 keystep 1' in text
    )
    assert tomllib.loads(text)["commands"][1] == {
        "name": "ks.kw",
        "arity": -1,
        "flags": ["readonly", "module", "movablekeys"],
        "first_key": 0,
        "last_key": 0,
        "step": 0,
    }


def test_json_output(discovered: dict[str, Discovery]) -> None:
    data = json.loads(discover.to_json(discovered["subcommands"]))
    assert data["format_version"] == 1
    assert data["module"] == {
        "name": "subcmd",
        "version": 10000,
        "semantic_version": "1.0.0",
        "file": str(SO / "subcommands.so"),
        "args": [],
    }
    get = data["commands"][1]
    assert get["name"] == "sub.config|get"
    assert get["docs"] == {"group": "module", "module": "subcmd"}
    assert get["key_specs"][0]["begin_search"] == {"type": "index", "spec": {"index": 2}}


def test_module_json_commands_leave_out_subcommands(discovered: dict[str, Discovery]) -> None:
    entries = discover.module_json_commands(discovered["subcommands"])
    assert [e["command_name"] for e in entries] == ["sub.config", "sub.plain"]
    assert entries[1] == {
        "command_name": "sub.plain",
        "command_arity": -1,
        "flags": ["module", "fast"],
        "first_key": 0,
        "last_key": 0,
        "step": 0,
    }


@pytest.mark.parametrize("fixture", LOADABLE)
def test_round_trip_discover_write_compare(
    discovered: dict[str, Discovery], fixture: str, tmp_path: Path
) -> None:
    toml = tmp_path / "modpack.toml"
    summary = discover.write_toml(toml, discovered[fixture])
    assert summary.written and summary.added == [c.name for c in discovered[fixture].commands]
    decl = modpack_toml.load_toml(toml)
    # ks.kw's keyword key spec is a property of the module, not a declaration difference.
    about_the_module = ["LOAD022"] if fixture == "keyspecs" else []
    assert [d.code for d in compare.compare(decl.module, discovered[fixture])] == about_the_module
    sink = Sink(str(toml))
    check_load(SO / f"{fixture}.so", decl.module, sink)
    assert [f.code for f in sink.findings] == ["LOAD003", *about_the_module]
    again = discover.write_toml(toml, discovered[fixture])
    assert not again.written and again.unchanged == summary.added


PROJECT = """\
# hello, packaged by modpack
[module]
name = "hello"
semantic_version = "1.2.3"
display_name = "Hello"
min_redis_version = "7.0"
compatible_redis_version = "7.0"
capabilities = ["clustering"]   # we route keys

[platform]
operating_systems = ["rhel8", "rhel9", "ubuntu20", "ubuntu22", "amzn2023"]
architecture = "x86_64"

[build]
so = "{so}"
"""


def test_build_discover_refuses_a_name_or_version_the_module_does_not_register(tmp_path: Path) -> None:
    """countminsketch passes 'COUNTMINSKETCH' and 1 to RedisModule_Init while its sources say
    1.0.0: `build --discover` loaded it, wrote a bundle declaring countminsketch 1.0.0, and only
    the bundle's own `validate --load` then said LOAD014 and LOAD015. `discover --write` was as
    silent."""
    require_redis()
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        PROJECT.format(so=SO / "hello.so").replace('"1.2.3"', '"1.0.0"').replace('"hello"', '"Hello"')
    )
    built = run_modpack("build", toml, "--discover", "--output", tmp_path / "dist")
    assert built.returncode == 1, built.stdout + built.stderr
    assert (
        "modpack.toml:3 [module.name]: error LOAD014 [module] name is 'Hello', the module registers itself as 'hello'"
        in built.stdout
    )
    assert (
        "modpack.toml:4 [module.semantic_version]: error LOAD015 semantic_version is 1.0.0 (version 10000), the module registers 10203 (1.2.3)"
        in built.stdout
    )
    assert "nothing was written" in built.stderr
    assert not list(tmp_path.glob("dist/*"))  # refused before anything was written

    written = run_modpack("discover", SO / "hello.so", "--write", toml)
    assert written.returncode == 0, written.stderr
    assert (
        "kept as [module] says, though the module disagrees: semantic_version is 1.0.0 (version 10000)"
        in written.stdout
    )
    assert "the module registers itself as 'hello'" in written.stdout


def test_subcommands_go_into_declarations_only_when_asked(tmp_path: Path) -> None:
    """`discover --write` wrote parent|sub tables, and the next build warned CMD022 about each
    (RAMP lists no subcommands), while `init --discover` left them out. What goes into
    declarations (--write, the TOML printed) leaves them out, and says so; JSON lists them."""
    require_redis()
    so = SO / "subcommands.so"
    printed = run_modpack("discover", so)
    assert printed.returncode == 0, printed.stderr
    assert "# Left out: the subcommands sub.config|get, sub.config|set (RAMP lists none" in printed.stdout
    assert [t["name"] for t in tomllib.loads(printed.stdout)["commands"]] == ["sub.config", "sub.plain"]
    asked = tomllib.loads(run_modpack("discover", so, "--subcommands").stdout)
    assert [t["name"] for t in asked["commands"]] == [
        "sub.config",
        "sub.config|get",
        "sub.config|set",
        "sub.plain",
    ]
    listed = json.loads(run_modpack("discover", so, "--format", "json").stdout)
    assert len(listed["commands"]) == 4
    assert (
        len(
            json.loads(run_modpack("discover", so, "--format", "json", "--no-subcommands").stdout)["commands"]
        )
        == 2
    )

    toml = tmp_path / "modpack.toml"
    toml.write_text(PROJECT.format(so=so).replace('name = "hello"', 'name = "sub"'))
    written = run_modpack("discover", so, "--write", toml)
    assert written.returncode == 0, written.stderr
    assert "left out: the subcommands sub.config|get, sub.config|set" in written.stdout
    assert "|" not in toml.read_text()
    built = run_modpack("build", toml, "--output", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "CMD022" not in built.stdout + built.stderr


def test_round_trip_through_the_command_line(tmp_path: Path) -> None:
    """discover --write, build, then validate --load the declarations and the built module.json."""
    require_redis()
    toml = tmp_path / "modpack.toml"
    toml.write_text(PROJECT.format(so=SO / "hello.so"))
    done = run_modpack("discover", SO / "hello.so", "--write", toml)
    assert done.returncode == 0, done.stderr
    assert "5 added" in done.stdout
    done = run_modpack("build", toml, "--output", tmp_path / "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_modpack("validate", "--load", toml)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOAD003" in done.stdout and "error" not in done.stdout.replace("0 errors", "")
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        module = json.loads(archive.read("module.json"))
    sink = Sink("module.json")
    check_load(SO / "hello.so", module, sink)
    assert [f.code for f in sink.findings] == ["LOAD003"]


USER_FILE = """\
# my module, by hand
[module]
name = "hello"   # the registered name
semantic_version = "1.2.3"

# commands I wrote myself
[[commands]]
name = "HELLO.SET"  # upper case on purpose
arity = 3
flags = ["deny-oom", "write"]
first_key = 1
last_key = 1
step = 1

[[commands]]
name = "hello.get"  # a routing policy: keep my keys
arity = 1
flags = ["readonly"]
first_key = 0
last_key = 0
step = -1

[[commands]]
name = "hello.retired"
arity = 2

[validate]
load = true  # prove it
"""


def test_write_merges_and_keeps_the_users_file(discovered: dict[str, Discovery], tmp_path: Path) -> None:
    toml = tmp_path / "modpack.toml"
    toml.write_text(USER_FILE)
    toml.chmod(0o640)
    summary = discover.write_toml(toml, discovered["hello"])
    text = toml.read_text()
    assert (summary.added, summary.updated, summary.unchanged) == (
        ["hello.copy", "hello.mset", "hello.ping"],
        ["hello.get"],
        ["hello.set"],
    )
    assert summary.not_registered == ["hello.retired"] and summary.removed == []
    for kept in (
        "# my module, by hand",
        "# the registered name",
        '"HELLO.SET"  # upper case on purpose',
        'flags = ["deny-oom", "write"]',
        "load = true  # prove it",
        'name = "hello.retired"',
    ):
        assert kept in text, kept
    data = tomllib.loads(text)
    get = next(t for t in data["commands"] if t["name"] == "hello.get")
    assert get == {
        "name": "hello.get",
        "arity": 2,
        "flags": ["readonly", "module", "fast"],
        "first_key": 0,
        "last_key": 0,
        "step": -1,
    }
    assert oct(toml.stat().st_mode & 0o777) == "0o640"
    assert "kept, although the module does not register them: hello.retired" in summary.describe()
    pruned = discover.write_toml(toml, discovered["hello"], prune=True)
    assert pruned.removed == ["hello.retired"] and "hello.retired" not in toml.read_text()
    assert list(tmp_path.iterdir()) == [toml]  # no temporary file left


def test_write_keeps_to_ramps_records(discovered: dict[str, Discovery], tmp_path: Path) -> None:
    """[module] exclude_commands and add_command (RAMP's records) hold for --write: it wrote the
    excluded command as a [[commands]] table, which the next validate refused (DECL004), and
    --prune removed the one a plugin registers."""
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        USER_FILE.replace(
            'semantic_version = "1.2.3"\n',
            'semantic_version = "1.2.3"\nexclude_commands = ["HELLO.COPY"]\nadd_command = ["hello.retired"]\n',
        )
    )
    summary = discover.write_toml(toml, discovered["hello"], prune=True)
    assert summary.excluded == ["hello.copy"] and "hello.copy" not in summary.added
    assert summary.removed == [] and summary.not_registered == []
    assert "left out, as [module] exclude_commands says: hello.copy" in summary.describe()
    names = [t["name"] for t in tomllib.loads(toml.read_text())["commands"]]
    assert "hello.copy" not in names and "hello.retired" in names
    result = run_modpack("validate", toml)
    assert "DECL004" not in result.stdout, result.stdout


def test_write_leaves_out_an_excluded_subcommand(discovered: dict[str, Discovery], tmp_path: Path) -> None:
    """exclude_commands may name a subcommand (`container|sub`): --write wrote its table all the
    same, which the next validate refused (DECL004)."""
    found = discovered["subcommands"]
    sub = next(c.name for c in found.commands if "|" in c.name)
    toml = tmp_path / "modpack.toml"
    toml.write_text(
        f'[module]\nname = "x"\nsemantic_version = "1.0.0"\nexclude_commands = ["{sub.upper()}"]\n'
    )
    summary = discover.write_toml(toml, found)
    names = [t["name"] for t in tomllib.loads(toml.read_text())["commands"]]
    assert summary.excluded == [sub] and sub not in names and sub.split("|")[0] in names


def test_write_refuses_broken_toml_and_leaves_it(discovered: dict[str, Discovery], tmp_path: Path) -> None:
    toml = tmp_path / "modpack.toml"
    toml.write_text("[module\nname = 1\n")
    with pytest.raises(ModpackError, match="TOML syntax error"):
        discover.write_toml(toml, discovered["hello"])
    assert toml.read_text() == "[module\nname = 1\n"
    toml.write_text('commands = [{name = "x"}]\n')
    with pytest.raises(ModpackError, match=r"not written as \[\[commands\]\] tables"):
        discover.write_toml(toml, discovered["hello"])


def test_fill_commands_for_build_discover(tmp_path: Path) -> None:
    require_redis()
    toml = tmp_path / "modpack.toml"
    toml.write_text('[module]\nname = "subcmd"\nsemantic_version = "1.0.0"\n')
    decl = modpack_toml.load_toml(toml)
    assert not decl.has_commands
    found = discover.fill_commands(decl, SO / "subcommands.so")
    assert decl.has_commands and found.module_name == "subcmd"
    assert [c["command_name"] for c in decl.module["commands"]] == ["sub.config", "sub.plain"]


def test_arguments_and_failures() -> None:
    require_redis()
    assert discover.split_args("a 'b c' \"d\"") == ["a", "b c", "d"]
    with pytest.raises(UsageError, match="cannot split"):
        discover.split_args("a 'b")
    with pytest.raises(ModpackError, match="does not exist"):
        discover.discover(SO / "nothing-here.so")
    with pytest.raises(ModpackError, match="returned an error"):
        discover.discover(SO / "normalise.so", ["unexpected"])


def test_command_line(tmp_path: Path) -> None:
    require_redis()
    done = run_modpack("discover", SO / "keyspecs.so", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [c["name"] for c in json.loads(done.stdout)["commands"]] == ["ks.copy", "ks.kw"]
    done = run_modpack("discover", SO / "normalise.so", "--args", "nope")
    assert done.returncode == 1
    assert "RedisModule_OnLoad of normalise.so returned an error" in done.stderr
    # No redis-server on PATH and none prepared (a prepared x86_64 one would be used instead).
    env = {"PATH": "", "MODPACK_REDIS_SERVER": "", "XDG_CACHE_HOME": str(tmp_path)}
    done = run_modpack("discover", SO / "hello.so", env=env)
    assert done.returncode == 1
    assert "redis-server is not installed" in done.stderr and "hint:" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"#!/bin/sh\necho not a module\n", "not an ELF file"),
        (HELLO.read_bytes()[:3000], "past the end of the 3000-byte file (truncated upload?)"),
    ],
    ids=["text", "truncated"],
)
def test_discover_names_a_file_that_is_no_module_before_loading_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """A text file was told 'has no execute permission' (and, made executable, 'file too short'
    from dlopen); a truncated module crashed redis-server with SIGBUS. The ELF reader now says
    what the file is before any server starts."""
    so = tmp_path / "mod.so"
    so.write_bytes(content)
    result = run_modpack("discover", so)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"modpack: {so} cannot be loaded: " in result.stderr and message in result.stderr
    assert "execute permission" not in result.stderr and "crashed" not in result.stderr


def test_a_module_without_commands_prints_its_header_first(discovered: dict[str, Discovery]) -> None:
    """hellohook.c of redis/redis registers no command: the TOML began `commands = []`, above
    the comment saying which module and Redis it came from."""
    import dataclasses

    text = discover.to_toml(dataclasses.replace(discovered["hello"], commands=()))
    assert text.startswith("# Commands hello ")
    assert "commands = []" not in text and "# It registers no command." in text
    assert tomllib.loads(text) == {}
