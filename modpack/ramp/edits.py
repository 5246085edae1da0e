"""RAMP's command edits: exclude_commands, overide_command and add_command (ramp.md §1, §3.3).

Applied to the commands a module registers as RAMP applies them, except that an edit matching no
command is an error (DECL004) instead of a silent pass. Used by `modpack init --from ramp.yml`,
and, with the values RAMP takes from the loaded module, by `modpack build ramp.yml`
(`prepare_build`) and `modpack ramp-pack` (both end in `finish_module`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from modpack.errors import FindingsError, UsageError
from modpack.findings import Sink, said_once
from modpack.records import unmatched_exclusion

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from modpack.declarations import Declarations
    from modpack.findings import Finding
    from modpack.redis.model import Discovery
    from modpack.types import JSON, Module

# Normalised (optional-dependencies), and left out of the module.json modpack writes, as the README
# says (RAMP users). RAMP writes it (module_metadata.FIELDS).
RAMP_ONLY_KEYS = ("optional-dependencies",)
# Kept in module.json when they name something. RAMP writes them always, empty too ("Emitted" as
# a record, ramp.md §3.3; a RediSearch module.json in examples/realworld carries both): `validate --load`
# reads them, so a command a plugin registers (add_command), one left out on purpose
# (exclude_commands) or one whose registered entry is replaced on purpose (overide_command) is not
# reported as an error for differing from what Redis registers.
RAMP_RECORDS = ("exclude_commands", "add_command", "overide_command")


class NoteTaker(Protocol):
    """Where the edits say what they did or left to do (modpack.scaffold.Conversion is one)."""

    def todo(self, text: str) -> None: ...

    def changed(self, text: str) -> None: ...


@dataclass
class Notes:
    """Notes nobody shows: packing applies the edits without a file to annotate."""

    notes: list[str] = field(default_factory=list)

    def todo(self, text: str) -> None:
        self.notes.append(f"to do: {text}")

    def changed(self, text: str) -> None:
        self.notes.append(f"changed: {text}")


def apply_ramp_edits(
    module: Module, discovered: list[Module] | None, conv: NoteTaker, sink: Sink
) -> list[Module]:
    """exclude, then override (whole entry), then add, as RAMP does (ramp.md §1, §3.3)."""
    excludes = [e for e in _entries(module, "exclude_commands", sink) if isinstance(e, str)]
    overrides = [o for o in _entries(module, "overide_command", sink) if isinstance(o, dict)]
    additions = [a for a in _entries(module, "add_command", sink) if isinstance(a, dict)]
    if discovered is None:
        # "the same init" (its --from and PATH) with --force: `init --from ramp.yml --discover
        # FILE.so` named another file than sub/ramp.yml, wrote to the current folder, and was
        # refused over the modpack.toml the init had just written ("exists")
        if excludes:
            conv.todo(
                f"exclude_commands ({len(excludes)} {'name' if len(excludes) == 1 else 'names'}) "
                "applies to the commands the module "
                "registers: run the same init again with --discover FILE.so --force to apply it (it is"
                " kept under [module], where `modpack build --discover` applies it too when the only"
                " [[commands]] tables are those add_command names)"
            )
        if overrides or additions:
            conv.changed(
                "overide_command and add_command entries became [[commands]]; "
                "with --discover, overrides replace the discovered entries"
            )
        if overrides:
            conv.todo(
                "the overide_command entries are the only commands declared, and with them `modpack"
                " build --discover` discovers nothing: run the same init again with --discover FILE.so"
                " --force for every command the module registers"
            )
        return overrides + additions
    if excludes or overrides or additions:
        conv.changed("RAMP's exclude_commands, overide_command and add_command were applied")
    names = {c.get("command_name") for c in discovered}
    # RAMP excludes by exact name (ramp.md §3.3), so manifests list each spelling a command may
    # have (RedisGears: tconfig_set and TCONFIG_SET): a spelling that matches nothing is fine when
    # another spelling of it in the list excludes the command.
    excluded = {str(n).casefold() for n in excludes if n in names}
    for index, name in enumerate(excludes):
        if name in names or str(name).casefold() in excluded:
            continue
        spelled = sorted(str(n) for n in names if isinstance(n, str) and n.casefold() == str(name).casefold())
        if spelled:
            message = (
                f"exclude_commands names {name!r}, which the module registers as {spelled[0]!r}; RAMP"
                " matches names exactly, so the command is not excluded"
            )
        else:  # as validate --load says it: a build of the module may lack the command
            sink.add("LOAD028", f"exclude_commands[{index}]", unmatched_exclusion(str(name)))
            continue
        sink.add("DECL004", f"exclude_commands[{index}]", message)
    kept = [dict(c) for c in discovered if c.get("command_name") not in excludes]
    for index, override in enumerate(overrides):
        target = override.get("command_name")
        if not isinstance(target, str) or not target:  # it names no command to replace
            _say_unnamed(sink, f"overide_command[{index}].command_name", override)
            continue
        if target in excludes:  # excluded first: it matches nothing, as told
            from modpack.ramp.reader import say_excluded_override

            say_excluded_override(sink, index, target)
            continue
        matches = [i for i, c in enumerate(kept) if c.get("command_name") == target]
        if len(matches) != 1:
            sink.add(
                "DECL004",
                f"overide_command[{index}]",
                f"overide_command {override.get('command_name')!r} matches {len(matches)} commands",
            )
            continue
        kept[matches[0]] = dict(override)
    return kept + additions


def _entries(module: Module, key: str, sink: Sink) -> list[JSON]:
    """The edit's list; anything else is SCH002 and no edit. RAMP would iterate a string letter
    by letter (and test names as substrings of it), a mapping by its keys, and fail on a number."""
    value = module.get(key)
    if value is None or isinstance(value, list):
        return value or []
    from modpack.ramp.reader import say_not_a_list

    say_not_a_list(sink, key, value)
    return []


def _say_unnamed(sink: Sink, path: str, entry: Module) -> None:
    """An override whose command_name is missing, no string or empty, in the words the manifest's
    checks (ramp.reader) use for it, so that a run saying both says it once (finish_module); it
    was "overide_command None matches 0 commands", as if a name were misspelt."""
    from modpack.schema import wrong_type

    name = entry.get("command_name")
    if "command_name" not in entry:
        sink.add("SCH001", path, f"`{path}` is missing")
    elif not isinstance(name, str):
        sink.add("SCH002", path, wrong_type(path, name, "string"))
    else:
        sink.add("CMD001", path, "command_name is empty")


def edit_errors(sink: Sink, since: int) -> list[Finding]:
    """The findings since the `since`-th that stop the edits: an edit matching no command, an
    edit list of the wrong type, or an override naming no command."""
    added = sink.resolved()[since : len(sink.findings)]  # with their lines; not the flood notes after
    return [f for f in added if f.code in ("DECL004", "SCH001", "SCH002", "CMD001")]


def finish_module(decl: Declarations, module: Module, listed: list[Module]) -> None:
    """decl.module becomes `module` with RAMP's command edits applied to the `listed` commands,
    RAMP's bookkeeping keys removed (its records of exclusions and additions kept when they name
    something), its defaults for what `module` leaves out (reader.RAMP_DEFAULTS) and display_name
    defaulted to the name, as RAMP writes it.
    An edit that matches no command stops here (DECL004), before anything is written."""
    from modpack.ramp.reader import with_defaults

    module = with_defaults(module)
    before = len(decl.sink.findings)
    commands: list[JSON] = [*apply_ramp_edits(module, listed, Notes(), decl.sink)]
    module["commands"] = commands
    if edit_errors(decl.sink, before):
        # the manifest's own checks said some of them already (ramp-pack runs both): once each
        found = said_once(decl.sink.resolved())
        raise FindingsError(f"{decl.path}: RAMP's command edits cannot be applied", found)
    for key in RAMP_ONLY_KEYS:
        module.pop(key, None)
    for key in RAMP_RECORDS:
        if not module.get(key):
            module.pop(key, None)
    module.setdefault("display_name", module["module_name"])
    decl.module = module


class Packed(NamedTuple):
    """The module.json `ramp pack` writes, and where each of its commands[] entries is written in
    the ramp.yml: an overide_command or add_command entry, or nowhere (read from the module)."""

    module: Module
    written: dict[int, str]

    def place(self, path: str) -> str:
        """A path of the module.json (`commands[3].step`) as a path of the ramp.yml
        (`overide_command[0].step`; "" for a command only the module names)."""
        match = re.match(r"commands\[(\d+)\]", path)
        if match is None:
            return path
        entry = self.written.get(int(match[1]), "")
        return entry + path[match.end() :] if entry else ""


def packed_from(decl: Declarations, discovery: Discovery) -> Packed:
    """The module.json `ramp pack` writes from this ramp.yml and what the module registered: its
    name and version where the manifest gives none, its commands with RAMP's edits applied
    (ramp.md §1 steps 5-11). What a ramp.yml that lists no commands is compared with when the
    module is loaded: RAMP reads them from the module. Edit errors are not said here: build and
    validate say them of the file."""
    from modpack.ramp.reader import with_defaults
    from modpack.redis.discover import module_json_commands

    module = with_defaults(json.loads(json.dumps(decl.module)))
    if decl.discovered:  # build --discover packs the module's own, as RAMP does (prepare_build)
        module["module_name"] = discovery.module_name
        module["semantic_version"], module["version"] = discovery.semantic_version, discovery.module_version
    # What the manifest gives is what build writes (and is compared): only the rest is read. Its
    # semantic_version, or else its version, is the version build packs (prepare_build).
    module.setdefault("module_name", discovery.module_name)
    if "semantic_version" not in module and "version" not in module:
        module["semantic_version"], module["version"] = discovery.semantic_version, discovery.module_version
    listed = module_json_commands(discovery)
    commands = apply_ramp_edits(module, listed, Notes(), Sink(str(decl.path)))
    module["commands"] = [*commands]
    written = manifest_places(module, commands)
    for key in RAMP_ONLY_KEYS:
        module.pop(key, None)
    return Packed(module, written)


def manifest_places(manifest: Mapping[str, object], commands: Sequence[Module]) -> dict[int, str]:
    """Where the manifest writes each of the packed `commands` (by its index there) that an
    overide_command or add_command entry gives: `add_command[0]`."""
    written: dict[int, str] = {}
    for key in ("overide_command", "add_command"):
        entries = manifest.get(key)
        names = (
            [e.get("command_name") if isinstance(e, dict) else None for e in entries]
            if isinstance(entries, list)
            else []
        )
        for index, command in enumerate(commands):
            if index not in written and command.get("command_name") in names:
                written[index] = f"{key}[{names.index(command.get('command_name'))}]"
    return written


# What `modpack build ramp.yml` needs the manifest to give when it does not load the module.
_NEEDED = {
    "module_name": "module_name: NAME  # the name the module passes to RedisModule_Init",
    "semantic_version": "semantic_version: X.Y.Z  # version = X*10000 + Y*100 + Z",
    "commands": "commands: [...]  # `modpack discover FILE.so` lists them",
}


def prepare_build(decl: Declarations, so: Path, *, discover: bool, redis_server: str | None) -> None:
    """decl.module as the module.json RAMP writes from this manifest and `so`.

    RAMP takes module_name, version and commands from the loaded module (ramp.md §1, §6); with
    `discover` so does this, through a real redis-server. Without it they must be in the manifest,
    and a UsageError names exactly the keys to add. RAMP's command edits then apply as RAMP
    applies them, except that an edit matching nothing is an error (DECL004).
    """
    from modpack import versions

    module = dict(decl.module)
    if discover:
        from modpack.ramp.reader import discovery_words
        from modpack.redis.discover import discover as load_and_list
        from modpack.redis.discover import module_json_commands

        # as RAMP loads it: run_command_line_args, else command_line_args, and redis_args
        found = load_and_list(so, discovery_words(decl), redis_server, server_options=decl.server_options)
        from modpack.redis.compare import report_registered_defects

        report_registered_defects(decl.sink, found, so)
        module["module_name"] = found.module_name
        module["semantic_version"] = found.semantic_version
        module["version"] = found.module_version
        listed = module_json_commands(found)
    else:
        _require_manifest_values(decl, module, redis_server)
        semantic, commands = module["semantic_version"], module["commands"]
        parsed = (
            versions.parse_semver(semantic) if isinstance(semantic, str) else None
        )  # else SCH002 stopped it
        if parsed is not None:
            module["version"] = versions.encode(*parsed)
        listed = [c for c in commands if isinstance(c, dict)] if isinstance(commands, list) else []
    finish_module(decl, module, listed)


def _require_manifest_values(decl: Declarations, module: Module, redis_server: str | None) -> None:
    from modpack import versions

    if "semantic_version" not in module and isinstance(number := module.get("version"), int):
        module["semantic_version"] = ".".join(map(str, versions.decode(number)))
    missing = [key for key in _NEEDED if key not in module]
    if not missing:
        return
    raise UsageError(
        f"{decl.path} does not give {', '.join(missing)}: RAMP reads "
        f"{'it' if len(missing) == 1 else 'them'} from the loaded module; to give "
        f"{'it' if len(missing) == 1 else 'them'}, add to {decl.path.name}:",
        f"Pass --discover to load the module into a redis-server{_server_state(redis_server)},"
        " or add the lines above.",
        [_NEEDED[key] for key in missing],
    )


def _server_state(redis_server: str | None) -> str:
    from modpack.redis.harness import RedisNotFoundError, find_redis_server

    try:
        return f" ({find_redis_server(redis_server)} is there)"
    except RedisNotFoundError:
        return " (none was found: install redis-server or set MODPACK_REDIS_SERVER)"
