"""`modpack ramp-pack` is `ramp pack` with one word changed: the same options and the same defaults.

Compared with the real RAMP (ramp-packer from PyPI, a test dependency) on the same fixture module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest

from modpack.cli.lazy import LAZY_COMMANDS, load_command
from modpack.validate import validate_paths
from tests.support.cli import run_modpack
from tests.support.paths import HELLO
from tests.support.tools import require_redis


def ramp_pack_command() -> click.Command:
    try:
        from RAMP.ramp import pack
    except ImportError:
        pytest.fail("ramp-packer is not installed; `pip install -e .[test]` installs it")
    return pack


def option_names(command: click.Command) -> set[str]:
    return {name for p in command.params if isinstance(p, click.Option) for name in p.opts}


def test_every_ramp_pack_option_is_accepted() -> None:
    ours = load_command("ramp-pack", LAZY_COMMANDS["ramp-pack"])
    missing = option_names(ramp_pack_command()) - option_names(ours)
    assert missing == set(), f"ramp pack options modpack ramp-pack refuses: {sorted(missing)}"


def module_json(bundle: Path) -> dict[str, object]:
    with zipfile.ZipFile(bundle) as archive:
        document: dict[str, object] = json.loads(archive.read("module.json"))
    return document


@pytest.mark.redis
def test_without_a_manifest_ramp_defaults_apply(tmp_path: Path) -> None:
    """The command RAMP's docs show (no -m, no -C) packs with RAMP's defaults instead of failing."""
    require_redis()
    ramp_pack_command()
    options = ["-a", "me", "-A", "x86_64", "-D", "a module", "-r", "7.0"]
    (tmp_path / "ramp").mkdir()
    subprocess.run(
        [sys.executable, "-m", "RAMP.ramp", "pack", HELLO, *options, "-o", tmp_path / "ramp" / "module.zip"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    ours = run_modpack("ramp-pack", HELLO, *options, "-o", tmp_path / "ours" / "module.zip", cwd=tmp_path)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "ramp-pack options" in ours.stdout  # findings name the options, not a ramp.yml that is not there
    theirs, mine = (
        module_json(tmp_path / "ramp" / "module.zip"),
        module_json(tmp_path / "ours" / "module.zip"),
    )
    for key in ("command_line_args", "capabilities", "min_redis_version", "min_redis_pack_version", "author"):
        assert mine[key] == theirs[key], key
    assert "compatible_redis_version" not in mine  # RAMP's silent "7.4"; modpack warns (VER006)
    assert {f.code for f in validate_paths([tmp_path / "ours" / "module.zip"]).findings()} <= {
        "VER006",
        "CAP004",
    }


@pytest.mark.redis
def test_dependencies_from_the_command_line(tmp_path: Path) -> None:
    require_redis()
    sha = "ab" * 32
    deps = json.dumps([{"name": "dep1", "url": "https://example.com/dep1.tgz", "sha256": sha}])
    result = run_modpack(
        "ramp-pack", HELLO, "--dependencies", deps, "--redis-args", '{"loglevel": "debug"}',
        "-cr", "7.4", "-r", "7.0", "-o", tmp_path / "m.zip",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    written = module_json(tmp_path / "m.zip")
    assert written["dependencies"] == {"dep1": {"url": "https://example.com/dep1.tgz", "sha256": sha}}
    assert "redis_args" not in written
    bad = run_modpack("ramp-pack", HELLO, "--dependencies", "{not json", "-o", tmp_path / "x.zip")
    assert bad.returncode == 2 and "--dependencies" in bad.stderr and "is not JSON" in bad.stderr


@pytest.mark.redis
def test_ramp_pack_prints_its_findings_as_validate_does(tmp_path: Path) -> None:
    """ramp-pack prints through the shared printer (cli.output.echo_findings), with --color as
    build and validate take it: a finding's lines are the ones validate prints for the manifest."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text('author: me\narchitecture: x86_64\ndescription: a module\nmin_redis_version: "7.0"\n')

    def finding_lines(stdout: str, code: str) -> list[str]:
        lines = stdout.splitlines()
        at = next(i for i, line in enumerate(lines) if code in line)
        return lines[at : at + 2]

    for colour in ("always", "never"):
        packed = run_modpack(
            "ramp-pack",
            HELLO,
            "-m",
            manifest.name,
            "-o",
            tmp_path / f"{colour}.zip",
            "--color",
            colour,
            cwd=tmp_path,
        )
        assert packed.returncode == 0, packed.stdout + packed.stderr
        validated = run_modpack("validate", "--color", colour, manifest.name, cwd=tmp_path)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        mine = finding_lines(packed.stdout, "VER006")
        assert mine == finding_lines(validated.stdout, "VER006")
        assert ("\x1b[33mwarning\x1b[0m" in mine[0]) == (colour == "always"), mine


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-o", "{"], "modpack: -o '{': Single '{' encountered in format string"),
        (["-o", "x/{module_name"], "modpack: -o '{module_name': expected '}' before end of string"),
        (["--dependencies", "[" * 100_000], "modpack: --dependencies '[[[["),
    ],
)
def test_ramp_pack_options_that_break_a_parser_are_usage_errors(
    tmp_path: Path, options: list[str], message: str
) -> None:
    """A lone brace in -o (string.Formatter's ValueError) and --dependencies nested past Python's
    recursion limit (RecursionError) were internal errors; the JSON one echoed all 100 KB."""
    result = run_modpack("ramp-pack", HELLO, "-n", "hello", *options, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "internal error" not in result.stderr
    assert len(result.stderr) < 1000
    assert list(tmp_path.iterdir()) == []


@pytest.mark.redis
def test_packname_file_and_p_say_the_path_as_ramp_formats_it(tmp_path: Path) -> None:
    """RAMP writes `output.format(**metadata)` to --packname-file, folder included, and prints it
    for -P only when no --packname-file takes it (RAMP/packer.py, ramp.md §2 step 12): RediSearch's
    and RedisAI's pack scripts run `realpath $(cat FILE)` on it. modpack wrote the bare file name
    (another place than the bundle's) and printed it with --packname-file too."""
    require_redis()
    output = "out/{module_name}-{semantic_version}.zip"
    common = ["-cr", "7.4", "-C", "types", "-o", output, HELLO]
    printed = run_modpack("ramp-pack", "-P", *common, cwd=tmp_path)
    assert printed.returncode == 0 and printed.stdout == "out/hello-1.2.3.zip\n", (
        printed.stdout + printed.stderr
    )
    quiet = run_modpack("ramp-pack", "-P", "--packname-file", "pn.txt", *common, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout + quiet.stderr
    assert (tmp_path / "pn.txt").read_text() == "out/hello-1.2.3.zip"
    assert not (tmp_path / "out").exists()  # -P packs nothing
    packed = run_modpack("ramp-pack", "--packname-file", "pn2.txt", *common, cwd=tmp_path)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    named = tmp_path / (tmp_path / "pn2.txt").read_text()
    assert named.is_file() and named == tmp_path / "out" / "hello-1.2.3.zip"
    # fields in the folder are filled as in the name (RAMP formats the whole of -o): the bundle
    # went to a folder named `{architecture}`, and --packname-file named that folder
    fielded = run_modpack(
        "ramp-pack", "--packname-file", "pn3.txt", *common[:4], "-o", "by/{architecture}/{module_name}.zip", HELLO,
        cwd=tmp_path,
    )  # fmt: skip
    assert fielded.returncode == 0, fielded.stdout + fielded.stderr
    assert (tmp_path / "pn3.txt").read_text() == "by/x86_64/hello.zip"
    assert (tmp_path / "by" / "x86_64" / "hello.zip").is_file() and not (
        tmp_path / "by" / "{architecture}"
    ).exists()
    # the folder as -o spells it: `./x.zip` stayed `./x.zip` in RAMP, and became `x.zip` here
    dotted = run_modpack(
        "ramp-pack", "-P", "-cr", "7.4", "-C", "types", "-o", "./out//x.zip", HELLO, cwd=tmp_path
    )
    assert dotted.returncode == 0 and dotted.stdout == "./out//x.zip\n", dotted.stdout + dotted.stderr


@pytest.mark.redis
def test_ramp_pack_says_the_manifest_s_own_findings_and_takes_capabilities_once(tmp_path: Path) -> None:
    """A misspelt key of the manifest (DECL006, which validate and build say, and RAMP names as an
    unknown attribute) was not said by ramp-pack, which packed RAMP's default in its place; and
    `-C 'types, clustering,types'` kept 'types' twice, which RAMP's set() takes once."""
    require_redis()
    (tmp_path / "ramp.yml").write_text(
        'isplay_name: Hello\nmin_redis_verison: "7.2"\ncompatible_redis_version: "7.4"\n'
    )
    done = run_modpack(
        "ramp-pack", "-m", "ramp.yml", "-C", "types, clustering,types", "-o", "m.zip", HELLO, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ramp.yml:1 [isplay_name]: warning DECL006 RAMP does not know the key 'isplay_name'" in done.stdout
    assert "fix: Did you mean 'min_redis_version'?" in done.stdout
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        module = json.loads(archive.read("module.json"))
    assert module["capabilities"] == ["types", "clustering"]


@pytest.mark.rule("VER008")
def test_a_finding_on_ramps_default_version_says_it_is_the_default(tmp_path: Path) -> None:
    """RAMP writes min_redis_version '4.0' when nothing sets it. ramp-pack -cr 7.0 said VER008 of
    "min_redis_version '4.0'", a value the user never gave, and validate of a ramp.yml setting
    only compatible_redis_version 7.0 said nothing of what `build` and ramp-pack then warned."""
    require_redis()
    note = (
        " (min_redis_version '4.0' is RAMP's default, which ramp pack writes when nothing sets it:"
        " set it in the manifest, or with -r)"
    )
    vague = "warning VER008 min_redis_version '4.0' and compatible_redis_version '7.0' have different majors"
    packed = run_modpack(
        "ramp-pack", HELLO, "-C", "types", "-cr", "7.0", "-o", tmp_path / "a.zip", cwd=tmp_path
    )
    assert packed.returncode == 0, packed.stdout + packed.stderr
    assert f"ramp-pack options [min_redis_version]: {vague}" in packed.stdout
    assert note in packed.stdout
    given = run_modpack(
        "ramp-pack", HELLO, "-C", "types", "-cr", "7.0", "-r", "7.0", "-o", tmp_path / "b.zip"
    )
    assert "VER008" not in given.stdout, given.stdout
    # -r 4.0 given: the value is the default's, but the user set it
    chosen = run_modpack(
        "ramp-pack", HELLO, "-C", "types", "-cr", "7.0", "-r", "4.0", "-o", tmp_path / "d.zip"
    )
    assert vague in chosen.stdout and "RAMP's default" not in chosen.stdout, chosen.stdout

    manifest = tmp_path / "ramp.yml"
    manifest.write_text('compatible_redis_version: "7.0"\ncapabilities: [types]\n')
    validated = run_modpack("validate", manifest)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert f"{manifest}:1 [min_redis_version]: {vague}" in validated.stdout
    assert note in validated.stdout
    built = run_modpack("ramp-pack", "-m", manifest, HELLO, "-o", tmp_path / "c.zip", cwd=tmp_path)
    assert built.stdout.count("VER008") == 1 and note in built.stdout, built.stdout
    manifest.write_text('compatible_redis_version: "7.0"\nmin_redis_version: "7.0"\ncapabilities: [types]\n')
    assert "VER008" not in run_modpack("validate", manifest).stdout


@pytest.mark.rule("CMD023")
def test_an_added_command_is_judged_against_ramps_default_minimum_once(tmp_path: Path) -> None:
    """add_command flags ['allow-busy'] (Redis 7.0) in a ramp.yml giving no min_redis_version:
    ramp-pack and build warned CMD023 against min_redis_version '4.0', RAMP's default, and validate
    said nothing; once validate said it, build said it twice (of the entry and of the packed
    command it becomes)."""
    require_redis()
    manifest = tmp_path / "ramp.yml"
    manifest.write_text(
        'compatible_redis_version: "7.2"\ncapabilities: [types]\nadd_command:\n'
        "  - {command_name: x.plug, command_arity: -1, flags: [allow-busy], first_key: 0, last_key: 0, step: 0}\n"
    )
    note = "(min_redis_version '4.0' is RAMP's default, which ramp pack writes when nothing sets it"
    checked = run_modpack("validate", manifest)
    assert "[add_command[0].flags[0]]: warning CMD023 flag 'allow-busy' needs Redis 7.0" in checked.stdout
    assert "does not load on Redis 4.0, its min_redis_version " + note in checked.stdout, checked.stdout
    built = run_modpack("build", manifest, "--so", HELLO, "--discover", "-o", tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    assert built.stdout.count("CMD023") == 1, built.stdout
    # ramp-pack -m said it of the packed command (commands[1], a path the manifest does not have,
    # at line 1) and left out the manifest's own findings (CMD008): it never ran the manifest's checks
    packed = run_modpack("ramp-pack", "-m", manifest, HELLO, "-o", tmp_path / "p.zip", cwd=tmp_path)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    for done in (checked, packed):
        assert "ramp.yml:4 [add_command[0].flags[0]]: warning CMD023 flag 'allow-busy'" in done.stdout
        assert "ramp.yml:4 [add_command[0].flags[0]]: warning CMD008 flag 'allow-busy'" in done.stdout
    assert "[commands[" not in packed.stdout and packed.stdout.count("CMD023") == 1, packed.stdout
    # an option replaces what the manifest packs: -r 7.0 leaves no CMD023 and no RAMP default note
    raised = run_modpack(
        "ramp-pack", "-m", manifest, HELLO, "-r", "7.0", "-o", tmp_path / "r.zip", cwd=tmp_path
    )
    assert raised.returncode == 0, raised.stdout + raised.stderr
    assert "CMD023" not in raised.stdout and "RAMP's default" not in raised.stdout, raised.stdout
    assert "[add_command[0].flags[0]]: warning CMD008" in raised.stdout


def test_a_finding_of_an_option_is_placed_at_the_option_not_in_the_manifest(tmp_path: Path) -> None:
    """ramp-pack -m m.yml --add-command '{...}' said the entry's findings at m.yml:1
    [add_command[0].flags[0]], a line and a path the manifest does not have."""
    manifest = tmp_path / "m.yml"
    manifest.write_text(
        'display_name: x\ncompatible_redis_version: "7.2"\nmin_redis_version: "7.2"\ncapabilities: [types]\n'
    )
    entry = '{"command_name": "hello.extra", "command_arity": -1, "flags": ["deny_oom", "write"],'
    entry += ' "first_key": 2, "last_key": 1, "step": 1}'
    done = run_modpack("ramp-pack", HELLO, "-m", manifest, "--add-command", entry, "-o", tmp_path / "o.zip")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "ramp-pack options [--add-command[0].flags[0]]: error CMD007 unknown flag 'deny_oom'" in done.stdout
    )
    assert "ramp-pack options [--add-command[0].last_key]: error KEY003" in done.stdout
    assert "m.yml:" not in done.stdout, done.stdout


def test_a_field_an_option_gives_is_judged_once(tmp_path: Path) -> None:
    """ramp-pack -m m.yml -r 6.0 said VER008 twice once ec570ad placed the manifest check's finding
    at the option: once there, and once at the field, where the bundle's own check says it."""
    manifest = tmp_path / "m.yml"
    manifest.write_text(
        'display_name: x\ncompatible_redis_version: "7.2"\nmin_redis_version: "7.2"\ncapabilities: [types]\n'
    )
    done = run_modpack("ramp-pack", HELLO, "-m", manifest, "-r", "6.0", "-o", tmp_path / "o.zip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("VER008") == 1, done.stdout
    assert "1 file checked: 0 errors, 1 warning" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("-r", "7"), "ramp-pack options [min_redis_version]: error VER005 min_redis_version '7'"),
        (("-C", "types,resharding"), "ramp-pack options [capabilities[1]]: error CAP001"),
        (("-A", "amd64"), "ramp-pack options [architecture]: error PLT003"),
    ],
)
def test_a_field_an_option_gives_is_said_at_the_options_not_at_the_manifest(
    tmp_path: Path, options: tuple[str, ...], said: str
) -> None:
    """ramp-pack -m m.yml -r 7 said "m.yml:3 [min_redis_version] ... '7'" where line 3 reads "7.2",
    and "m.yml has errors": the manifest was blamed, at a line holding another value."""
    manifest = tmp_path / "m.yml"
    manifest.write_text(
        'display_name: x\ncompatible_redis_version: "7.2"\nmin_redis_version: "7.2"\ncapabilities: [types]\n'
    )
    done = run_modpack("ramp-pack", HELLO, "-m", manifest, *options, "-o", tmp_path / "o.zip")
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stdout, done.stdout
    assert "m.yml:" not in done.stdout, done.stdout
    assert "ramp-pack options has errors; nothing was written" in done.stderr, done.stderr
    assert not (tmp_path / "o.zip").exists()


def test_a_key_left_empty_that_an_option_fills_is_no_failure(tmp_path: Path) -> None:
    """`add_command:` left empty fails `ramp pack` (SCH002 says so), unless --add-command gives the
    entries: RAMP's command-line pass replaces the manifest's value. ramp-pack refused it."""
    manifest = tmp_path / "m.yml"
    manifest.write_text(
        'display_name: x\ncompatible_redis_version: "7.2"\nmin_redis_version: "7.2"\ncapabilities: [types]\n'
        "add_command:\n"
    )
    entry = '{"command_name": "hello.extra", "command_arity": -1, "first_key": 0, "last_key": 0, "step": 0,'
    entry += ' "flags": ["readonly", "module"]}'
    done = run_modpack("ramp-pack", HELLO, "-m", manifest, "--add-command", entry, "-o", tmp_path / "o.zip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SCH002" not in done.stdout and (tmp_path / "o.zip").is_file()
    alone = run_modpack("validate", manifest)  # without the option it is the failure RAMP meets
    assert alone.returncode == 1 and "error SCH002 `add_command` is a null" in alone.stdout, alone.stdout


def test_a_modpack_toml_or_bundle_given_to_m_is_hinted_a_command_that_runs(tmp_path: Path) -> None:
    """-m takes a ramp.yml; given a modpack.toml it hinted "run `modpack build my module/modpack.toml`":
    unquoted, a path with a space is two arguments (Got unexpected extra argument), and quoted,
    a modpack.toml without [build] so still refuses ("no module binary to build from"). The hint
    quotes the paths and builds with the .so ramp-pack was given; run as printed, it builds. A
    bundle's `modpack validate` is quoted too."""
    import re
    import shlex
    import shutil

    folder = tmp_path / "my module"
    folder.mkdir()
    so = folder / "hello.so"
    shutil.copy2(HELLO, so)
    example = (Path(__file__).parent.parent / "fixtures" / "example" / "modpack.toml").read_text()
    (folder / "modpack.toml").write_text(re.sub(r"(?ms)^\[build\].*?(?=^\[|\Z)", "", example))

    refused = run_modpack("ramp-pack", "-m", "my module/modpack.toml", "my module/hello.so", cwd=tmp_path)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    command = "modpack build 'my module/modpack.toml' --so 'my module/hello.so'"
    assert f"hint: To build from modpack.toml, run `{command}`." in refused.stderr, refused.stderr
    built = run_modpack(*shlex.split(command)[1:], "-o", "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    bundle = next((tmp_path / "dist").iterdir())
    shutil.move(bundle, folder / bundle.name)

    given = f"my module/{bundle.name}"
    refused = run_modpack("ramp-pack", "-m", given, "my module/hello.so", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    command = f"modpack validate {shlex.quote(given)}"
    assert f"hint: To check a bundle, run `{command}`." in refused.stderr, refused.stderr
    assert run_modpack(*shlex.split(command)[1:], cwd=tmp_path).returncode == 0


# A module that loads only with two arguments, the second "fast", and only on a server with a
# maxmemory limit (REDISMODULE_CTX_FLAGS_MAXMEMORY): what run_command_line_args and redis_args
# give RAMP's discovery.
PICKY = r"""
    const char *(*text)(const RedisModuleString *, size_t *) = NULL;
    int (*flags)(RedisModuleCtx *) = NULL;
    RedisModule_GetApi("RedisModule_StringPtrLen", (void *)&text);
    RedisModule_GetApi("RedisModule_GetContextFlags", (void *)&flags);
    if (argc != 2 || text == NULL || __builtin_strcmp(text(argv[1], NULL), "fast") != 0)
        return REDISMODULE_ERR;
    if (flags == NULL || !(flags(ctx) & (1 << 8))) return REDISMODULE_ERR;
    CC("picky.get", "readonly", 1, 1, 1);
"""
PICKY_MANIFEST = """\
display_name: Picky
capabilities: [types]
min_redis_version: "7.0"
compatible_redis_version: "7.4"
command_line_args: ""
run_command_line_args: "mode {os.getenv('PICKY_MODE')}"
redis_args:
  maxmemory: 100mb
"""


def ramp_pack_both(
    tmp_path: Path, so: Path, *args: str | Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The real `ramp pack` and `modpack ramp-pack` with the same arguments, each run from a folder
    of its own (ramp/, ours/) holding a copy of tmp_path's ramp.yml, each writing its packname to
    name.txt there."""
    ramp_pack_command()
    runs = []
    for folder, command in (("ramp", [sys.executable, "-m", "RAMP.ramp", "pack"]), ("ours", None)):
        cwd = tmp_path / folder
        cwd.mkdir(exist_ok=True)
        if (tmp_path / "ramp.yml").exists():
            (cwd / "ramp.yml").write_text((tmp_path / "ramp.yml").read_text())
        given = [so, *args, "--packname-file", "name.txt"]
        if command is None:
            runs.append(run_modpack("ramp-pack", *given, cwd=cwd, env=env))
        else:
            runs.append(
                subprocess.run(
                    [*command, *given],
                    cwd=cwd,
                    env={**os.environ, **env},
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            )
    return runs[0], runs[1]


def packnames(tmp_path: Path) -> tuple[str, str]:
    return (tmp_path / "ramp" / "name.txt").read_text(), (tmp_path / "ours" / "name.txt").read_text()


@pytest.mark.redis
def test_discovery_takes_the_manifest_s_load_arguments_and_server_options_as_ramp_does(
    tmp_path: Path,
) -> None:
    """RAMP's discovery loads the module with run_command_line_args ({os.getenv} evaluated) and
    starts its redis-server with redis_args (RAMP/packer.py pops both and gives them to
    discover_modules_commands). ramp-pack dropped both: it loaded the module with the empty
    command_line_args, and OnLoad's failure was all it said; build --discover passed the text
    {os.getenv('PICKY_MODE')} to the module."""
    from tests.support.modules import compile_module

    require_redis()
    so = compile_module(tmp_path, PICKY, module="picky")
    (tmp_path / "ramp.yml").write_text(PICKY_MANIFEST)
    env = {"PICKY_MODE": "fast"}
    theirs, ours = ramp_pack_both(
        tmp_path, so, "-m", "ramp.yml", "-o", "{module_name}-{version}.{os}.zip", env=env
    )
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert ours.returncode == 0, ours.stdout + ours.stderr
    # -o's {version} is RAMP's float, {os} its "Linux"
    assert packnames(tmp_path) == ("picky-10000.0.Linux.zip", "picky-10000.0.Linux.zip")
    packed = module_json(tmp_path / "ours" / "picky-10000.0.Linux.zip")
    assert [c["command_name"] for c in packed["commands"]] == ["picky.get"]  # type: ignore[index]
    assert "run_command_line_args" not in packed and "redis_args" not in packed
    assert packed["command_line_args"] == ""

    built = run_modpack("build", "ramp.yml", "--so", so, "--discover", "-o", "dist", cwd=tmp_path, env=env)
    assert built.returncode == 0, built.stdout + built.stderr

    # the option replaces the manifest's, evaluated as RAMP evaluates it; -O names {os}
    (tmp_path / "ramp.yml").write_text(PICKY_MANIFEST.replace("{os.getenv('PICKY_MODE')}", "slow"))
    given = ["-m", "ramp.yml", "--runcmdargs", "m {os.getenv('PICKY_MODE')}", "-O", "linux", "-o", "{os}.zip"]
    theirs, ours = ramp_pack_both(tmp_path, so, *given, env=env)
    assert theirs.returncode == 0 and ours.returncode == 0, ours.stdout + ours.stderr
    assert packnames(tmp_path) == ("linux.zip", "linux.zip")

    # an unset variable stops before the module is loaded with the text of the field
    (tmp_path / "ramp.yml").write_text(PICKY_MANIFEST)
    without = {k: v for k, v in os.environ.items() if k != "PICKY_MODE"}
    refused = subprocess.run(
        [sys.executable, "-m", "modpack", "ramp-pack", so, "-m", "ramp.yml", "-o", "y.zip"],
        cwd=tmp_path, env={**without, "PYTHONPATH": str(Path(__file__).parent.parent)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "error DECL003 the environment variable PICKY_MODE is not set" in refused.stdout
    assert "load arguments (run_command_line_args) cannot be read, so it was not loaded" in refused.stderr
    assert not (tmp_path / "y.zip").exists()


@pytest.mark.redis
@pytest.mark.rule("DECL013")
def test_redis_args_of_another_shape_stop_discovery_before_a_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RAMP stops with a TypeError on a redis_args value that is not one word; modpack says where.
    An option redis-server refuses is named in the message, not left to the server's log."""
    from tests.support.modules import compile_module

    require_redis()
    so = compile_module(tmp_path, PICKY, module="picky")
    (tmp_path / "ramp.yml").write_text(PICKY_MANIFEST.replace("maxmemory: 100mb", "maxmemory: [100mb]"))
    shaped = run_modpack(
        "ramp-pack", so, "-m", "ramp.yml", "-o", "x.zip", cwd=tmp_path, env={"PICKY_MODE": "fast"}
    )
    assert shaped.returncode == 1, shaped.stdout + shaped.stderr
    assert "ramp.yml:8 [redis_args.maxmemory]: error DECL013 redis_args.maxmemory is a list" in shaped.stdout
    assert "RAMP's discovery cannot be run as written" in shaped.stderr
    (tmp_path / "ramp.yml").write_text(
        PICKY_MANIFEST.replace("maxmemory: 100mb", "maxmemory: 100mb\n  no-such-option: 3")
    )
    refused = run_modpack(
        "ramp-pack", so, "-m", "ramp.yml", "-o", "x.zip", cwd=tmp_path, env={"PICKY_MODE": "fast"}
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "while starting with --maxmemory 100mb --no-such-option 3" in refused.stderr, refused.stderr
    # the server's own words on the message's line, not a hint of "\\n" escapes
    assert "; it said: *** FATAL CONFIG FILE ERROR" in refused.stderr, refused.stderr
    assert "Bad directive or wrong number of arguments" in refused.stderr.splitlines()[0], refused.stderr
    assert "\\n" not in refused.stderr, refused.stderr
    assert "hint: Correct or remove an option it names" in refused.stderr, refused.stderr
    assert not (tmp_path / "x.zip").exists()
    monkeypatch.setenv("PICKY_MODE", "fast")
    assert not validate_paths([tmp_path / "ramp.yml"]).failed  # validate judges shapes, not options


@pytest.mark.redis
def test_a_local_path_tgz_is_packed_inside_the_dependency_archive_as_ramp_packs_it(tmp_path: Path) -> None:
    """RAMP tar-gzips every local_path, a .tgz too: a node unpacks deps/NAME.tgz to the .tgz.
    modpack stored a .tgz as it was, so a node got its content instead."""
    import gzip
    import io
    import tarfile

    require_redis()
    payload = tmp_path / "payload.tgz"
    with tarfile.open(payload, "w:gz") as tar:
        info = tarfile.TarInfo("payload/a.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    (tmp_path / "ramp.yml").write_text(
        'display_name: Hello\ncapabilities: [types]\ncompatible_redis_version: "7.4"\n'
        f"dependencies:\n    plugin:\n        local_path: {payload}\n"
    )
    theirs, ours = ramp_pack_both(tmp_path, Path(HELLO), "-m", "ramp.yml", "-o", "m.zip", env={})
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert ours.returncode == 0, ours.stdout + ours.stderr
    listed = []
    for folder in ("ramp", "ours"):
        with zipfile.ZipFile(tmp_path / folder / "m.zip") as archive:
            packed = archive.read("deps/plugin.tgz")
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
            inner = tar.extractfile("payload.tgz")
            assert inner is not None and gzip.decompress(inner.read()) == gzip.decompress(
                payload.read_bytes()
            )
            listed.append(tar.getnames())
    assert listed[0] == listed[1] == ["payload.tgz"]


@pytest.mark.redis
def test_every_path_that_loads_a_ramp_yml_s_module_loads_it_as_ramp_s_discovery_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate --load and init --discover of a ramp.yml loaded the module with command_line_args
    on a plain server: a module that needs run_command_line_args or redis_args to load was LOAD011
    there, while ramp pack, ramp-pack and build --discover packed it."""
    from tests.support.modules import compile_module

    require_redis()
    so = compile_module(tmp_path, PICKY, module="picky")
    (tmp_path / "ramp.yml").write_text(PICKY_MANIFEST)
    env = {"PICKY_MODE": "fast"}
    checked = run_modpack("validate", "--load", "ramp.yml", so, cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "LOAD003 picky 1.0.0 (10000) loaded" in checked.stdout, checked.stdout
    made = run_modpack("init", "--from", "ramp.yml", "--discover", so, "new/", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert 'name = "picky.get"' in (tmp_path / "new" / "modpack.toml").read_text()


@pytest.mark.redis
def test_ramp_pack_options_replace_the_manifest_s_load_arguments_as_ramp_s_do(tmp_path: Path) -> None:
    """RAMP's options replace the manifest's values whenever given, "" too (packer.py skips only
    None and []), and evaluate -c and --runcmdargs for discovery: `--runcmdargs ""` loaded the
    manifest's run_command_line_args, an unset variable in the value the option replaced was
    DECL003 at the option, and -c's {os.getenv} reached the module as text."""
    from tests.support.modules import compile_module

    require_redis()
    so = compile_module(tmp_path, PICKY, module="picky")
    manifest = PICKY_MANIFEST.replace('command_line_args: ""', 'command_line_args: "mode fast"')
    (tmp_path / "ramp.yml").write_text(manifest.replace("{os.getenv('PICKY_MODE')}", "slow"))
    theirs, ours = ramp_pack_both(tmp_path, so, "-m", "ramp.yml", "-o", "m.zip", "--runcmdargs", "", env={})
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert ours.returncode == 0, ours.stdout + ours.stderr

    (tmp_path / "ramp.yml").write_text(manifest.replace("{os.getenv('PICKY_MODE')}", "${PICKY_UNSET}"))
    replaced = run_modpack(
        "ramp-pack", so, "-m", "ramp.yml", "-o", "r.zip", "--runcmdargs", "mode fast", cwd=tmp_path
    )
    assert replaced.returncode == 0 and "DECL003" not in replaced.stdout, replaced.stdout + replaced.stderr

    (tmp_path / "ramp.yml").write_text(PICKY_MANIFEST.replace("run_command_line_args", "#"))
    evaluated = ["-m", "ramp.yml", "-o", "c.zip", "-c", "mode {os.getenv('PICKY_MODE')}"]
    theirs, ours = ramp_pack_both(tmp_path, so, *evaluated, env={"PICKY_MODE": "fast"})
    assert theirs.returncode == 0 and ours.returncode == 0, ours.stdout + ours.stderr
    code = run_modpack(
        "ramp-pack", so, "-m", "ramp.yml", "-o", "x.zip", "--runcmdargs", "mode {'fast'}", cwd=tmp_path
    )
    assert code.returncode == 2, code.stdout + code.stderr
    assert "--runcmdargs \"mode {'fast'}\" holds {'fast'}, a Python f-string field" in code.stderr

    # RAMP's MODULE LOAD string is split on white space: quotes are characters, not quoting
    (tmp_path / "ramp.yml").write_text(manifest.replace("{os.getenv('PICKY_MODE')}", "'fast'"))
    theirs, ours = ramp_pack_both(tmp_path, so, "-m", "ramp.yml", "-o", "q.zip", env={})
    assert theirs.returncode != 0 and ours.returncode == 1, ours.stdout + ours.stderr
    assert "RedisModule_OnLoad of picky.so returned an error" in ours.stderr


@pytest.mark.rule("DECL012")
def test_a_redis_args_value_ramp_pack_cannot_pass_is_said(tmp_path: Path) -> None:
    """RAMP hands redis_args' values to Popen as YAML gives them: `appendonly: no` (a boolean) or
    `maxmemory: 104857600` (a number) stops ramp pack with a TypeError. modpack passes their text,
    and says so; quoted, both pass the text and nothing is said."""
    manifest = 'display_name: T\ncapabilities: [types]\ncompatible_redis_version: "7.4"\nredis_args:\n'
    (tmp_path / "ramp.yml").write_text(manifest + "  appendonly: no\n  maxmemory: 104857600\n")
    said = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert said.returncode == 0, said.stdout
    assert (
        "ramp.yml:5 [redis_args.appendonly]: warning DECL012 `ramp pack` stops with a TypeError on"
        " redis_args.appendonly: YAML reads it as a boolean, not text; modpack passes 'no'"
    ) in said.stdout
    assert "[redis_args.maxmemory]: warning DECL012" in said.stdout
    (tmp_path / "ramp.yml").write_text(manifest + '  appendonly: "no"\n  maxmemory: "104857600"\n')
    quiet = run_modpack("validate", "ramp.yml", cwd=tmp_path)
    assert quiet.returncode == 0 and "DECL012" not in quiet.stdout, quiet.stdout


# Registered as RediSearch registers FT.SUGADD ("write deny-oom" 1 1 1) and RedisGears rg.trigger
# ("readonly" 0 0 0), which their manifests override (overide_command): a policy, and a key.
OVERRIDDEN = 'CC("ov.sugadd", "write deny-oom", 1, 1, 1); CC("ov.trigger", "readonly", 0, 0, 0); CC("ov.get", "readonly", 1, 1, 1);'
OVERRIDE_MANIFEST = """\
display_name: Ov
capabilities: [types]
min_redis_version: "7.0"
compatible_redis_version: "7.4"
overide_command:
  - {"command_arity": -1, "command_name": "ov.sugadd", "first_key": 0, "flags": ["write"], "last_key": 0, "step": -1}
  - {"command_arity": -1, "command_name": "ov.trigger", "first_key": 2, "flags": ["readonly"], "last_key": 2, "step": 1}
"""


@pytest.mark.redis
@pytest.mark.rule("LOAD032")
def test_an_override_replaces_what_redis_registers_on_purpose(tmp_path: Path) -> None:
    """overide_command replaces a registered entry whole (RAMP packer.py), so its arity, flags and
    keys differ from Redis's on purpose: `validate --load` called them errors (LOAD020, LOAD021) of
    the ramp.yml, of the bundle RAMP packs from it and of the one ramp-pack packs, and build with
    load = true refused it. They are said as information at the override; modpack's bundle records
    the override as RAMP's does, or its own `validate --load` could not tell."""
    from tests.support.modules import compile_module

    require_redis()
    so = compile_module(tmp_path, OVERRIDDEN, module="ov")
    (tmp_path / "ramp.yml").write_text(OVERRIDE_MANIFEST)
    trigger = (
        "ov.trigger: overide_command replaces the entry Redis registers, and differs from it: first_key is 2,"
        " Redis registers 0; last_key is 2, Redis registers 0; step is 1, Redis registers 0"
    )
    sugadd = (
        "ov.sugadd: overide_command replaces the entry Redis registers, and differs from it: flags differ"
    )
    checked = run_modpack("validate", "--load", "ramp.yml", so, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ramp.yml:7 [overide_command[1]]: info LOAD032 {trigger}" in checked.stdout, checked.stdout
    assert f"ramp.yml:6 [overide_command[0]]: info LOAD032 {sugadd}" in checked.stdout, checked.stdout
    assert "error" not in checked.stdout.replace("0 errors", ""), checked.stdout
    theirs, ours = ramp_pack_both(tmp_path, so, "-m", "ramp.yml", "-o", "m.zip", env={})
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stdout + ours.stderr
    assert (
        module_json(tmp_path / "ours" / "m.zip")["overide_command"]
        == module_json(tmp_path / "ramp" / "m.zip")["overide_command"]
    )
    for folder in ("ramp", "ours"):
        loaded = run_modpack("validate", "--load", tmp_path / folder / "m.zip")
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert f"info LOAD032 {trigger}" in loaded.stdout and f"info LOAD032 {sugadd}" in loaded.stdout
        assert "LOAD020" not in loaded.stdout and "LOAD021" not in loaded.stdout, loaded.stdout
    (tmp_path / "modpack.toml").write_text("[validate]\nload = true\nstrict = true\n")
    built = run_modpack("build", "ramp.yml", "--so", so, "--discover", "-o", "dist", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"info LOAD032 {trigger}" in built.stdout and len(list((tmp_path / "dist").glob("*.zip"))) == 1


@pytest.mark.redis
@pytest.mark.rule("SCH002", "CMD006")
def test_a_command_entry_without_a_usable_name_is_told_so(tmp_path: Path) -> None:
    """An --add-command whose command_name is a number was "command None has no flags", and an
    --overide-command whose command_name is null "overide_command None matches 0 commands", as if a
    name were misspelt: each is now said to lack a command_name, or to have one of the wrong type."""
    require_redis()
    options = ("-C", "types", "-cr", "7.4")
    added = run_modpack(
        "ramp-pack", HELLO, "--add-command", '{"command_name": 5, "command_arity": 1}', *options,
        "-o", tmp_path / "a.zip",
    )  # fmt: skip
    assert added.returncode == 1, added.stdout + added.stderr
    assert "`commands[5].command_name` is an integer (5); expected a string" in added.stdout, added.stdout
    assert "warning CMD006 command without a command_name has no flags" in added.stdout
    assert "None" not in added.stdout
    overridden = run_modpack(
        "ramp-pack", HELLO, "--overide-command", '{"command_name": null}', *options, "-o", tmp_path / "o.zip"
    )
    assert overridden.returncode == 1, overridden.stdout + overridden.stderr
    assert (
        "ramp-pack options [--overide-command[0].command_name]: error SCH002 `overide_command[0].command_name`"
        " is a null (null); expected a string"
    ) in overridden.stdout, overridden.stdout
    assert "None" not in overridden.stdout and "DECL004" not in overridden.stdout
    (tmp_path / "ramp.yml").write_text('capabilities: [types]\noveride_command:\n  - {"command_name": ""}\n')
    empty = run_modpack("ramp-pack", "-m", tmp_path / "ramp.yml", HELLO, "-o", tmp_path / "e.zip")
    assert empty.returncode == 1, empty.stdout + empty.stderr
    assert empty.stdout.count("error CMD001 command_name is empty") == 1, empty.stdout
    assert "DECL004" not in empty.stdout and not list(tmp_path.glob("*.zip"))
