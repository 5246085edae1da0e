"""Checks of `commands[]`: names, arity, flags and the first_key/last_key/step triple.

Redis never validates a module command's key triple (keyspecs.md §1.1); a wrong one lies dormant
until key extraction runs in a clustered database and then routes keys to the wrong shard, hangs
or crashes the shard (§1.2). These rules follow keyspecs.md §2 and §4, with the Redis Enterprise
convention that a negative step is a proxy routing policy (ramp.md §3.2).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, NamedTuple

from modpack import policy, versions
from modpack.checks.numbers import C_INT, integer_value
from modpack.findings import Sink
from modpack.records import folded_name, recorded

if TYPE_CHECKING:  # mutate: equivalent -- annotations only
    from collections.abc import Mapping

    from modpack.elf import GetkeysApi
    from modpack.types import JSON, Module

BLOCKED_NAME_CHARS = {" ": "a space", "\r": "CR", "\n": "LF", "@": "@", "=": "=", ",": ","}
_BLOCKED_NAME = re.compile("[" + re.escape("".join(BLOCKED_NAME_CHARS)) + "]")
ROUTING_POLICIES = (-1, -2, -3)


class Command(NamedTuple):
    """One command entry, with each field None when absent or of the wrong type.

    A NamedTuple, immutable as a frozen dataclass is but built in half the time: one is built for
    every command of every file, and `modpack validate` of 5000 files builds 25000.
    """

    path: str
    name: str | None
    arity: int | None
    flags: frozenset[str]
    first: int | None
    last: int | None
    step: int | None
    raw: dict[str, JSON]

    @property
    def said(self) -> str:
        """The command as a message names it: its name quoted, or the entry's lack of one (a
        command_name missing or no string is SCH001/SCH002 of its own; it said "command None")."""
        return repr(self.name) if self.name is not None else "without a command_name"

    @property
    def routing_policy(self) -> bool:
        return self.step is not None and self.step < 0

    @property
    def has_keys(self) -> bool:
        if "movablekeys" in self.flags:
            return True
        return not self.routing_policy and self.first is not None and self.first > 0


_KEY_FIELDS = (("command_arity", "arity"), ("first_key", "first"), ("last_key", "last"), ("step", "step"))


def _check_c_ints(command: Command, sink: Sink) -> None:
    low, high = C_INT
    arity, first, last, step = command.arity, command.first, command.last, command.step
    if (
        (arity is None or low <= arity <= high)
        and (first is None or low <= first <= high)
        and (last is None or low <= last <= high)
        and (step is None or low <= step <= high)
    ):
        return  # every real entry
    for key, attribute in _KEY_FIELDS:
        value = getattr(command, attribute)
        if value is not None and not low <= value <= high:
            shown = str(value) if abs(value) < 10**20 else "a number of more than 20 digits"
            sink.add(
                "SCH005",
                f"{command.path}.{key}",
                f"`{command.path}.{key}` is {shown}; Redis keeps it in a C int ({low} to {high})",
            )


@functools.cache
def _vocabulary() -> tuple[frozenset[str], frozenset[str], dict[str, str], dict[str, str]]:
    """COMMAND INFO flags, native-only flags, module spellings and invisible module flags, once."""
    invisible = policy.load("flags")["module_only_invisible"]
    return policy.command_info_flags(), policy.native_only_flags(), policy.module_flag_spellings(), invisible


def _parse(entry: dict[str, JSON], path: str) -> Command:
    flags = entry.get("flags")
    if isinstance(flags, list):
        spelled = _vocabulary()[2]
        names = frozenset([spelled.get(f, f) for f in flags if isinstance(f, str)])
    else:
        names = frozenset()
    name = entry.get("command_name")
    return Command(
        path,
        name if isinstance(name, str) else None,
        integer_value(entry.get("command_arity")),
        names,
        integer_value(entry.get("first_key")),
        integer_value(entry.get("last_key")),
        integer_value(entry.get("step")),
        entry,
    )


def target_redis(module: Mapping[str, JSON]) -> tuple[int, ...] | None:
    """The Redis version the entries are meant for: compatible_redis_version, else the minimum."""
    return _first_version(module, ("compatible_redis_version", "min_redis_version"))


def lowest_redis(module: Module) -> tuple[int, ...] | None:
    """The oldest Redis the module claims to load on: min_redis_version, else the compatible one."""
    return _first_version(module, ("min_redis_version", "compatible_redis_version"))


def _first_version(module: Mapping[str, JSON], keys: tuple[str, str]) -> tuple[int, ...] | None:
    """The first of `keys` that holds a Redis version (99.99, the development placeholder, is none),
    as written: (7, 4) for "7.4". Compare it with a version of another length by major and minor."""
    for key in keys:
        value = module.get(key)
        if isinstance(value, str) and value:
            parsed = versions.parse_redis_version(value)
            if parsed is not None and parsed[:2] != (99, 99):
                return parsed
    return None


def check_flag_versions(module: Module, entries: object, sink: Sink) -> None:
    """CMD023: a flag that the oldest Redis the module claims is older than.

    RedisModule_CreateCommand refuses a flags string with a flag it does not know, and the module
    fails to load (keyspecs.md §1.5-1.6; redis-server 7.0.15 refuses `internal`, which 8.0.2
    accepts). `entries` are the flags as written: modpack.toml's before they are spelt as
    COMMAND INFO does (internal is shown as noscript), module.json's as they are.
    """
    lowest = lowest_redis(module)
    if lowest is None or not isinstance(entries, list):
        return
    since = policy.flag_since()
    shown = ".".join(map(str, lowest[:2]))
    for index, entry in enumerate(entries):
        flags = entry.get("flags") if isinstance(entry, dict) else None
        if not isinstance(flags, list):
            continue
        for place, flag in enumerate(flags):
            needed = since.get(flag.lower()) if isinstance(flag, str) else None
            if needed is None or lowest >= needed[0]:
                continue
            version, string = needed
            first = ".".join(map(str, version))
            sink.add(
                "CMD023",
                f"commands[{index}].flags[{place}]",
                f"flag {flag!r} needs Redis {first}: an older RedisModule_CreateCommand refuses the flags "
                f"string {string!r}, so the module does not load on Redis {shown}, its min_redis_version",
                f"Raise min_redis_version to {first}, or pass {string!r} only to a Redis that has it "
                "(RedisModule_GetServerVersion) and declare what the oldest one reports.",
            )


def no_commands(module: Module, sink: Sink) -> None:
    """CMD030: commands is an empty list, or holds only what [module] add_command names (a plugin's
    commands), so the proxy routes no command of the module's own.

    check_commands says it of a module.json; a modpack.toml (and the module.json a build
    assembles) is judged by the manifest reader, as hand-written entries may be left empty for
    `build --discover` (a ramp.yml never lists them: RAMP reads them from the loaded module).
    Never twice: silent when it was already said.
    """
    if any(f.code == "CMD030" for f in sink.findings):
        return
    commands, added = module.get("commands"), recorded(module, "add_command")
    if commands == []:
        sink.add("CMD030", "commands", "commands is empty: the proxy routes no command of this module")
    elif isinstance(commands, list) and added and all(folded_name(c) in added for c in commands):
        sink.add(
            "CMD030",
            "commands",
            "every command is one add_command names (a plugin registers it): the module declares"
            " none of its own",
        )


def check_commands(
    module: Module, sink: Sink, *, hand_written: bool = False, binary_follows: bool = False
) -> None:
    """Every check of `commands[]` that needs nothing but the module dict.

    `hand_written`: the entries are declarations written by hand (modpack.toml [[commands]],
    RAMP overide_command/add_command), not a module.json list: nothing is said about the flags
    Redis would report (CMD020), and no entries is no defect (build --discover fills them).
    `binary_follows`: the caller checks the binary next and calls `check_movable_keys` with what
    it says; otherwise CMD013 says that getkeys-api cannot be checked without the binary.
    """
    entries = module.get("commands")
    if not isinstance(entries, list):
        return
    if not entries and not hand_written:
        no_commands(module, sink)
    commands = parse_commands(entries)
    target = target_redis(module)
    _check_names(commands, sink)
    _check_native_names(commands, target, sink)
    for command in commands:
        if not hand_written:  # the declarations' reader says it for modpack.toml and ramp.yml
            _check_c_ints(command, sink)
        _check_fields(command, sink)
        _check_flag_vocabulary(command, sink)
        _check_flag_semantics(command, target, sink)
        _check_key_range(command, sink, reported=not hand_written and target is not None and _redis7(target))
    if not hand_written:
        _check_module_flag(_generated(commands, module), target, sink)
        check_flag_versions(module, entries, sink)  # hand-written flags are checked as written
    _check_no_multi_key(module, commands, sink)
    if hand_written:  # in a module.json, where COMMAND never shows it, CMD008 names no-cluster
        _check_no_cluster(module, commands, sink)
    if not binary_follows:
        _report_movable_keys(commands, None, sink)


def parse_commands(entries: list[JSON]) -> list[Command]:
    return [_parse(e, f"commands[{i}]") for i, e in enumerate(entries) if isinstance(e, dict)]


def module_commands(module: Module) -> list[Command]:
    """The module's commands[] entries that are objects, parsed (none when it has no list)."""
    entries = module.get("commands")
    return parse_commands(entries) if isinstance(entries, list) else []


def check_movable_keys(module: Module, sink: Sink, getkeys: GetkeysApi | None) -> None:
    """CMD013 for movablekeys commands, told by what the module's binary says (None: no binary)."""
    _report_movable_keys(module_commands(module), getkeys, sink)


def _report_movable_keys(commands: list[Command], getkeys: GetkeysApi | None, sink: Sink) -> None:
    """Movable keys are routed only through getkeys-api (keyspecs.md §3.4).

    Whether the module implements it is in its binary: the flags string passed to
    RedisModule_CreateCommand names `getkeys-api`, and RedisModule_KeyAtPos is fetched by name.
    """
    movable = [c for c in commands if "movablekeys" in c.flags]
    if getkeys is not None and getkeys.implemented:
        _report_key_spec_movables(movable, getkeys, sink)
        return
    for command in movable:
        path = f"{command.path}.flags"
        if getkeys is None:
            sink.add(
                "CMD013",
                path,
                f"command {command.said} has movable keys; without the module's binary modpack cannot tell "
                "whether it implements getkeys-api",
                "Validate the bundle (or set [build] so), which checks the binary; or make sure the "
                "module implements getkeys-api (RedisModule_IsKeysPositionRequest/KeyAtPos).",
            )
        elif not getkeys.complete:
            sink.add(
                "CMD013",
                path,
                f"command {command.said} has movable keys, and part of the binary's read-only data could not "
                "be read, so modpack cannot tell whether it implements getkeys-api",
                "Make sure the module implements getkeys-api (RedisModule_IsKeysPositionRequest and "
                "RedisModule_KeyAtPos); validate --load shows whether Redis extracts its keys.",
            )
        elif getkeys.flag:
            # The flag without the two functions: a getkeys-api command asked for its keys runs
            # as if called (keyspecs.md §4, movablekeys), and answers none.
            sink.add(
                "CMD013",
                path,
                f"command {command.said} has movable keys, but the binary {getkeys.missing()}, so none"
                " of its commands can say where its keys are: cluster routing, which reads only"
                " first/last/step or that answer, misses them (a getkeys-api command asked for its keys"
                " runs instead)",
                _GETKEYS_FIX,
            )
        else:
            sink.add(
                "CMD013",
                path,
                f"command {command.said} has movable keys, but the binary {getkeys.missing()}: its keys are "
                "described only by key specs, which cluster routing does not read",
                _GETKEYS_FIX,
            )


def _report_key_spec_movables(movable: list[Command], getkeys: GetkeysApi, sink: Sink) -> None:
    """The binary implements getkeys-api, but per command: Redis 7 marks a command movablekeys for
    getkeys-api or for key specs the legacy triple cannot hold (keyspecs.md §3.6), and cluster
    routing reads only getkeys-api and first/last/step (§3.4). A getkeys-api command's declared
    flags are those of a flags string naming getkeys-api; a movable command whose flags no such
    string gives has its keys in key specs alone. Silent where that cannot be told: flags strings
    left unread, or none of them naming getkeys-api (a string put together at run time). Two
    commands with the same flags, one with getkeys-api and one with key specs, cannot be told
    apart without loading the module (LOAD022 does)."""
    if not getkeys.strings_complete:
        return
    # a lone "getkeys-api" may as well be a piece of a flags string put together at run time
    named = [t for t in getkeys.flags_strings if " " in t and "getkeys-api" in t.lower().split(" ")]
    if not named:
        return
    # The linker merges a string into the tail of a longer one ("readonly getkeys-api" into "fast
    # readonly getkeys-api"): every word-tail holding the flag is a flags string the binary may pass.
    tails = [words[start:] for words in (t.split(" ") for t in named) for start in range(len(words))]
    given = [
        _command_info_flags(" ".join(tail)) for tail in tails if "getkeys-api" in (w.lower() for w in tail)
    ]
    shown = ", ".join(repr(t) for t in named)
    # what COMMAND INFO never shows (no-cluster, getchannels-api), which a declaration may copy from
    # the flags string, is not in what the string gives either
    invisible = policy.load("flags")["module_only_invisible"].keys()
    for command in movable:
        declared = command.flags - _NOT_COMPARED - invisible
        if any(flags == declared for flags in given):
            continue
        sink.add(
            "CMD013",
            f"{command.path}.flags",
            f"command {command.said} has movable keys, but no flags string of the binary that names "
            f"getkeys-api gives its flags ({', '.join(sorted(declared))}; the binary has {shown}): its keys "
            "are described by key specs, which cluster routing does not read",
            _GETKEYS_FIX,
        )


# Flags Redis shows or hides by version (module since 7.0, may_replicate hidden from 7.0.1, random
# ignored from 7.0): not compared between a flags string and a declaration.
_NOT_COMPARED = frozenset({"module", "may_replicate", "random"})


def _command_info_flags(text: str) -> frozenset[str]:
    """The COMMAND INFO names a flags string gives (no-cluster and getchannels-api show none)."""
    spelled = policy.load("flags")["module_to_command_info"]
    words = {w.lower() for w in text.split(" ") if w}
    return frozenset(spelled[w] for w in words if w in spelled) - _NOT_COMPARED


# The binary was read: the rule's own fix ("validate the bundle, or set [build] so") was done.
_GETKEYS_FIX = (
    "Implement getkeys-api: register the command with the getkeys-api flag, and answer "
    "RedisModule_IsKeysPositionRequest with RedisModule_KeyAtPos for each key."
)


def _generated(commands: list[Command], module: Module) -> list[Command]:
    """The entries Redis could have reported: RAMP copies overide_command/add_command entries
    into module.json as written (ramp.md §3.3), and no Redis reports a negative step."""
    written: set[str] = set()
    for key in ("overide_command", "add_command"):
        items = module.get(key)
        if isinstance(items, list):
            written |= {name.lower() for e in items if (name := _command_name(e)) is not None}
    return [c for c in commands if not c.routing_policy and (c.name is None or c.name.lower() not in written)]


def _command_name(entry: JSON) -> str | None:
    name = entry.get("command_name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) else None


def _check_names(commands: list[Command], sink: Sink) -> None:
    seen: dict[str, str] = {}
    for command in commands:
        name = command.name
        if name is None:
            continue
        path = f"{command.path}.command_name"
        if not name.strip():
            sink.add(
                "CMD001",
                path,
                f"{'name' if sink.toml else 'command_name'} is empty",
            )
            continue
        bad = (
            sorted({label for char, label in BLOCKED_NAME_CHARS.items() if char in name})
            if _BLOCKED_NAME.search(name)
            else None
        )
        parent, _, sub = name.partition("|")
        if bad:
            sink.add("CMD002", path, f"command name {name!r} contains {', '.join(bad)}")
        elif "|" in sub or ("|" in name and not (parent and sub)):
            # One level only: RedisModule_CreateSubcommand refuses a subcommand of a subcommand, and
            # 7.0 registers a subcommand name holding | where no call reaches it (7.2+ refuses it).
            sink.add(
                "CMD002",
                path,
                f"command name {name!r} is not container|subcommand: Redis has one level of subcommands",
            )
        elif "|" in name:
            sink.add("CMD022", path, f"{name!r} is a subcommand entry")
        folded = name.lower()
        if folded in seen:
            sink.add("CMD003", path, f"{name!r} duplicates {seen[folded]!r} (names are case-insensitive)")
        else:
            seen[folded] = name


def _check_native_names(commands: list[Command], target: tuple[int, ...] | None, sink: Sink) -> None:
    """CMD024: a name Redis has already. RedisModule_CreateCommand refuses a name in the command
    table, compared case-insensitively, and the module does not load (keyspecs.md §1.3;
    redis-server 7.0.15 refuses both get and GET). Judged for the Redis the module is for (the
    newest of its names when unknown): hexpire came in 7.4, so a 7.2 module may still use it."""
    native = policy.native_commands()
    for command in commands:
        name = command.name
        since = native.get(name.lower()) if name else None
        if since is None or (target is not None and since[: len(target)] > target):
            continue
        added = ".".join(map(str, since[:2]))
        sink.add(
            "CMD024",
            f"{command.path}.command_name",
            f"command name {name!r} is a Redis command (since Redis {added}): RedisModule_CreateCommand "
            "refuses a name already taken, so the module does not load",
            "Prefix the module's commands with the module name (hello.get, not get).",
        )


def _check_fields(command: Command, sink: Sink) -> None:
    raw = command.raw
    if "command_arity" not in raw:
        if sink.toml:  # a [[commands]] table spells it `arity`
            fix = "Add `arity = N` to its [[commands]] table (negative N: at least |N| arguments)."
            sink.add("CMD005", command.path, f"command {command.said} has no arity", fix)
        else:
            sink.add("CMD005", command.path, f"command {command.said} has no command_arity")
    elif command.arity == 0:
        sink.add("CMD004", f"{command.path}.command_arity", f"command {command.said} has arity 0")
    missing = [k for k in ("flags", "first_key", "last_key", "step") if k not in raw]
    if missing:
        sink.add("CMD006", command.path, f"command {command.said} has no {', '.join(missing)}")


def _check_flag_vocabulary(command: Command, sink: Sink) -> None:
    flags = command.raw.get("flags")
    if not isinstance(flags, list):
        return
    known, native, spelled, invisible = _vocabulary()
    try:
        if known.issuperset(flags):
            return  # every flag is a COMMAND INFO name (what a generated entry holds)
    except TypeError:
        pass  # an unhashable flag (a list or an object): looked at one by one below
    for index, flag in enumerate(flags):
        if not isinstance(flag, str) or flag in known:
            continue
        path = f"{command.path}.flags[{index}]"
        if flag in spelled:
            sink.add(
                "CMD008",
                path,
                f"flag {flag!r} is the RedisModule_CreateCommand spelling",
                f"Write {spelled[flag]!r}.",
            )
        elif flag in invisible:
            if not sink.toml:  # a modpack.toml copies the flags string: build leaves it out
                sink.add("CMD008", path, f"flag {flag!r} is a module flag: {invisible[flag]}", "Remove it.")
        elif flag in native:
            sink.add("CMD009", path, f"flag {flag!r} exists only on native Redis commands")
        else:
            hint = f"Write {flag.lower()!r}." if flag.lower() in known else ""
            sink.add("CMD007", path, f"unknown flag {flag!r}", hint)


def _check_flag_semantics(command: Command, target: tuple[int, ...] | None, sink: Sink) -> None:
    flags, path = command.flags, f"{command.path}.flags"
    writes = "write" in flags
    has_keys = command.has_keys
    if writes and "readonly" in flags:
        sink.add("CMD010", path, f"command {command.said} is both write and readonly")
    if has_keys and not _access_written(command) and not _arity_excludes_keys(command):
        sink.add(
            "CMD011",
            path,
            f"command {command.said} {_keys_said(command)} but is neither write nor readonly",
            _access_hint(command),
        )
    if "readonly" in flags and "denyoom" in flags:
        sink.add("CMD012", path, f"readonly command {command.said} has denyoom")
    if "no_auth" in flags and (writes or "denyoom" in flags or has_keys):
        sink.add("CMD014", path, f"no_auth command {command.said} touches data")
    if "loading" in flags and (writes or has_keys):
        sink.add("CMD015", path, f"command {command.said} runs while loading but touches data")
    if "no_mandatory_keys" in flags and not has_keys and command.first == 0:
        sink.add("CMD016", path, f"command {command.said} has no_mandatory_keys but no keys")
    if "stale" in flags and writes:
        sink.add("CMD017", path, f"write command {command.said} is allowed on stale replicas")
    if "random" in flags and target is not None and _redis7(target):
        sink.add("CMD018", path, f"command {command.said} has random, ignored by Redis {target[0]}")
    if "may_replicate" in flags and policy.may_replicate_hidden(target) and not sink.toml:
        # a modpack.toml may copy may-replicate from the flags string: build leaves it out
        shown = ".".join(map(str, target or ()))
        sink.add(
            "CMD019",
            path,
            f"command {command.said} has may_replicate, which Redis {shown} does not report"
            " (hidden from 7.0.1)",
        )
    if "admin" in flags and "skip_monitor" in flags:
        sink.add("CMD021", path, f"admin command {command.said} also has skip_monitor")


def _access_written(command: Command) -> bool:
    """Whether the entry says write or readonly, or cannot say anything: flags that are no list are
    SCH002's, and WRITE is CMD007's (CMD011 said "neither write nor readonly" of both)."""
    raw = command.raw.get("flags")
    if not isinstance(raw, list):
        return True
    return any(isinstance(f, str) and f.strip().lower() in ("write", "readonly") for f in raw)


def _check_module_flag(commands: list[Command], target: tuple[int, ...] | None, sink: Sink) -> None:
    with_flags = [c for c in commands if isinstance(c.raw.get("flags"), list)]
    if target is None or not with_flags:
        return
    marked = [c for c in with_flags if "module" in c.flags]
    # None marked is not judged: a module.json written by hand has no `module` flag (the Redis
    # Enterprise docs' POST body is {"flags": ["write"], ...} beside compatible_redis_version),
    # and a list Redis 6.x generated looks the same. Some marked and some not is a mixed list.
    if _redis7(target) and marked and len(marked) < len(with_flags):
        sink.add(
            "CMD020",
            "commands",
            f"{len(with_flags) - len(marked)} of {len(with_flags)} commands lack the `module` flag that "
            f"Redis {'.'.join(map(str, target))} reports on every module command",
        )
    elif not _redis7(target) and marked:
        sink.add(
            "CMD020",
            "commands",
            f"{len(marked)} commands carry the `module` flag, which Redis "
            f"{'.'.join(map(str, target))} never reports",
        )


def _redis7(target: tuple[int, ...]) -> bool:
    """Redis 7.0 or later: `module` on every module command, `random` ignored (keyspecs.md §1.6-7)."""
    return target >= (7,)  # mutate: equivalent -- versions have 2 or 3 parts, so >= and > agree


def _triple(command: Command) -> str:
    return f"{command.first},{command.last},{command.step}"


def _keys_said(command: Command) -> str:
    """How the command takes keys: by its triple, or for movablekeys with 0,0,0 at run time
    (getkeys-api or key specs), where "takes keys (0,0,0)" read as a contradiction."""
    if "movablekeys" in command.flags and (command.first, command.last, command.step) == (0, 0, 0):
        return "takes movable keys (found by getkeys-api or key specs; first/last/step 0,0,0)"
    return f"takes keys ({_triple(command)})"


def _arity_excludes_keys(command: Command) -> bool:
    """A fixed arity that leaves no argument at first_key: the command takes no key (KEY004)."""
    arity, first = command.arity, command.first
    return arity is not None and arity > 0 and first is not None and first > arity - 1


def _access_hint(command: Command) -> str:
    """Add an access flag, unless the key positions are what is wrong.

    Redis never checks the triple (keyspecs.md §1.1), and a module command's arity is -1 unless
    RM_SetCommandInfo sets it (§2), so whether argument `first_key` really is a key cannot be
    told from module.json: a triple copied onto a command that takes no key is as likely as a
    missing flag, the more so when the flags string was empty.
    """
    if command.first is None or command.first <= 0:
        return "Add write or readonly."
    name, triple = command.name, _triple(command)
    # `module` is Redis's own; movablekeys may come from key specs or from the flags string's
    # getkeys-api, so a command showing it may have had a flags string: no remark then
    empty = (
        "Its flags are empty, as if the registration was never filled in. "
        if not (command.flags - {"module"})
        else ""
    )
    # A module with key specs registers 0,0,0 and Redis derives the triple from them (§3.5).
    return (
        f"{empty}If {name} reads or writes the key at argument {command.first}, add write or readonly. "
        f"If it takes no key, the key positions {triple} are wrong too: register it with 0,0,0 and no"
        " key spec (Redis 7 derives first/last/step from RedisModule_SetCommandInfo's key specs)."
    )


def _check_no_multi_key(module: Module, commands: list[Command], sink: Sink) -> None:
    """no_multi_key promises Redis Enterprise that no command takes several keys (§3 of
    redis-enterprise.md); the key positions of the commands can contradict it."""
    capabilities = module.get("capabilities")
    if not isinstance(capabilities, list) or "no_multi_key" not in capabilities:
        return
    several = [(c, reason) for c in commands if (reason := _several_keys(c))]
    if not several:
        return
    shown = "; ".join(f"{c.name} ({reason})" for c, reason in several[:5])
    more = f" and {len(several) - 5} more" if len(several) > 5 else ""
    sink.add(
        "CAP005",
        f"capabilities[{capabilities.index('no_multi_key')}]",
        f"no_multi_key is declared, but {len(several)} command(s) take several keys: {shown}{more}",
    )


def clustered(module: Module) -> bool:
    """Whether the module declares the clustering capability (a sharded database)."""
    capabilities = module.get("capabilities")
    return isinstance(capabilities, list) and "clustering" in capabilities


NO_CLUSTER_EFFECT = (
    "redis-server with cluster-enabled yes refuses to register a no-cluster command "
    "(RedisModule_CreateCommand returns an error), so an OnLoad that checks it fails and the module "
    "does not load"
)
NO_CLUSTER_FIX = (
    "Drop no-cluster and refuse the command at run time in a cluster (RedisModule_GetContextFlags "
    "and REDISMODULE_CTX_FLAGS_CLUSTER), or drop clustering from capabilities."
)


def _check_no_cluster(module: Module, commands: list[Command], sink: Sink) -> None:
    """CAP006: a no-cluster command in a module that declares clustering (keyspecs.md §1.1, check
    3; measured on redis-server 7.0.15 with --cluster-enabled yes). A warning: how Redis Enterprise
    runs a sharded database's shards is not published (§8)."""
    if not clustered(module):
        return
    for command in commands:
        flags = command.raw.get("flags")
        words = [f.lower() if isinstance(f, str) else "" for f in flags] if isinstance(flags, list) else []
        if "no-cluster" in words:
            sink.add(
                "CAP006",
                f"{command.path}.flags[{words.index('no-cluster')}]",
                f"command {command.said} is no-cluster, and capabilities has clustering: "
                + NO_CLUSTER_EFFECT,
                NO_CLUSTER_FIX,
            )


def _several_keys(command: Command) -> str:
    """Why the command can take more than one key, or "" when it cannot (or it is unknown)."""
    if "movablekeys" in command.flags:
        return "movable keys"
    first, last, step, arity = command.first, command.last, command.step, command.arity
    if first is None or last is None or step is None or first <= 0 or step <= 0:
        return ""  # no keys, a routing policy, or a triple the KEY rules report
    if last >= 0:
        return f"keys {first} to {last}, step {step}" if last - first >= step else ""
    if arity is not None and arity > 0:  # mutate: equivalent -- arity 0 or 1 leaves no second key
        resolved = arity + last
        return f"keys {first} to {resolved}, step {step}" if resolved - first >= step else ""
    if arity is not None and arity < 0:
        return f"keys {first} to {_from_the_end(last)} (last_key {last}), step {step}"
    return ""  # mutate: equivalent -- None is as false as ""


def _from_the_end(last: int) -> str:
    """A negative last_key as words: -1 the last argument, -2 the one before it (keyspecs.md §2)."""
    if last == -1:
        return "the last argument"
    if last == -2:
        return "the argument before the last"
    n = -last
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"the {n}{suffix} argument from the end"


def key_range_rule(first: int, last: int, step: int, name: str | None) -> str | None:
    """The rule _check_key_range says first of these key positions (it says one at most of these
    and stops), or None: what --load's LOAD027 leaves to it when they are what Redis registered."""
    if step < 0:
        return "KEY008" if step not in ROUTING_POLICIES else None
    if first < 0:
        return "KEY001"
    if first == 0:
        return "KEY005" if last != 0 or step != 0 else None
    if step == 0:
        return "KEY002"
    if 0 <= last < first:
        return "KEY003"
    if first == 1 and name is not None and "|" in name:
        return "KEY009"
    return None


def _check_key_range(command: Command, sink: Sink, *, reported: bool = False) -> None:
    """`reported`: the entry is what Redis 7+ reported (a module.json for Redis 7 or later)."""
    first, last, step, arity = command.first, command.last, command.step, command.arity
    if first is None or last is None or step is None:
        return
    name, path = command.name, command.path
    if step < 0:
        if step not in ROUTING_POLICIES:
            sink.add("KEY008", f"{path}.step", f"command {command.said} has step {step}")
        return
    if first < 0:
        sink.add("KEY001", f"{path}.first_key", f"command {command.said} has first_key {first}")
        return
    if first == 0:
        if last != 0 or step != 0:
            message = f"command {command.said} has first_key 0 but last_key {last}, step {step}"
            if reported:
                # Redis 7 drops last/step of a CreateCommand first_key 0 (it prints 0,0,0); it
                # shows them only for a key spec at index 0, which makes the command name itself
                # the key: COMMAND GETKEYS answers the name (redis-server 7.0.15 and 8.0.2).
                message += (
                    ", which Redis 7 reports only for a key spec at index 0: the command name itself is "
                    "then taken for a key"
                )
            sink.add("KEY005", path, message)
        return
    if step == 0:
        sink.add("KEY002", f"{path}.step", f"command {command.said} has keys ({first},{last}) but step 0")
        return
    if 0 <= last < first:
        sink.add(
            "KEY003", f"{path}.last_key", f"command {command.said} has last_key {last} < first_key {first}"
        )
        return
    if first == 1 and name is not None and "|" in name:
        sink.add(
            "KEY009",
            f"{path}.first_key",
            f"subcommand {name!r} has first_key 1, the subcommand's own name: Redis routes every call by "
            f"{name.split('|', 1)[1]!r}, not by a key",
            "Key positions of a subcommand count the container's name as 0 and its own as 1: the first "
            "key is at 2 or later.",
        )
        return
    # From here first >= 1, step >= 1, and last >= first or negative.
    # A getkeys-api command's keys come from its callback, never from the triple (src/db.c,
    # getKeysFromCommand asks the module first): COMMAND GETKEYS of 1,2,1 with arity -2 is `src`.
    by_callback = bool(command.flags & {"movablekeys", "getkeys-api"})
    if arity is not None and arity > 0:
        _check_fixed_arity(command, (first, last, step), arity, sink, by_callback=by_callback)
        return
    if last >= 0 and (last - first) % step and not by_callback:
        _say_step_misses_last(command, first, last, step, sink)
    elif arity is not None and arity < _default_arity(command):
        # The default arity, what Redis reports for a module command whose arity was never set
        # (keyspecs.md §2, §1.4), states no minimum: only an explicit -N can leave a minimal call
        # keyless.
        _check_minimum_arity(command, (first, last), -arity, sink, by_callback=by_callback)


def _default_arity(command: Command) -> int:
    """-1 for a command, -2 for a `parent|sub` subcommand: RedisModule_CreateSubcommand gives
    every subcommand arity -2 until RedisModule_SetCommandInfo sets one (src/module.c, measured
    on redis-server 7.0.15 and 8.0.2), so a subcommand entry of arity -2 states no minimum."""
    return -2 if command.name is not None and "|" in command.name else -1


def _check_fixed_arity(
    command: Command, keys: tuple[int, int, int], arity: int, sink: Sink, *, by_callback: bool
) -> None:
    first, last, step = keys
    path = command.path
    resolved = last if last >= 0 else arity + last  # mutate: equivalent -- last is never 0 here
    if first > arity - 1:
        sink.add(
            "KEY004",
            f"{path}.first_key",
            f"command {command.said} has arity {arity} but first_key {first}: no call has an argument "
            "there, so it takes no key",
            "If the command takes no key, register it with 0,0,0; otherwise fix the arity.",
        )
    elif last > arity - 1:
        sink.add(
            "KEY004", f"{path}.last_key", f"command {command.said} has arity {arity} but last_key {last}"
        )
    elif resolved < first:
        sink.add(
            "KEY004",
            f"{path}.last_key",
            f"command {command.said}: last_key {last} resolves to {resolved}, before first_key {first}",
        )
    elif (resolved - first) % step and last >= 0 and not by_callback:
        # A negative last_key with a step is Redis's "groups to the end" (MSET is 1,-1,2 in COMMAND
        # INFO): the arguments after the last key are its values, which no step reaches. Only a
        # last_key written as a position names a key the step must land on.
        _say_step_misses_last(command, first, last, step, sink)


def _say_step_misses_last(command: Command, first: int, last: int, step: int, sink: Sink) -> None:
    """KEY006: Redis takes keys at first, first+step, ... while <= last (src/db.c,
    getKeysUsingLegacyRangeSpec), whatever the arity: COMMAND GETKEYS of 1,2,2 is the first only."""
    sink.add(
        "KEY006",
        f"{command.path}.step",
        f"command {command.said}: keys {first}..{last} step {step} never reach {last}",
    )


def _check_minimum_arity(
    command: Command, keys: tuple[int, int], minimum: int, sink: Sink, *, by_callback: bool
) -> None:
    first, last = keys
    path = command.path
    if first > minimum - 1:
        sink.add(
            "KEY007",
            f"{path}.first_key",
            f"command {command.said} (arity -{minimum}) may be called with {minimum} arguments, its name"
            f" included, but its first key is at {first}",
        )
    elif minimum + last < first:  # only a negative last_key can resolve before first_key
        sink.add(
            "KEY007",
            f"{path}.last_key",
            f"command {command.said} (arity -{minimum}): in a call of {minimum} arguments, its name included,"
            f" last_key {last} resolves before first_key {first}",
        )
    elif last >= minimum and not by_callback:
        # Redis gives up on every key of a call that has no argument at last_key, the first too
        # (src/db.c, getKeysUsingLegacyRangeSpec: `j >= argc` of a module command returns no key;
        # getKeysUsingKeySpecs, which ACLs and COMMAND GETKEYS use, refuses the call): redis-server
        # 7.0.15 in cluster mode ran 1,2,1's `x.copy src` on a node that serves no slot.
        sink.add(
            "KEY007",
            f"{path}.last_key",
            f"command {command.said} (arity -{minimum}) may be called with {minimum} arguments, its name"
            f" included, but its last_key is {last}: a call of fewer"
            f" than {last + 1} arguments has no key for Redis, not even its first, and runs on whichever"
            " shard received it",
            "Give last_key -1 if every argument from first_key on is a key; an optional key needs"
            f" getkeys-api (a key spec is not read for it); or make the arity -{last + 1} if the command"
            " needs that many.",
        )
