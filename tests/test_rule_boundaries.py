"""Every branch and boundary of checks/commands.py and checks/metadata.py, with the message.

Each case is the good module of tests/cases (hello.so's module.json) with one change, and the
exact findings it must get: code, path and, where the message or the fix carries the answer,
their text. tests/test_cases.py holds one case per rule; this file pins the edges around them
(a value one past a limit, the other branch of a condition), so that a changed operator or
constant in a check makes a test fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from modpack import policy
from modpack.checks import commands, metadata
from modpack.elf import GetkeysApi
from modpack.findings import MAX_PER_RULE, Finding, Severity, Sink
from tests.cases.make_cases import command, good_module

Module = dict[str, Any]


def check(module: Module, *, hand_written: bool = False) -> list[Finding]:
    sink = Sink("module.json")
    metadata.check_module(module, sink)
    commands.check_commands(module, sink, hand_written=hand_written)
    return sink.findings


def changed(**top: Any) -> Module:
    module = good_module()
    module.update(top)
    return module


def with_command(index: int | None = None, **fields: Any) -> Module:
    """The good module with one command changed (or, with index None, one command added)."""
    module = good_module()
    if index is None:
        module["commands"].append(fields)
    else:
        module["commands"][index].update(fields)
        for key in [k for k, v in fields.items() if v is DROP]:
            del module["commands"][index][key]
    return module


DROP = object()


def found(module: Module, **kwargs: Any) -> list[tuple[str, str]]:
    return [(f.code, f.location.path) for f in check(module, **kwargs)]


def only(module: Module, **kwargs: Any) -> Finding:
    [finding] = check(module, **kwargs)
    return finding


def test_the_base_module_is_clean() -> None:
    assert found(good_module()) == []


# --- key positions ---------------------------------------------------------------------------

KEYS = "commands[{}]"
KEY_CASES: list[tuple[str, Module, list[tuple[str, str]]]] = [
    # first_key 1 with last_key 0: last below first (the 0 <= last boundary)
    ("last 0 first 1", with_command(1, last_key=0), [("KEY003", "commands[1].last_key")]),
    ("last == first", with_command(1, first_key=1, last_key=1), []),
    ("first 0 last 0 step 0", with_command(3), []),
    ("first 0 last 1", with_command(3, last_key=1), [("KEY005", "commands[3]")]),
    ("first 0 step 1", with_command(3, step=1), [("KEY005", "commands[3]")]),
    ("negative first", with_command(1, first_key=-2, last_key=2), [("KEY001", "commands[1].first_key")]),
    ("step 0", with_command(0, step=0), [("KEY002", "commands[0].step")]),
    (
        "step 0 says nothing more",
        with_command(1, first_key=2, last_key=1, step=0),
        [("KEY002", "commands[1].step")],
    ),
    (
        "arity 0 states no key range",
        with_command(0, command_arity=0),
        [("CMD004", "commands[0].command_arity")],
    ),
    # fixed arity: first_key at the last argument is fine, one past it is not
    ("first at arity-1", with_command(0, command_arity=2), []),
    ("first past arity-1", with_command(0, command_arity=1), [("KEY004", "commands[0].first_key")]),
    ("last at arity-1", with_command(4, command_arity=3, last_key=2), []),
    ("last past arity-1", with_command(4, command_arity=3, last_key=3), [("KEY004", "commands[4].last_key")]),
    (
        "negative last resolves before first",
        with_command(4, first_key=2, last_key=-2),
        [("KEY004", "commands[4].last_key")],
    ),
    ("negative last resolves to first", with_command(4, first_key=2, last_key=-1), []),
    # step 2 and step 3: (last - first) must be a multiple of step
    ("step 2 reaches last", with_command(4, command_arity=4, last_key=3, step=2), []),
    ("step 2 misses last", with_command(4, step=2), [("KEY006", "commands[4].step")]),
    ("step 3 reaches last", with_command(4, command_arity=5, last_key=4, step=3), []),
    (
        "step 3 misses last",
        with_command(4, command_arity=5, last_key=3, step=3),
        [("KEY006", "commands[4].step")],
    ),
    ("step 3, -1 resolves to a multiple", with_command(4, command_arity=5, last_key=-1, step=3), []),
    # A negative last_key is "groups to the end": the last arguments are values (MSET is 1,-1,2 in
    # COMMAND INFO; `COMMAND GETKEYS MSET k1 v1 k2 v2` is k1 k2). It was KEY006 with a fixed arity.
    ("step 3, -1 ends on values", with_command(4, command_arity=4, last_key=-1, step=3), []),
    ("pairs to the end, fixed arity", with_command(4, command_arity=5, last_key=-1, step=2), []),
    (
        "step 2 misses a last_key given as a position",
        with_command(4, command_arity=5, last_key=4, step=2),
        [("KEY006", "commands[4].step")],
    ),
    # a minimum arity (-N): the shortest call must hold the first and the last key
    ("minimum holds first", with_command(2, command_arity=-2, first_key=1, last_key=1, step=1), []),
    (
        "minimum lacks first",
        with_command(2, command_arity=-2, first_key=2, last_key=2, step=1),
        [("KEY007", "commands[2].first_key")],
    ),
    (
        "minimum, last resolves to first",
        with_command(2, command_arity=-3, first_key=2, last_key=-1, step=1),
        [],
    ),
    (
        "minimum, last resolves before first",
        with_command(2, command_arity=-3, first_key=2, last_key=-2, step=1),
        [("KEY007", "commands[2].last_key")],
    ),
    # Redis takes no key from a call without an argument at last_key, the first neither (src/db.c):
    # `x.copy src` of 1,2,1 with arity -2 ran keyless on a redis-server 7.0.15 cluster node
    ("minimum holds last", with_command(2, command_arity=-3, first_key=1, last_key=2, step=1), []),
    (
        "minimum lacks last",
        with_command(2, command_arity=-2, first_key=1, last_key=2, step=1),
        [("KEY007", "commands[2].last_key")],
    ),
    # the step decides whatever the arity: COMMAND GETKEYS of 1,2,2 with arity -3 is the first key only
    (
        "step 2 misses last, minimum arity",
        with_command(2, command_arity=-3, first_key=1, last_key=2, step=2),
        [("KEY006", "commands[2].step")],
    ),
    (
        "step 2 misses last, arity -1",
        with_command(2, command_arity=-1, first_key=1, last_key=2, step=2),
        [("KEY006", "commands[2].step")],
    ),
    # a getkeys-api command's keys come from its callback: COMMAND GETKEYS of 1,2,1 with arity -2
    # is `src` on redis-server 7.0.15, and no triple is read
    (
        "minimum lacks last, keys by getkeys-api",
        with_command(
            2, command_arity=-2, first_key=1, last_key=2, step=1, flags=["write", "module", "movablekeys"]
        ),
        [("CMD013", "commands[2].flags")],  # without the binary: whether it has getkeys-api
    ),
    (
        "step 2 misses last, keys by getkeys-api",
        with_command(
            2, command_arity=-3, first_key=1, last_key=2, step=2, flags=["readonly", "module", "movablekeys"]
        ),
        [("CMD013", "commands[2].flags")],
    ),
    (
        "step 2 misses last, fixed arity, keys by getkeys-api",
        with_command(
            2, command_arity=4, first_key=1, last_key=2, step=2, flags=["readonly", "module", "movablekeys"]
        ),
        [("CMD013", "commands[2].flags")],
    ),
    (
        "step 2 reaches last, minimum arity",
        with_command(2, command_arity=-4, first_key=1, last_key=3, step=2),
        [],
    ),
    # -1 is what Redis reports when a module never set the arity: it states no minimum
    ("arity -1 states no minimum", with_command(2, command_arity=-1, first_key=5, last_key=-3, step=1), []),
    # routing policies (a negative step): the triple is the proxy's, keys or not
    ("routing -1", with_command(3, step=-1), []),
    ("routing -3 with keys", with_command(2, first_key=3, last_key=1, step=-3, flags=["module"]), []),
    ("routing -4", with_command(3, step=-4), [("KEY008", "commands[3].step")]),
    ("routing -2 with a key", with_command(1, step=-2, flags=["module"]), []),
    # a command missing one field is reported, never a crash
    ("no step", with_command(1, step=DROP), [("CMD006", "commands[1]")]),
    ("no last_key", with_command(1, last_key=DROP), [("CMD006", "commands[1]")]),
    ("no first_key", with_command(1, first_key=DROP), [("CMD006", "commands[1]")]),
    ("bool key positions are not numbers", with_command(1, first_key=True, last_key=True), []),
    (
        "float key positions count",
        with_command(1, first_key=2.0, last_key=2.0),
        [("KEY004", "commands[1].first_key")],
    ),
    ("fractional first_key is no position", with_command(1, first_key=1.5), []),
]


@pytest.mark.parametrize(("module", "expected"), [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES])
def test_key_positions(module: Module, expected: list[tuple[str, str]]) -> None:
    assert found(module) == expected


def test_key_messages_say_where_the_keys_go() -> None:
    assert only(with_command(1, last_key=0)).message == "command 'hello.get' has last_key 0 < first_key 1"
    assert only(with_command(4, first_key=2, last_key=-2)).message == (
        "command 'hello.copy': last_key -2 resolves to 1, before first_key 2"
    )
    assert only(with_command(4, command_arity=5, last_key=3, step=3)).message == (
        "command 'hello.copy': keys 1..3 step 3 never reach 3"
    )
    assert only(with_command(2, command_arity=-2, first_key=2, last_key=2, step=1)).message == (
        "command 'hello.mset' (arity -2) may be called with 2 arguments, its name included, but its"
        " first key is at 2"
    )
    assert only(with_command(2, command_arity=-3, first_key=2, last_key=-2, step=1)).message == (
        "command 'hello.mset' (arity -3): in a call of 3 arguments, its name included, last_key -2"
        " resolves before first_key 2"
    )
    # arity -2 is "at least two": the message said "accepts 2 arguments", read as exactly two
    assert only(with_command(2, command_arity=-2, first_key=1, last_key=2, step=1)).message.startswith(
        "command 'hello.mset' (arity -2) may be called with 2 arguments, its name included, but its"
        " last_key is 2: a call of fewer than 3 arguments has no key for Redis"
    )
    assert (
        only(with_command(3, last_key=1)).message
        == "command 'hello.ping' has first_key 0 but last_key 1, step 0, which Redis 7 reports only for "
        "a key spec at index 0: the command name itself is then taken for a key"
    )
    assert only(with_command(3, step=-4)).message == "command 'hello.ping' has step -4"
    assert only(with_command(0, step=0)).message == "command 'hello.set' has keys (1,1) but step 0"
    assert only(with_command(1, first_key=-2, last_key=2)).message == "command 'hello.get' has first_key -2"
    assert only(with_command(4, command_arity=3, last_key=3)).message == (
        "command 'hello.copy' has arity 3 but last_key 3"
    )


def test_a_key_past_a_fixed_arity_says_the_command_takes_no_key() -> None:
    # nr.threads: registered "",1,1,1 but called without arguments (arity 1)
    finding = only(with_command(None, **command("nr.threads", 1, ["module"], 1, 1, 1)))
    assert (finding.code, finding.location.path) == ("KEY004", "commands[5].first_key")
    assert finding.message == (
        "command 'nr.threads' has arity 1 but first_key 1: no call has an argument there, so it takes no key"
    )
    assert "0,0,0" in finding.fix


# --- flags -----------------------------------------------------------------------------------

FLAG_CASES: list[tuple[str, Module, list[tuple[str, str]]]] = [
    (
        "write and readonly",
        with_command(0, flags=["write", "readonly", "module"]),
        [("CMD010", "commands[0].flags")],
    ),
    ("keys, no access flag", with_command(4, flags=["module"]), [("CMD011", "commands[4].flags")]),
    ("keys, readonly", with_command(4, flags=["readonly", "module"]), []),
    # CMD011 said "neither write nor readonly" (fix: "its flags are empty") of flags that say write
    # in a way another finding names: a string (SCH002), upper case (CMD007)
    ("keys, flags a string", with_command(4, flags="write denyoom"), []),  # SCH002, by the schema
    (
        "keys, WRITE",
        with_command(4, flags=["WRITE", "module"]),
        [("CMD007", "commands[4].flags[0]")],
    ),
    (
        "keys, arity 0, no access flag",
        with_command(4, command_arity=0, flags=["module"]),
        [
            ("CMD004", "commands[4].command_arity"),
            ("CMD011", "commands[4].flags"),
        ],
    ),
    (
        "movable, no access flag",
        with_command(3, flags=["module", "movablekeys"]),
        [
            ("CMD011", "commands[3].flags"),
            ("CMD013", "commands[3].flags"),
        ],
    ),
    ("routing with keys needs no flag", with_command(1, step=-1, flags=["module"]), []),
    (
        "readonly denyoom",
        with_command(1, flags=["readonly", "denyoom", "module"]),
        [("CMD012", "commands[1].flags")],
    ),
    ("write denyoom", with_command(0), []),
    (
        "no_auth with write",
        with_command(3, flags=["module", "no_auth", "write"]),
        [("CMD014", "commands[3].flags")],
    ),
    (
        "no_auth with denyoom",
        with_command(3, flags=["module", "no_auth", "denyoom"]),
        [("CMD014", "commands[3].flags")],
    ),
    (
        "no_auth with keys",
        with_command(1, flags=["module", "no_auth", "readonly"]),
        [("CMD014", "commands[1].flags")],
    ),
    ("no_auth alone", with_command(3, flags=["module", "no_auth"]), []),
    (
        "loading with write",
        with_command(3, flags=["module", "loading", "write"]),
        [("CMD015", "commands[3].flags")],
    ),
    (
        "loading with keys",
        with_command(1, flags=["module", "loading", "readonly"]),
        [("CMD015", "commands[1].flags")],
    ),
    ("loading alone", with_command(3, flags=["module", "loading"]), []),
    (
        "no_mandatory_keys without keys",
        with_command(3, flags=["module", "no_mandatory_keys"]),
        [("CMD016", "commands[3].flags")],
    ),
    ("no_mandatory_keys with keys", with_command(1, flags=["readonly", "module", "no_mandatory_keys"]), []),
    (
        "no_mandatory_keys, movable",
        with_command(3, flags=["readonly", "module", "no_mandatory_keys", "movablekeys"]),
        [("CMD013", "commands[3].flags")],
    ),
    (
        "no_mandatory_keys, no first_key",
        with_command(3, flags=["module", "no_mandatory_keys"], first_key=DROP),
        [("CMD006", "commands[3]")],
    ),
    ("stale write", with_command(0, flags=["write", "module", "stale"]), [("CMD017", "commands[0].flags")]),
    ("stale read", with_command(1, flags=["readonly", "module", "stale"]), []),
    ("random on 7", with_command(3, flags=["module", "random"]), [("CMD018", "commands[3].flags")]),
    ("may_replicate", with_command(3, flags=["module", "may_replicate"]), [("CMD019", "commands[3].flags")]),
    (
        "admin skip_monitor",
        with_command(3, flags=["module", "admin", "skip_monitor"]),
        [("CMD021", "commands[3].flags")],
    ),
    ("admin alone", with_command(3, flags=["module", "admin"]), []),
    (
        "creation spelling",
        with_command(0, flags=["write", "deny-oom", "module"]),
        [("CMD008", "commands[0].flags[1]")],
    ),
    (
        "invisible module flag",
        with_command(3, flags=["module", "no-cluster"]),
        [("CMD008", "commands[3].flags[1]")],
    ),
    ("native only", with_command(3, flags=["module", "asking"]), [("CMD009", "commands[3].flags[1]")]),
    ("unknown", with_command(3, flags=["module", "speedy"]), [("CMD007", "commands[3].flags[1]")]),
    ("wrong case", with_command(3, flags=["module", "FAST"]), [("CMD007", "commands[3].flags[1]")]),
    ("non-string flag", with_command(3, flags=["module", 7]), []),
    ("flags not a list", with_command(3, flags="fast"), []),
]


@pytest.mark.parametrize(("module", "expected"), [c[1:] for c in FLAG_CASES], ids=[c[0] for c in FLAG_CASES])
def test_flags(module: Module, expected: list[tuple[str, str]]) -> None:
    assert found(module) == expected


def test_flag_fixes_name_the_right_spelling() -> None:
    assert only(with_command(0, flags=["write", "deny-oom", "module"])).fix == "Write 'denyoom'."
    invisible = only(with_command(3, flags=["module", "no-cluster"]))
    assert invisible.fix == "Remove it."
    assert invisible.message.startswith("flag 'no-cluster' is a module flag: ")
    assert only(with_command(3, flags=["module", "FAST"])).fix == "Write 'fast'."
    speedy = only(with_command(3, flags=["module", "speedy"]))
    assert (speedy.message, speedy.fix) == ("unknown flag 'speedy'", speedy.rule.fix)
    assert (
        only(with_command(3, flags=["module", "asking"])).message
        == "flag 'asking' exists only on native Redis commands"
    )


def test_flag_messages() -> None:
    expected = {
        ("write", "readonly", "module"): "command 'hello.set' is both write and readonly",
        ("write", "module", "stale"): "write command 'hello.set' is allowed on stale replicas",
        ("write", "module", "no_auth"): "no_auth command 'hello.set' touches data",
        ("write", "module", "loading"): "command 'hello.set' runs while loading but touches data",
        ("write", "module", "may_replicate"): (
            "command 'hello.set' has may_replicate, which Redis 7.4 does not report (hidden from 7.0.1)"
        ),
        ("write", "module", "random"): "command 'hello.set' has random, ignored by Redis 7",
        ("write", "module", "admin", "skip_monitor"): "admin command 'hello.set' also has skip_monitor",
    }
    for flags, message in expected.items():
        assert only(with_command(0, flags=list(flags))).message == message
    assert only(with_command(1, flags=["readonly", "denyoom", "module"])).message == (
        "readonly command 'hello.get' has denyoom"
    )
    assert only(with_command(3, flags=["module", "no_mandatory_keys"])).message == (
        "command 'hello.ping' has no_mandatory_keys but no keys"
    )


def test_random_is_judged_by_the_target_redis() -> None:
    six = with_command(3, flags=["random"])
    six.update(min_redis_version="6.0", compatible_redis_version="6.2")
    for entry in six["commands"]:
        entry["flags"] = [f for f in entry["flags"] if f != "module"]
    assert found(six) == []
    unknown = with_command(3, flags=["module", "random"])
    unknown.update(min_redis_version="99.99", compatible_redis_version="99.99")
    assert [code for code, _ in found(unknown)] == ["VER010", "VER010"]


def test_may_replicate_is_judged_by_the_target_redis() -> None:
    """COMMAND INFO shows may_replicate on 6.2 and 7.0.0 (keyspecs.md §1.7): an entry Redis 6.2
    generated for a 6.2 target is what Redis reports, and was called a problem whatever the target."""
    for compatible in ("6.2", "6.2.14", "7.0.0"):
        module = with_command(3, flags=["may_replicate"])
        module.update(min_redis_version="6.2", compatible_redis_version=compatible)
        for entry in module["commands"]:
            entry["flags"] = [f for f in entry["flags"] if f != "module" or compatible == "7.0.0"]
        # a patch level in compatible_redis_version is VER009's, not this rule's
        assert [f for f in found(module) if f[0] == "CMD019"] == [], compatible
    for compatible in ("7.0", "7.0.1", "7.2", "8.0"):
        module = with_command(3, flags=["module", "may_replicate"])
        module.update(min_redis_version="7.0", compatible_redis_version=compatible)
        assert [f for f in found(module) if f[0].startswith("CMD")] == [("CMD019", "commands[3].flags")], (
            compatible
        )
    unknown = with_command(3, flags=["module", "may_replicate"])
    unknown.update(min_redis_version="99.99", compatible_redis_version="99.99")
    assert [code for code, _ in found(unknown)] == ["VER010", "VER010"]


def test_keys_without_access_flag_says_the_key_positions_may_be_wrong() -> None:
    # nr.threads: registered with flags "" and 1,1,1, though it takes no argument at all
    finding = only(with_command(None, **command("nr.threads", -1, ["module"], 1, 1, 1)))
    assert finding.code == "CMD011"
    assert finding.message == "command 'nr.threads' takes keys (1,1,1) but is neither write nor readonly"
    assert finding.fix == (
        "Its flags are empty, as if the registration was never filled in. If nr.threads reads or writes "
        "the key at argument 1, add write or readonly. If it takes no key, the key positions 1,1,1 are "
        "wrong too: register it with 0,0,0 and no key spec (Redis 7 derives first/last/step from "
        "RedisModule_SetCommandInfo's key specs)."
    )
    fast = only(with_command(None, **command("nr.get", -2, ["module", "fast"], 1, 1, 1)))
    assert fast.fix.startswith("If nr.get reads or writes the key at argument 1")
    # movablekeys comes from key specs (kspec.keyword of Redis's tests/modules/keyspecs.c, flags "")
    # or from getkeys-api in the flags string: the flags were not surely empty, so no remark
    keyword = with_command(None, **command("kspec.keyword", -1, ["module", "movablekeys"], 1, 1, 1))
    (derived,) = [f for f in check(keyword) if f.code == "CMD011"]
    assert derived.fix.startswith("If kspec.keyword reads or writes the key at argument 1")
    movable = check(with_command(3, flags=["module", "movablekeys"]))[0]
    assert (movable.code, movable.fix) == ("CMD011", "Add write or readonly.")


# --- names and fields ------------------------------------------------------------------------

NAME_CASES: list[tuple[str, Module, list[tuple[str, str]]]] = [
    ("blank name", with_command(3, command_name="  "), [("CMD001", "commands[3].command_name")]),
    ("name not a string", with_command(3, command_name=5), []),
    ("space", with_command(3, command_name="hello ping"), [("CMD002", "commands[3].command_name")]),
    ("subcommand", with_command(3, command_name="hello|ping"), [("CMD022", "commands[3].command_name")]),
    (
        "bad char and bar",
        with_command(3, command_name="hello|p,ing"),
        [("CMD002", "commands[3].command_name")],
    ),
    ("duplicate", with_command(3, command_name="Hello.Set"), [("CMD003", "commands[3].command_name")]),
    ("no arity", with_command(3, command_arity=DROP), [("CMD005", "commands[3]")]),
    ("arity 0", with_command(3, command_arity=0), [("CMD004", "commands[3].command_arity")]),
    ("arity 0.0", with_command(3, command_arity=0.0), [("CMD004", "commands[3].command_arity")]),
    ("arity a string", with_command(3, command_arity="1"), []),
    ("no flags", with_command(3, flags=DROP), [("CMD006", "commands[3]")]),
    ("entry not an object", changed(commands=[*good_module()["commands"], "hello.x"]), []),
    ("commands not a list", changed(commands={}), []),
    ("no commands", changed(commands=[]), [("CMD030", "commands")]),
]


@pytest.mark.parametrize(("module", "expected"), [c[1:] for c in NAME_CASES], ids=[c[0] for c in NAME_CASES])
def test_names_and_fields(module: Module, expected: list[tuple[str, str]]) -> None:
    assert found(module) == expected


def test_name_and_field_messages() -> None:
    assert only(with_command(3, command_name="a b@c")).message == "command name 'a b@c' contains @, a space"
    assert only(with_command(3, command_name="hello|ping")).message == "'hello|ping' is a subcommand entry"
    assert only(with_command(3, command_name="HELLO.set")).message == (
        "'HELLO.set' duplicates 'hello.set' (names are case-insensitive)"
    )
    assert only(with_command(3, command_name="")).message == "command_name is empty"
    assert only(with_command(3, command_arity=DROP)).message == "command 'hello.ping' has no command_arity"
    assert only(with_command(3, command_arity=0)).message == "command 'hello.ping' has arity 0"
    assert only(with_command(3, flags=DROP, step=DROP)).message == "command 'hello.ping' has no flags, step"
    assert (
        only(changed(commands=[])).message == "commands is empty: the proxy routes no command of this module"
    )


def test_declarations_with_no_commands_are_not_final() -> None:
    # modpack.toml and RAMP manifests leave the commands to build --discover
    assert found(changed(commands=[]), hand_written=True) == []


# --- the `module` flag and the target Redis (CMD020) -------------------------------------------


def without_module_flag(module: Module, *indexes: int) -> Module:
    for index in indexes or range(len(module["commands"])):
        flags = module["commands"][index]["flags"]
        module["commands"][index]["flags"] = [f for f in flags if f != "module"]
    return module


def test_module_flag_missing_on_some_commands_of_a_7_target() -> None:
    finding = only(without_module_flag(good_module(), 3))
    assert (finding.code, finding.location.path) == ("CMD020", "commands")
    assert (
        finding.message
        == "1 of 5 commands lack the `module` flag that Redis 7.4 reports on every module command"
    )


def test_module_flag_missing_on_every_command_is_not_judged() -> None:
    """The Redis Enterprise docs' module.json has {"flags": ["write"], ...} and an author adds
    compatible_redis_version 7.4 (the Kubernetes docs require it): CMD020 warned on the docs' own
    example, which cannot be told from a list Redis 6.x generated."""
    assert found(without_module_flag(good_module())) == []
    docs = changed(
        commands=[
            {
                "command_arity": -1,
                "command_name": "module.command",
                "first_key": 1,
                "flags": ["write"],
                "last_key": 1,
                "step": 1,
            }
        ]
    )
    assert found(docs) == []


def test_module_flag_on_a_6_target() -> None:
    module = changed(min_redis_version="6.0", compatible_redis_version="6.2")
    finding = only(module)
    assert finding.message == "5 commands carry the `module` flag, which Redis 6.2 never reports"
    assert found(without_module_flag(module)) == []


def test_module_flag_target_boundary_is_7_0() -> None:
    seven = changed(min_redis_version="7.0", compatible_redis_version="7.0")
    assert found(seven) == []
    assert [code for code, _ in found(without_module_flag(seven, 0))] == ["CMD020"]


def test_module_flag_target_falls_back_to_the_minimum() -> None:
    module = without_module_flag(changed(min_redis_version="6.2"), 0)
    del module["compatible_redis_version"]
    # VER006 for the missing field; CMD020 judges against min_redis_version 6.2
    assert [code for code, _ in found(module)] == ["VER006", "CMD020"]
    placeholder = changed(compatible_redis_version="99.99", min_redis_version="6.2")
    assert [code for code, _ in found(placeholder)] == ["VER010", "CMD020"]
    assert commands.target_redis({"compatible_redis_version": "7.x", "min_redis_version": "6.2"}) == (6, 2)
    assert commands.target_redis({"compatible_redis_version": "", "min_redis_version": 6.2}) is None
    assert commands.target_redis({"compatible_redis_version": "99.99.0", "min_redis_version": "6.2"}) == (
        6,
        2,
    )


def test_module_flag_is_not_judged_on_hand_written_entries() -> None:
    # RAMP copies overide_command and add_command entries into module.json as written
    module = without_module_flag(good_module(), 3, 4)
    module["overide_command"] = [{"command_name": "HELLO.PING"}, "junk", {"command_name": 3}]
    module["add_command"] = [{"command_name": "hello.copy"}]
    assert found(module) == []
    module["add_command"] = []
    assert [code for code, _ in found(module)] == ["CMD020"]
    routing = without_module_flag(with_command(3, step=-1), 3)
    assert found(routing) == []
    assert found(without_module_flag(good_module(), 3), hand_written=True) == []


def test_module_flag_needs_a_target_and_flags() -> None:
    module = without_module_flag(changed(min_redis_version="7", compatible_redis_version="7"), 0)
    assert [code for code, _ in found(module)] == ["VER005", "VER005"]
    # entries whose flags are not a list say nothing about the `module` flag
    no_flags = good_module()
    no_flags["commands"] = [no_flags["commands"][3] | {"flags": "fast"}]
    assert found(no_flags) == []


# --- movable keys (CMD013) ---------------------------------------------------------------------

MOVABLE = with_command(1, flags=["readonly", "module", "movablekeys"])


def movable_findings(getkeys: GetkeysApi | None) -> list[Finding]:
    sink = Sink("module.json")
    commands.check_commands(MOVABLE, sink, binary_follows=True)
    assert sink.findings == []
    commands.check_movable_keys(MOVABLE, sink, getkeys)
    return sink.findings


def test_movable_keys_without_the_binary_say_what_is_unknown() -> None:
    finding = only(MOVABLE)
    assert (finding.code, finding.location.path) == ("CMD013", "commands[1].flags")
    assert finding.message == (
        "command 'hello.get' has movable keys; without the module's binary modpack cannot tell "
        "whether it implements getkeys-api"
    )
    assert "bundle" in finding.fix and "[build] so" in finding.fix
    assert [f.message for f in movable_findings(None)] == [finding.message]


def test_movable_keys_with_a_binary_implementing_getkeys_api_are_fine() -> None:
    assert movable_findings(GetkeysApi(flag=True, calls=True)) == []


@pytest.mark.parametrize(
    ("getkeys", "said"),
    [
        (
            GetkeysApi(flag=False, calls=True),
            "registers no command with the getkeys-api flag: its keys are described only by key specs,"
            " which cluster routing does not read",
        ),
        (  # the flag without the functions: no key specs need be involved
            GetkeysApi(flag=True, calls=False),
            "never fetches RedisModule_IsKeysPositionRequest and RedisModule_KeyAtPos, so none of its"
            " commands can say where its keys are: cluster routing, which reads only first/last/step or"
            " that answer, misses them (a getkeys-api command asked for its keys runs instead)",
        ),
    ],
)
def test_movable_keys_with_a_binary_lacking_getkeys_api(getkeys: GetkeysApi, said: str) -> None:
    [finding] = movable_findings(getkeys)
    assert finding.message == f"command 'hello.get' has movable keys, but the binary {said}"
    # the binary was read: the fix is the module's, not "validate the bundle" (the catalogue's)
    assert finding.fix.startswith("Implement getkeys-api: register the command with the getkeys-api flag")
    assert "bundle" not in finding.fix and "[build] so" not in finding.fix


def test_movable_keys_with_a_binary_read_in_part() -> None:
    [finding] = movable_findings(GetkeysApi(flag=False, calls=False, complete=False))
    assert finding.message == (
        "command 'hello.get' has movable keys, and part of the binary's read-only data could not be read, "
        "so modpack cannot tell whether it implements getkeys-api"
    )
    assert movable_findings(GetkeysApi(flag=True, calls=True, complete=False)) == []


def test_movable_keys_without_commands_to_check() -> None:
    sink = Sink("module.json")
    commands.check_movable_keys({"commands": "x"}, sink, None)
    commands.check_movable_keys(good_module(), sink, GetkeysApi(False, False))
    assert sink.findings == []


# --- no_multi_key (CAP005) ---------------------------------------------------------------------

NO_MULTI = ["types", "clustering", "no_multi_key"]


def single_key(**fields: Any) -> Module:
    """A module declaring no_multi_key with one command (hello.get, 1,1,1) changed."""
    module = changed(capabilities=NO_MULTI)
    module["commands"] = [good_module()["commands"][1] | fields, good_module()["commands"][3]]
    return module


MULTI_CASES: list[tuple[str, Module, str]] = [
    ("one key", single_key(), ""),
    ("two keys, step 1", single_key(command_arity=3, last_key=2), "hello.get (keys 1 to 2, step 1)"),
    ("1..2 step 2 is one key", single_key(command_arity=3, last_key=2, step=2), ""),
    (
        "1..3 step 2 is two",
        single_key(command_arity=4, last_key=3, step=2),
        "hello.get (keys 1 to 3, step 2)",
    ),
    ("-1 with arity 2 is one key", single_key(last_key=-1), ""),
    ("-1 with arity 3 is two", single_key(command_arity=3, last_key=-1), "hello.get (keys 1 to 2, step 1)"),
    (
        "-1 with a minimum arity",
        single_key(command_arity=-2, last_key=-1),
        ("hello.get (keys 1 to the last argument (last_key -1), step 1)"),
    ),
    (
        "-1 with arity -1 (never set)",
        single_key(command_arity=-1, last_key=-1),
        ("hello.get (keys 1 to the last argument (last_key -1), step 1)"),
    ),
    # -2 is the argument before the last (json.mget 1,-2,1): it read "to the last argument"
    (
        "-2 with a minimum arity",
        single_key(command_arity=-3, last_key=-2),
        ("hello.get (keys 1 to the argument before the last (last_key -2), step 1)"),
    ),
    (
        "-3 with a minimum arity",
        single_key(command_arity=-4, last_key=-3),
        ("hello.get (keys 1 to the 3rd argument from the end (last_key -3), step 1)"),
    ),
    ("-1 without an arity", single_key(command_arity=DROP, last_key=-1), ""),
    ("movable keys", single_key(flags=["readonly", "module", "movablekeys"]), "hello.get (movable keys)"),
    ("routing policy", single_key(last_key=3, step=-2), ""),
    ("no keys", single_key(first_key=0, last_key=0, step=0), ""),
    ("first 0 ignores last and step", single_key(first_key=0, last_key=2, step=1), ""),
    ("last 0", single_key(command_arity=3, last_key=0), ""),
    ("-1 with arity 0", single_key(command_arity=0, last_key=-1), ""),
    ("step 0", single_key(last_key=2, step=0), ""),
]


@pytest.mark.parametrize(("module", "listed"), [c[1:] for c in MULTI_CASES], ids=[c[0] for c in MULTI_CASES])
def test_no_multi_key_against_the_key_positions(module: Module, listed: str) -> None:
    module = copy.deepcopy(module, {id(DROP): DROP})
    for entry in module["commands"]:
        for key in [k for k, v in entry.items() if v is DROP]:
            del entry[key]
    multi = [f for f in check(module) if f.code == "CAP005"]
    if not listed:
        assert multi == []
        return
    [finding] = multi
    assert finding.location.path == "capabilities[2]"
    assert finding.message == f"no_multi_key is declared, but 1 command(s) take several keys: {listed}"


def test_no_multi_key_lists_at_most_five_commands() -> None:
    module = changed(capabilities=["no_multi_key"])
    module["commands"] = [command(f"m.set{i}", -3, ["write", "module"], 1, -1, 2) for i in range(7)]
    finding = next(f for f in check(module) if f.code == "CAP005")
    assert finding.location.path == "capabilities[0]"
    assert finding.message.startswith(
        "no_multi_key is declared, but 7 command(s) take several keys: m.set0 ("
    )
    assert finding.message.endswith("; m.set4 (keys 1 to the last argument (last_key -1), step 2) and 2 more")


@pytest.mark.parametrize(("count", "more"), [(5, ""), (6, " and 1 more")])
def test_no_multi_key_lists_five_then_counts(count: int, more: str) -> None:
    module = changed(capabilities=["no_multi_key"])
    module["commands"] = [command(f"m.set{i}", -3, ["write", "module"], 1, 2, 1) for i in range(count)]
    finding = next(f for f in check(module) if f.code == "CAP005")
    assert finding.message.endswith(f"m.set4 (keys 1 to 2, step 1){more}")


def test_no_multi_key_needs_a_capability_list() -> None:
    module = changed(capabilities="no_multi_key")
    assert "CAP005" not in [f.code for f in check(module)]


# --- versions --------------------------------------------------------------------------------

VERSION_CASES: list[tuple[str, Module, list[tuple[str, str]]]] = [
    ("minor 99", changed(semantic_version="1.99.3", version=19903), []),
    ("minor 100", changed(semantic_version="1.100.3", version=20003), [("VER002", "semantic_version")]),
    ("patch 99", changed(semantic_version="1.2.99", version=10299), []),
    ("patch 100", changed(semantic_version="1.2.100", version=10300), [("VER002", "semantic_version")]),
    ("largest major", changed(semantic_version="214747.0.0", version=2147470000), []),
    (
        "major past it",
        changed(semantic_version="214748.0.0", version=2147480000),
        [("VER002", "semantic_version")],
    ),
    ("prerelease", changed(semantic_version="1.2.3-rc1"), [("VER001", "semantic_version")]),
    ("two parts", changed(semantic_version="1.2"), [("VER001", "semantic_version")]),
    ("semantic empty", changed(semantic_version=""), []),
    ("integral float", changed(version=10203.0), [("VER011", "version")]),
    (
        "integral float, other release",
        changed(version=10204.0),
        [("VER011", "version"), ("VER004", "version")],
    ),
    ("fraction: the schema's", changed(version=10203.5), []),
    ("bool version", changed(version=True), []),
    ("string version", changed(version="10203"), []),
    ("other release", changed(version=10204), [("VER004", "version")]),
    ("redis version format", changed(min_redis_version="7"), [("VER005", "min_redis_version")]),
    ("pack version format", changed(min_redis_pack_version="7.x"), [("VER005", "min_redis_pack_version")]),
    ("placeholder minimum", changed(min_redis_version="99.99"), [("VER010", "min_redis_version")]),
    ("placeholder with a patch", changed(min_redis_version="99.99.1"), [("VER010", "min_redis_version")]),
    ("compatible missing", changed(compatible_redis_version=None), [("VER006", "compatible_redis_version")]),
    ("compatible empty", changed(compatible_redis_version=""), [("VER006", "compatible_redis_version")]),
    (
        "compatible with patch",
        changed(compatible_redis_version="7.4.1", min_redis_version="7.4"),
        [("VER009", "compatible_redis_version")],
    ),
    ("min equal compatible", changed(min_redis_version="7.4"), []),
    ("min patch of compatible", changed(min_redis_version="7.4.2"), []),
    ("min above compatible", changed(min_redis_version="7.6"), [("VER007", "min_redis_version")]),
    ("min major above", changed(min_redis_version="8.0"), [("VER007", "min_redis_version")]),
    # since RS 7.8.2 min_redis_version matters only for databases before 7.4 (§9)
    ("bundle pairing 7.4 / 8.0", changed(min_redis_version="7.4", compatible_redis_version="8.0"), []),
    ("6.0 / 7.4", changed(min_redis_version="6.0"), []),
    (
        "6.2 / 7.2",
        changed(min_redis_version="6.2", compatible_redis_version="7.2"),
        [("VER008", "min_redis_version")],
    ),
    (
        "6.2 / 7.2, pack 7.8.2",
        changed(min_redis_version="6.2", compatible_redis_version="7.2", min_redis_pack_version="7.8.2"),
        [],
    ),
    (
        "6.2 / 7.2, pack 7.8",
        changed(min_redis_version="6.2", compatible_redis_version="7.2"),
        [("VER008", "min_redis_version")],
    ),
    (
        "6.2 / 7.2, pack 7.8.1",
        changed(min_redis_version="6.2", compatible_redis_version="7.2", min_redis_pack_version="7.8.1"),
        [("VER008", "min_redis_version")],
    ),
    (
        "6.2 / 7.2.1",
        changed(min_redis_version="6.2", compatible_redis_version="7.2.1"),
        [("VER009", "compatible_redis_version"), ("VER008", "min_redis_version")],
    ),
    (
        "6.2 / 7.3",
        changed(min_redis_version="6.2", compatible_redis_version="7.3"),
        [("VER008", "min_redis_version")],
    ),
]


@pytest.mark.parametrize(
    ("module", "expected"), [c[1:] for c in VERSION_CASES], ids=[c[0] for c in VERSION_CASES]
)
def test_versions(module: Module, expected: list[tuple[str, str]]) -> None:
    module = copy.deepcopy(module)
    if module.get("compatible_redis_version") is None:
        module.pop("compatible_redis_version")
    assert found(module) == expected


def test_version_messages_carry_the_fix() -> None:
    floating = only(changed(version=10203.0))
    assert (floating.message, floating.fix) == (
        "version is the float 10203.0, as RAMP writes it",
        "Write 10203 (an integer).",
    )
    assert floating.severity.label == "warning"
    other = only(changed(version=10204))
    assert (other.message, other.fix) == (
        "version 10204 encodes 1.2.4, but semantic_version is 1.2.3",
        "Set version to 10203.",
    )
    overflow = only(changed(semantic_version="1.100.3", version=20003))
    assert overflow.message == "minor 100 is above 99: version 20003 would read back as 2.0.3"
    assert only(changed(semantic_version="1.2.100", version=10300)).message.startswith(
        "patch 100 is above 99"
    )
    major = only(changed(semantic_version="214748.0.0", version=2147480000))
    assert (
        major.message == "major 214748 does not fit the numeric version (major * 10000 + minor * 100 + patch)"
    )
    # the fix was VER002's own "Keep minor and patch below 100", of a major
    assert major.fix == "Keep major at 214747 or below: the numeric version is a C int."
    assert "'-rc1'" in only(changed(semantic_version="1.2.3-rc1")).message
    patch = only(changed(compatible_redis_version="7.4.1", min_redis_version="7.4"))
    assert patch.fix == "Write '7.4'."
    assert only(changed(compatible_redis_version="")).message == "compatible_redis_version is empty"
    above = only(changed(min_redis_version="7.6"))
    assert above.message == "min_redis_version '7.6' is above compatible_redis_version '7.4'"
    major = only(changed(min_redis_version="6.2", compatible_redis_version="7.2"))
    assert major.message == (
        "min_redis_version '6.2' and compatible_redis_version '7.2' have different majors, and a Redis 7.2 "
        "database may be matched by min_redis_version"
    )
    assert major.severity.label == "warning"
    patch_target = check(changed(min_redis_version="6.2", compatible_redis_version="7.2.1"))[1]
    assert "a Redis 7.2 database" in patch_target.message
    assert only(changed(min_redis_version="99.99")).message == (
        "min_redis_version '99.99' is the development placeholder"
    )
    assert only(changed(min_redis_version="7")).message == "min_redis_version '7' is not major.minor[.patch]"


# --- capabilities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("resharding", "Did you mean 'reshard_rebalance'?"),
        ("RESHARDING", "Did you mean 'reshard_rebalance'?"),
        ("Types", "Write 'types': capability names are exact, lower case, with underscores."),
        ("no-multi-key", "Write 'no_multi_key': capability names are exact, lower case, with underscores."),
        (" types", "Write 'types': capability names are exact, lower case, with underscores."),
        ("clusterin", "Did you mean 'clustering'?"),
        ("persistance_rdb", "Did you mean 'persistence_rdb'?"),
    ],
)
def test_near_miss_capability_hints(name: str, hint: str) -> None:
    finding = only(changed(capabilities=["clustering", name]))
    assert (finding.code, finding.location.path, finding.message) == (
        "CAP001",
        "capabilities[1]",
        f"unknown capability {name!r}",
    )
    assert finding.fix == hint
    assert repr(name) not in finding.fix  # never suggests the input itself


def test_far_capability_lists_the_known_ones() -> None:
    finding = only(changed(capabilities=["quantum"]))
    assert finding.fix.startswith("Known capabilities: types, no_multi_key, replica_of")


def test_capability_hints_stop_when_the_rule_is_saturated() -> None:
    names = [f"unknown{i}" for i in range(MAX_PER_RULE + 2)]
    sink = Sink("module.json")
    metadata.check_capabilities({"capabilities": names}, sink)
    hints = [f.hint for f in sink.findings if f.code == "CAP001"]
    assert len(hints) == MAX_PER_RULE
    assert all(hints)
    sink2 = Sink("module.json")
    for _ in range(MAX_PER_RULE):
        sink2.add("CAP001", "", "flood")
    metadata.check_capabilities({"capabilities": ["resharding"]}, sink2)
    assert sink2.counts["CAP001"] == MAX_PER_RULE + 1


CAPABILITY_CASES: list[tuple[str, Module, list[tuple[str, str]]]] = [
    ("duplicate", changed(capabilities=["types", "clustering", "types"]), [("CAP002", "capabilities[2]")]),
    ("empty", changed(capabilities=[]), [("CAP004", "capabilities")]),
    ("a string is the schema's", changed(capabilities="types,clustering"), []),
    ("not a list", changed(capabilities={"types": True}), []),
    ("null", changed(capabilities=None), []),
    ("a number", changed(capabilities=5), []),
    ("non-string entries", changed(capabilities=["types", 3, None]), []),
]


@pytest.mark.parametrize(
    ("module", "expected"), [c[1:] for c in CAPABILITY_CASES], ids=[c[0] for c in CAPABILITY_CASES]
)
def test_capabilities(module: Module, expected: list[tuple[str, str]]) -> None:
    assert found(module) == expected


# --- platform, dependencies, names -------------------------------------------------------------

PLATFORM_CASES: list[tuple[str, Callable[[Module], None], list[tuple[str, str]], bool]] = [
    ("no architecture", lambda m: m.pop("architecture"), [], False),
    ("no architecture in a bundle", lambda m: m.pop("architecture"), [("PLT009", "architecture")], True),
    (
        "arm64",
        lambda m: m.update(architecture="arm64", operating_systems=["rhel9"]),
        [("PLT003", "architecture")],
        False,
    ),
    ("mips", lambda m: m.update(architecture="mips"), [("PLT003", "architecture")], False),
    ("architecture not a string", lambda m: m.update(architecture=64), [], False),
    ("os Darwin", lambda m: m.update(os="Darwin"), [("PLT006", "os")], False),
    ("os Linux", lambda m: m.update(os="Linux"), [], False),
    ("os linux, lower case", lambda m: m.update(os="linux"), [], False),  # was PLT006 "os is 'linux'"
    ("os empty", lambda m: m.update(os=""), [], False),
    (
        "legacy os_list",
        lambda m: (m.pop("operating_systems"), m.update(os_list=["rhel9", "rhel-9", "linux"])),
        [
            ("PLT008", "os_list"),
            ("PLT007", "os_list[1]"),  # Redis Enterprise reads 'rhel-9' as rhel9
            ("PLT001", "os_list[2]"),
        ],
        False,
    ),
    ("no OS list", lambda m: m.pop("operating_systems"), [], False),
    ("OS list not a list", lambda m: m.update(operating_systems="rhel9"), [], False),
    (
        "alias twice",
        lambda m: m.update(operating_systems=["rhel9", "rocky9"]),
        [("PLT007", "operating_systems[1]"), ("PLT011", "operating_systems[1]")],
        False,
    ),
    (
        "alias first",
        lambda m: m.update(operating_systems=["rocky9", "rhel9"]),
        [("PLT011", "operating_systems[0]"), ("PLT007", "operating_systems[1]")],
        False,
    ),
    (
        "same entry twice",
        lambda m: m.update(operating_systems=["rhel9", 3, "rhel9"]),
        [("PLT007", "operating_systems[2]")],
        False,
    ),
    (
        "unknown twice",
        lambda m: m.update(operating_systems=["debian12", "debian12"]),
        [
            ("PLT002", "operating_systems[0]"),
            ("PLT007", "operating_systems[1]"),
            ("PLT002", "operating_systems[1]"),
        ],
        False,
    ),
    ("retired", lambda m: m.update(operating_systems=["rhel7"]), [("PLT002", "operating_systems[0]")], False),
    (
        "aarch64 on rhel8",
        lambda m: m.update(architecture="aarch64", operating_systems=["rhel9", "rhel8"]),
        [("PLT004", "operating_systems[1]")],
        False,
    ),
]


@pytest.mark.parametrize(
    ("change", "expected", "in_bundle"), [c[1:] for c in PLATFORM_CASES], ids=[c[0] for c in PLATFORM_CASES]
)
def test_platform(change: Callable[[Module], None], expected: list[tuple[str, str]], in_bundle: bool) -> None:
    module = good_module()
    change(module)
    sink = Sink("module.json")
    metadata.check_platform(module, sink, in_bundle=in_bundle)
    assert [(f.code, f.location.path) for f in sink.findings] == expected
    if not in_bundle:  # the default is a lone module.json
        default = Sink("module.json")
        metadata.check_platform(module, default)
        assert [(f.code, f.location.path) for f in default.findings] == expected


def test_architecture_is_required_only_in_a_bundle() -> None:
    module = good_module()
    del module["architecture"]
    assert found(module) == []
    sink = Sink("module.json")
    metadata.check_module(module, sink, in_bundle=True)
    assert [f.code for f in sink.findings] == ["PLT009"]


def test_platform_messages() -> None:
    def messages(**fields: Any) -> list[tuple[str, str]]:
        module = good_module() | fields
        sink = Sink("module.json")
        metadata.check_platform(module, sink)
        return [(f.message, f.fix) for f in sink.findings]

    assert messages(architecture="arm64", operating_systems=["rhel9"]) == [
        ("architecture 'arm64' is not x86_64 or aarch64", "Write 'aarch64'.")
    ]
    [(_message, fix)] = messages(architecture="mips")
    assert fix == "Use x86_64 or aarch64 (amd64 is x86_64, arm64 is aarch64)."
    assert messages(operating_systems=["debian12"]) == [
        (
            "'debian12': not a Redis Enterprise OS",
            "Use an OS Redis Enterprise supports (see `modpack rules --platforms`).",
        )
    ]
    assert messages(operating_systems=["rhel7"])[0][0] == (
        "'rhel7': Not supported by RS 7.4 and later. The bundle asks for RS 7.8 or later"
        " (min_redis_pack_version)."
    )
    assert messages(architecture="aarch64", operating_systems=["rhel8"])[0][0] == (
        "Redis Enterprise ships rhel8 only for x86_64, not aarch64"
    )
    assert (
        messages(operating_systems=["rhel"])[0][0]
        == "'rhel' is not an OS identifier (letters, then a version) such as rhel9 or ubuntu22"
    )
    # Redis Enterprise reads an entry as its first letters and its first version (RAMP's unpacker,
    # _os_version_parser): 'ubuntu-22.04' is ubuntu22.04 to it, and was a PLT001 error here
    assert messages(operating_systems=["ubuntu-22.04", "RHEL 9", "rhel_9"]) == [  # '_' is a letter to it
        (
            "'rhel_9': not a Redis Enterprise OS",
            "Use an OS Redis Enterprise supports (see `modpack rules --platforms`).",
        )
    ]
    assert [policy.canonical_os(e) for e in ("ubuntu-22.04", "RHEL 9", "linux", "x86")] == [
        "ubuntu22",
        "rhel9",
        None,
        None,
    ]


DEPENDENCY_CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("good", {"d": {"url": "https://example.com/d.tgz", "sha256": "a" * 64}}, []),
    ("http", {"d": {"url": "http://example.com/d.tgz", "sha256": "A" * 64}}, []),
    (
        "short sha",
        {"d": {"url": "https://e.com/d", "sha256": "a" * 63}},
        [("DEP002", "dependencies.d.sha256")],
    ),
    ("ftp", {"d": {"url": "ftp://e.com/d", "sha256": "a" * 64}}, [("DEP005", "dependencies.d.url")]),
    ("not objects", {"d": "https://e.com/d"}, []),
    ("not a map", ["d"], []),
]


@pytest.mark.parametrize(
    ("system", "floor", "refused"),
    [
        # Amazon Linux 2 runs RS up to 8.0 (in life until Jul 2028; no packages from 8.0.22),
        # Ubuntu 18.04 up to 7.4, RHEL 7 up to 7.2 (re-docs/embeds__supported-platforms-embed.md):
        # PLT002 said no node runs them.
        ("amzn2", "7.4.2", False),
        ("amzn2", "8.0", False),
        ("amzn2", "8.0.10", False),
        ("amzn2", None, False),
        ("amzn2", "8.0.22", True),  # the major.minor floor let it through (a review)
        ("amzn2", "8.2", True),
        ("ubuntu18", "7.4", False),
        ("ubuntu18", "7.8", True),
        ("rhel7", "6.4", False),
        ("rhel7", "7.4", True),
        ("ubuntu24", None, True),  # not in any release yet
    ],
)
def test_a_retired_os_is_refused_only_past_its_last_release(
    system: str, floor: str | None, refused: bool
) -> None:
    module = good_module() | {"operating_systems": [system]}
    module.pop("min_redis_pack_version")
    if floor is not None:
        module["min_redis_pack_version"] = floor
    sink = Sink("module.json")
    metadata.check_platform(module, sink)
    assert [f.code for f in sink.findings] == (["PLT002"] if refused else [])


def test_a_retired_os_still_in_reach_keeps_its_architectures() -> None:
    """Amazon Linux 2 was only ever shipped for x86_64: an aarch64 bundle for it is PLT004, which
    a retired OS in reach of min_redis_pack_version skipped (a review)."""
    module = good_module() | {"architecture": "aarch64", "operating_systems": ["amzn2"]}
    module.pop("min_redis_pack_version")
    sink = Sink("module.json")
    metadata.check_platform(module, sink)
    assert [f.code for f in sink.findings] == ["PLT004"]


@pytest.mark.parametrize(
    ("deps", "expected"), [c[1:] for c in DEPENDENCY_CASES], ids=[c[0] for c in DEPENDENCY_CASES]
)
def test_dependencies(deps: Any, expected: list[tuple[str, str]]) -> None:
    sink = Sink("module.json")
    metadata.check_dependencies({"dependencies": copy.deepcopy(deps)}, sink)
    assert [(f.code, f.location.path) for f in sink.findings] == expected
    optional = Sink("module.json")
    metadata.check_dependencies({"optional-dependencies": copy.deepcopy(deps)}, optional)
    assert [
        (f.code, f.location.path.replace("optional-dependencies", "dependencies")) for f in optional
    ] == expected


def test_dependency_messages() -> None:
    sink = Sink("module.json")
    metadata.check_dependencies({"dependencies": {"d": {"url": "ftp://e.com/d", "sha256": "xyz"}}}, sink)
    assert [f.message for f in sink.findings] == [
        "sha256 of dependency 'd' is not 64 hex digits",
        "url of dependency 'd' is 'ftp://e.com/d'",
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"module_name": "hello_2.x-y"}, []),
        (
            {"module_name": ".hidden"},
            [("SCH006", "module_name", "module_name '.hidden' is not a plain file name")],
        ),
        (
            {"module_file": "../hello.so"},
            [("SCH006", "module_file", "module_file '../hello.so' is not a plain file name")],
        ),
        (
            {"module_file": "hello.zip"},
            [("SCH006", "module_file", "module_file 'hello.zip' does not name a .so file")],
        ),
        ({"module_file": ""}, []),
        ({"module_name": 5}, []),
    ],
)
def test_names(fields: Module, expected: list[tuple[str, str, str]]) -> None:
    sink = Sink("module.json")
    metadata.check_names(good_module() | fields, sink)
    assert [(f.code, f.location.path, f.message) for f in sink.findings] == expected


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("step", 10**4199, "a number of more than 20 digits"),
        ("last_key", 2**31, str(2**31)),
        ("first_key", -(2**31) - 1, str(-(2**31) - 1)),
        ("command_arity", 2**31, str(2**31)),
    ],
)
def test_a_key_position_outside_a_c_int_is_out_of_range(key: str, value: int, shown: str) -> None:
    """RedisModule_CreateCommand takes C ints: a server must refuse a 4200-digit step (issue 12)."""
    from modpack.checks.commands import check_commands
    from modpack.findings import Sink

    entry = {"command_name": "m.cmd", "command_arity": 3, "flags": ["write"], "first_key": 1,
             "last_key": 1, "step": 1}  # fmt: skip
    entry[key] = value
    sink = Sink("module.json")
    check_commands({"commands": [entry]}, sink)
    out = [f for f in sink.resolved() if f.code == "SCH005"]
    assert [f.location.path for f in out] == [f"commands[0].{key}"]
    assert (
        out[0].message
        == f"`commands[0].{key}` is {shown}; Redis keeps it in a C int (-2147483648 to 2147483647)"
    )


def test_the_c_int_bounds_themselves_are_in_range() -> None:
    from modpack.checks.commands import check_commands
    from modpack.findings import Sink

    sink = Sink("module.json")
    entry = {"command_name": "m.cmd", "command_arity": -(2**31), "flags": ["readonly"], "first_key": 1,
             "last_key": 2**31 - 1, "step": 1}  # fmt: skip
    check_commands({"commands": [entry]}, sink)
    assert [f for f in sink.resolved() if f.code == "SCH005"] == []


def test_keys_without_access_flag_names_movable_keys_as_such() -> None:
    """getkeys.c of Redis's tests registers "getkeys-api" with 0,0,0: the message read "takes
    keys (0,0,0)", as if it contradicted itself."""
    module = with_command(None, **command("getkeys.command", -1, ["module", "movablekeys"], 0, 0, 0))
    [finding] = [f for f in check(module) if f.code == "CMD011"]  # CMD013 too: no binary was read
    assert finding.message == (
        "command 'getkeys.command' takes movable keys (found by getkeys-api or key specs; first/last/step"
        " 0,0,0) but is neither write nor readonly"
    )
    # any other triple is shown as it is, movable or not
    module = with_command(None, **command("getkeys.other", -1, ["module", "movablekeys"], 1, -1, 1))
    [finding] = [f for f in check(module) if f.code == "CMD011"]
    assert finding.message == "command 'getkeys.other' takes keys (1,-1,1) but is neither write nor readonly"


def test_the_creation_spelling_of_a_flag_is_a_warning() -> None:
    """RedisGears' shipped ramp.yml has `deny-oom` in a hand-written add_command entry, which
    RAMP copies as written; the Redis Enterprise docs give both denyoom and deny-oom as examples
    of module.json flags, and nothing says the cluster refuses either. CMD008 was an error."""
    finding = only(with_command(0, flags=["write", "deny-oom", "module"]))
    assert (finding.code, finding.severity) == ("CMD008", Severity.WARNING)


KEY_RANGE_CODES = {"KEY001", "KEY002", "KEY003", "KEY005", "KEY008", "KEY009"}


@pytest.mark.parametrize("name", ["x.get", "x.c|get"])
def test_key_range_rule_is_what_the_key_range_check_says_first(name: str) -> None:
    """--load's LOAD027 leaves to the static check what it says of a registered triple, told by
    key_range_rule: told wrongly (KEY002 of a step 0 whose first key is negative, where KEY001 is
    said and the check stops), a keystep 0 that crashes the server went unsaid by both."""
    values = (-3, -2, -1, 0, 1, 2, 3)
    for first in values:
        for last in values:
            for step in values:
                sink = Sink("module.json")
                command = commands.Command("commands[0]", name, -1, frozenset(), first, last, step, {})
                commands._check_key_range(command, sink)
                said = [f.code for f in sink.findings if f.code in KEY_RANGE_CODES]
                assert commands.key_range_rule(first, last, step, name) == (said[0] if said else None), (
                    first,
                    last,
                    step,
                )


def test_a_value_kept_with_a_placeholder_is_known_past_the_findings_a_rule_lists() -> None:
    """Whether a value kept its ${...} was read from the DECL003 findings themselves: past the 50
    a rule lists (MAX_PER_RULE), a value whose variable is unset was checked as literal text."""
    from modpack.findings import unset_variable

    sink = Sink("modpack.toml")
    for index in range(MAX_PER_RULE + 10):
        sink.say_unexpanded(f"targets[{index}].so", "the environment variable X is not set")
    assert len([f for f in sink.findings if f.code == "DECL003"]) == MAX_PER_RULE
    assert unset_variable(sink, f"targets[{MAX_PER_RULE + 9}].so")
    assert not unset_variable(sink, "build.so") and unset_variable(sink.copy(), "targets[0].so")


@pytest.mark.rule("PLT011")
def test_a_rhel_compatible_system_under_its_own_name_is_told_the_name_redis_enterprise_gives_it() -> None:
    """RAMP writes rhelN into module.json for a build on CentOS, Rocky, AlmaLinux or Oracle Linux
    (ramp.md §8, RAMP PR #100), and Redis Enterprise compares an entry's name and version with the
    node's OS: 'centos8' was taken for rhel8 without a word."""
    for entry, canonical in (
        ("centos8", "rhel8"),
        ("rocky9", "rhel9"),
        ("almalinux9", "rhel9"),
        ("Oracle-8", "rhel8"),
    ):
        module = good_module()
        module["operating_systems"] = [entry]
        (finding,) = [f for f in check(module) if f.code.startswith("PLT")]
        assert (finding.code, finding.location.path) == ("PLT011", "operating_systems[0]")
        assert finding.message == f"{entry!r}: Redis Enterprise names this OS {canonical!r}"
    for entry in ("rhel8", "rhel9", "ubuntu22.04", "ubuntu-20.04", "amzn2023"):
        module = good_module()
        module["operating_systems"] = [entry]
        assert [f.code for f in check(module) if f.code.startswith("PLT")] == [], entry
