"""Declarations: what a modpack.toml (or RAMP's ramp.yml) says, as the module.json it describes.

The model only: modpack.toml is read by modpack.modpack_toml, ramp.yml by modpack.ramp.reader,
either by name with modpack.manifests.load. Loading never raises for content problems: they
become findings in `Declarations.sink`, and `module` holds whatever could be assembled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modpack.config import Settings
from modpack.findings import Severity, Sink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from modpack.types import JSON, Module

# DECL010's fix, for a binary or a dependency archive the build packs that is not there yet.
NOT_BUILT_HINT = "Validate again once it is built, or validate the bundle `modpack build` writes."

MODULE_KEYS = [  # [module] keys that go to module.json under the same name
    "display_name",
    "author",
    "email",
    "description",
    "homepage",
    "license",
    "capability_name",
    "capabilities",
    "command_line_args",
    "config_command",
    "min_redis_version",
    "compatible_redis_version",
    "min_redis_pack_version",
    "module_file",
    "bigstore_version_2_support",
    "crdb",
    "dependencies",
]


TARGET_FIELDS = ("operating_systems", "architecture", "compatible_redis_version", "min_redis_version")


@dataclass
class Target:
    """One [[targets]] entry: a build of the module for other platforms; each of TARGET_FIELDS
    it gives replaces the module's own."""

    name: str
    so: str  # "" when the entry gives none (SCH001) or an empty one (SCH004)
    index: int  # its place among the [[targets]] entries as written (targets[index] in findings)
    operating_systems: list[str] | None = None
    architecture: str | None = None
    compatible_redis_version: str | None = None
    min_redis_version: str | None = None

    def _apply(self, module: Module) -> None:
        """Set the fields this target gives in `module` (the module.json of its build)."""
        if self.operating_systems is not None:
            module["operating_systems"] = list(self.operating_systems)
        if self.architecture is not None:
            module["architecture"] = self.architecture
        if self.compatible_redis_version is not None:
            module["compatible_redis_version"] = self.compatible_redis_version
        if self.min_redis_version is not None:
            module["min_redis_version"] = self.min_redis_version

    def values(self) -> dict[str, str]:
        """${target}, ${os} and ${arch} of this target: "" where the entry gives none. The fields
        hold what the file wrote: a value of another type is the schema check's finding."""
        systems = [s for s in self.operating_systems or () if isinstance(s, str)]
        arch = self.architecture if isinstance(self.architecture, str) else ""
        return {"target": self.name, "os": "+".join(systems), "arch": arch}

    def expand(self, text: str) -> str:
        """`text` (this target's so, its ${VAR} expanded and its `$$` kept) with ${target}, ${os}
        and ${arch} replaced by this target's values and `$$` by a literal `$`, in one pass."""
        values = self.values()
        return _TARGET_VARIABLE.sub(lambda m: values[m.group(1)] if m.group(1) else "$", text)


def module_for(module: Module, target: Target | None) -> Module:
    """The module.json of one build, before what it takes from the binary: a deep copy of the
    declared `module` with the fields `target` gives, when it is a target's."""
    built: Module = {key: _copied(value) for key, value in module.items()}
    if target is not None:
        target._apply(built)
    return built


def _copied(value: JSON) -> JSON:
    """A copy of JSON-like data sharing no list or dict, as a JSON round trip makes one (an entry
    RAMP's edits put in two places is two objects), and keeping any other value as it is: a TOML
    date the schema check refuses (SCH002) was an internal error in that round trip."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


# `$$` first, so `$${arch}` reads as a literal `$` then `{arch}`, as ${VAR} expansion reads it.
_TARGET_VARIABLE = re.compile(r"\$\$|\$\{(target|os|arch)\}")


def target_variables(text: str) -> list[str]:
    """The per-target variables (target, os, arch) `text` uses, in order."""
    return [m.group(1) for m in _TARGET_VARIABLE.finditer(text) if m.group(1)] if "${" in text else []


@dataclass
class Declarations:
    """What modpack.toml or ramp.yml declares, with the findings of reading it."""

    path: Path
    kind: Literal["toml", "ramp"]
    sink: Sink
    module: Module = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    targets: list[Target] = field(default_factory=list)
    output: str | None = None
    so: str | None = None
    raw: Mapping[str, object] = field(default_factory=dict)  # the parsed file, before any check
    # Paths of values that hold a `{{...}}` placeholder: they stand for something unknown until a
    # build script expands them, so checks of their value are not made.
    opaque: set[str] = field(default_factory=set)
    # module.json keys the command line sets over the file (ramp-pack's options, as `ramp pack`'s)
    given: frozenset[str] = frozenset()
    # A ramp.yml built RAMP's way (ramp-pack, build --discover): the loaded module gives its
    # module_name, version, semantic_version and commands, and the manifest's own are not packed.
    discovered: bool = False
    # What RAMP's discovery takes from a ramp.yml and never packs (ramp.md §1 step 4): the module's
    # load arguments (run_command_line_args as evaluated: {os.getenv} and ${VAR} read; "" for none,
    # when command_line_args is loaded instead) and its redis-server's options (redis_args, as the
    # --key value words RAMP's disposable server is given).
    load_args: str = ""
    server_options: tuple[str, ...] = ()

    @property
    def has_commands(self) -> bool:
        """Whether the declarations give any of the module's own commands. Those [module]
        add_command names are registered by a plugin, where discovery cannot see them: RAMP adds
        them to what it discovers, and so does `build --discover` (`fill_commands`)."""
        from modpack.records import folded_name, recorded

        added = recorded(self.module, "add_command")
        commands = self.module.get("commands")
        return any(folded_name(c) not in added for c in commands) if isinstance(commands, list) else False

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.sink.findings)
