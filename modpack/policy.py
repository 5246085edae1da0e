"""Policy data (platforms, capabilities, flag vocabularies), loaded once from `modpack/data/`."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def load(name: str) -> dict[str, Any]:
    text = (resources.files("modpack") / "data" / f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def operating_systems() -> dict[str, dict[str, Any]]:
    systems: dict[str, dict[str, Any]] = load("platforms")["operating_systems"]
    return systems


@functools.cache
def os_aliases() -> dict[str, str]:
    """Every accepted spelling (rhel9, rocky9, ubuntu22.04) mapped to its canonical id."""
    return {alias: key for key, info in operating_systems().items() for alias in info["aliases"]}


def canonical_os(name: str) -> str | None:
    return os_aliases().get(name.lower())


def capabilities() -> dict[str, str]:
    caps: dict[str, str] = load("capabilities")["capabilities"]
    return caps


def capability_misspellings() -> dict[str, str]:
    wrong: dict[str, str] = load("capabilities")["misspellings"]
    return wrong


def command_info_flags() -> frozenset[str]:
    return frozenset(load("flags")["command_info"])


def native_only_flags() -> frozenset[str]:
    return frozenset(load("flags")["native_only"])


def module_flag_spellings() -> dict[str, str]:
    """RedisModule_CreateCommand flag string -> COMMAND INFO name (keyspecs.md §1.8)."""
    mapping: dict[str, str] = load("flags")["module_to_command_info"]
    return mapping


def canonical_flags(flags: list[object], target: tuple[int, ...] | None) -> list[str]:
    """COMMAND INFO spellings in Redis 7's emission order, with `module` for Redis 7+ targets.

    Redis 7 reports `module` on every module command and 6.x never does (keyspecs.md §1.7).
    """
    spelled = module_flag_spellings()
    order: list[str] = load("flags")["command_info"]
    names = {spelled.get(f, f) for f in flags if isinstance(f, str)}
    if target is not None and target >= (7,):
        names.add("module")
    elif target is not None:
        names.discard("module")  # what `discover` copied from a Redis 7 server, for a 6.x target
    return sorted(names, key=lambda f: (order.index(f) if f in order else len(order), f))


def canonicalise_commands(commands: object, target: tuple[int, ...] | None) -> None:
    """Every command's flags in place, as canonical_flags spells them for the `target` Redis:
    what modpack.toml declares and what a build writes, normalised one way."""
    for command in commands if isinstance(commands, list) else []:
        if isinstance(command, dict) and isinstance(command.get("flags"), list):
            command["flags"] = canonical_flags(command["flags"], target)
