"""The command rules against a real redis-server: each case is a tiny module compiled here, loaded
into redis-server, and the same declaration checked by modpack.

A case Redis refuses must not pass modpack; a case Redis accepts and routes as declared must not
be an error of modpack. The Redis side is measured, not assumed: the test fails when Redis does
something else than the comment says, so a rule never rests on a belief about Redis.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modpack.redis.harness import (
    ConnectionClosedError,
    ReplyError,
    RespClient,
    binary_version,
    private_folder,
    server_arguments,
)
from tests.support.cli import run_modpack
from tests.support.modules import compile_module, observe
from tests.support.paths import CASES
from tests.support.redis_prepared import require_prepared
from tests.support.tools import require_redis

HEADER = """\
[module]
name = "ksx"
semantic_version = "1.0.0"
min_redis_version = "{min}"
compatible_redis_version = "{target}"
capabilities = ["clustering"]

[build]
so = "ksx.so"
"""


def project(
    folder: Path, commands: list[dict[str, object]], *, target: str = "7.0", minimum: str = ""
) -> Path:
    """A modpack.toml next to folder/ksx.so declaring `commands` ([[commands]] tables)."""
    lines = [HEADER.format(min=minimum or target, target=target)]
    for table in commands:
        lines.append("[[commands]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        lines.append("")
    path = folder / "modpack.toml"
    path.write_text("\n".join(lines), "utf-8")
    return path


def findings(path: Path, *extra: str) -> list[str]:
    """`modpack validate PATH --format json`: the codes of the CMD, KEY and LOAD findings, as
    CODE@place."""
    done = run_modpack("validate", path, "--format", "json", *extra)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report = json.loads(done.stdout)
    return sorted(
        f"{f['code']}@{f['location']['path']}"
        for file in report["files"]
        for f in file["findings"]
        if f["code"].startswith(("CMD", "KEY", "LOAD")) and f["code"] != "LOAD003"
    )


def table(
    name: str, arity: int = -1, flags: tuple[str, ...] = (), keys: tuple[int, int, int] = (0, 0, 0)
) -> dict[str, object]:
    first, last, step = keys
    return {
        "name": name,
        "arity": arity,
        "flags": list(flags),
        "first_key": first,
        "last_key": last,
        "step": step,
    }


# --- subcommands ----------------------------------------------------------------------------------

SUBCOMMAND = (
    'TRY(RedisModule_CreateCommand(ctx, "x.c", NULL, "", 0, 0, 0));\n'
    '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "x.c"), "get", reply_ok, "readonly", 2, 2, 1));'
)


@pytest.mark.redis
def test_a_subcommand_of_the_default_arity_states_no_minimum(tmp_path: Path) -> None:
    """RedisModule_CreateSubcommand registers arity -2 (the container and its token) unless
    SetCommandInfo sets one, as -1 is a command's default: KEY007 stays silent about it."""
    so = compile_module(tmp_path, SUBCOMMAND)
    seen = observe(so, {"x.c|get": ["k"]})
    assert seen.loaded
    entry = seen.info["x.c|get"]
    assert isinstance(entry, list) and entry[1] == -2 and seen.triple("x.c|get") == (2, 2, 1)
    assert seen.getkeys["x.c|get"] == ["k"]  # Redis routes it by argument 2
    declared = project(tmp_path, [table("x.c", -2), table("x.c|get", -2, ("readonly",), (2, 2, 1))])
    assert findings(declared, "--load") == ["CMD022@commands[1].name"]
    # An explicit minimum still counts: with -3 (x.c get KEY) a key at 3 is missing from it.
    declared = project(tmp_path, [table("x.c", -2), table("x.c|get", -3, ("readonly",), (2, 2, 1))])
    assert findings(declared) == ["CMD022@commands[1].name"]
    declared = project(tmp_path, [table("x.c", -2), table("x.c|get", -3, ("readonly",), (3, 3, 1))])
    assert findings(declared) == ["CMD022@commands[1].name", "KEY007@commands[1].first_key"]


@pytest.mark.rule("KEY009", "LOAD027")
@pytest.mark.redis
def test_a_subcommand_key_at_its_own_name_is_an_error(tmp_path: Path) -> None:
    """Argument 1 of a subcommand is its own name: Redis accepts keys from 1 and routes by it."""
    so = compile_module(tmp_path, SUBCOMMAND.replace('"readonly", 2, 2, 1', '"readonly", 1, 1, 1'))
    seen = observe(so, {"x.c|get": ["k"]})
    assert seen.loaded and seen.triple("x.c|get") == (1, 1, 1)
    assert seen.getkeys["x.c|get"] == ["get"]
    declared = project(tmp_path, [table("x.c", -2), table("x.c|get", -2, ("readonly",), (1, 1, 1))])
    assert findings(declared, "--load") == ["CMD022@commands[1].name", "KEY009@commands[1].first_key"]
    # Not declared, it is registered all the same: --load names it.
    declared = project(tmp_path, [table("x.c", -2)])
    assert findings(declared, "--load") == ["LOAD018@commands", "LOAD027@commands"]
    done = run_modpack("validate", declared, "--load", "--select", "LOAD027")
    assert "x.c|get: Redis accepted key specs it cannot use" in done.stdout
    assert "index 1 takes the subcommand's own name for a key" in done.stdout


@pytest.mark.redis
def test_a_name_of_two_subcommand_levels_is_an_error(tmp_path: Path) -> None:
    """Redis has one level of subcommands: a subcommand of a subcommand is refused, and a
    subcommand named a|b is registered by 7.0 where no call reaches it (COMMAND INFO has nothing)."""
    nested = (
        'TRY(RedisModule_CreateCommand(ctx, "x.c", NULL, "", 0, 0, 0));\n'
        '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "x.c"), "a", NULL, "", 0, 0, 0));\n'
        '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "x.c|a"), "b", reply_ok, "", 0, 0, 0));'
    )
    assert not observe(compile_module(tmp_path, nested)).loaded
    piped = SUBCOMMAND.replace('"get", reply_ok', '"a|b", reply_ok')
    seen = observe(compile_module(tmp_path, piped))
    assert seen.loaded and seen.info == {"x.c": seen.info["x.c"], "x.c|a|b": None}
    for name in ("x.c|a|b", "|get", "x.c|"):
        assert findings(project(tmp_path, [table("x.c", -2), table(name)])) == ["CMD002@commands[1].name"]


# --- flags a Redis version does not know yet ---------------------------------------------------


@pytest.mark.rule("CMD023")
@pytest.mark.redis
def test_a_flag_newer_than_min_redis_version_is_named(tmp_path: Path) -> None:
    """redis-server 7.0.15 refuses the flags string "readonly internal" (the module does not
    load), 8.0.2 accepts it: declared for min_redis_version 7.0 it is CMD023, for 8.0 it is not."""
    so = compile_module(tmp_path, 'CC("x.c", "readonly internal", 0, 0, 0);')
    seven = observe(so)
    assert seven.version.startswith("7.0.") and not seven.loaded
    eight = observe(so, spec=require_prepared("x86_64", "8.0"))
    assert eight.loaded and eight.info == {}  # loaded; an internal command is hidden from COMMAND LIST
    declared = [table("x.c", flags=("readonly", "internal"))]
    assert findings(project(tmp_path, declared, target="7.4", minimum="7.0")) == ["CMD023@commands[0].flags"]
    assert findings(project(tmp_path, declared, target="7.0"), "--load") == [
        "CMD023@commands[0].flags",
        "LOAD011@",
    ]
    assert findings(project(tmp_path, declared, target="8.0")) == []
    # Redis 8 registers it and hides it from COMMAND: validate --load still finds it (it said
    # LOAD016, "the module does not register it"), and compares its flags as Redis shows them.
    assert findings(project(tmp_path, declared, target="8.0"), "--load") == []
    declared = [table("x.c", flags=("write", "internal"))]
    assert findings(project(tmp_path, declared, target="8.0"), "--load") == ["LOAD020@commands[0].flags"]
    done = run_modpack("validate", project(tmp_path, [], target="8.0"), "--load")
    assert "registered 0 commands, and 1 internal command COMMAND hides" in done.stdout
    assert "LOAD017" not in done.stdout  # RAMP never lists it either
    # Flags 7.0 knows are not named: the same module without internal loads.
    so = compile_module(
        tmp_path, 'CC("x.c", "readonly allow-busy no-mandatory-keys getchannels-api", 1, 1, 1);'
    )
    assert observe(so).loaded
    declared = [table("x.c", flags=("readonly", "allow-busy", "no-mandatory-keys"), keys=(1, 1, 1))]
    assert findings(project(tmp_path, declared, target="7.0")) == []
    # Older than 7.0, each of them is (the COMMAND INFO spelling of a module.json too).
    assert findings(project(tmp_path, declared, target="7.0", minimum="6.2")) == [
        "CMD023@commands[0].flags",
        "CMD023@commands[0].flags",
    ]


@pytest.mark.rule("LOAD003")
@pytest.mark.redis
def test_an_internal_subcommand_is_hidden_not_a_failed_load(tmp_path: Path) -> None:
    """redis-server 8.0.2 answers COMMAND INFO of a container with a nil among its subcommands
    for one registered "internal", to a client that is not internal. validate --load said
    LOAD002 "was not loaded: unexpected reply to COMMAND INFO: None" of a module that loaded, and
    discover failed; the subcommand is now one of the internal commands COMMAND hides. The
    subcommand of an internal container is no internal command: any client calls it."""
    so = compile_module(
        tmp_path,
        'TRY(RedisModule_CreateCommand(ctx, "x.box", NULL, "", 0, 0, 0));\n'
        '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "x.box"), "open", reply_ok,'
        ' "readonly", 2, 2, 1));\n'
        '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "x.box"), "secret", reply_ok,'
        ' "readonly internal", 2, 2, 1));\n'
        '    TRY(RedisModule_CreateCommand(ctx, "x.hid", NULL, "internal", 0, 0, 0));\n'
        '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "x.hid"), "get", reply_ok,'
        ' "readonly", 2, 2, 1));',
    )
    eight = observe(so, spec=require_prepared("x86_64", "8.0"))
    assert eight.loaded and sorted(eight.info) == ["x.box", "x.box|open", "x.hid|get"]
    box = eight.info["x.box"]
    assert isinstance(box, list) and None in box[9]  # the internal subcommand, among x.box|open
    assert [sub[0] for sub in box[9] if sub is not None] == ["x.box|open"]
    declared = [
        table("x.box", -2),
        table("x.box|open", -2, ("readonly",), (2, 2, 1)),
        table("x.hid|get", -2, ("readonly",), (2, 2, 1)),
    ]
    path = project(tmp_path, declared, target="8.0")
    assert findings(path, "--load") == ["CMD022@commands[1].name", "CMD022@commands[2].name"]
    done = run_modpack("validate", path, "--load")
    assert (
        "registered 3 commands (2 of them subcommands), and 2 internal commands COMMAND hides" in done.stdout
    )
    done = run_modpack("discover", so, "--redis-version", "8.0", "--subcommands", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [c["name"] for c in json.loads(done.stdout)["commands"]] == ["x.box", "x.box|open", "x.hid|get"]


def test_a_module_json_flag_newer_than_min_redis_version_is_named(tmp_path: Path) -> None:
    module = json.loads((CASES / "good" / "module-json" / "module.json").read_text("utf-8"))
    module["min_redis_version"] = "6.2"
    module["commands"][0]["flags"] += ["allow_busy", "noscript"]  # noscript: also deny-script (4.0)
    path = tmp_path / "module.json"
    path.write_text(json.dumps(module), "utf-8")
    done = run_modpack("validate", path, "--format", "json", "--select", "CMD023")
    report = json.loads(done.stdout)
    [finding] = report["files"][0]["findings"]
    assert finding["location"]["path"] == f"commands[0].flags[{len(module['commands'][0]['flags']) - 2}]"
    assert "flag 'allow_busy' needs Redis 7.0" in finding["message"]
    assert "'allow-busy'" in finding["message"] and "Redis 6.2" in finding["message"]


def built_command(folder: Path) -> dict[str, Any]:
    """`modpack build` of the project in `folder`: the one command of the module.json it wrote."""
    done = run_modpack("build", folder, "-o", folder / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = (folder / "out").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        [command] = json.loads(archive.read("module.json"))["commands"]
    assert isinstance(command, dict)
    return command


@pytest.mark.redis
def test_flags_are_words_of_any_case_as_redis_reads_them(tmp_path: Path) -> None:
    """Redis matches each word of a flags string case-insensitively: "WRITE Deny-OOM" is
    registered as write, denyoom; modpack.toml declares flags in that spelling too."""
    so = compile_module(tmp_path, 'CC("x.c", "WRITE Deny-OOM", 1, 1, 1);')
    seen = observe(so)
    assert seen.loaded
    entry = seen.info["x.c"]
    assert isinstance(entry, list) and entry[2] == ["write", "denyoom", "module"]
    declared = project(tmp_path, [table("x.c", flags=("WRITE", "Deny-OOM"), keys=(1, 1, 1))])
    assert findings(declared, "--load") == []
    command = built_command(tmp_path)
    assert command["flags"] == ["write", "denyoom", "module"]


@pytest.mark.redis
def test_getkeys_api_in_another_case_is_getkeys_api(tmp_path: Path) -> None:
    """Redis takes "write GETKEYS-API" as getkeys-api (movablekeys, keys from the callback): the
    binary check says the module implements it, so CMD013 stays silent."""
    so = compile_module(tmp_path, 'CC("x.c", "write GETKEYS-API", 0, 0, 0);')
    seen = observe(so, {"x.c": ["a", "b"]})
    entry = seen.info["x.c"]
    assert isinstance(entry, list) and "movablekeys" in entry[2] and seen.getkeys["x.c"] == ["a", "b"]
    declared = project(tmp_path, [table("x.c", flags=("write", "movablekeys"))])
    assert findings(declared, "--load") == []


@pytest.mark.redis
def test_getchannels_api_copied_from_the_flags_string_is_left_out(tmp_path: Path) -> None:
    """Redis takes getchannels-api and COMMAND INFO never shows it: modpack.toml may copy it from
    the C flags string (it was CMD008, an error), and the built module.json leaves it out."""
    so = compile_module(tmp_path, 'CC("x.c", "readonly getchannels-api", 1, 1, 1);')
    seen = observe(so)
    entry = seen.info["x.c"]
    assert isinstance(entry, list) and entry[2] == ["readonly", "module"]
    declared = project(tmp_path, [table("x.c", flags=("readonly", "getchannels-api"), keys=(1, 1, 1))])
    assert findings(declared, "--load") == []
    command = built_command(tmp_path)
    assert command["flags"] == ["readonly", "module"]
    # no-cluster likewise: COMMAND INFO never shows it, so the build leaves it out, and the bundle
    # it wrote was warned about by its own validate (CMD008), so strict refused to build it. A
    # clustered module is still told (CAP006, tests below).
    so = compile_module(tmp_path, 'CC("x.c", "readonly no-cluster", 1, 1, 1);')
    declared = project(tmp_path, [table("x.c", flags=("readonly", "no-cluster"), keys=(1, 1, 1))])
    assert findings(declared, "--load") == []
    shutil.rmtree(tmp_path / "out")
    assert built_command(tmp_path)["flags"] == ["readonly", "module"]
    assert findings(tmp_path / "out") == []


@pytest.mark.redis
def test_may_replicate_copied_from_the_flags_string_is_built_as_the_target_shows_it(tmp_path: Path) -> None:
    """COMMAND INFO shows may_replicate on 6.2 and 7.0.0 only (keyspecs.md §1.7): a modpack.toml
    copying may-replicate from the C flags string got CMD019, and its build for Redis 7.0 wrote
    may_replicate, which redis-server 7.0.15 does not report, so the bundle got CMD019 too."""
    so = compile_module(tmp_path, 'CC("x.c", "write may-replicate", 1, 1, 1);')
    entry = observe(so).info["x.c"]
    assert isinstance(entry, list) and entry[2] == ["write", "module"]
    declared = project(tmp_path, [table("x.c", flags=("write", "may-replicate"), keys=(1, 1, 1))])
    assert findings(declared, "--load") == []
    assert built_command(tmp_path)["flags"] == ["write", "module"]
    assert findings(tmp_path / "out") == []
    # for a Redis 6.2 database it is what COMMAND INFO reports, and is kept
    project(tmp_path, [table("x.c", flags=("write", "may-replicate"), keys=(1, 1, 1))], target="6.2")
    shutil.rmtree(tmp_path / "out")
    assert built_command(tmp_path)["flags"] == ["write", "may_replicate"]
    assert findings(tmp_path / "out") == []


# --- names Redis has already ----------------------------------------------------------------------


@pytest.mark.rule("CMD024")
@pytest.mark.redis
def test_a_name_redis_has_already_is_an_error(tmp_path: Path) -> None:
    """redis-server 7.0.15 refuses get in any case; hexpire (7.4) it registers, 8.0.2 refuses it."""
    for name in ("get", "GET"):
        assert not observe(compile_module(tmp_path, f'CC("{name}", "readonly", 1, 1, 1);')).loaded
        declared = project(tmp_path, [table(name, flags=("readonly",), keys=(1, 1, 1))])
        assert findings(declared) == ["CMD024@commands[0].name"]
    so = compile_module(tmp_path, 'CC("hexpire", "write", 1, 1, 1);')
    assert observe(so).loaded
    assert not observe(so, spec=require_prepared("x86_64", "8.0")).loaded
    declared = [table("hexpire", flags=("write",), keys=(1, 1, 1))]
    assert findings(project(tmp_path, declared, target="7.0"), "--load") == []
    assert findings(project(tmp_path, declared, target="8.0", minimum="7.0")) == ["CMD024@commands[0].name"]
    # A module's own prefix is no Redis command.
    assert findings(project(tmp_path, [table("ksx.get", flags=("readonly",), keys=(1, 1, 1))])) == []


# --- key specs Redis accepts and cannot use -------------------------------------------------------

KEYWORD_FROM_0 = (
    "{.flags = KEY_RO, .begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD, "
    '.bs.keyword = {.keyword = "KEYS", .startfrom = 0}, '
    ".find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {-1, 1, 0}}"
)
KEYNUM_STEP_0 = (
    "{.flags = KEY_RO, .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 1, "
    ".find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM, .fk.keynum = {.keynumidx = 0, .firstkey = 1, .keystep = 0}}"
)
UNUSABLE = {
    # name: (the key specs given to SetCommandInfo, or None for CreateCommand's 1,1,-1; what
    # Redis then registers as first/last/step)
    "x.negstep": (None, (1, 1, -1)),
    "x.limit": ("IDX(KEY_RW, 1, -2, 1, 2)", (1, -2, 1)),
    "x.variable": ("IDX(KEY_RW | REDISMODULE_CMD_KEY_VARIABLE_FLAGS, 1, 0, 1, 0)", (1, 1, 1)),
    "x.keyword0": (KEYWORD_FROM_0, (0, 0, 0)),
    "x.index0": ("IDX(KEY_RW, 0, 0, 1, 0)", (0, 0, 1)),
    # Keys are the first half of the arguments (limit 2, lastkey -1, as the limit is meant to be
    # used): COMMAND GETKEYS honours it, first/last/step drop it (see the cluster-mode test below).
    "x.half": ("IDX(KEY_RW, 1, -1, 1, 2)", (1, -1, 1)),
    "x.fine": ("IDX(KEY_RW, 1, 1, 1, 0)", (1, 2, 1)),
    # numkeys at index 1, keys from 2 with keystep 0: a KEYNUM spec is never copied into
    # first/last/step (0, 0, 0 with movablekeys), and it was let through as if KEY002 named it
    "x.keynum0": (KEYNUM_STEP_0, (0, 0, 0)),
}


def unusable_module(folder: Path) -> Path:
    body = []
    for name, (specs, _) in UNUSABLE.items():
        if specs is None:
            body.append(f'CC("{name}", "write", 1, 1, -1);')
            continue
        variable = name.replace(".", "_")
        body.append(f"static RedisModuleCommandKeySpec {variable}[] = {{{specs}, {{0}}}};")
        body.append(f'CC("{name}", "write", 0, 0, 0); INFO("{name}", 0, {variable});')
    return compile_module(folder, "\n    ".join(body))


@pytest.mark.rule("LOAD027")
@pytest.mark.redis
def test_key_specs_redis_accepts_and_cannot_use_are_errors(tmp_path: Path) -> None:
    so = unusable_module(tmp_path)
    seen = observe(so)
    assert seen.loaded and {name: seen.triple(name) for name in UNUSABLE} == {
        n: t for n, (_, t) in UNUSABLE.items()
    }
    args = ["KEYS", "a", "b", "c"]
    # What Redis does when it extracts the keys (COMMAND GETKEYS here; cluster routing, ACL key
    # patterns and client tracking extract them the same way).
    assert observe(so, {"x.limit": args}).getkeys == {"x.limit": "crashed"}  # an assertion aborts it
    eight = require_prepared("x86_64", "8.0")
    assert observe(so, {"x.negstep": args}, spec=eight, timeout=2).getkeys == {"x.negstep": "crashed"}
    assert observe(so, {"x.index0": args}).getkeys == {"x.index0": ["x.index0"]}  # its own name
    invalid = "ERR Invalid arguments specified for command"
    for name in ("x.variable", "x.keyword0"):
        assert str(observe(so, {name: args}).getkeys[name]) == f"ErrorReply(message='{invalid}')"
    assert observe(so, {"x.half": args}).getkeys == {"x.half": ["KEYS", "a"]}
    assert observe(so, {"x.fine": args}).getkeys == {"x.fine": ["KEYS", "a"]}
    assert observe(so, {"x.keynum0": ["2", "a", "b"]}).getkeys == {"x.keynum0": "crashed"}
    declared = [table(name, flags=("write",), keys=keys) for name, (_, keys) in UNUSABLE.items()]
    declared[3]["flags"] = ["write", "movablekeys"]  # Redis marks a keyword spec movablekeys
    declared[7]["flags"] = ["write", "movablekeys"]  # and a KEYNUM spec
    assert findings(project(tmp_path, declared), "--load") == [
        "CMD013@commands[3].flags",  # and without getkeys-api cluster routing misses its keys
        "CMD013@commands[7].flags",
        "KEY005@commands[4]",  # 0,0,1: the step of no key, the static rules' reading
        "LOAD022@commands[3]",
        "LOAD022@commands[7]",
        # 1, 1, -1 as registered is no Redis Enterprise routing policy (LOAD023), which a step of
        # -1 written by hand is: Redis walks these keys backwards.
        *(f"LOAD027@commands[{index}]" for index in (*range(6), 7)),
    ]
    done = run_modpack("validate", project(tmp_path, declared), "--load", "--select", "LOAD027")
    assert (
        "x.negstep: Redis accepted key specs it cannot use: key spec 1 [RW access update; index 1; "
        in done.stdout
    )
    assert (
        "keystep -1 never moves forward through the keys: key extraction never ends on Redis 8.0"
        in done.stdout
    )
    assert "limit 2 with lastkey -2 (below -1) fails an assertion" in done.stdout
    assert "index 0 takes the command name (argv[0]) for a key" in done.stdout
    assert (
        "x.keynum0: Redis accepted key specs it cannot use: key spec 1 [RO access; index 1; keynum keynumidx 0"
        " firstkey 1 keystep 0]: keystep 0 never moves forward through the keys: key extraction crashes"
    ) in done.stdout
    assert (
        "variable_flags without getkeys-api: ACL key checks and COMMAND GETKEYS find no key, so no ACL key"
        " pattern ever applies to the command"
    ) in done.stdout


def start_cluster_mode(so: Path) -> tuple[Path, subprocess.Popen[bytes]]:
    """A redis-server with --cluster-enabled yes and `so` loaded, started in a private folder."""
    binary = require_redis()
    folder = private_folder()
    args = server_arguments(binary, folder, binary_version([binary]))
    args += ["--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf")]
    args += ["--cluster-port", str(free_port())]  # --port 0 would put the bus on 10000
    return folder, subprocess.Popen([*args, "--loadmodule", str(so)], stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def cluster_node(so: Path) -> Iterator[RespClient]:
    """A redis-server in cluster mode owning every slot, with `so` loaded: what cluster routing
    does with a command's keys (src/cluster.c getNodeByQuery()), over its unix socket."""
    folder, process = start_cluster_mode(so)
    client = None
    try:
        deadline = time.monotonic() + 10
        while not (folder / "redis.sock").exists():
            assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        client = RespClient.connect(folder / "redis.sock", 5.0)
        client.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        while "cluster_state:ok" not in str(client.call("CLUSTER", "INFO")):
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.05)
        yield client
    finally:
        if client is not None:
            client.close()
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.rule("LOAD027")
@pytest.mark.redis
def test_a_limit_first_last_step_drop_sends_values_to_cluster_routing(tmp_path: Path) -> None:
    """A key spec whose keys are the first half of the arguments (index 1, lastkey -1, limit 2):
    COMMAND GETKEYS answers the keys, but Redis copies the spec into first/last/step without its
    limit, and cluster routing reads only those (keyspecs.md §3.4, §3.5). So every call whose
    values hash to another slot than its keys fails with CROSSSLOT, and module.json, which carries
    the same 1, -1, 1, sends the Redis Enterprise proxy the same way. The sweep's ks2.so passed
    `validate --load` and `discover` said nothing."""
    body = (
        "static RedisModuleCommandKeySpec half[] = {IDX(KEY_RO, 1, -1, 1, 2), {0}};\n"
        '    CC("h.mget", "readonly", 0, 0, 0); INFO("h.mget", -2, half);'
    )
    so = compile_module(tmp_path, body, "half")
    seen = observe(so, {"h.mget": ["{a}1", "{a}2", "x", "y"]})
    assert seen.triple("h.mget") == (1, -1, 1)
    assert seen.getkeys == {"h.mget": ["{a}1", "{a}2"]}
    with cluster_node(so) as node:
        with pytest.raises(ReplyError, match=r"^CROSSSLOT"):
            node.call("h.mget", "{a}1", "{a}2", "x", "y")
        assert node.call("h.mget", "{a}1", "{a}2", "{a}x", "{a}y") == "OK"  # values in the keys' slot

    done = run_modpack("validate", "--load", so)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "error LOAD027 h.mget: Redis accepted key specs it cannot use: key spec 1 [RO access; index 1;"
        " range lastkey -1 keystep 1 limit 2]: first/last/step 1, -1, 1 are this spec without its limit 2,"
        " and cluster routing reads only them: every argument from index 1 on is taken for a key"
    ) in done.stdout
    found = run_modpack("discover", so)
    # an error, so exit 1 as validate --load of the .so (it printed the error and exited 0)
    assert found.returncode == 1, found.stderr
    assert 'name = "h.mget"' in found.stdout and "LOAD027" not in found.stdout  # TOML stays clean
    # labelled error, as the catalogue and validate --load have it (it said warning)
    assert "modpack: error: LOAD027 h.mget: Redis accepted key specs it cannot use" in found.stderr
    # init --discover wrote the file in silence (exit 0), whose validate then failed
    made = run_modpack("init", "--discover", so, f"{tmp_path}/made/")
    assert made.returncode == 1, made.stdout + made.stderr
    assert (tmp_path / "made" / "modpack.toml").is_file()
    assert f"wrote {tmp_path / 'made' / 'modpack.toml'}" in made.stdout
    assert "modpack: error: LOAD027 h.mget: Redis accepted key specs it cannot use" in made.stderr
    # a project that accepted LOAD027 ([validate] ignore) could not silence it: discover has no
    # --ignore, and every `discover --write` of its CI failed
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    shutil.copy(so, quiet / so.name)
    (quiet / "modpack.toml").write_text('[validate]\nignore = ["LOAD027"]\n')
    for extra in ([], ["--write", str(quiet / "modpack.toml")]):
        hushed = run_modpack("discover", quiet / so.name, *extra)
        assert hushed.returncode == 0 and "LOAD027" not in hushed.stderr, hushed.stderr
    # build --discover and ramp-pack load it too, and wrote its bundle in silence
    (tmp_path / "b").mkdir()
    toml = tmp_path / "b" / "modpack.toml"
    toml.write_text(
        f'[module]\nname = "half"\nsemantic_version = "1.0.0"\ncompatible_redis_version = "7.0"\n'
        f'capabilities = ["types"]\n\n[build]\nso = "{so}"\n'
    )
    for command in (
        ["build", toml, "--discover", "-o", tmp_path / "b" / "dist"],
        ["ramp-pack", so, "-C", "types", "-r", "7.0", "-cr", "7.0", "-o", tmp_path / "b" / "dist" / "r.zip"],
    ):
        refused = run_modpack(*command)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "error LOAD027 h.mget: Redis accepted key specs it cannot use" in refused.stdout, (
            refused.stdout
        )
        assert not (tmp_path / "b" / "dist").exists()
    # ... and a project that ignores LOAD027 ([validate] ignore of the modpack.toml nearest the
    # manifest, or the module without one) had ramp-pack refuse what discover and build accept
    (quiet / "ramp.yml").write_text("display_name: half\ncapabilities: [types]\n")
    for manifest in ([], ["-m", quiet / "ramp.yml"]):
        packed = run_modpack(
            "ramp-pack",
            quiet / so.name,
            *manifest,
            "-r",
            "7.0",
            "-cr",
            "7.0",
            "-C",
            "types",
            "-o",
            quiet / "r.zip",
        )
        assert packed.returncode == 0, packed.stdout + packed.stderr
        assert "LOAD027" not in packed.stdout + packed.stderr and (quiet / "r.zip").is_file()
        (quiet / "r.zip").unlink()
    fine = compile_module(tmp_path / "made", 'CC("h.get", "readonly", 1, 1, 1);', "fine")
    assert run_modpack("discover", fine).returncode == 0
    assert run_modpack("init", "--discover", fine, f"{tmp_path}/fine/").returncode == 0


@pytest.mark.rule("LOAD027", "LOAD021")
@pytest.mark.redis
def test_a_crashing_registration_is_named_for_a_bare_so_too(tmp_path: Path) -> None:
    """hellodict.c of redis/redis registers 1, 1, 0 (keystep 0): COMMAND GETKEYS crashes the
    server. `validate --load` of the bundle said LOAD027, of the bare .so only LOAD003 (nothing
    declared, so nothing was looked at), and LOAD021's fix told a bundle to declare 1, 1, 0."""
    so = compile_module(tmp_path, 'CC("d.set", "write", 1, 1, 0); CC("d.get", "readonly", 1, 1, 1);')
    assert observe(so, {"d.set": ["k", "v"]}).getkeys == {"d.set": "crashed"}

    bare = run_modpack("validate", "--load", so)
    assert bare.returncode == 1, bare.stdout + bare.stderr
    assert (
        "error LOAD027 d.set: Redis accepted key specs it cannot use: key spec 1 [RW access update;"
        " index 1; range lastkey 0 keystep 0 limit 0]: keystep 0 never moves forward through the keys:"
        " key extraction crashes the server"
    ) in bare.stdout
    assert "d.get" not in bare.stdout.split("LOAD003", 1)[1].split("\n", 1)[1]  # d.get is fine

    declared = [
        table("d.set", flags=("write",), keys=(1, 1, 1)),
        table("d.get", flags=("readonly",), keys=(1, 1, 1)),
    ]
    done = run_modpack("validate", project(tmp_path, declared), "--load", "--select", "LOAD021")
    assert "d.set: step is 1, Redis registers 0" in done.stdout
    assert (
        "fix: Fix the key positions the module registers: step 0 with first key 1 is no layout" in done.stdout
    )
    assert "Declare first_key/last_key/step as 1, 1, 0" not in done.stdout


@pytest.mark.rule("LOAD027", "KEY002", "KEY009")
@pytest.mark.redis
def test_a_crash_stays_said_when_the_static_rule_that_names_it_is_ignored(tmp_path: Path) -> None:
    """--load leaves a step of 0 declared as registered to KEY002 (one finding, one cause); with
    KEY002 ignored (--ignore, or [validate] ignore) a bundle whose command crashes redis-server on
    key extraction passed `validate --load` clean. The same for a subcommand's key at its own
    name (KEY009)."""
    so = compile_module(tmp_path, 'CC("d.set", "write", 1, 1, 0); CC("d.get", "readonly", 1, 1, 1);')
    declared = project(
        tmp_path,
        [table("d.set", -1, ("write",), (1, 1, 0)), table("d.get", -1, ("readonly",), (1, 1, 1))],
    )
    assert so.parent == declared.parent
    assert findings(declared, "--load") == ["KEY002@commands[0].step"]  # said once, by KEY002
    for ignored in (["--ignore", "KEY002"], ["--ignore", "KEY"]):
        done = run_modpack("validate", declared, "--load", *ignored)
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            "error LOAD027 d.set: Redis accepted key specs it cannot use: key spec 1 [RW access update;"
            " index 1; range lastkey 0 keystep 0 limit 0]: keystep 0 never moves forward through the keys:"
            " key extraction crashes the server"
        ) in done.stdout
    declared.write_text(declared.read_text() + '\n[validate]\nignore = ["KEY002"]\n')
    assert findings(declared, "--load") == ["LOAD027@commands[0]"]

    # first key -1 with step 0: KEY001 is said and the static check stops, so KEY002 never is;
    # the crash was left to it all the same, and went unsaid in every run
    neg = tmp_path / "neg"
    neg.mkdir()
    compile_module(neg, 'CC("n.x", "readonly", -1, -1, 0);')
    declared = project(neg, [table("n.x", -1, ("readonly",), (-1, -1, 0))])
    done = run_modpack("validate", declared, "--load")
    assert "KEY001" in done.stdout and "KEY002" not in done.stdout, done.stdout
    assert "keystep 0 never moves forward through the keys: key extraction crashes the server" in done.stdout

    # the same crash in a bundle whose module.json gives no step (or one that is no number): the
    # static check says only CMD006 of it, never KEY002, and LOAD027 left it to KEY002 all the same
    nostep = tmp_path / "nostep"
    nostep.mkdir()
    compile_module(nostep, 'CC("z.get", "readonly", 1, 1, 0);')
    built = run_modpack(
        "build", project(nostep, [table("z.get", -1, ("readonly",), (1, 1, 1))]), "-o", nostep / "out"
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (nostep / "out").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        module, binary = json.loads(archive.read("module.json")), archive.read("ksx.so")
    for step in (None, "0"):
        if step is None:
            del module["commands"][0]["step"]
        else:
            module["commands"][0]["step"] = step
        with zipfile.ZipFile(bundle, "w") as archive:
            archive.writestr("module.json", json.dumps(module))
            archive.writestr("ksx.so", binary)
        done = run_modpack("validate", bundle, "--load")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "KEY002" not in done.stdout, done.stdout
        assert "error LOAD027 z.get: Redis accepted key specs it cannot use" in done.stdout, done.stdout

    sub = tmp_path / "sub"
    sub.mkdir()
    compile_module(sub, SUBCOMMAND.replace('"readonly", 2, 2, 1', '"readonly", 1, 1, 1'))
    declared = project(sub, [table("x.c", -2), table("x.c|get", -2, ("readonly",), (1, 1, 1))])
    assert "KEY009@commands[1].first_key" in findings(declared, "--load")
    assert "LOAD027@commands[1]" not in findings(declared, "--load")
    done = run_modpack("validate", declared, "--load", "--ignore", "KEY009")
    assert "x.c|get: Redis accepted key specs it cannot use" in done.stdout, done.stdout
    assert "index 1 takes the subcommand's own name for a key" in done.stdout


@pytest.mark.rule("LOAD027")
@pytest.mark.redis
def test_discover_judges_a_movable_command_as_validate_load_does(tmp_path: Path) -> None:
    """A limit-2 range spec beside a keyword spec: Redis marks the command movablekeys, and the
    binary names no getkeys-api, so routing reads the limit-less first/last/step. validate --load
    said LOAD027 and exited 1; discover, which never read the binary, said a warning and exited 0."""
    body = (
        "static RedisModuleCommandKeySpec s[] = {IDX(KEY_RO, 1, -1, 1, 2), {.flags = KEY_RO,"
        ' .begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD, .bs.keyword = {.keyword = "STORE",'
        " .startfrom = 1}, .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {.lastkey = 0,"
        " .keystep = 1, .limit = 0}}, {0}};\n"
        '    CC("m.get", "readonly", 0, 0, 0); INFO("m.get", -2, s);'
    )
    so = compile_module(tmp_path, body, "mov")
    checked = run_modpack("validate", "--load", so)
    found = run_modpack("discover", so)
    assert checked.returncode == found.returncode == 1, checked.stdout + found.stderr
    said = "LOAD027 m.get: Redis accepted key specs it cannot use"
    assert f"error {said}" in checked.stdout and f"modpack: error: {said}" in found.stderr


@pytest.mark.rule("LOAD022")
@pytest.mark.redis
def test_movable_keys_the_triple_misses_say_whether_getkeys_api_may_route_them(tmp_path: Path) -> None:
    """Key specs at index 1 and 3 (a gap): Redis marks the command movablekeys and copies only
    1, 1, 1 into first/last/step, which cluster routing reads unless the command has getkeys-api,
    whose callback it asks instead (keyspecs.md §3.4). COMMAND INFO does not tell the two apart, so
    where the binary registers getkeys-api (for this command or another: a module with one such
    command and one without had LOAD022 dropped for both) LOAD022 says that it may be this one's."""
    gap = (
        "static RedisModuleCommandKeySpec gap[] = {IDX(KEY_RW, 1, 0, 1, 0), IDX(KEY_RW, 3, 0, 1, 0), {0}};\n"
    )
    note = (
        "(the binary registers getkeys-api for a command: if this is one, cluster routing asks its callback"
    )
    other = '    CC("g.other", "readonly getkeys-api", 1, 1, 1);'
    for flags, extra, maybe in (
        ("write", "", False),
        ("write getkeys-api", "", True),
        ("write", other, True),
    ):
        folder = tmp_path / f"{flags.replace(' ', '-')}{'-other' if extra else ''}"
        folder.mkdir()
        body = gap + f'    CC("g.set", "{flags}", 1, 1, 1); INFO("g.set", -4, gap);\n' + extra
        so = compile_module(folder, body)
        assert observe(so, {}).triple("g.set") == (1, 1, 1)
        done = run_modpack("validate", "--load", so)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "warning LOAD022 g.set: Redis marks it movablekeys" in done.stdout, done.stdout
        assert (note in done.stdout) is maybe, done.stdout


@pytest.mark.rule("LOAD022")
@pytest.mark.redis
def test_a_triple_of_every_argument_covers_every_key_spec_from_its_first_key(tmp_path: Path) -> None:
    """first/last/step 1, -1, 1 take every argument for a key, so cluster routing sees every key a
    keyword spec (or one flagged incomplete) finds: `k.cov a X b` with keys of two slots is
    CROSSSLOT in cluster mode. LOAD022 said the triple "miss[es] the keys of" the keyword spec. A
    triple from 2 on still misses what an incomplete spec may not point out (argument 1)."""
    keyword = (
        "{.flags = KEY_RO, .begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD,"
        ' .bs.keyword = {.keyword = "X", .startfrom = 1},'
        " .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {0, 1, 0}}"
    )
    incomplete = "KEY_RW | REDISMODULE_CMD_KEY_INCOMPLETE"
    body = (
        f"static RedisModuleCommandKeySpec cov[] = {{IDX(KEY_RW, 1, -1, 1, 0), {keyword}, {{0}}}};\n"
        f"    static RedisModuleCommandKeySpec inc[] = {{IDX({incomplete}, 1, -1, 1, 0), {{0}}}};\n"
        f"    static RedisModuleCommandKeySpec inc2[] = {{IDX({incomplete}, 2, -1, 1, 0), {{0}}}};\n"
        '    CC("k.cov", "write", 0, 0, 0); INFO("k.cov", -2, cov);\n'
        '    CC("k.inc", "write", 0, 0, 0); INFO("k.inc", -2, inc);\n'
        '    CC("k.inc2", "write", 0, 0, 0); INFO("k.inc2", -3, inc2);'
    )
    so = compile_module(tmp_path, body)
    seen = observe(so)
    assert seen.triple("k.cov") == seen.triple("k.inc") == (1, -1, 1)
    assert seen.triple("k.inc2") == (2, -1, 1)
    with cluster_node(so) as node:
        # {X}1 hashes as X does: only the key after the keyword is of another slot
        assert node.call("k.cov", "{X}1", "X", "{X}2") == "OK"
        with pytest.raises(ReplyError, match=r"^CROSSSLOT"):
            node.call("k.cov", "{X}1", "X", "{b}2")
    done = run_modpack("validate", "--load", so)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOAD022 k.cov" not in done.stdout and "LOAD022 k.inc:" not in done.stdout, done.stdout
    assert (
        "warning LOAD022 k.inc2: Redis marks it movablekeys, and first/last/step 2, -1, 1 cannot cover 1"
        " key spec(s) flagged incomplete"
    ) in done.stdout


@pytest.mark.rule("LOAD020")
@pytest.mark.redis
def test_movablekeys_from_key_specs_alone_is_not_asked_of_a_declaration_for_redis_6(tmp_path: Path) -> None:
    """RedisBloom's cms.merge: "write deny-oom", 1, 1, 1, then (where SetCommandInfo is there) an
    INDEX 1 RANGE spec and an INDEX 2 KEYNUM one. Redis 7.0 derives movablekeys from the KEYNUM
    spec; 6.2 shows it only with getkeys-api (keyspecs.md §3.6), so a module.json for 6.2 declares
    write and denyoom, and `validate --load` on 7.0 said `error LOAD020 cms.merge: flags differ
    (registered but not declared: movablekeys)`, while it forgave the 6.x arity -1. A declaration
    for 7.0 is still told."""
    body = (
        "static RedisModuleCommandKeySpec s[] = {IDX(REDISMODULE_CMD_KEY_RW, 1, 0, 1, 0),\n"
        "        {.flags = KEY_RO, .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index.pos = 2,\n"
        "         .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM, .fk.keynum = {0, 1, 1}}, {0}};\n"
        '    CC("cms.merge", "write deny-oom", 1, 1, 1); INFO("cms.merge", -4, s);'
    )
    seen = observe(compile_module(tmp_path, body))
    assert seen.triple("cms.merge") == (1, 1, 1)
    registered = seen.info["cms.merge"]
    assert isinstance(registered, list) and "movablekeys" in registered[2]  # 7.0: from the KEYNUM spec
    entry = table("cms.merge", -1, ("write", "denyoom"), (1, 1, 1))
    for target, said in (("6.2", False), ("7.0", True)):
        done = run_modpack("validate", "--load", project(tmp_path, [entry], target=target))
        assert done.returncode == (1 if said else 0), done.stdout + done.stderr
        flags = "error LOAD020 cms.merge: flags differ (registered but not declared: movablekeys)"
        assert (flags in done.stdout) is said, done.stdout
    # the 7.0 arity and flags declared for 6.2 are right as well
    movable = table("cms.merge", -4, ("write", "denyoom", "movablekeys"), (1, 1, 1))
    done = run_modpack("validate", "--load", project(tmp_path, [movable], target="6.2"))
    assert done.returncode == 0 and "LOAD020" not in done.stdout, done.stdout


@pytest.mark.rule("LOAD029")
@pytest.mark.redis
def test_a_getkeys_callback_that_names_a_key_past_the_arguments_is_an_error(tmp_path: Path) -> None:
    """A getkeys-api callback answering RedisModule_KeyAtPos(ctx, 999) (as redis/redis
    tests/modules/keyposvalidate.c does; argc itself reads one past the end, and crashes only
    sometimes): COMMAND GETKEYS crashes redis-server 7.0.15,
    and so does every call in a cluster, which routes by the callback. `validate --load` passed
    such a module clean: nothing in what it registers shows it."""
    body = 'CC_PAST_END("p.bad", "readonly getkeys-api", 1, 1, 1); CC("p.good", "readonly getkeys-api", 1, 1, 1);'
    so = compile_module(tmp_path, body)
    seen = observe(so, {"p.good": ["a", "b"], "p.bad": ["a"]})
    assert seen.getkeys["p.good"] == ["a", "b"] and seen.getkeys["p.bad"] == "crashed"

    bare = run_modpack("validate", "--load", so)
    assert bare.returncode == 1, bare.stdout + bare.stderr
    said = f"{so}: error LOAD029 p.bad: `COMMAND GETKEYS p.bad 1` ended the server: redis-server closed the connection"
    assert said in bare.stdout, bare.stdout  # the first call crashes: position 999 of 2 arguments
    assert "its getkeys-api callback names a key Redis cannot read" in bare.stdout
    assert "p.good" not in bare.stdout.split("LOAD029", 1)[1]
    declared = project(
        tmp_path,
        [
            table("p.bad", -1, ("readonly", "movablekeys"), (1, 1, 1)),
            table("p.good", -1, ("readonly", "movablekeys"), (1, 1, 1)),
        ],
    )
    assert findings(declared, "--load") == ["LOAD029@commands[0]"]
    # a subcommand's callback: asked as `COMMAND GETKEYS s.top get ...`, its two names
    (tmp_path / "sub").mkdir()
    sub = compile_module(
        tmp_path / "sub",
        'TRY(RedisModule_CreateCommand(ctx, "s.top", NULL, "", 0, 0, 0));\n'
        '    TRY(RedisModule_CreateSubcommand(RedisModule_GetCommand(ctx, "s.top"), "get", keys_past_end,'
        ' "readonly getkeys-api", 0, 0, 0));',
    )
    done = run_modpack("validate", "--load", sub)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error LOAD029 s.top|get: `COMMAND GETKEYS s.top get 1` ended the server" in done.stdout, (
        done.stdout
    )
    # a module whose callbacks answer within the arguments: nothing (p.good alone)
    (tmp_path / "good").mkdir()
    good = compile_module(tmp_path / "good", 'CC("p.good", "readonly getkeys-api", 1, 1, 1);')
    assert "LOAD029" not in run_modpack("validate", "--load", good).stdout


@pytest.mark.rule("LOAD029")
@pytest.mark.redis
def test_a_getkeys_callback_only_cluster_routing_asks_is_asked_as_routing_asks_it(tmp_path: Path) -> None:
    """A getkeys-api command with complete key specs: COMMAND GETKEYS reads the specs and answers,
    so the probe never reached the callback (position 999), while cluster routing asks it on every
    call and crashes redis-server 7.0.15 (and 8.0.2). `validate --load` passed it."""
    specs = (
        "static RedisModuleCommandKeySpec s[] = {IDX(KEY_RW, 1, 0, 1, 0), IDX(KEY_RO, 2, 0, 1, 0), {0}};\n"
    )
    so = compile_module(
        tmp_path, specs + '    CC_PAST_END("g.spec", "write getkeys-api", 1, 1, 1); INFO("g.spec", -3, s);'
    )
    assert observe(so, {"g.spec": ["a", "b"]}).getkeys == {"g.spec": ["a", "b"]}
    with cluster_node(so) as node, pytest.raises(ConnectionClosedError):
        node.call("g.spec", "{a}1", "{a}2")  # the server crashed
    done = run_modpack("validate", "--load", so)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "error LOAD029 g.spec: `g.spec 1 2`, sent inside MULTI to a cluster-enabled redis-server (routed,"
        " never run), ended the server: redis-server closed the connection"
    ) in done.stdout, done.stdout
    assert (
        "which cluster routing reads on every call; COMMAND GETKEYS reads its key specs instead"
        in done.stdout
    )
    # a callback naming its arguments: refused (no slot is served), nothing said
    (tmp_path / "good").mkdir()
    good = compile_module(
        tmp_path / "good", specs + '    CC("g.spec", "write getkeys-api", 1, 1, 1); INFO("g.spec", -3, s);'
    )
    fine = run_modpack("validate", "--load", good)
    assert fine.returncode == 0 and "LOAD029" not in fine.stdout, fine.stdout


@pytest.mark.rule("LOAD011")
@pytest.mark.redis
def test_a_failed_onload_says_what_redis_logged_before_it(tmp_path: Path) -> None:
    """RedisModule_SetCommandInfo refuses a command info without a version and logs "Invalid
    command info: version missing" (keyspecs.c of Redis's tests, before it set .version); LOAD011
    said "Redis does not say which call failed" and dropped that line. What a module logs of its
    own (a banner) is shown as logged, not as the reason, and the general hint stays."""
    body = """
    void (*Log)(RedisModuleCtx *, const char *, const char *, ...) = NULL;
    RedisModule_GetApi("RedisModule_Log", (void *)&Log);
    Log(ctx, "notice", "ksx 1.0.0 starting");
    CC("v.set", "write", 0, 0, 0);
    RedisModuleCommandInfo info = {0};
    info.arity = 2;
    TRY(RedisModule_SetCommandInfo(RedisModule_GetCommand(ctx, "v.set"), &info));
    """
    so = compile_module(tmp_path, body)
    assert not observe(so).loaded
    done = run_modpack("validate", "--load", so)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "error LOAD011 RedisModule_OnLoad of ksx.so returned an error; the server logged during the"
        " load: <ksx> ksx 1.0.0 starting | Invalid command info: version missing (redis-server 7.0."
    ) in done.stdout
    assert "fix: A line logged during the load may name the call that failed." in done.stdout
    assert "the flags strings given to RedisModule_CreateCommand" in done.stdout
    # a failure nothing logged: the hint alone, as before
    quiet = compile_module(tmp_path, 'CC("q.set", "write  fast", 0, 0, 0);', "quiet")
    said = run_modpack("validate", "--load", quiet)
    assert "error LOAD011 RedisModule_OnLoad of quiet.so returned an error (redis-server" in said.stdout
    assert "A line logged" not in said.stdout
    assert "string literals" not in said.stdout  # none names a command the server has


@pytest.mark.rule("LOAD011")
@pytest.mark.redis
def test_a_failed_onload_names_the_literals_that_are_commands_redis_has(tmp_path: Path) -> None:
    """redex's rxlists registers lmpop, a built-in command since Redis 7.0: RedisModule_CreateCommand
    fails, OnLoad returns an error, and LOAD011 (from validate --load, discover, build --discover)
    said only that, while `validate` of the .so found nothing. It names the module's string
    literals that are commands the server has, as a possibility where nothing declared says what
    the module registers, and as the error where the declarations name it; a module's own names
    (with a dot) never are, nor are the flag words ("readonly" is a command too)."""
    so = compile_module(
        tmp_path, 'CC("mine.set", "write", 1, 1, 1);\n    CC("get", "readonly", 1, 1, 1);', "taken"
    )
    assert not observe(so).loaded
    for command in (["validate", "--load", so], ["discover", so]):
        said = run_modpack(*command)
        assert said.returncode == 1, said.stdout + said.stderr
        output = said.stdout + said.stderr
        assert (
            "RedisModule_OnLoad of taken.so returned an error; the module's string literals include get,"
            " the name of a command this redis-server has: if the module registers it (not only calls"
            " it), that is the error, since a module cannot register a name taken"
        ) in output
        assert "If the module registers it, give that command another name" in output
    (tmp_path / "modpack.toml").write_text(
        HEADER.replace('"ksx"', '"taken"').replace("ksx.so", "taken.so").format(min="7.0", target="7.0")
        + "\n".join(f'[[commands]]\nname = "{name}"\nflags = ["readonly"]\n' for name in ("mine.set", "get")),
        "utf-8",
    )
    declared = run_modpack("validate", "--load", tmp_path / "modpack.toml")
    assert (
        "error LOAD011 RedisModule_OnLoad of taken.so returned an error; get is declared as a command of"
        " the module, and this redis-server has a command of that name already, which a module cannot"
        " register"
    ) in declared.stdout, declared.stdout
    assert "fix: Give the command another name, prefixed with the module's" in declared.stdout


@pytest.mark.rule("LOAD011")
@pytest.mark.redis
def test_a_command_a_failed_onload_only_calls_is_not_said_to_be_its_error(tmp_path: Path) -> None:
    """RedisTimeSeries, RediSearch, RedisGears and RedisGraph call `info` in their OnLoad; one that
    then refuses its arguments (as RedisTimeSeries' ReadConfig refuses an odd list) was told
    "among the module's string literals, info names a command this redis-server already has,
    which a module cannot register", with a fix to rename the command. Where the declarations say
    what it registers, nothing is said of info; a .so alone names it as a possibility only."""
    body = """
    void *(*Call)(RedisModuleCtx *, const char *, const char *, ...) = NULL;
    void (*FreeCallReply)(void *) = NULL;
    RedisModule_GetApi("RedisModule_Call", (void *)&Call);
    RedisModule_GetApi("RedisModule_FreeCallReply", (void *)&FreeCallReply);
    void *reply = Call(ctx, "info", "c", "server");  /* as RedisTimeSeries' RTS_GetRedisVersion */
    if (reply != NULL) FreeCallReply(reply);
    if (argc % 2) return REDISMODULE_ERR;  /* an odd argument list refused */
    CC("ts.add", "write deny-oom", 1, 1, 1);
    """
    so = compile_module(tmp_path, body, "ksx")
    toml = project(tmp_path, [table("ts.add", -1, ("write", "denyoom"), (1, 1, 1))])
    toml.write_text(
        toml.read_text("utf-8").replace("[build]", 'command_line_args = "ODD"\n\n[build]'), "utf-8"
    )
    done = run_modpack("validate", "--load", toml)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error LOAD011 RedisModule_OnLoad of ksx.so returned an error (redis-server" in done.stdout
    assert "info" not in done.stdout.split("LOAD011", 1)[1].split("\n", 1)[0]
    assert "give that command another name" not in done.stdout.lower()
    alone = run_modpack("discover", so, "--args", "ODD")
    assert alone.returncode == 1
    assert "if the module registers it (not only calls it), that is the error" in alone.stderr


@pytest.mark.rule("LOAD011", "LOAD012")
@pytest.mark.redis
def test_a_failed_load_names_the_module_api_the_server_does_not_have(tmp_path: Path) -> None:
    """RedisModule_SetCommandACLCategories came with Redis 7.2: on 7.0.15, RedisModule_GetApi leaves
    its pointer NULL, a module calling it anyway crashes the server in OnLoad (SIGSEGV), and one
    that checks returns an error. LOAD012 said only to rebuild the .so or debug OnLoad, of a module
    whose min_redis_version of 7.0 was the mistake. The functions the module looks up and the
    server does not offer are named, with how to guard them or raise min_redis_version."""
    require_redis()
    lookup = """
    int (*SetAcl)(RedisModuleCommand *, const char *) = NULL;
    RedisModule_GetApi("RedisModule_SetCommandACLCategories", (void *)&SetAcl);
    CC("acl.get", "readonly", 1, 1, 1);
    """
    (tmp_path / "crash").mkdir()
    crashing = compile_module(
        tmp_path / "crash", lookup + '    TRY(SetAcl(RedisModule_GetCommand(ctx, "acl.get"), "read"));', "acl"
    )
    (tmp_path / "guard").mkdir()
    guarded = compile_module(
        tmp_path / "guard", lookup + "    if (SetAcl == NULL) return REDISMODULE_ERR;", "acl"
    )
    said = (
        "the module looks up 1 function of the module API that this redis-server does not have"
        " (RedisModule_SetCommandACLCategories), which RedisModule_Init leaves as NULL pointers"
    )
    fix = "call each only when RMAPI_FUNC_SUPPORTED says the server has it, or raise min_redis_version"
    for so, rule in ((crashing, "LOAD012"), (guarded, "LOAD011")):
        done = run_modpack("validate", "--load", so, "--redis-version", "7.0.15")
        assert done.returncode == 1, done.stdout + done.stderr
        line = next(line for line in done.stdout.splitlines() if f"error {rule} " in line)
        assert said in line, done.stdout
        assert fix in done.stdout
    # a module looking up only what the server has: nothing of the kind is said
    plain = compile_module(
        tmp_path, 'CC("p.get", "readonly", 1, 1, 1);\n    return REDISMODULE_ERR;', "plain"
    )
    quiet = run_modpack("validate", "--load", plain, "--redis-version", "7.0.15")
    assert "error LOAD011 " in quiet.stdout and "looks up" not in quiet.stdout, quiet.stdout


# --- flags strings Redis refuses, read from the binary ---------------------------------------------


@pytest.mark.rule("LOAD030", "CMD022")
@pytest.mark.redis
def test_commands_command_info_does_not_describe_are_said_not_dropped(tmp_path: Path) -> None:
    """redis-server 7.0.15 registers an empty name and one with a `|` (a client can call both, and
    COMMAND LIST names them), while COMMAND INFO answers nil for both: discover listed the other
    command alone, and `validate --load` said "registered 1 command" with no finding, and of a
    declared `u.pipe|x` that the module does not register it (LOAD016)."""
    body = (
        'CC("u.get", "readonly", 1, 1, 1);\n'
        '    CC("u.pipe|x", "readonly", 1, 1, 1);\n'
        '    CC("", "readonly", 0, 0, 0);'
    )
    so = compile_module(tmp_path, body)
    seen = observe(so)
    assert seen.info == {"": None, "u.get": seen.info["u.get"], "u.pipe|x": None}
    said = (
        '"u.pipe|x" is registered (COMMAND LIST names it, and a client can call it), but COMMAND INFO'
        " answers nil for it: Redis Enterprise, which learns a module's commands from COMMAND INFO (as RAMP"
        " does), cannot know its arity, flags or keys"
    )
    done = run_modpack("validate", "--load", so)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        'registered 1 command: u.get; also "" and "u.pipe|x", which COMMAND INFO does not describe'
    ) in done.stdout
    assert f"warning LOAD030 {said}" in done.stdout and 'warning LOAD030 "" is registered' in done.stdout
    found = run_modpack("discover", so)
    assert found.returncode == 0, found.stderr
    assert '# Left out: "" and "u.pipe|x", which COMMAND INFO does not describe (see LOAD030)' in found.stdout
    assert f"modpack: warning: LOAD030 {said}" in found.stderr
    listed = json.loads(run_modpack("discover", so, "--format", "json").stdout)
    assert listed["undescribed_commands"] == ["", "u.pipe|x"]
    declared = project(
        tmp_path,
        [table("u.get", -1, ("readonly",), (1, 1, 1)), table("u.pipe|x", -1, ("readonly",), (1, 1, 1))],
    )
    codes = findings(declared, "--load")
    assert "LOAD030@commands[1]" in codes and "LOAD030@commands" in codes, codes
    assert not [c for c in codes if c.startswith("LOAD016")], codes


@pytest.mark.rule("ELF031")
@pytest.mark.redis
@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        ("write  fast", "an empty word (a doubled space)"),
        ("readonly fast  ", "an empty word (a doubled space)"),
        ("readonly denyoom", "'denyoom' (the flags string says 'deny-oom')"),
        ("write movablekeys", "'movablekeys' (the flags string says 'getkeys-api')"),
        ("write module", "'module', no flag of a module"),
        # '_' for '-', and commas, were never taken for flags strings: each fails the load too
        ("write deny_oom", "'deny_oom' (the flags string says 'deny-oom')"),
        ("readonly getkeys_api", "'getkeys_api' (the flags string says 'getkeys-api')"),
        ("readonly no_cluster", "'no_cluster' (the flags string says 'no-cluster')"),
        ("write,deny-oom", "commas (Redis splits the flags on single spaces only)"),
    ],
)
def test_a_flags_string_redis_refuses_is_named_from_the_binary(
    tmp_path: Path, flags: str, problem: str
) -> None:
    so = compile_module(tmp_path, f'CC("x.c", "{flags}", 0, 0, 0);')
    assert not observe(so).loaded
    done = run_modpack("validate", so)
    assert done.returncode == 0, done.stdout  # a warning: the string may only look like one
    assert f"warning ELF031 the binary holds the flags string {flags!r}" in done.stdout
    assert problem in done.stdout


@pytest.mark.redis
def test_flags_strings_redis_takes_and_sentences_are_not_named(tmp_path: Path) -> None:
    body = (
        'CC("x.a", "write deny-oom", 1, 1, 1); CC("x.b", "WRITE Deny-OOM getkeys-api", 1, 1, 1);\n'
        '    CC("x.c", "readonly fast no-cluster", 1, 1, 1);\n'
        '    static const char *volatile text[] = {"write failed ", "fast  path", "module name", "readonly ",'
        ' "a, b", "fast, cheap"};\n'
        "    (void)text;"
    )
    so = compile_module(tmp_path, body)
    assert observe(so).loaded
    done = run_modpack("validate", so)
    assert "ELF031" not in done.stdout, done.stdout
    # A trailing space alone fails too, but "readonly " above may be the piece of a flags string a
    # module puts together at run time: not named.
    assert not observe(compile_module(tmp_path, 'CC("x.c", "write ", 0, 0, 0);')).loaded


@pytest.mark.redis
def test_first_key_0_with_a_step_as_redis_7_reports_it_names_the_command_name(tmp_path: Path) -> None:
    """Redis 7 shows first_key 0 with a last_key or step only for a key spec at index 0, whose
    key is the command's own name; a CreateCommand 0,1,1 it shows as 0,0,0."""
    specs = "static RedisModuleCommandKeySpec specs[] = {IDX(KEY_RW, 0, 0, 1, 0), {0}};"
    so = compile_module(
        tmp_path,
        f'{specs}\n    CC("x.a", "write", 0, 0, 0); INFO("x.a", 0, specs);\n    CC("x.b", "write", 0, 1, 1);',
    )
    seen = observe(so, {"x.a": ["k"]})
    assert (seen.triple("x.a"), seen.triple("x.b")) == ((0, 0, 1), (0, 0, 0))
    assert seen.getkeys["x.a"] == ["x.a"]
    module = json.loads((CASES / "good" / "module-json" / "module.json").read_text("utf-8"))
    module["commands"][0].update(first_key=0, last_key=0, step=1)
    path = tmp_path / "module.json"
    path.write_text(json.dumps(module), "utf-8")
    done = run_modpack("validate", path, "--select", "KEY005")
    assert "which Redis 7 reports only for a key spec at index 0: the command name itself" in done.stdout
    # Declared by hand, 0,1,1 is what a CreateCommand call may pass: Redis drops the rest.
    done = run_modpack("validate", project(tmp_path, [table("x.b", flags=("write",), keys=(0, 1, 1))]))
    assert "KEY005" in done.stdout and "key spec at index 0" not in done.stdout


# --- a Redis Enterprise routing policy ------------------------------------------------------------


@pytest.mark.rule("LOAD023")
@pytest.mark.redis
def test_a_routing_policy_is_not_judged_on_movablekeys(tmp_path: Path) -> None:
    """A negative step is a proxy routing policy (ramp.md §3.2): the proxy sends the command to a
    random shard or to a cursor's, not by its keys, so movablekeys (the keys are not at fixed
    positions) is replaced as first/last/step are. An override written as RediSearch's are, with
    the access flag alone, failed `validate --load` with LOAD020 'registered but not declared:
    movablekeys'; write against readonly is still a difference."""
    so = compile_module(tmp_path, 'CC("x.search", "readonly getkeys-api", 0, 0, 0);')
    seen = observe(so)
    assert seen.loaded and "movablekeys" in seen.info["x.search"][2]
    path = project(tmp_path, [table("x.search", flags=("readonly",), keys=(0, 0, -1))])
    done = run_modpack("validate", path, "--load")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOAD020" not in done.stdout
    assert (
        "info LOAD023 x.search: step -1 is a Redis Enterprise routing policy, so its key positions and"
        " movablekeys were not compared (Redis registers 0, 0, 0)"
    ) in done.stdout
    path = project(tmp_path, [table("x.search", flags=("write",), keys=(0, 0, -1))])
    assert findings(path, "--load") == ["LOAD020@commands[0].flags", "LOAD023@commands[0].step"]
    done = run_modpack("validate", path, "--load")
    assert "flags differ (declared but not registered: write; registered but not declared: readonly)" in (
        done.stdout
    )


@pytest.mark.rule("ELF033")
@pytest.mark.redis
def test_a_flags_string_newer_than_min_redis_version_is_named_from_the_binary(tmp_path: Path) -> None:
    """An internal command (8.0) is hidden from COMMAND, so nothing declares it and CMD023 cannot
    name it: a module registering "write internal" with min_redis_version 7.4 validated clean, and
    its OnLoad fails on redis-server 7.0.15 (8.0.2 takes it). Its own code (it was ELF031): a
    module that passes the flag only to a Redis that has it ignores ELF033 and keeps ELF031."""
    so = compile_module(
        tmp_path, 'CC("x.pub", "readonly fast", 1, 1, 1); CC("x.sync", "write internal", 1, 1, 1);'
    )
    assert not observe(so).loaded
    assert observe(so, spec=require_prepared("x86_64", "8.0")).loaded
    declared = [table("x.pub", flags=("readonly", "fast"), keys=(1, 1, 1))]
    done = run_modpack("validate", project(tmp_path, declared, target="7.4"))
    assert done.returncode == 0, done.stdout + done.stderr  # a warning
    assert (
        f"{so}: warning ELF033 the binary holds the flags string 'write internal', which"
        " RedisModule_CreateCommand of Redis 7.4, the module's min_redis_version, refuses for 'internal'"
        " (Redis 8.0 and later)"
    ) in done.stdout
    assert "Raise min_redis_version to 8.0" in done.stdout
    ignored = run_modpack(
        "validate", project(tmp_path, declared, target="7.4"), "--ignore", "ELF033", "--strict"
    )
    assert ignored.returncode == 0 and "ELF03" not in ignored.stdout, ignored.stdout
    done = run_modpack("validate", project(tmp_path, declared, target="8.0"))
    assert "ELF033" not in done.stdout, done.stdout
    assert "ELF033" not in run_modpack("validate", so).stdout  # alone: no Redis is claimed
    # a flag a declaration names is CMD023's, not said twice (the project's ksx.so, rebuilt)
    compile_module(tmp_path, 'CC("x.pop", "write blocking", 1, 1, 1);')
    said = run_modpack(
        "validate",
        project(tmp_path, [table("x.pop", flags=("write", "blocking"), keys=(1, 1, 1))], target="6.2"),
    )
    assert "CMD023" in said.stdout and "ELF033" not in said.stdout, said.stdout


# --- no-cluster in a module for sharded databases --------------------------------------------------


def loads_in_cluster_mode(so: Path) -> tuple[bool, str]:
    """Whether redis-server --cluster-enabled yes starts with `so` loaded, and what it logged."""
    folder, process = start_cluster_mode(so)
    log, deadline = folder / "redis.log", time.monotonic() + 10
    try:
        # the socket is there before modules load: ready is what the log says once they did
        while process.poll() is None and "ready to accept" not in _text(log).lower():
            assert time.monotonic() < deadline, "redis-server neither started nor stopped"
            time.sleep(0.02)
        return process.poll() is None, _text(log)
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return ""


@pytest.mark.rule("CAP006")
@pytest.mark.redis
def test_a_no_cluster_command_in_a_clustering_module_is_named(tmp_path: Path) -> None:
    """RedisModule_CreateCommand refuses no-cluster in cluster mode (keyspecs.md §1.1, check 3), so
    a module declaring clustering fails to load on redis-server --cluster-enabled yes; validate
    said nothing of it, from the declared flags or from the binary."""
    so = compile_module(
        tmp_path, 'CC("x.get", "readonly", 1, 1, 1); CC("x.scan", "readonly no-cluster", 0, 0, 0);'
    )
    assert observe(so).loaded
    started, log = loads_in_cluster_mode(so)
    assert not started and "initialization failed" in log, log
    without = compile_module(tmp_path, 'CC("x.scan", "readonly", 0, 0, 0);', "plain")
    assert loads_in_cluster_mode(without)[0]  # the same command without no-cluster loads
    declared = [table("x.get", flags=("readonly",), keys=(1, 1, 1)), table("x.scan", flags=("readonly",))]
    done = run_modpack("validate", project(tmp_path, declared))  # capabilities = ["clustering"]
    assert done.returncode == 0, done.stdout + done.stderr  # a warning: Redis Enterprise's shards are unknown
    assert (
        f"{so}: warning CAP006 the binary holds the flags string 'readonly no-cluster', and capabilities has"
        " clustering: redis-server with cluster-enabled yes refuses to register a no-cluster command"
    ) in done.stdout
    # declared as the flags string has it: said there, once
    declared[1]["flags"] = ["readonly", "no-cluster"]
    path = project(tmp_path, declared)
    done = run_modpack("validate", path)
    line = path.read_text().splitlines().index('flags = ["readonly", "no-cluster"]') + 1
    assert f"{path}:{line} [commands[1].flags]: warning CAP006 command 'x.scan' is no-cluster" in done.stdout
    assert done.stdout.count("CAP006") == 1, done.stdout
    # without clustering, no-cluster is what the module means
    path.write_text(path.read_text().replace('capabilities = ["clustering"]', 'capabilities = ["types"]'))
    assert "CAP006" not in run_modpack("validate", path).stdout


@pytest.mark.rule("CAP006")
@pytest.mark.redis
def test_a_lone_no_cluster_flags_string_is_named(tmp_path: Path) -> None:
    """A command registered with the flags string "no-cluster" alone (a word, no space) was not
    taken for a flags string: validate of a module declaring clustering said nothing, and
    redis-server --cluster-enabled yes refuses to load it. Case does not count (Redis compares
    the flags with strcasecmp); a lone word that is no flag with a '-' stays unnamed."""
    so = compile_module(
        tmp_path,
        'CC("x.get", "readonly", 1, 1, 1); CC("x.scan", "NO-CLUSTER", 0, 0, 0);\n'
        '    static const char *volatile text[] = {"no-such-flag", "cluster", "read-only"};\n'
        "    (void)text;",
    )
    assert observe(so).loaded
    started, log = loads_in_cluster_mode(so)
    assert not started and "initialization failed" in log, log
    declared = [table("x.get", flags=("readonly",), keys=(1, 1, 1)), table("x.scan")]
    done = run_modpack("validate", project(tmp_path, declared), "--load")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"{so}: warning CAP006 the binary holds the flags string 'NO-CLUSTER', and capabilities has"
        " clustering"
    ) in done.stdout
    assert done.stdout.count("CAP006") == 1 and "ELF031" not in done.stdout, done.stdout


# --- movable keys, command by command --------------------------------------------------------------

KEYWORD_SPEC = (
    "static RedisModuleCommandKeySpec keyword[] = {{.flags = KEY_RO,"
    ' .begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD, .bs.keyword = {.keyword = "KEYS", .startfrom = 1},'
    " .find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM, .fk.keynum = {.keynumidx = 0, .firstkey = 1, .keystep = 1}},"
    " {0}};\n"
)


@pytest.mark.rule("CMD013")
@pytest.mark.redis
def test_movable_keys_of_a_key_spec_command_are_named_beside_a_getkeys_api_one(tmp_path: Path) -> None:
    """Cluster routing reads getkeys-api or first/last/step (keyspecs.md §3.4): x.mget
    (getkeys-api) gets CROSSSLOT, x.search (a KEYWORD + KEYNUM key spec alone) runs with keys in
    two slots. Both are movablekeys; one getkeys-api command anywhere in the binary silenced
    CMD013 for every command. Its flags (readonly fast) are no getkeys-api flags string's."""
    body = KEYWORD_SPEC + (
        '    CC("x.mget", "readonly getkeys-api", 0, 0, 0);\n'
        '    CC("x.search", "readonly fast", 0, 0, 0); INFO("x.search", -2, keyword);'
    )
    so = compile_module(tmp_path, body)
    seen = observe(so)
    assert all("movablekeys" in seen.info[name][2] for name in ("x.mget", "x.search"))
    with cluster_node(so) as node:
        with pytest.raises(ReplyError, match=r"^CROSSSLOT"):
            node.call("x.mget", "a", "b")
        assert node.call("x.search", "KEYS", "2", "a", "b") == "OK"  # a and b hash to two slots
    declared = [
        table("x.mget", -1, ("readonly", "module", "movablekeys")),
        table("x.search", -2, ("readonly", "module", "fast", "movablekeys")),
    ]
    path = project(tmp_path, declared)
    done = run_modpack("validate", path)
    assert done.returncode == 0, done.stdout + done.stderr  # a warning
    line = path.read_text().splitlines().index('flags = ["readonly", "module", "fast", "movablekeys"]') + 1
    assert (
        f"{path}:{line} [commands[1].flags]: warning CMD013 command 'x.search' has movable keys, but no flags"
        " string of the binary that names getkeys-api gives its flags (fast, movablekeys, readonly; the"
        " binary has 'readonly getkeys-api'): its keys are described by key specs, which cluster routing"
        " does not read"
    ) in done.stdout
    assert done.stdout.count("CMD013") == 1  # x.mget's flags are the getkeys-api string's


@pytest.mark.rule("CMD013")
def test_a_declaration_copying_flags_command_info_never_shows_is_its_getkeys_api_string(
    tmp_path: Path,
) -> None:
    """A modpack.toml may copy its flags from the C flags string, no-cluster and getchannels-api
    with them; COMMAND INFO shows neither, so the binary's string gives neither, and the command was
    said to have its keys in key specs alone (CMD013), though Redis extracts them by getkeys-api."""
    body = (
        '    CC("x.copy", "write no-cluster getkeys-api", 0, 0, 0);\n'
        '    CC("x.pub", "readonly getchannels-api getkeys-api", 0, 0, 0);'
    )
    compile_module(tmp_path, body)  # beside the modpack.toml, which names it
    declared = [
        table("x.copy", -1, ("write", "no-cluster", "getkeys-api")),
        table("x.pub", -1, ("readonly", "getchannels-api", "getkeys-api")),
    ]
    done = run_modpack("validate", project(tmp_path, declared))
    assert "CMD013" not in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # a declared flag the string does not give is still named
    declared[0] = table("x.copy", -1, ("write", "fast", "no-cluster", "getkeys-api"))
    done = run_modpack("validate", project(tmp_path, declared))
    assert "warning CMD013 command 'x.copy' has movable keys, but no flags string" in done.stdout, done.stdout


@pytest.mark.redis
def test_a_getkeys_api_flags_string_merged_into_a_longer_one_is_still_its_commands(tmp_path: Path) -> None:
    """gcc -O2 merges "readonly getkeys-api" into the tail of "fast readonly getkeys-api": only the
    longer string is in the binary, and x.mget (readonly getkeys-api) was said to have its keys in
    key specs (CMD013), though redis-server routes it by getkeys-api."""
    body = (
        '    CC("x.exists", "fast readonly getkeys-api", 0, 0, 0);\n'
        '    CC("x.mget", "readonly getkeys-api", 0, 0, 0);'
    )
    so = compile_module(tmp_path, body)
    data = so.read_bytes()
    assert b"\0fast readonly getkeys-api\0" in data and b"\0readonly getkeys-api\0" not in data  # merged
    with cluster_node(so) as node:
        with pytest.raises(ReplyError, match=r"^CROSSSLOT"):
            node.call("x.mget", "a", "b")  # routed by getkeys-api
    declared = [
        table("x.exists", -1, ("readonly", "module", "fast", "movablekeys")),
        table("x.mget", -1, ("readonly", "module", "movablekeys")),
    ]
    done = run_modpack("validate", project(tmp_path, declared), "--strict")
    assert done.returncode == 0 and "CMD013" not in done.stdout, done.stdout + done.stderr


@pytest.mark.redis
@pytest.mark.rule("LOAD017")
def test_the_declaration_a_hint_gives_is_toml_for_any_command_name(tmp_path: Path) -> None:
    """LOAD017's fix gives the [[commands]] table of a command registered but not declared. A name
    holding a double quote or a backslash, which RedisModule_CreateCommand accepts in every Redis,
    was written between quotes as it is: `name = "n.q"x"`, no TOML."""
    import tomllib

    compile_module(
        tmp_path,
        '    CC("n.q\\"x", "readonly", 0, 0, 0); CC("n.b\\\\x", "readonly", 0, 0, 0);'
        ' CC("n.d\\x7f", "readonly", 0, 0, 0);',
    )
    done = run_modpack("validate", "--load", project(tmp_path, [table("n.other", -1, ("readonly",))]))
    hints = [line for line in done.stdout.splitlines() if line.startswith("  fix: Declare it: [[commands]] ")]
    names = set()
    for hint in hints:
        values = hint.removeprefix("  fix: Declare it: [[commands]] ").split(" (", 1)[0]
        names.add(tomllib.loads(f"t = {{{values}}}")["t"]["name"])
    assert names == {'n.q"x', "n.b\\x", "n.d\x7f"}, done.stdout


@pytest.mark.redis
@pytest.mark.rule("LOAD027")
def test_a_negative_step_declared_as_registered_is_not_called_a_routing_policy(tmp_path: Path) -> None:
    """CreateCommand's 2,1,-2 is what the module registers, and Redis 7 shows it as 2,-1,-2: the
    declaration copied from the C call was told both that Redis walks its keys backwards (LOAD027)
    and that its step is a Redis Enterprise routing policy (LOAD023), one saying the other untrue.
    Declared as registered, it is not written for the proxy: LOAD027 alone."""
    so = compile_module(tmp_path, '    CC("h.x", "readonly", 2, 1, -2);')
    assert observe(so).triple("h.x") == (2, -1, -2)
    for keys in ((2, 1, -2), (2, -1, -2)):
        declared = [table("h.x", -1, ("readonly",), keys)]
        assert findings(project(tmp_path, declared), "--load") == ["LOAD027@commands[0]"], keys


@pytest.mark.redis
@pytest.mark.rule("LOAD012")
def test_a_redis_assertion_a_module_call_fails_is_named(tmp_path: Path) -> None:
    """redis-server 7.0.15's RM_SetCommandInfo asserts 'firstkey != 0' when a key spec at index 0
    sits beside another (src/server.c populateCommandLegacyRangeSpec), and the server ends. LOAD012
    said a damaged .so or a crash in OnLoad, "run it under a debugger"; the bug report in the log
    names the failed check and the API call, which the finding now says."""
    specs = (
        "static RedisModuleCommandKeySpec two[] = {"
        "{.flags = KEY_RW, .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index = {.pos = 0},"
        " .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {.lastkey = 0, .keystep = 1, .limit = 0}},"
        "{.flags = KEY_RW, .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, .bs.index = {.pos = 1},"
        " .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, .fk.range = {.lastkey = 0, .keystep = 1, .limit = 0}},"
        " {0}};\n"
    )
    compile_module(tmp_path, specs + '    CC("k.p0", "write", 0, 0, 0); INFO("k.p0", -3, two);')
    done = run_modpack("validate", "--load", project(tmp_path, [table("k.p0", -3, ("write",))]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "error LOAD012 redis-server crashed while loading ksx.so: its assertion 'firstkey != 0'"
        " (server.c:" in done.stdout
    ), done.stdout
    assert "failed in RM_SetCommandInfo (redis-server closed the connection (killed by SIG" in done.stdout
    assert "Redis ends the server on some arguments of RM_SetCommandInfo" in done.stdout
    # The module's own RedisModule_Assert is its check, not a call of the module's Redis refused.
    own = (
        "    void (*module_assert)(const char *, const char *, int) = NULL;\n"
        '    RedisModule_GetApi("RedisModule__Assert", (void *)&module_assert);\n'
        '    if (module_assert) module_assert("config_ok", "mymod.c", 42);'
    )
    compile_module(tmp_path, own)
    done = run_modpack("validate", "--load", project(tmp_path, [table("k.p0", -3, ("write",))]))
    assert (
        "error LOAD012 redis-server crashed while loading ksx.so: the module's RedisModule_Assert"
        " 'config_ok' (mymod.c:42) failed (redis-server closed the connection" in done.stdout
    ), done.stdout
    assert "fix: The module's own check at mymod.c:42 failed while it loaded" in done.stdout
