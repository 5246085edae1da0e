"""What Redis reports about a module and its commands, parsed from RESP2 replies.

COMMAND INFO has 7 elements on 6.x and 10 on 7.0+ (keyspecs.md §3.7): name, arity, flags,
first_key, last_key, step, ACL categories, then tips, key specs and subcommands on 7.0+. A key
spec is a flat RESP2 map: flags, begin_search {type, spec}, find_keys {type, spec}, maybe notes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from modpack import versions
from modpack.redis.harness import HarnessError, Reply
from modpack.types import JSON, Module

SpecValue = int | str


@dataclass(frozen=True)
class KeySpec:
    flags: tuple[str, ...]
    begin_search: str  # index | keyword | unknown
    begin: dict[str, SpecValue]
    find_keys: str  # range | keynum | unknown
    find: dict[str, SpecValue]
    notes: str = ""

    def begin_int(self, key: str) -> int:
        value = self.begin.get(key, 0)
        return value if isinstance(value, int) else 0

    def find_int(self, key: str) -> int:
        value = self.find.get(key, 0)
        return value if isinstance(value, int) else 0

    def as_json(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {
            "flags": list(self.flags),
            "begin_search": {"type": self.begin_search, "spec": dict(self.begin)},
            "find_keys": {"type": self.find_keys, "spec": dict(self.find)},
        }
        if self.notes:
            data["notes"] = self.notes
        return data

    def describe(self) -> str:
        """`RW update; index 3; range lastkey 0 keystep 1 limit 0`, for messages and comments."""
        parts = [
            " ".join(self.flags),
            _describe(self.begin_search, self.begin),
            _describe(self.find_keys, self.find),
        ]
        if self.notes:
            parts.append(f"notes {json.dumps(self.notes)}")
        return "; ".join(parts)


def _describe(kind: str, spec: dict[str, SpecValue]) -> str:
    """`index 3` or `keyword "KEYS" startfrom 1` or `range lastkey 0 keystep 1 limit 0`."""
    words = [f"{key} {json.dumps(value)}" for key, value in spec.items()]
    if next(iter(spec), None) != kind:
        words.insert(0, kind)
    return " ".join(words)


@dataclass(frozen=True)
class CommandInfo:
    name: str
    arity: int
    flags: tuple[str, ...]
    first_key: int
    last_key: int
    step: int
    key_specs: tuple[KeySpec, ...] = ()
    docs: dict[str, str] = field(default_factory=dict)

    @property
    def is_subcommand(self) -> bool:
        return "|" in self.name

    @property
    def movable(self) -> bool:
        return "movablekeys" in self.flags

    def as_table(self) -> dict[str, JSON]:
        """A modpack.toml [[commands]] table."""
        return {
            "name": self.name,
            "arity": self.arity,
            "flags": list(self.flags),
            "first_key": self.first_key,
            "last_key": self.last_key,
            "step": self.step,
        }

    def as_module_json(self) -> Module:
        """A module.json commands[] entry, as RAMP writes it."""
        return {
            "command_name": self.name,
            "command_arity": self.arity,
            "flags": list(self.flags),
            "first_key": self.first_key,
            "last_key": self.last_key,
            "step": self.step,
        }

    def as_json(self) -> dict[str, JSON]:
        data = self.as_table()
        data["key_specs"] = [spec.as_json() for spec in self.key_specs]
        if self.docs:
            data["docs"] = dict(self.docs)
        return data


@dataclass(frozen=True)
class Discovery:
    """A module as one redis-server registered it."""

    so_path: str
    redis_version: str
    module_name: str
    module_version: int
    args: tuple[str, ...]
    commands: tuple[CommandInfo, ...]
    redis_origin: str = ""  # which redis-server, when not this machine's: "aarch64, emulated"
    internal: tuple[CommandInfo, ...] = ()  # `internal` commands (8.0+), hidden from COMMAND
    # commands COMMAND LIST names and COMMAND INFO answers nil for: an empty name, or one with a
    # `|` (which 7.0.15 registers as a command of its own, and COMMAND INFO reads as parent|sub)
    undescribed: tuple[str, ...] = ()

    @property
    def redis_version_tuple(self) -> tuple[int, ...]:
        return versions.parse_redis_version(self.redis_version) or (0, 0, 0)

    @property
    def semantic_version(self) -> str:
        return ".".join(str(n) for n in versions.decode(self.module_version))

    def selected(self, include_subcommands: bool) -> tuple[CommandInfo, ...]:
        return tuple(c for c in self.commands if include_subcommands or not c.is_subcommand)


# --- parsing replies --------------------------------------------------------------------------


def as_list(reply: Reply, what: str) -> list[Reply]:
    if not isinstance(reply, list):
        raise HarnessError(f"unexpected reply to {what}: {reply!r:.200}")
    return reply


def as_int(reply: Reply, what: str) -> int:
    if isinstance(reply, int):
        return reply
    raise HarnessError(f"unexpected reply to {what}: {reply!r:.200}")


def as_str(reply: Reply, what: str) -> str:
    if isinstance(reply, str):
        return reply
    raise HarnessError(f"unexpected reply to {what}: {reply!r:.200}")


def pairs(reply: Reply, what: str) -> Iterator[tuple[str, Reply]]:
    """A RESP2 flat map [k1, v1, k2, v2, ...] as (key, value) pairs."""
    items = as_list(reply, what)
    for index in range(0, len(items) - 1, 2):
        yield as_str(items[index], what), items[index + 1]


def parse_command_info(entry: Reply) -> list[CommandInfo]:
    """One COMMAND INFO entry: the command, then its subcommands (7.0+ element 9). A subcommand
    registered with the `internal` flag (8.0+) is a nil there for a client that is not internal
    (redis-server 8.0.2): hidden, as COMMAND LIST hides it, and left out here too."""
    items = as_list(entry, "COMMAND INFO")
    if len(items) < 6:
        raise HarnessError(f"COMMAND INFO entry has {len(items)} elements, expected at least 6")
    what = f"COMMAND INFO {items[0]!r}"
    command = CommandInfo(
        name=as_str(items[0], what),
        arity=as_int(items[1], what),
        flags=tuple(as_str(f, what) for f in as_list(items[2], what)),
        first_key=as_int(items[3], what),
        last_key=as_int(items[4], what),
        step=as_int(items[5], what),
        key_specs=tuple(parse_key_spec(s) for s in as_list(items[8], what)) if len(items) > 8 else (),
    )
    subcommands = as_list(items[9], what) if len(items) > 9 else []
    return [command] + [info for sub in subcommands if sub is not None for info in parse_command_info(sub)]


def parse_key_spec(reply: Reply) -> KeySpec:
    spec = dict(pairs(reply, "a key spec"))
    begin_type, begin = _typed_spec(spec.get("begin_search"))
    find_type, find = _typed_spec(spec.get("find_keys"))
    flags = as_list(spec.get("flags", []), "key spec flags")
    notes = spec.get("notes")
    return KeySpec(
        flags=tuple(as_str(f, "key spec flags") for f in flags),
        begin_search=begin_type,
        begin=begin,
        find_keys=find_type,
        find=find,
        notes=notes if isinstance(notes, str) else "",
    )


def _typed_spec(reply: Reply) -> tuple[str, dict[str, SpecValue]]:
    """`{type: index, spec: {index: 1}}` as ("index", {"index": 1})."""
    if reply is None:
        return "unknown", {}
    part = dict(pairs(reply, "a key spec"))
    kind = part.get("type")
    values: dict[str, SpecValue] = {}
    for key, value in pairs(part.get("spec", []), "a key spec"):
        if isinstance(value, int | str):
            values[key] = value
    return (kind if isinstance(kind, str) else "unknown"), values


def parse_docs(reply: Reply) -> dict[str, dict[str, str]]:
    """COMMAND DOCS: name -> its string fields (summary, since, complexity, group, module)."""
    docs: dict[str, dict[str, str]] = {}
    for name, doc in pairs(reply, "COMMAND DOCS"):
        docs[name] = {k: v for k, v in pairs(doc, "COMMAND DOCS") if isinstance(v, str)}
    return docs


def parse_module_list(reply: Reply) -> dict[str, int]:
    """MODULE LIST: module name -> numeric version."""
    modules: dict[str, int] = {}
    for entry in as_list(reply, "MODULE LIST"):
        fields = dict(pairs(entry, "MODULE LIST"))
        modules[as_str(fields.get("name"), "MODULE LIST")] = as_int(fields.get("ver"), "MODULE LIST")
    return modules
