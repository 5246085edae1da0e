"""Checks of `commands[]`: names, arity, flags and the first_key/last_key/step triple.

Redis never validates a module command's key triple (keyspecs.md §1.1); a wrong one lies dormant
until key extraction runs in a clustered database and then routes keys to the wrong shard, hangs
or crashes the shard (§1.2). These rules follow keyspecs.md §2 and §4, with the Redis Enterprise
convention that a negative step is a proxy routing policy (ramp.md §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modpack import policy, versions
from modpack.findings import Sink

BLOCKED_NAME_CHARS = {" ": "a space", "\r": "CR", "\n": "LF", "@": "@", "=": "=", ",": ","}
ROUTING_POLICIES = (-1, -2, -3)


@dataclass(frozen=True)
class Command:
    """One command entry, with each field None when absent or of the wrong type."""

    path: str
    name: str | None
    arity: int | None
    flags: frozenset[str]
    first: int | None
    last: int | None
    step: int | None
    raw: dict[str, Any]

    @property
    def routing_policy(self) -> bool:
        return self.step is not None and self.step < 0

    @property
    def has_keys(self) -> bool:
        if "movablekeys" in self.flags:
            return True
        return not self.routing_policy and self.first is not None and self.first > 0


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def _parse(entry: dict[str, Any], path: str) -> Command:
    flags = entry.get("flags")
    names = frozenset(f for f in flags if isinstance(f, str)) if isinstance(flags, list) else frozenset()
    spelled = policy.module_flag_spellings()
    name = entry.get("command_name")
    return Command(
        path=path,
        name=name if isinstance(name, str) else None,
        arity=_int(entry.get("command_arity")),
        flags=frozenset(spelled.get(f, f) for f in names),
        first=_int(entry.get("first_key")),
        last=_int(entry.get("last_key")),
        step=_int(entry.get("step")),
        raw=entry,
    )


def target_redis(module: dict[str, Any]) -> tuple[int, ...] | None:
    """The Redis version the entries are meant for: compatible_redis_version, else the minimum."""
    for key in ("compatible_redis_version", "min_redis_version"):
        value = module.get(key)
        if isinstance(value, str) and value:
            parsed = versions.parse_redis_version(value)
            if parsed is not None and parsed[:2] != (99, 99):
                return parsed
    return None


def check_commands(module: dict[str, Any], sink: Sink) -> None:
    entries = module.get("commands")
    if not isinstance(entries, list):
        return
    commands = [_parse(e, f"commands[{i}]") for i, e in enumerate(entries) if isinstance(e, dict)]
    target = target_redis(module)
    _check_names(commands, sink)
    for command in commands:
        _check_fields(command, sink)
        _check_flag_vocabulary(command, sink)
        _check_flag_semantics(command, target, sink)
        _check_key_range(command, sink)
    _check_module_flag(commands, target, sink)


def _check_names(commands: list[Command], sink: Sink) -> None:
    seen: dict[str, str] = {}
    for command in commands:
        name = command.name
        if name is None:
            continue
        path = f"{command.path}.command_name"
        if not name.strip():
            sink.add("CMD001", path, "command_name is empty")
            continue
        bad = sorted({label for char, label in BLOCKED_NAME_CHARS.items() if char in name})
        if bad:
            sink.add("CMD002", path, f"command name {name!r} contains {', '.join(bad)}")
        elif "|" in name:
            sink.add("CMD022", path, f"{name!r} is a subcommand entry")
        folded = name.lower()
        if folded in seen:
            sink.add("CMD003", path, f"{name!r} duplicates {seen[folded]!r} (names are case-insensitive)")
        else:
            seen[folded] = name


def _check_fields(command: Command, sink: Sink) -> None:
    raw = command.raw
    if "command_arity" not in raw:
        sink.add("CMD005", command.path, f"command {command.name!r} has no command_arity")
    elif command.arity == 0:
        sink.add("CMD004", f"{command.path}.command_arity", f"command {command.name!r} has arity 0")
    missing = [k for k in ("flags", "first_key", "last_key", "step") if k not in raw]
    if missing:
        sink.add("CMD006", command.path, f"command {command.name!r} has no {', '.join(missing)}")


def _check_flag_vocabulary(command: Command, sink: Sink) -> None:
    flags = command.raw.get("flags")
    if not isinstance(flags, list):
        return
    known = policy.command_info_flags()
    native = policy.native_only_flags()
    spelled = policy.module_flag_spellings()
    invisible = policy.load("flags")["module_only_invisible"]
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
            sink.add("CMD008", path, f"flag {flag!r} is a module flag: {invisible[flag]}", "Remove it.")
        elif flag in native:
            sink.add("CMD009", path, f"flag {flag!r} exists only on native Redis commands")
        else:
            hint = f"Write {flag.lower()!r}." if flag.lower() in known else ""
            sink.add("CMD007", path, f"unknown flag {flag!r}", hint)


def _check_flag_semantics(command: Command, target: tuple[int, ...] | None, sink: Sink) -> None:
    flags, path, name = command.flags, f"{command.path}.flags", command.name
    writes = "write" in flags
    if writes and "readonly" in flags:
        sink.add("CMD010", path, f"command {name!r} is both write and readonly")
    if command.has_keys and not (writes or "readonly" in flags):
        sink.add("CMD011", path, f"command {name!r} takes keys but is neither write nor readonly")
    if "readonly" in flags and "denyoom" in flags:
        sink.add("CMD012", path, f"readonly command {name!r} has denyoom")
    if "movablekeys" in flags:
        sink.add("CMD013", path, f"command {name!r} has movable keys")
    if "no_auth" in flags and (writes or "denyoom" in flags or command.has_keys):
        sink.add("CMD014", path, f"no_auth command {name!r} touches data")
    if "loading" in flags and (writes or command.has_keys):
        sink.add("CMD015", path, f"command {name!r} runs while loading but touches data")
    if "no_mandatory_keys" in flags and not command.has_keys and command.first == 0:
        sink.add("CMD016", path, f"command {name!r} has no_mandatory_keys but no keys")
    if "stale" in flags and writes:
        sink.add("CMD017", path, f"write command {name!r} is allowed on stale replicas")
    if "random" in flags and target is not None and target >= (7,):
        sink.add("CMD018", path, f"command {name!r} has random, ignored by Redis {target[0]}")
    if "may_replicate" in flags:
        sink.add("CMD019", path, f"command {name!r} has may_replicate")
    if "admin" in flags and "skip_monitor" in flags:
        sink.add("CMD021", path, f"admin command {name!r} also has skip_monitor")


def _check_module_flag(commands: list[Command], target: tuple[int, ...] | None, sink: Sink) -> None:
    with_flags = [c for c in commands if isinstance(c.raw.get("flags"), list)]
    if target is None or not with_flags:
        return
    marked = [c for c in with_flags if "module" in c.flags]
    if target >= (7,) and len(marked) < len(with_flags):
        sink.add(
            "CMD020",
            "commands",
            f"{len(with_flags) - len(marked)} of {len(with_flags)} commands lack the `module` flag that "
            f"Redis {'.'.join(map(str, target))} reports on every module command",
        )
    elif target < (7,) and marked:
        sink.add(
            "CMD020",
            "commands",
            f"{len(marked)} commands carry the `module` flag, which Redis "
            f"{'.'.join(map(str, target))} never reports",
        )


def _check_key_range(command: Command, sink: Sink) -> None:
    first, last, step, arity = command.first, command.last, command.step, command.arity
    if first is None or last is None or step is None:
        return
    name, path = command.name, command.path
    if step < 0:
        if step not in ROUTING_POLICIES:
            sink.add("KEY008", f"{path}.step", f"command {name!r} has step {step}")
        return
    if first < 0:
        sink.add("KEY001", f"{path}.first_key", f"command {name!r} has first_key {first}")
        return
    if first == 0:
        if last != 0 or step != 0:
            sink.add("KEY005", path, f"command {name!r} has first_key 0 but last_key {last}, step {step}")
        return
    if step == 0:
        sink.add("KEY002", f"{path}.step", f"command {name!r} has keys ({first},{last}) but step 0")
        return
    if 0 <= last < first:
        sink.add("KEY003", f"{path}.last_key", f"command {name!r} has last_key {last} < first_key {first}")
        return
    if arity is not None and arity > 0:
        _check_fixed_arity(command, arity, sink)
    elif arity is not None and arity < -1:
        # -1 is what Redis reports for a module command whose arity was never set (keyspecs.md
        # §2): it states no minimum, so only an explicit -N can leave a minimal call keyless.
        _check_minimum_arity(command, -arity, sink)


def _check_fixed_arity(command: Command, arity: int, sink: Sink) -> None:
    first, last, step = command.first or 0, command.last or 0, command.step or 1
    name, path = command.name, command.path
    resolved = last if last >= 0 else arity + last
    if first > arity - 1:
        sink.add("KEY004", f"{path}.first_key", f"command {name!r} has arity {arity} but first_key {first}")
    elif last >= 0 and last > arity - 1:
        sink.add("KEY004", f"{path}.last_key", f"command {name!r} has arity {arity} but last_key {last}")
    elif resolved < first:
        sink.add(
            "KEY004",
            f"{path}.last_key",
            f"command {name!r}: last_key {last} resolves to {resolved}, before first_key {first}",
        )
    elif step > 1 and (resolved - first) % step:
        sink.add(
            "KEY006",
            f"{path}.step",
            f"command {name!r}: keys {first}..{resolved} step {step} never reach {resolved}",
        )


def _check_minimum_arity(command: Command, minimum: int, sink: Sink) -> None:
    first, last = command.first or 0, command.last or 0
    name, path = command.name, command.path
    if first > minimum - 1:
        sink.add(
            "KEY007",
            f"{path}.first_key",
            f"command {name!r} accepts {minimum} arguments, but its first key is at {first}",
        )
    elif last < 0 and minimum + last < first:
        sink.add(
            "KEY007",
            f"{path}.last_key",
            f"command {name!r}: with {minimum} arguments last_key {last} resolves before first_key {first}",
        )
