"""`modpack init`: a modpack.toml for a new module, or converted from ramp.yml, module.json or a bundle.

A conversion carries over every value modpack.toml can hold and reports the rest (`notes`), so
nothing is dropped silently. RAMP's command edits (exclude_commands, overide_command, add_command)
are applied to discovered commands as RAMP applies them, except that an edit matching no command
is an error instead of a silent pass (ramp.md §3.3).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modpack import envvars, schema, versions
from modpack.declarations import MODULE_KEYS
from modpack.errors import FindingsError, ModpackError, UsageError
from modpack.findings import Finding, Severity, Sink
from modpack.ramp.edits import apply_ramp_edits, edit_errors
from modpack.records import folded_name

if TYPE_CHECKING:
    import zipfile

    from modpack.bundle import Layout
    from modpack.redis.model import Discovery
    from modpack.types import JSON, Module

MODULE_ORDER = (
    "name",
    "display_name",
    "semantic_version",
    *(key for key in MODULE_KEYS if key != "display_name"),
    "exclude_commands",
    "add_command",
)
COMMAND_KEYS = (
    ("command_name", "name"),
    ("command_arity", "arity"),
    ("flags", "flags"),
    ("first_key", "first_key"),
    ("last_key", "last_key"),
    ("step", "step"),
)
# module.json keys modpack.toml does not hold, and why. RAMP's command edits are not here:
# they are applied to the commands (modpack.ramp.edits), and that is reported there; its records
# of exclusions and additions are kept under [module] by name (`_edit_records`).
NOT_CARRIED = {
    "version": "derived from semantic_version",
    "sha256": "computed from the binary at build time",
    "git_sha": "RAMP bookkeeping",
    "ramp_format_version": "RAMP bookkeeping",
    "speedb_git_sha": "RAMP bookkeeping",
    "platforms": "written by Redis Enterprise 7.4-7.22, not by packers",
    "optional-dependencies": "not used by Redis Enterprise's user-defined module API",
    "redis_args": "options of RAMP's discovery redis-server; a modpack.toml build loads no module",
    "run_command_line_args": "discovery-time load arguments; pass them to `modpack discover --args`",
}


@dataclass
class Discovered:
    """What a loaded module reported: its name, numeric version and top-level commands, and the
    version of the redis-server that reported them."""

    name: str
    version: int
    commands: list[Module]
    redis_version: str = ""
    args: str = ""  # the load arguments it was discovered with (--args)


@dataclass
class Conversion:
    """A modpack.toml to write, and what the user must know about it: each note starts with
    what happened (`dropped:` a value not written; `changed:` a value written differently;
    `to do:` something the file still needs), so the list never says two things of one key."""

    module: dict[str, JSON] = field(default_factory=dict)
    platform: dict[str, JSON] = field(default_factory=dict)
    commands: list[Module] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    so: str | None = None
    source: str = ""
    # The bundle converted, and the dependency archives in it to extract beside modpack.toml:
    # dependency name -> its entry under deps/ (extract_archives).
    bundle: Path | None = None
    archives: dict[str, str] = field(default_factory=dict)
    # Required [module] keys nobody knows yet: written as commented lines to fill in.
    missing: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        return render_toml(self)

    def dropped(self, text: str) -> None:
        self.notes.append(f"dropped: {text}")

    def changed(self, text: str) -> None:
        self.notes.append(f"changed: {text}")

    def todo(self, text: str) -> None:
        self.notes.append(f"to do: {text}")


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if not _encodable(value):  # a file name in another encoding: Python's surrogate escapes
            raise ModpackError(
                f"cannot write '{_comment(value)}' to modpack.toml: it is not UTF-8 text",
                "TOML is UTF-8: rename the file (or fix the value) with UTF-8 characters only.",
            )
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise ModpackError(f"cannot write {value!r} to TOML")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _comment(text: str) -> str:
    """`text` for a `#` comment: one line (a file name or a value with a newline began a line of
    TOML of its own), control characters and undecodable bytes shown as escapes."""
    from modpack.reporters import printable

    return printable(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def render_toml(conv: Conversion) -> str:
    lines = [
        f"# modpack.toml{' converted from ' + _comment(conv.source) if conv.source else ''}.",
        "# Reference: README.md#modpacktoml; schema: `modpack schema modpack`.",
        "",
    ]
    for note in conv.notes:
        lines.append(f"# NOTE: {_comment(note)}")
    if conv.notes:
        lines.append("")
    lines.append("[module]")
    for key in MODULE_ORDER:
        if key in conv.module:
            lines.append(f"{key} = {toml_value(conv.module[key])}")
        elif key in conv.missing:
            lines.append(f"# {key} = ...  # to do: {_comment(conv.missing[key])}")
    if conv.platform:
        lines += ["", "[platform]"] + [f"{k} = {toml_value(v)}" for k, v in conv.platform.items()]
    if conv.so:
        lines += ["", "[build]", f"so = {toml_value(conv.so)}"]
    for command in conv.commands:
        lines += ["", "[[commands]]"]
        for source, target in COMMAND_KEYS:
            if source in command:
                lines.append(f"{target} = {toml_value(command[source])}")
    return "\n".join(lines) + "\n"


def _carry_module(conv: Conversion, module: Module) -> None:
    for key, value in module.items():
        if value is None:  # `description:` with nothing after it; TOML has no null
            conv.dropped(f"{key} is empty (null)")
        elif key == "module_name":
            conv.module["name"] = value
        elif key == "crdb" and isinstance(value, dict):
            conv.module[key] = _crdb_integers(value)
        elif key in MODULE_ORDER and key != "name":
            conv.module[key] = value
        elif key in ("architecture", "operating_systems"):
            conv.platform[key] = value
        elif key == "os_list":
            conv.platform.setdefault("operating_systems", value)
            conv.changed("os_list became [platform] operating_systems")
        elif key == "os":
            if value != "Linux":
                conv.dropped(f"os was {value!r}; Redis Enterprise runs on Linux")
            else:
                conv.dropped(
                    'os "Linux": RAMP\'s record of the OS it packed on, which modpack.toml does not hold'
                )
        elif key == "commands":
            entries = value if isinstance(value, list) else []
            conv.commands = []
            known = dict(COMMAND_KEYS)
            for index, entry in enumerate(entries):
                if isinstance(entry, dict):
                    conv.commands.append(_integers(_object_without_nulls(entry, f"commands[{index}]", conv)))
                    for unknown in (k for k in entry if k not in known):  # not rendered: said, not lost
                        conv.dropped(
                            f"commands[{index}].{_comment(unknown)} is not a command field modpack knows"
                        )
                else:
                    conv.dropped(f"commands[{index}] is {json.dumps(entry)[:40]}, not a command object")
        elif key == "version":
            semantic = module.get("semantic_version")
            if isinstance(semantic, str) and versions.parse_semver(semantic) is None:
                conv.todo(f"semantic_version '{_comment(semantic)}' is not MAJOR.MINOR.PATCH: fix it")
            elif not _version_agrees(module):
                conv.changed(f"version {value!r} does not encode semantic_version; it is derived now")
        elif key in NOT_CARRIED:  # each said, with what it was: a git_sha is the source's commit
            shown = f" {_comment(json.dumps(value))[:48]}" if key != "sha256" else ""
            conv.dropped(f"{key}{shown}: {NOT_CARRIED[key]}")
        elif key in ("uid", "is_bundled", "action_uid"):
            conv.dropped(f"{key}: what a cluster adds to the module object it keeps")
        else:
            conv.dropped(f"{key} is not a module.json field modpack knows")


def _drop_nulls(conv: Conversion) -> None:
    """Nulls nested in what is carried (`dependencies: {a: null}`, a command's `flags: null`):
    TOML has no null, so each is left out with a note naming it, as a top-level one is."""
    conv.module = {k: _without_nulls(v, k, conv) for k, v in conv.module.items()}
    conv.platform = {k: _without_nulls(v, k, conv) for k, v in conv.platform.items()}
    conv.commands = [_object_without_nulls(c, f"commands[{i}]", conv) for i, c in enumerate(conv.commands)]


def _without_nulls(value: JSON, where: str, conv: Conversion) -> JSON:
    if isinstance(value, dict):
        return _object_without_nulls(value, where, conv)
    if isinstance(value, list):
        for index in [i for i, v in enumerate(value) if v is None]:
            conv.dropped(f"{where}[{index}] is empty (null)")
        return [_without_nulls(v, f"{where}[{i}]", conv) for i, v in enumerate(value) if v is not None]
    return value


def _object_without_nulls(value: dict[str, JSON], where: str, conv: Conversion) -> dict[str, JSON]:
    for key in [k for k, v in value.items() if v is None]:
        conv.dropped(f"{where}.{key} is empty (null)")
    return {k: _without_nulls(v, f"{where}.{k}", conv) for k, v in value.items() if v is not None}


def _integers(command: Module) -> Module:
    """A command with 3.0 written as 3 (a JSON reader's float): TOML keeps the two apart and
    build refuses a float where an integer belongs."""
    from modpack.checks.numbers import as_integer

    fields = ("command_arity", "first_key", "last_key", "step")
    return {k: as_integer(v) if k in fields else v for k, v in command.items()}


def _crdb_integers(crdb: dict[str, JSON]) -> dict[str, JSON]:
    from modpack.checks.numbers import as_integer

    versions_list = crdb.get("supported_featureset_versions")
    if not isinstance(versions_list, list):
        return crdb
    return {**crdb, "supported_featureset_versions": [as_integer(v) for v in versions_list]}


def _version_agrees(module: Module) -> bool:
    semantic = module.get("semantic_version")
    parsed = versions.parse_semver(semantic) if isinstance(semantic, str) else None
    number = module.get("version")
    return parsed is not None and isinstance(number, int | float) and int(number) == versions.encode(*parsed)


def from_module_json(document: object, source: str) -> Conversion:
    if not isinstance(document, dict):
        raise ModpackError(f"{source} does not hold a module.json object")
    conv = Conversion(source=source)
    module = dict(document)
    if module.get("overide_command"):  # RAMP applied it: commands holds the entries it replaced
        conv.dropped("overide_command: RAMP's record of the entries it replaced, which commands holds")
    elif "overide_command" in module:
        conv.dropped("overide_command is empty: RAMP replaced no entry")
    _edit_records(module, module.get("commands"), conv)
    _carry_module(conv, module)
    _drop_nulls(conv)
    _literal_dollars(conv)
    _incomplete_commands(conv, "")
    return conv


def _literal_dollars(conv: Conversion) -> None:
    """Every `$` of a module.json string written as `$$`: module.json is literal, and modpack.toml
    expands `${VAR}` (`description = "costs ${PRICE}"` became the environment's PRICE at build
    time, or DECL003 when unset). A ramp.yml is expanded as modpack.toml is, so it is not escaped."""
    where: list[str] = []
    conv.module = {k: _escaped(v, k, where) for k, v in conv.module.items()}
    conv.platform = {k: _escaped(v, k, where) for k, v in conv.platform.items()}
    conv.commands = [_escaped_object(c, f"commands[{i}]", where) for i, c in enumerate(conv.commands)]
    if where:
        conv.changed(
            f"{', '.join(where)}: each '$' is written '$$', modpack.toml's literal '$' (a '${{VAR}}'"
            " there reads the environment)"
        )


def _escaped(value: JSON, where: str, found: list[str]) -> JSON:
    if isinstance(value, str):
        if "$" in value:
            found.append(where)
        return envvars.literal(value)
    if isinstance(value, list):
        return [_escaped(v, f"{where}[{i}]", found) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _escaped_object(value, where, found)
    return value


def _escaped_object(value: dict[str, JSON], where: str, found: list[str]) -> dict[str, JSON]:
    """The keys too: modpack.toml expands ${VAR} in a key (a dependency's name) as in a value."""
    escaped: dict[str, JSON] = {}
    for key, item in value.items():
        if "$" in key:
            found.append(f"{where}.{key}")
        escaped[envvars.literal(key)] = _escaped(item, f"{where}.{key}", found)
    return escaped


def from_module_file(path: Path) -> Conversion:
    from modpack.regular import MAX_TEXT_FILE, NotUtf8Text, decode_module_json, hint_for, read_regular
    from modpack.sources import parse_json

    sink = Sink(str(path))
    try:
        raw = read_regular(path, MAX_TEXT_FILE)
        if len(raw) > MAX_TEXT_FILE:
            raise ModpackError(f"{path} is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB")
        text = decode_module_json(raw, str(path))
    except OSError as exc:
        raise ModpackError(f"cannot read {path}: {exc.strerror or exc}", hint_for(exc)) from exc
    except NotUtf8Text as exc:
        raise ModpackError(exc.message, exc.hint) from None
    document = parse_json(text, sink)
    _refuse_errors(sink.resolved(), path)
    return from_module_json(document, str(path))


def from_bundle(path: Path) -> Conversion:
    from modpack.validate import validate_bundle

    verdict = validate_bundle(path)
    module, findings = verdict.module, verdict.findings
    if module is None:
        _refuse_errors(findings, path)
        raise ModpackError(f"{path} has no readable module.json")
    conv = from_module_json(module, str(path))
    _find_archives(conv, path, module.get("dependencies"))
    binary = module.get("module_file")
    conv.todo(f"the binary {binary!r} is inside the bundle; set [build] so to its path, or pass --so")
    return conv


def _find_archives(conv: Conversion, path: Path, deps: JSON | None) -> None:
    """The archives under deps/ that the bundle's dependencies name, for extract_archives: a
    dependency converted without its archive (sha256 and url only) failed the build (DEP001) or
    built a bundle without it. One whose name is no plain file name is left to the user."""
    from modpack.checks.bundle import bundled_dependency
    from modpack.modpack_toml import DEPENDENCY_NAME

    if not isinstance(deps, dict) or not deps:
        return
    with _opened_bundle(path) as layout:
        names = {Path(entry).name: info for entry, info in layout.deps.items()}
        for name, dep in deps.items():
            info = bundled_dependency(names, name, dep.get("url") if isinstance(dep, dict) else None)
            if info is None or not isinstance(dep, dict):
                continue
            if DEPENDENCY_NAME.fullmatch(name):  # as the build will accept it
                conv.archives[name] = info.filename
            else:
                conv.todo(
                    f"dependencies.{_comment(name)}: the bundle ships its archive as {info.filename!r};"
                    " extract it and set local_path to its path"
                )
    conv.bundle = path


@contextlib.contextmanager
def _opened_bundle(path: Path) -> Iterator[Layout]:
    """The bundle's entries, checked as validate checks them; a FindingsError when they cannot be."""
    from modpack import bundle

    sink = Sink(str(path))
    with bundle.opened(path, sink) as layout:
        if layout is None:
            raise FindingsError(f"{path} cannot be read", sink.resolved())
        yield layout


def extract_archives(conv: Conversion, folder: Path) -> list[Path]:
    """Write each dependency archive of the converted bundle into `folder` as <name>.tgz, where
    the new modpack.toml's local_path names it (its sha256 goes: build hashes the file), and say
    so in the notes. A file of that name with other content is a usage error, before anything is
    written; one with the same content is used as it is. Returns the files written: all or none."""
    if conv.bundle is None or not conv.archives:
        return []
    from modpack import bundle
    from modpack.atomic import atomic_output
    from modpack.checks.bundle import DAMAGED

    written: list[Path] = []
    try:
        with _opened_bundle(conv.bundle) as layout:
            infos = {info.filename: info for info in layout.deps.values()}
            # every refusal before any file is written
            present = {
                n for n, e in conv.archives.items() if _already_there(folder / f"{n}.tgz", layout, infos[e])
            }
            for name, entry in conv.archives.items():
                if name in present:
                    continue
                target = folder / f"{name}.tgz"
                with atomic_output(target) as out:
                    for chunk in bundle.member_chunks(layout.archive, infos[entry]):
                        out.stream.write(chunk)
                    out.commit()
                written.append(target)
    except DAMAGED as exc:
        _remove(written)
        raise ModpackError(f"cannot extract a dependency archive from {conv.bundle}: {exc}") from None
    except BaseException:
        _remove(written)
        raise
    _name_archives(conv, folder, present)
    return written


def _already_there(target: Path, layout: Layout, info: zipfile.ZipInfo) -> bool:
    """True when `target` holds the archive already; False when there is no such file; a usage
    error when another file is in the way (it is never replaced)."""
    from modpack import bundle
    from modpack.hashing import sha256_stream

    if not os.path.lexists(target):
        return False
    try:
        with target.open("rb") as existing:
            if sha256_stream(existing) == bundle.hash_member(layout.archive, info):
                return True
    except OSError:
        pass
    raise UsageError(
        f"{target} exists, and is not the bundle's {info.filename}: init extracts that archive there,"
        " for local_path to name it",
        "Move the file away, or write modpack.toml to another folder.",
    )


def _name_archives(conv: Conversion, folder: Path, present: set[str]) -> None:
    deps = conv.module.get("dependencies")
    if not isinstance(deps, dict):
        return
    for name, entry in conv.archives.items():
        dep = deps.get(name)
        if not isinstance(dep, dict):
            continue
        local = f"{name}.tgz"
        deps[name] = {**{k: v for k, v in dep.items() if k != "sha256"}, "local_path": local}
        where = folder / local
        how = "was already there with its content" if name in present else f"is extracted to {where}"
        conv.changed(
            f"dependencies.{name}: the bundle's {entry} {how}; local_path = {json.dumps(local)} names it,"
            " and the build hashes it (sha256 left out)"
        )


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _refuse_errors(findings: list[Finding], path: Path) -> None:
    errors = [f for f in findings if f.severity is Severity.ERROR and f.code.startswith(("IN", "ZIP"))]
    if errors:
        raise FindingsError(f"{path} cannot be read", errors)


def from_ramp(
    path: Path, discovered: Discovered | None = None, *, name: str | None = None, version: str | None = None
) -> Conversion:
    """ramp.yml as modpack.toml; RAMP's command edits applied to what `discovered` lists."""
    from modpack.ramp import reader

    decl = reader.load(path)
    fatal = [
        f
        for f in decl.sink.resolved()
        if f.severity is Severity.ERROR and f.code in ("IN001", "IN004", "DECL007")
    ]
    if fatal:
        raise FindingsError(f"{path} cannot be converted", fatal)
    conv = Conversion(source=str(path))
    given: Module = {
        k: decl.module[k] for k in ("module_name", "semantic_version", "version") if k in decl.module
    }
    module = {k: v for k, v in reader.module_as_written(decl).items() if k not in reader.DISCOVERED_KEYS}
    module = {k: _untemplate(v, k, conv) for k, v in module.items()}
    _as_lists(module, conv)
    for key, value in reader.with_defaults({}).items():  # what `ramp pack` writes for them
        if key not in module:
            module[key] = value
            conv.changed(f"{key} = {json.dumps(value)} written: RAMP's default where ramp.yml has none")
    if "compatible_redis_version" not in module:  # RAMP 2.5.9 and later inject "7.4" (ramp.md §2.1)
        conv.todo(
            'compatible_redis_version: `ramp pack` writes "7.4" where ramp.yml has none, whatever the'
            " module is built for; set it to the database Redis major.minor of this build (VER006 warns)"
        )
    _archive_todo(module.get("dependencies"), conv)
    listed = decl.module.get("commands")  # RAMP ignores it; modpack builds from it without discovery
    if discovered:
        base: list[Module] | None = discovered.commands
    else:  # the manifest's entries; one that is no mapping has no name to edit
        base = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else None
    before = len(decl.sink.findings)
    commands = apply_ramp_edits(module, base, conv, decl.sink)
    _edit_records(module, commands, conv)
    _carry_module(conv, module)
    conv.commands = commands
    _name_and_version(conv, given, discovered, name, version)
    if discovered is not None:
        _redis_versions(conv, discovered)
        _load_args(conv, discovered)
    for key in decl.raw:
        if key in reader.PACK_ONLY_KEYS:
            conv.dropped(f"{key}: {NOT_CARRIED[key]}")
        elif key not in reader.RAMP_KEYS:
            hint = schema.did_you_mean(str(key), reader.RAMP_KEYS)
            conv.dropped(f"{key} is not a key RAMP knows, so RAMP ignores it too. {hint}".rstrip(". "))
    errors = edit_errors(decl.sink, before)
    if errors:
        raise FindingsError(f"{path}: RAMP's command edits cannot be applied", errors)
    _drop_nulls(conv)
    _incomplete_commands(conv, ": RAMP's override replaces the discovered entry whole" if discovered else "")
    return conv


def _incomplete_commands(conv: Conversion, why: str) -> None:
    """A to-do for each command written without an arity: build refuses it (CMD005), and init said
    nothing of it. RAMP's override replaces a discovered entry whole, so one that gives only a
    name (as RAMP's own example manifest does) leaves the command with none."""
    for command in conv.commands:
        name = command.get("command_name")
        if "command_arity" not in command and isinstance(name, str):
            conv.todo(
                f"give [[commands]] {_comment(name)} its arity, flags and key positions (build refuses"
                f" a command without an arity, CMD005{why})"
            )


def _edit_records(module: Module, commands: object, conv: Conversion) -> None:
    """RAMP's edits in `module` as modpack.toml's [module] keeps them: exclude_commands as given
    (`build --discover` applies it), add_command as the names of the [[commands]] tables its
    entries became, both only when they name something; overide_command is applied, not kept.
    `validate --load` reads both from the module.json a build writes (modpack.records).
    What cannot be kept is said: a value that is no command name, and an exclusion of a command
    that `commands` declares (RAMP matches names exactly, so HELLO.COPY never excluded hello.copy,
    and modpack.toml, which compares as Redis does, would refuse the pair)."""
    module.pop("overide_command", None)
    excluded, added = module.pop("exclude_commands", None), module.pop("add_command", None)
    entries = commands if isinstance(commands, list) else []
    declared = {folded_name(c): c.get("command_name") for c in entries if isinstance(c, dict)}
    names: list[JSON] = []
    for name in _listed(excluded, "exclude_commands", conv):
        if not isinstance(name, str):
            conv.dropped(f"exclude_commands item {json.dumps(name)}: not a command name")
        elif name.casefold() in declared:
            conv.dropped(
                f"exclude_commands {name!r}: {declared[name.casefold()]} is declared as a command (RAMP"
                " matches names exactly, so it never excluded it)"
            )
        else:
            names.append(name)
    if names:
        module["exclude_commands"] = names
    added_names: list[JSON] = []
    for entry in _listed(added, "add_command", conv):
        name = entry.get("command_name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name.casefold() in declared:
            added_names.append(name)
            if isinstance(entry, dict) and (shown := _record_difference(entry, entries)):
                conv.changed(
                    f"add_command {name!r}: the record differs from its commands entry in {shown};"
                    " add_command names the [[commands]] table, and a build records that table's entry as"
                    " it packs it"
                )
        else:
            conv.dropped(f"add_command item {json.dumps(entry)[:80]}: not a declared command's entry")
    if added_names:
        module["add_command"] = added_names


def _record_difference(entry: dict[str, JSON], commands: list[JSON]) -> str:
    """How an add_command record differs from the commands entry of its name ("" when it does not):
    a ramp.yml build records the entry as written (flags ["deny-oom"]) and packs it canonical."""
    name = folded_name(entry)
    packed = next((c for c in commands if isinstance(c, dict) and folded_name(c) == name), None)
    if packed is None or packed == entry:
        return ""
    fields = sorted(k for k in {*entry, *packed} if entry.get(k) != packed.get(k))
    shown = ", ".join(
        f"{k} {json.dumps(entry.get(k))[:60]} (commands: {json.dumps(packed.get(k))[:60]})"
        for k in fields[:_RECORD_FIELDS_SHOWN]
    )
    more = len(fields) - _RECORD_FIELDS_SHOWN
    return shown + (f" and {more} more field{'s' * (more > 1)}" if more > 0 else "")


_RECORD_FIELDS_SHOWN = 3


def _listed(value: JSON | None, key: str, conv: Conversion) -> list[JSON]:
    if value is None or isinstance(value, list):
        return value or []
    conv.dropped(f"{key} is not a list: {json.dumps(value)[:80]}")
    return []


def _name_and_version(
    conv: Conversion,
    given: Module,
    discovered: Discovered | None,
    name: str | None,
    version: str | None,
) -> None:
    """The name and semantic_version: the options, else the loaded module (as RAMP takes them),
    else what the manifest gives (RAMP ignores it; modpack uses it); or a to-do naming them."""
    from_manifest = given.get("semantic_version")
    if not isinstance(from_manifest, str) and isinstance(number := given.get("version"), int):
        from_manifest = _semver(number)
    values = {
        "name": name or (discovered.name if discovered else None) or given.get("module_name"),
        "semantic_version": version or (_semver(discovered.version) if discovered else None) or from_manifest,
    }
    labels = {
        "name": "the name the module passes to RedisModule_Init",
        "semantic_version": "X.Y.Z, the module's version",
    }
    manifest = {"name": given.get("module_name"), "semantic_version": from_manifest}
    for key, value in values.items():
        if isinstance(value, str) and value:
            conv.module[key] = value
            written = manifest[key]
            if isinstance(written, str) and written and written != value:  # RAMP ignores it too
                source = "the option given" if (name if key == "name" else version) else "the loaded module"
                conv.changed(f"{key} is {value!r}, from {source}; ramp.yml's {written!r} is not used")
            continue
        conv.missing[key] = labels[key]
        conv.todo(
            f"set [module] {key} ({labels[key]}): RAMP reads it from the loaded module; "
            # --force: run again as it was, init refused the file it had written ("exists")
            "or run the same init again with --discover FILE.so --force, which replaces this file"
        )


def _redis_versions(conv: Conversion, discovered: Discovered) -> None:
    """With neither version declared, the Redis the commands were read from: their flags are
    that version's (a 7.x server reports `module` on every command, 6.x never does)."""
    if "min_redis_version" in conv.module or "compatible_redis_version" in conv.module:
        return
    parts = discovered.redis_version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        conv.todo("set [module] min_redis_version and compatible_redis_version")
        return
    major_minor = ".".join(parts[:2])
    conv.module["min_redis_version"] = major_minor
    conv.module["compatible_redis_version"] = major_minor
    conv.changed(
        f"min_redis_version and compatible_redis_version are {major_minor}, the redis-server "
        "the commands were discovered with; set the Redis your users run"
    )


def _load_args(conv: Conversion, discovered: Discovered) -> None:
    """The arguments the module loaded with (--args) become command_line_args, which every node
    loads it with: a module whose OnLoad needs them was written without, and built so."""
    given = conv.module.get("command_line_args") or ""
    if not discovered.args or given == discovered.args:
        return
    if given:
        conv.todo(
            f"command_line_args is {given!r}, and the commands were discovered with --args"
            f" {discovered.args!r}: the nodes load it with command_line_args"
        )
        return
    conv.module["command_line_args"] = discovered.args
    conv.changed(f"command_line_args = {json.dumps(discovered.args)}: the --args it was discovered with")


def from_discovery(
    discovered: Discovered, source: str, *, name: str | None = None, version: str | None = None
) -> Conversion:
    """`modpack init --discover FILE.so`: what the loaded module reported, ready to build."""
    conv = Conversion(source=source)
    conv.module["name"] = name or discovered.name
    conv.module["semantic_version"] = version or _semver(discovered.version)
    conv.module["capabilities"] = []
    conv.commands = discovered.commands
    _redis_versions(conv, discovered)
    _load_args(conv, discovered)
    conv.todo("list the module's capabilities (`modpack rules --capabilities`)")
    return conv


def discovered_of(found: Discovery) -> Discovered:
    """What `modpack discover` found, as the conversions take it: module.json's commands (no
    subcommands, as RAMP lists them) and the load arguments as one string, quoting and all."""
    import shlex

    from modpack.redis.discover import module_json_commands

    commands = module_json_commands(found)
    return Discovered(
        found.module_name, found.module_version, commands, found.redis_version, shlex.join(found.args)
    )


def discovered_file(
    discovered: Discovered, so: Path, path: Path, *, name: str | None = None, version: str | None = None
) -> Conversion:
    """A new modpack.toml at `path` for the module `so`, from what loading it reported: the one
    `modpack init --discover` writes, and `modpack discover --write` when `path` is new."""
    conv = from_discovery(discovered, str(so), name=name, version=version)
    conv.so = os.path.relpath(so.resolve(), path.resolve().parent)
    return conv


def _semver(number: int) -> str:
    return ".".join(map(str, versions.decode(number)))


def _archive_todo(deps: JSON | None, conv: Conversion) -> None:
    """RAMP tar-gzips whatever a local_path names into deps/<name>.tgz (ramp.md §3.4; RediSearch's
    Redis Enterprise manifest names a .so); modpack.toml's local_path is that archive itself."""
    if not isinstance(deps, dict):
        return
    for name, dep in deps.items():
        local = dep.get("local_path") if isinstance(dep, dict) else None
        if isinstance(local, str) and not local.endswith((".tgz", ".tar.gz")):
            folder, _, base = local.rpartition("/")
            conv.todo(
                f"dependencies.{name}.local_path: RAMP packed a tar.gz of {local!r}; in modpack.toml "
                f"local_path is that archive: make it (tar czf {name}.tgz -C {folder or '.'} {base}) "
                "and point local_path at it"
            )


def _as_lists(module: dict[str, JSON], conv: Conversion) -> None:
    """capabilities written as one comma-separated string (real manifests have it, ramp.md §10)
    becomes the list it means, each name once, with a note: RAMP copies the string as it is, and
    the build of the converted file failed on CAP003."""
    value = module.get("capabilities")
    if isinstance(value, str) and "{" not in value:  # a template is said as one (_untemplate)
        names: list[JSON] = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
        module["capabilities"] = names
        conv.changed(f"capabilities: the string {value!r} became the list {json.dumps(names)}")


def _untemplate(value: JSON, key: str, conv: Conversion) -> JSON:
    """RAMP's `{os.getenv('X')}` becomes `${X}`; any other template is kept and reported."""
    if isinstance(value, str):
        converted = envvars.from_getenv(value)
        if converted != value:
            conv.changed(f"{key}: {value!r} became {converted!r} (modpack expands ${{VAR}}, never evaluates)")
        elif re.search(r"\{\{[^}]*\}\}|(?<!\$)\{[^{}]*\}", value):
            conv.todo(f"{key}: {value!r} is a template modpack does not evaluate; replace it")
        return converted
    if isinstance(value, list):
        return [_untemplate(v, key, conv) for v in value]
    if isinstance(value, dict):
        return {k: _untemplate(v, f"{key}.{k}", conv) for k, v in value.items()}
    return value


def new_module(name: str, version: str, *, so: str | None = None) -> str:
    """A commented modpack.toml for a new module."""
    so_line = f"so = {toml_value(so)}" if so else '# so = "build/mymodule.so"'
    return f"""# modpack.toml: declarations modpack builds module.json and the bundle from.
# Reference: README.md#modpacktoml; schema: `modpack schema modpack`.

[module]
name = {toml_value(name)}                # the name the module passes to RedisModule_Init
semantic_version = {toml_value(version)}     # X.Y.Z; version = X*10000 + Y*100 + Z
display_name = {toml_value(name)}
capabilities = []               # e.g. "types", "clustering", "persistence_rdb" (`modpack rules`)
min_redis_version = "7.0"
compatible_redis_version = "7.4"  # the database Redis major.minor this build is for

[platform]
# operating_systems = ["rhel9", "ubuntu22"]  # default: every Redis Enterprise OS the binary loads on
# architecture = "x86_64"                    # default: from the binary

[build]
{so_line}

# One table per command (or `modpack discover FILE.so --write modpack.toml`):
# [[commands]]
# name = "mymodule.set"
# arity = 3
# flags = ["write", "deny-oom"]
# first_key = 1
# last_key = 1
# step = 1
"""
