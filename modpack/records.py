"""RAMP's records of its command edits in module.json: `exclude_commands` (names of commands the
module registers that module.json leaves out on purpose), `add_command` (entries added by hand,
which a plugin registers) and `overide_command` (entries that replace what the module registers,
on purpose), ramp.md §3.3. modpack.toml keeps them under [module]. Read by `validate
--load` (modpack.redis.compare), `build --discover` and `discover --write` (modpack.redis.discover),
and each build (modpack.builder); imports nothing of modpack's, so any of them may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modpack.types import JSON, Module


def recorded(module: Mapping[str, JSON], key: str) -> set[str]:
    """The command names (case-folded, as Redis compares them) a record of RAMP's edits names:
    strings (exclude_commands, and modpack.toml's add_command) or entries with a command_name
    (add_command in module.json)."""
    items = module.get(key)
    if not isinstance(items, list):
        return set()
    names = (item.get("command_name") if isinstance(item, dict) else item for item in items)
    return {name.casefold() for name in names if isinstance(name, str)}


def folded_name(entry: JSON) -> str | None:
    """A commands[] entry's command_name, case-folded; None for an entry without a name."""
    name = entry.get("command_name") if isinstance(entry, dict) else None
    return name.casefold() if isinstance(name, str) else None


def refresh_added(module: Module) -> None:
    """add_command as the module's current entries of the commands it names: a build
    canonicalises the flags of `commands` for its target, and the record must say the same."""
    names = recorded(module, "add_command")
    commands = module.get("commands")
    if names and isinstance(commands, list):
        module["add_command"] = [dict(c) for c in commands if isinstance(c, dict) and folded_name(c) in names]


def excluded_by(name: str, excluded: set[str]) -> bool:
    """Whether a registered command (or subcommand, `container|sub`) is one `excluded` names:
    by its own name, or by its container's."""
    return name.casefold() in excluded or name.split("|", 1)[0].casefold() in excluded


def unregistered_exclusions(module: Mapping[str, JSON], registered: set[str]) -> list[tuple[int, str]]:
    """(index, name) of each exclude_commands name no command in `registered` (case-folded names)
    has: it excludes nothing, and a misspelling leaves the command it meant in module.json."""
    items = module.get("exclude_commands")
    return [
        (index, name)
        for index, name in enumerate(items if isinstance(items, list) else [])
        if isinstance(name, str) and name.casefold() not in registered
    ]


def unmatched_exclusion(name: str) -> str:
    """LOAD028's message for an exclude_commands name no registered command has, said alike by
    `validate --load`, `build --discover` and a RAMP-way build. Information: a build of the module
    may lack the command (a light build of RediSearch), and a name near a kept one is no proof of
    a typo (mget beside get, ts.madd beside ts.add, _FT.CONFIG beside FT.CONFIG)."""
    return f"exclude_commands names {name!r}, which the module does not register"
