"""Declared vs registered, without a server: how each Redis version's reports are normalised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modpack.findings import Severity, Sink
from modpack.redis import compare
from modpack.redis.model import CommandInfo, Discovery, KeySpec, parse_command_info
from tests.support.redis import expected_commands

R6 = (6, 2, 14)
R700 = (7, 0, 0)
R7 = (7, 0, 15)


def discovery(
    *commands: CommandInfo, redis: str = "7.0.15", name: str = "m", version: int = 10000
) -> Discovery:
    return Discovery("m.so", redis, name, version, (), commands)


def declared(
    name: str, arity: int = -1, flags: list[str] | None = None, keys: tuple[int, int, int] = (0, 0, 0)
) -> dict[str, Any]:
    first, last, step = keys
    return {"command_name": name, "command_arity": arity, "flags": flags or [],
            "first_key": first, "last_key": last, "step": step}  # fmt: skip


def codes(module: dict[str, Any], found: Discovery) -> list[tuple[str, str]]:
    return [(d.code, d.path) for d in compare.compare(module, found)]


def index_spec(
    position: int, lastkey: int = 0, keystep: int = 1, flags: tuple[str, ...] = ("RW",)
) -> KeySpec:
    return KeySpec(
        flags, "index", {"index": position}, "range", {"lastkey": lastkey, "keystep": keystep, "limit": 0}
    )


# --- keyspecs.md §1.2: what COMMAND INFO shows for a CreateCommand triple -----------------------


@pytest.mark.parametrize(
    ("given", "on_6", "on_7"),
    [
        ((0, 0, 0), (0, 0, 0), (0, 0, 0)),
        ((0, 1, 1), (0, 1, 1), (0, 0, 0)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((1, -1, 2), (1, -1, 2), (1, -1, 2)),
        ((1, 0, 0), (1, 0, 0), (1, -1, 0)),
        ((1, 1, 0), (1, 1, 0), (1, 1, 0)),
        ((3, 1, 1), (3, 1, 1), (3, -2, 1)),
        ((2, 4, 1), (2, 4, 1), (2, 4, 1)),
    ],
)
def test_expected_triple(
    given: tuple[int, int, int], on_6: tuple[int, int, int], on_7: tuple[int, int, int]
) -> None:
    assert compare.expected_triple(*given, R6) == on_6
    assert compare.expected_triple(*given, R7) == on_7


# --- flags (§1.6-§1.8) --------------------------------------------------------------------------


def test_declared_flags_are_normalised() -> None:
    flags = ["deny-oom", "Write", "module", "no-cluster", "getchannels-api", "getkeys-api", "random"]
    assert compare.declared_flags(flags, R7) == {"denyoom", "write", "movablekeys"}
    assert compare.declared_flags(flags, R6) == {"denyoom", "write", "movablekeys", "random"}


def test_may_replicate_is_hidden_from_7_0_1() -> None:
    info = CommandInfo("x", -1, ("write", "module"), 0, 0, 0)
    entry = declared("x", flags=["write", "may_replicate"])
    assert compare.compare_command("c", entry, info, R7) == []
    assert [d.code for d in compare.compare_command("c", entry, info, R700)] == ["LOAD020"]
    shown = CommandInfo("x", -1, ("write", "module", "may_replicate"), 0, 0, 0)
    assert compare.compare_command("c", entry, shown, R700) == []


def test_flags_difference_message() -> None:
    info = CommandInfo("x", -1, ("write", "denyoom", "module"), 0, 0, 0)
    (found,) = compare.compare_command("commands[0]", declared("x", flags=["readonly", "denyoom"]), info, R7)
    assert found.path == "commands[0].flags"
    assert "declared but not registered: readonly; registered but not declared: write" in found.message


def test_entry_without_flags_is_not_compared() -> None:
    info = CommandInfo("x", -1, ("write", "module"), 0, 0, 0)
    entry = declared("x")
    del entry["flags"]
    assert compare.compare_command("c", entry, info, R7) == []


# --- Redis 6.x ----------------------------------------------------------------------------------


def test_redis_6_reports_are_normalised() -> None:
    """6.x: a 7-element COMMAND INFO, arity -1 always, no `module` flag, raw key positions."""
    (info,) = parse_command_info(["mm.keys", -1, ["readonly"], 3, 1, 1, []])
    assert info.key_specs == () and not info.is_subcommand
    module = {"commands": [declared("mm.keys", 2, ["readonly", "module"], (3, 1, 1))]}
    assert codes(module, discovery(info, redis="6.2.14")) == []
    # The same declaration against Redis 7, which reads 3,1,1 as 3,-2,1 and knows the arity:
    seven = CommandInfo("mm.keys", -1, ("readonly", "module"), 3, -2, 1)
    assert codes(module, discovery(seven)) == [("LOAD019", "commands[0].command_arity")]


def test_a_module_json_for_redis_6_declares_arity_minus_one_whichever_redis_proves_it() -> None:
    """RAMP on 6.2 writes arity -1 for every command (6.x reports nothing else): proved on Redis 7
    (LOAD026 says the version differs), such a bundle got a LOAD019 error for each command whose
    arity the module sets on 7 (RedisModule_SetCommandInfo)."""
    seven = CommandInfo("v.get", 2, ("readonly", "module"), 1, 1, 1)
    for_six = {
        "compatible_redis_version": "6.2",
        "commands": [declared("v.get", -1, ["readonly"], (1, 1, 1))],
    }
    assert codes(for_six, discovery(seven)) == []
    for_seven = {**for_six, "compatible_redis_version": "7.2"}
    assert codes(for_seven, discovery(seven)) == [("LOAD019", "commands[0].command_arity")]
    wrong = {**for_six, "commands": [declared("v.get", 3, ["readonly"], (1, 1, 1))]}  # not 6.x's -1
    assert codes(wrong, discovery(seven)) == [("LOAD019", "commands[0].command_arity")]


@pytest.mark.parametrize("written", ["7.0", "7", "7.0.0"])
def test_a_module_json_for_redis_7_0_written_short_is_not_taken_for_redis_6(written: str) -> None:
    """ "7.0" parsed as (7, 0), which Python orders below (7, 0, 0): a module.json for Redis 7.0 was
    judged as one for 6.x, and its arity -1 for a command Redis registers with arity 2 passed."""
    seven = CommandInfo("v.get", 2, ("readonly", "module"), 1, 1, 1)
    module = {
        "compatible_redis_version": written,
        "commands": [declared("v.get", -1, ["readonly"], (1, 1, 1))],
    }
    assert codes(module, discovery(seven)) == [("LOAD019", "commands[0].command_arity")]


def test_redis_7_entries_with_subcommands_parse() -> None:
    infos = parse_command_info(expected_commands("subcommands")["sub.config"])
    assert [i.name for i in infos] == ["sub.config", "sub.config|get", "sub.config|set"]
    get = infos[1]
    assert (get.arity, get.flags, get.first_key, get.last_key, get.step) == (
        -2,
        ("readonly", "module"),
        2,
        2,
        1,
    )
    assert get.key_specs[0].describe() == "RW access update; index 2; range lastkey 0 keystep 1 limit 0"


# --- names, module identity, routing policies ---------------------------------------------------


def test_names_compare_case_insensitively() -> None:
    info = CommandInfo("Graph.QUERY", -1, ("write", "module"), 1, 1, 1)
    module = {"commands": [declared("graph.query", -1, ["write"], (1, 1, 1))]}
    assert codes(module, discovery(info)) == []


def test_module_identity() -> None:
    module = {"module_name": "m", "version": 10000.0, "commands": []}
    assert codes(module, discovery()) == []
    module = {"module_name": "M", "version": "10001", "commands": []}
    assert codes(module, discovery()) == [("LOAD014", "module_name"), ("LOAD015", "version")]
    assert codes({"commands": []}, discovery()) == []
    # a ramp.yml gives semantic_version alone: build packs the version it encodes, compared so
    assert codes({"semantic_version": "1.0.1", "commands": []}, discovery()) == [
        ("LOAD015", "semantic_version")
    ]
    assert codes({"semantic_version": "1.0.0", "commands": []}, discovery()) == []


def test_negative_step_is_compared_as_declared() -> None:
    info = CommandInfo("ft.search", -2, ("readonly", "module"), 1, 1, 1, (index_spec(1, 0),))
    module = {"commands": [declared("ft.search", -2, ["readonly"], (0, 0, -1))]}
    assert codes(module, discovery(info)) == [("LOAD023", "commands[0].step")]


def test_declared_and_registered_on_one_side_only() -> None:
    found = discovery(
        CommandInfo("a.one", -1, ("module",), 0, 0, 0),
        CommandInfo("a.box", -2, ("module",), 0, 0, 0),
        CommandInfo("a.box|get", -2, ("module",), 0, 0, 0),
    )
    module = {"commands": [declared("a.box", -2), declared("a.two"), {"flags": []}]}
    assert codes(module, found) == [
        ("LOAD016", "commands[1]"),
        ("LOAD017", "commands"),
        ("LOAD018", "commands"),
    ]


def test_ramp_edits_recorded_in_module_json_say_what_is_on_purpose() -> None:
    """RAMP records add_command and exclude_commands in module.json: a command added by hand is
    one the discovery load does not register (RedisGears' rg.jexecute comes with a plugin), and an
    excluded one is left out on purpose. --load called the first an error (LOAD016) and warned of
    the second (LOAD017) on bundles RAMP made from real manifests."""
    found = discovery(
        CommandInfo("a.one", -1, ("module",), 0, 0, 0), CommandInfo("a.hidden", -1, ("module",), 0, 0, 0)
    )
    module = {
        "commands": [declared("a.one"), declared("a.later")],
        "add_command": [{"command_name": "A.LATER"}],
        "exclude_commands": ["a.hidden"],
    }
    assert codes(module, found) == []
    assert codes({**module, "add_command": [], "exclude_commands": "a.hidden"}, found) == [
        ("LOAD016", "commands[1]"),
        ("LOAD017", "commands"),
    ]
    # An excluded command's subcommands are left out with it (they were LOAD018 infos)
    boxed = discovery(
        CommandInfo("a.one", -1, ("module",), 0, 0, 0),
        CommandInfo("a.box", -2, ("module",), 0, 0, 0),
        CommandInfo("a.box|get", -2, ("module",), 0, 0, 0),
    )
    assert codes({"commands": [declared("a.one")], "exclude_commands": ["A.BOX"]}, boxed) == []
    assert codes({"commands": [declared("a.one")]}, boxed) == [
        ("LOAD017", "commands"),
        ("LOAD018", "commands"),
    ]
    # a subcommand excluded by its own name: the container is still reported, the subcommand not
    alone = {"commands": [declared("a.one")], "exclude_commands": ["a.box|GET"]}
    assert codes(alone, boxed) == [("LOAD017", "commands")]


# --- key specs the legacy triple misses (§3.4-§3.6) -----------------------------------------------


def movable(first: int, last: int, step: int, *specs: KeySpec) -> CommandInfo:
    return CommandInfo("k", -1, ("write", "module", "movablekeys"), first, last, step, specs)


@pytest.mark.parametrize(
    ("info", "uncovered"),
    [
        # kspec.nonewithgetkeys: getkeys-api makes it movable; its one spec is the legacy triple.
        (movable(1, -1, 2, index_spec(1, -1, 2)), 0),
        # kspec.tworangeswithgap: specs at 1 and 3, the triple stops at 1.
        (movable(1, 1, 1, index_spec(1), index_spec(3)), 1),
        # kspec.keyword: a keyword spec can never be described by a triple.
        (
            movable(
                0,
                0,
                0,
                KeySpec(
                    ("RO",),
                    "keyword",
                    {"keyword": "KEYS", "startfrom": 1},
                    "range",
                    {"lastkey": -1, "keystep": 1, "limit": 0},
                ),
            ),
            1,
        ),
        # An INCOMPLETE spec is movable even when the triple is its copy.
        (movable(1, 1, 1, index_spec(1, flags=("RW", "incomplete"))), 1),
        # NOT_KEY specs name no key.
        (movable(1, 1, 1, index_spec(1), index_spec(5, flags=("RO", "not_key"))), 0),
        # A triple to the last argument covers a later fixed position; the reverse does not hold.
        (movable(1, -1, 1, index_spec(4)), 0),
        (movable(1, 3, 1, index_spec(2, -1)), 1),
        # The step must reach the spec's keys.
        (movable(1, -1, 2, index_spec(2)), 1),
    ],
)
def test_uncovered_key_specs(info: CommandInfo, uncovered: int) -> None:
    assert len(compare.uncovered_key_specs(info)) == uncovered


def test_not_movable_is_never_reported() -> None:
    info = CommandInfo("k", -1, ("write", "module"), 1, 1, 1, (index_spec(1), index_spec(3)))
    assert compare.uncovered_key_specs(info) == []


def limited_spec(position: int, limit: int, flags: tuple[str, ...] = ("RO",)) -> KeySpec:
    return KeySpec(
        flags, "index", {"index": position}, "range", {"lastkey": -1, "keystep": 1, "limit": limit}
    )


@pytest.mark.parametrize(
    ("specs", "sources"),
    [
        # keyspecs.md §3.5, with its worked examples (tests/unit/moduleapi/keyspecs.tcl)
        ((index_spec(1, -1, 2),), [0]),  # one INDEX + RANGE spec: copied whole, keystep 2 kept
        ((index_spec(1), index_spec(2)), [0, 1]),  # kspec.tworanges
        ((index_spec(1), index_spec(3)), [0]),  # kspec.tworangeswithgap: 3 does not follow on from 1
        ((index_spec(1, -1, 2), index_spec(2)), [1]),  # keystep 2 is skipped when there are several
        ((index_spec(1, -1), index_spec(2)), [0]),  # a last counted from the end is the largest
        ((KeySpec(("RO",), "keyword", {"keyword": "K", "startfrom": 1}, "range", {}),), []),
        ((index_spec(1, flags=("RO", "not_key")), index_spec(2)), [0, 1]),  # NOT_KEY: routed as a key
    ],
)
def test_legacy_sources(specs: tuple[KeySpec, ...], sources: list[int]) -> None:
    assert compare.legacy_sources(specs) == sources


def test_a_limit_the_legacy_triple_drops_is_an_error() -> None:
    """A spec whose keys are the first half of the arguments (limit 2) becomes first/last/step
    1, -1, 1: cluster routing then takes the values for keys (CROSSSLOT on redis-server 7.0.15
    in cluster mode for `k.lim {a}1 {a}2 x y`, while COMMAND GETKEYS answers {a}1 {a}2)."""
    info = CommandInfo("k.lim", -2, ("readonly", "module"), 1, -1, 1, (limited_spec(1, 2),))
    module = {"commands": [declared("k.lim", -2, ["readonly"], (1, -1, 1))]}
    [difference] = compare.compare(module, discovery(info))
    assert (difference.code, difference.path) == ("LOAD027", "commands[0]")
    assert (
        "key spec 1 [RO; index 1; range lastkey -1 keystep 1 limit 2]: first/last/step 1, -1, 1 are this spec"
        " without its limit 2, and cluster routing reads only them: every argument from index 1 on is"
        " taken for a key" in difference.message
    )
    assert [d.code for d in compare.registered_defects(discovery(info))] == ["LOAD027"]
    # Not a defect: a limit of 1 (all of them), getkeys-api (routing asks the module: movablekeys),
    # a spec the triple does not come from, and NOT_KEY, which is documented as routed as a key.
    fine = [
        CommandInfo("a", -2, ("module",), 1, -1, 1, (limited_spec(1, 1),)),
        CommandInfo("b", -2, ("module", "movablekeys"), 1, -1, 1, (limited_spec(1, 2),)),
        CommandInfo("c", -2, ("module", "movablekeys"), 1, 1, 1, (index_spec(1), limited_spec(3, 2))),
        CommandInfo("d", 3, ("module",), 1, 2, 1, (index_spec(1, flags=("RO", "not_key")), index_spec(2))),
    ]
    assert [d for d in compare.registered_defects(discovery(*fine)) if d.code == "LOAD027"] == []
    # movablekeys from another key spec, not getkeys-api: the binary registers no command with
    # the flag, so routing reads first/last/step alone (keyspecs.md §3.4, §3.6)
    keyword = KeySpec(
        ("RO",), "keyword", {"keyword": "STORE", "startfrom": 1}, "range", {"lastkey": 0, "keystep": 1}
    )
    mixed = CommandInfo("m", -2, ("module", "movablekeys"), 1, -1, 1, (limited_spec(1, 2), keyword))
    # the keyword spec's keys follow argument 1, which 1, -1, 1 takes with all the rest: covered
    # (LOAD022 said the triple missed them)
    assert [d.code for d in compare.registered_defects(discovery(mixed), getkeys_api=False)] == ["LOAD027"]
    assert compare.registered_defects(discovery(mixed)) == []  # the binary not read: not said
    # a binary that registers a command with getkeys-api: routing asks the callback of the
    # commands that have it, and COMMAND INFO does not say which
    (limit,) = compare.registered_defects(discovery(mixed), getkeys_api=True)
    # the limit routing drops, LOAD027 where no command has getkeys-api, was dropped here for
    # every command of a module with one: it is said as a warning that may not apply
    assert limit.code == "LOAD022" and "are this spec without its limit 2" in limit.message
    assert limit.message.endswith("if this is one, routing asks its callback, and nothing is wrong)")


def test_a_negative_step_the_module_registers_is_no_routing_policy() -> None:
    """1, -1, -1 copied from what the module registers: Redis walks its keys backwards for ever
    (LOAD027), and saying the step is a Redis Enterprise routing policy contradicted that."""
    info = CommandInfo("sz.neg", -1, ("write", "module"), 1, -1, -1, (index_spec(1, -1, -1),))
    module = {"commands": [declared("sz.neg", -1, ["write"], (1, -1, -1))]}
    assert codes(module, discovery(info)) == [("LOAD027", "commands[0]")]
    written = {"commands": [declared("sz.neg", -1, ["write"], (0, 0, -1))]}  # a policy, by hand
    assert codes(written, discovery(info)) == [("LOAD027", "commands[0]"), ("LOAD023", "commands[0].step")]


def test_a_negative_step_registered_on_redis_6_is_still_said() -> None:
    """Redis 6 shows no key specs, so LOAD027 cannot name a step the module registers; the note
    that the step is not compared stays (it was dropped with LOAD023's contradiction on 7+)."""
    info = CommandInfo("sz.neg", -1, ("write",), 1, -1, -1)
    module = {"commands": [declared("sz.neg", -1, ["write"], (1, -1, -1))]}
    assert codes(module, discovery(info, redis="6.2.14")) == [("LOAD023", "commands[0].step")]


def test_an_incomplete_spec_is_said_to_be_incomplete() -> None:
    info = movable(1, 1, 1, index_spec(1, flags=("RW", "incomplete")), index_spec(3))
    [difference] = compare.compare(
        {"commands": [declared("k", -1, ["write", "movablekeys"], (1, 1, 1))]}, discovery(info)
    )
    assert difference.code == "LOAD022"
    assert difference.message == (
        "k: Redis marks it movablekeys, and first/last/step 1, 1, 1 miss the keys of 1 key spec(s):"
        " [RW; index 3; range lastkey 0 keystep 1 limit 0]; and cannot cover 1 key spec(s) flagged"
        " incomplete, which may not point out every key: [RW incomplete; index 1; range lastkey 0"
        " keystep 1 limit 0]"
    )


class Redis6:
    """Canned Redis 6.2 replies: no COMMAND LIST, COMMAND DOCS or key specs; arity -1 always."""

    version = "6.2.14"
    version_tuple = (6, 2, 14)
    spec = None  # this machine's own server, as RedisServer has it

    def __init__(self) -> None:
        self.loaded = False
        self.calls: list[tuple[str, ...]] = []

    def entries(self) -> list[list[Any]]:
        native = [["get", 2, ["readonly", "fast"], 1, 1, 1, ["@read"]]]
        module = [["m.set", -1, ["write", "denyoom"], 1, 1, 1, []], ["m.Ping", -1, ["fast"], 0, 0, 0, []]]
        return native + (module if self.loaded else [])

    def load_module(self, path: Any, args: Any) -> None:
        self.loaded = True

    def call(self, *args: str) -> Any:
        self.calls.append(args)
        if args == ("MODULE", "LIST"):
            return [["name", "m", "ver", 10203, "path", "/m.so", "args", []]] if self.loaded else []
        if args == ("COMMAND",):
            return self.entries()
        if args[:2] == ("COMMAND", "INFO"):
            return [next(e for e in self.entries() if e[0] == name) for name in args[2:]]
        raise AssertionError(f"Redis 6.2 has no {args}")


def test_discovery_on_redis_6(tmp_path: Path) -> None:
    from modpack.redis.discover import discover_with

    so = tmp_path / "m.so"
    so.write_bytes(b"")
    server = Redis6()
    found = discover_with(server, so)  # type: ignore[arg-type]
    assert (found.module_name, found.module_version, found.redis_version) == ("m", 10203, "6.2.14")
    assert [c.name for c in found.commands] == ["m.Ping", "m.set"]
    assert found.commands[1].key_specs == () and found.commands[1].docs == {}
    assert ("COMMAND", "LIST") not in server.calls
    module = {"module_name": "m", "version": 10203, "commands": [
        declared("m.ping", 1, ["fast", "module"]), declared("m.set", 3, ["write", "denyoom"], (1, 1, 1))]}  # fmt: skip
    assert codes(module, found) == []


@pytest.mark.rule("LOAD028")
def test_an_exclusion_the_module_does_not_register_is_said() -> None:
    """exclude_commands naming no registered command excludes nothing: a misspelling leaves the
    command it meant in module.json. --load said nothing of it. Case differences are not told
    off (RAMP matches exactly, so manifests list tconfig_set and TCONFIG_SET). A name near a kept
    one is information too: mget beside get is a real command a light build may lack."""
    found = discovery(
        CommandInfo("a.get", -1, ("module",), 0, 0, 0), CommandInfo("tconfig_set", -1, ("module",), 0, 0, 0)
    )
    module = {"commands": [declared("a.get")], "exclude_commands": ["tconfig_set", "TCONFIG_SET", "a.mget"]}
    assert codes(module, found) == [("LOAD028", "exclude_commands[2]")]
    sink = Sink("module.json")
    for difference in compare.compare(module, found):
        sink.report(difference)
    [finding] = sink.findings
    assert finding.severity is Severity.INFO  # a light build may lack a command a full one excludes
    assert finding.message == "exclude_commands names 'a.mget', which the module does not register"


@pytest.mark.rule("LOAD032")
def test_an_entry_overide_command_gives_differs_on_purpose() -> None:
    """RAMP's overide_command record names entries that replace the registered ones whole (ramp.md
    §3.3): their differences are one LOAD032 (information) at the entry; the same entry without
    the record is still wrong."""
    info = CommandInfo("rg.trigger", -1, ("readonly", "module"), 0, 0, 0)
    entry = declared("rg.trigger", 2, ["write"], (2, 2, 1))
    assert codes({"commands": [entry]}, discovery(info)) == [
        ("LOAD019", "commands[0].command_arity"),
        ("LOAD020", "commands[0].flags"),
        ("LOAD021", "commands[0].first_key"),
        ("LOAD021", "commands[0].last_key"),
        ("LOAD021", "commands[0].step"),
    ]
    module = {"commands": [entry], "overide_command": [{**entry, "command_name": "RG.TRIGGER"}]}
    (found,) = compare.compare(module, discovery(info))
    assert (found.code, found.path) == ("LOAD032", "commands[0]")
    assert found.message == (
        "rg.trigger: overide_command replaces the entry Redis registers, and differs from it: arity is 2, Redis"
        " registers -1; flags differ (declared but not registered: write; registered but not declared:"
        " readonly); first_key is 2, Redis registers 0; last_key is 2, Redis registers 0; step is 1, Redis"
        " registers 0"
    )
    sink = Sink("module.json")
    sink.report(found)
    assert sink.findings[0].severity is Severity.INFO
