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


def supported_os_ids() -> list[str]:
    return [key for key, info in operating_systems().items() if info["status"] == "supported"]


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
