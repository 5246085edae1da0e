"""modpack.toml read into Declarations: TOML syntax, the published schema, `${VAR}`, the
[module], [platform], [build], [[commands]], [[targets]] and [validate] tables, local dependency
archives. Content problems are findings in the declarations' sink, never exceptions.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from modpack import locate, policy, schema, versions
from modpack.beside import UNPACKABLE_HINT, close_sibling, first_unpackable
from modpack.checks.commands import no_commands, target_redis
from modpack.checks.metadata import version_fix
from modpack.checks.numbers import C_INT, as_integer
from modpack.config import normalized_codes, settings_from
from modpack.declarations import MODULE_KEYS, NOT_BUILT_HINT, Declarations, Target, target_variables
from modpack.envvars import TARGET_SO, substitute_env
from modpack.findings import Sink, unset_variable
from modpack.naming import FIELDS_TEXT
from modpack.records import folded_name, recorded
from modpack.regular import open_regular
from modpack.sources import lazy_lines, read_text

if TYPE_CHECKING:
    from modpack.types import JSON, Module

# module.json key -> modpack.toml path (anything else lives under [module] by its own name).
_TOML_PLACES = {
    "module_name": "module.name",
    "operating_systems": "platform.operating_systems",
    "architecture": "platform.architecture",
    "version": "module.semantic_version",
    "sha256": "",
    "commands": "commands",
}
_COMMAND_FIELDS = {"command_name": "name", "command_arity": "arity"}
_INTEGER_FIELDS = ("arity", "first_key", "last_key", "step")


def settings_only(data: Mapping[str, object]) -> bool:
    """A modpack.toml that holds only [validate]: the settings of the files under its folder (a
    repository's root, say), not a module's declarations."""
    return set(data) == {"validate"}


def toml_path(path: str) -> str:
    """The modpack.toml path of a module.json path: `commands[2].command_arity` -> `commands[2].arity`."""
    head, _, rest = path.partition(".")
    base = head.split("[", 1)[0]
    if base == "commands":
        if ".flags[" in path:
            path = path[: path.index(".flags[") + len(".flags")]  # flags are normalised on load
        parts = path.split(".")
        if len(parts) > 1:
            field_name = parts[1].split("[", 1)[0]
            parts[1] = _COMMAND_FIELDS.get(field_name, field_name)
        return ".".join(parts)
    if base in _TOML_PLACES:
        mapped = _TOML_PLACES[base]
        return mapped + head[len(base) :] + (f".{rest}" if rest and mapped else "")
    return f"module.{path}" if path else ""


def load_toml(path: Path) -> Declarations:
    sink = Sink(str(path), mapper=toml_path)
    decl = Declarations(path, "toml", sink)
    text = read_text(path, sink)
    if text is None:
        return decl
    lines = lazy_lines(text, locate.toml_lines)
    # The whole document has no line of its own: a finding about it (IN003) never scans the text.
    sink.lines = lambda path: lines(path) if path else None
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        if line is None and "Unterminated string" in str(exc):
            line = locate.unclosed_string_line(text)
        if line is None and "(at end of document)" in str(exc):
            # the last line, whose fix says "at the reported line": a cut file reported none
            line = text.count("\n") + (0 if text.endswith("\n") else 1) or 1
        sink.add("IN003", "", f"TOML syntax error: {exc}", line=line)
        return decl
    except RecursionError:
        sink.add("IN003", "", "TOML nested too deeply to read")
        return decl
    except ValueError as exc:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        sink.add("IN003", "", f"TOML value cannot be read: {exc}", "Write a number Redis can hold.")
        return decl
    decl.raw = data
    # TOML's values are JSON's, and a date: the schema check below reports any date where
    # module.json takes a value (SCH002), and its error stops every build.
    parsed = cast("dict[str, JSON]", data)
    for violation in schema.check(parsed, "modpack", exact_integers=True):
        if settings_only(parsed) and not violation.path.startswith("validate"):
            continue  # no module to miss: a folder's settings (README, "as ruff finds pyproject.toml")
        required = (
            _REQUIRED_HINTS.get(violation.path, "") if violation.code == "SCH001" else ""
        )  # not a wrong type
        hint = violation.hint or required or _belongs_elsewhere(violation)
        if violation.code == "VER005":  # a number where a version string belongs
            hint = version_fix(violation.path, None, sink)
        _add_unmapped(sink, violation.code, violation.path, violation.message, hint)
    _check_integer_range(parsed, sink)
    if "{{" in text:
        _check_placeholders(parsed, sink, "")
    written = parsed
    parsed = substitute_env(parsed, sink, "")
    if "${" in text:
        _check_target_variables(written, parsed, sink)
    _assemble(decl, parsed)
    _check_target_names(parsed, sink)
    _check_rule_codes(_table(parsed, "validate"), sink)
    _check_dependencies(decl)
    if "module" in parsed:
        no_commands(decl.module, sink)
    return decl


# module.json's names for what modpack.toml says otherwise, or works out itself: authors who know
# module.json or ramp.yml write them under [module].
_OPERATING_SYSTEMS = "It is operating_systems, under [platform]: write operating_systems = [...] there."
_MODULE_JSON_NAMES = {
    "module_name": "modpack.toml calls it name, under [module]: write name = ... there.",
    "version": "modpack.toml computes version from semantic_version (major*10000 + minor*100 + patch):"
    " remove it.",
    "sha256": "modpack build computes sha256 from the binary: remove it.",
    "commands": "Declare each command as a [[commands]] table (name, arity, flags, first_key, last_key,"
    " step).",
    "os_list": _OPERATING_SYSTEMS,
    "os": _OPERATING_SYSTEMS,
}


def _belongs_elsewhere(violation: schema.Violation) -> str:
    """The fix for a key modpack.toml knows, written in the wrong place: `operating_systems` under
    [module] got "Remove the key or correct its spelling" while [platform] takes it."""
    table, _, key = violation.path.rpartition(".")
    if violation.code != "DECL001" or "." in table or "[" in table:
        return ""
    if table in ("module", "") and key in _MODULE_JSON_NAMES:  # ramp.yml's keys are top-level
        return _MODULE_JSON_NAMES[key]
    homes = [t for t, keys in _table_keys().items() if key in keys and t != table]
    if not homes:
        return ""
    where = "[[commands]]" if homes[0] == "commands" else f"[{homes[0]}]"
    return f"{key} belongs in {where}" + (f", not [{table}]" if table else "") + ": move it there."


@functools.cache
def _table_keys() -> dict[str, frozenset[str]]:
    """Each table of modpack.toml (modpack.schema.json) with the keys it takes: the plain tables
    first, so a key both a table and an array of tables take ([build] and [[targets]] `so`) is
    sent to the plain one."""
    tables = schema.load_schema("modpack").get("properties")
    found: dict[str, frozenset[str]] = {}
    for name, table in (tables if isinstance(tables, dict) else {}).items():
        body = table.get("items", table) if isinstance(table, dict) else None
        keys = body.get("properties") if isinstance(body, dict) else None
        found[name] = frozenset(keys) if isinstance(keys, dict) else frozenset()
    arrays = {"commands", "targets"}
    return {n: found[n] for n in sorted(found, key=lambda n: n in arrays)}


# `modpack discover FILE.so` prints what the module registers; `init --discover` would write a new
# file (and refuse, or with --force replace this one with everything it holds).
_REQUIRED_HINTS = {
    "module.name": 'Add name = "..." under [module]: the name the module passes to RedisModule_Init '
    "(`modpack discover FILE.so` shows it).",
    "module.semantic_version": 'Add semantic_version = "X.Y.Z" under [module] '
    "(`modpack discover FILE.so` shows the version the module registers).",
}


def _check_dependencies(decl: Declarations) -> None:
    """Each dependency is a url and a sha256, or a local archive (`local_path`) modpack packs
    under deps/ and hashes itself, as RAMP does (ramp.md §3.4). A local archive needs no url:
    Redis Enterprise installs a dependency from the bundle's deps/ (redis-enterprise.md §8), or
    fetches it from its url, and RAMP packs a local_path entry without one (normalize_dependencies
    skips it; RediSearch's Redis Enterprise manifest ships `svs` so)."""
    deps = decl.module.get("dependencies")
    if not isinstance(deps, dict):
        return
    for name, dep in deps.items():
        if not isinstance(dep, dict):
            continue
        local = dep.get("local_path")
        for key, what in (("sha256", "the sha256 of the archive at url"), ("url", "the archive's url")):
            if key not in dep and not isinstance(local, str):
                _add_unmapped(
                    decl.sink,
                    "DEP001",
                    f"module.dependencies.{name}",
                    f"dependency {name!r} has neither {key} nor local_path",
                    f"Give {what}, or local_path: an archive modpack packs and hashes.",
                )
        if (
            isinstance(local, str)
            and local
            and not unset_variable(decl.sink, f"module.dependencies.{name}.local_path")
        ):
            digest = check_local_archive(name, decl.path.parent / local, decl.sink, required=False)
            _check_given_hash(name, dep.get("sha256"), digest, decl.path.parent / local, decl.sink)


GZIP_MAGIC = b"\x1f\x8b"


# A dependency name that can name its entry deps/<name>.tgz (and the file init extracts it to).
DEPENDENCY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,100}")


def check_local_archive(
    name: str, path: Path, sink: Sink, *, required: bool, place: str = "module.", archive: bool = True
) -> str | None:
    """A local_path is a gzip'd tar (RAMP packs deps/<name>.tgz and Redis Enterprise unpacks it).
    A missing file is an error only when building (`required`): validation, as for [build] so,
    may run before the archive is made, and says that its checks did not run (DECL010).
    `place`: where `dependencies` sits in the source file.
    `archive=False`: a ramp.yml's local_path, a file or a folder the build tar-gzips itself, as
    RAMP does (RAMP/packer.py `archive()` runs `tar.add(local_path, arcname=basename)` on every
    one: a .tgz named there is packed inside deps/<name>.tgz, and that is what a node unpacks).
    Returns the sha256 of an archive that was read through (None for any other)."""
    where = f"{place}dependencies.{name}.local_path"
    if not DEPENDENCY_NAME.fullmatch(name):  # it names the entry deps/<name>.tgz
        message = f"dependency name {name!r} cannot name a file under deps/ (letters, digits, '.', '_', '-')"
        _add_unmapped(sink, "DEP006", where, message)
        return None
    if not archive and os.path.lexists(path):  # not there: said below, as for an archive
        unpackable = first_unpackable(path)
        if unpackable is not None:
            packed = "only folders and regular files go into a dependency archive"
            message = f"local_path of {name!r}: {unpackable}: {packed}"
            _add_unmapped(sink, "DEP006", where, message, UNPACKABLE_HINT)
        return None
    try:
        mode: int | None = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a loop of links, a parent that is a file: never an archive as written
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: cannot read {path}: {exc.strerror}")
        return None
    except ValueError:  # a NUL in the path
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r} is not a usable path")
        return None
    near = close_sibling(path) if mode is None else None  # a mistyped name, not an archive to build
    if mode is None and not required:
        checks = f"the checks of the archive of dependency {name!r} did not run"
        if near is None:
            _add_unmapped(sink, "DECL010", where, f"{path} is not built yet: {checks}", NOT_BUILT_HINT)
        else:
            hint = f"Fix local_path if {near} is the archive; or validate again once it is built."
            _add_unmapped(
                sink, "DECL010", where, f"{path} is not there, but {near} is beside it: {checks}", hint
            )
        return None
    if mode is None or not stat.S_ISREG(mode):  # a folder is no archive, built or not
        what = "does not exist" if mode is None else "is not a file"
        beside = f"; {near} is beside it" if near else ""
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: {path} {what}{beside}")
        return None
    try:
        digest, damage = read_archive(path)
    except OSError as exc:
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: cannot read {path}: {exc.strerror}")
        return None
    if damage == NOT_GZIP:
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: {path} is not a gzip archive")
    elif damage:  # Redis Enterprise unpacks it on every node: a cut archive fails there, not here
        _add_unmapped(
            sink, "DEP006", where, f"local_path of {name!r}: {path} is a damaged gzip archive: {damage}"
        )
    return None if damage else digest


GZIP_CHECKED = 1024**3  # decompressed bytes read to prove an archive whole; past them it is taken as it is
NOT_GZIP = "no gzip magic"


def read_archive(path: Path) -> tuple[str, str]:
    """(sha256, why the gzip archive at `path` is not whole: NOT_GZIP, a zlib error, a truncation,
    or "") in one streamed pass, the inflated bytes thrown away: a large archive is never held,
    and past GZIP_CHECKED decompressed bytes it is only hashed. gzip allows several members one
    after the other, and zero bytes after the last. OSError when it cannot be read."""
    import hashlib
    import zlib

    digest, inflater = hashlib.sha256(), zlib.decompressobj(wbits=31)
    started, produced, damage, first = False, 0, "", True
    with open_regular(path) as stream:
        while raw := stream.read(1024 * 1024):
            digest.update(raw)
            if first and not raw.startswith(GZIP_MAGIC):
                damage = NOT_GZIP
            first, data = False, raw
            while data and not damage and produced <= GZIP_CHECKED:
                if not started and not data.strip(b"\0"):
                    break  # padding after the last member
                try:
                    produced += len(inflater.decompress(data, 1024 * 1024))
                except zlib.error as exc:
                    damage = str(exc)
                    break
                started, data = True, inflater.unconsumed_tail
                if not data and inflater.eof:  # a member ended: what follows is the next one's
                    data, inflater, started = inflater.unused_data, zlib.decompressobj(wbits=31), False
    if first:
        damage = NOT_GZIP  # empty
    elif not damage and started and not inflater.eof and produced <= GZIP_CHECKED:
        damage = "it ends before the archive does (truncated)"
    return digest.hexdigest(), damage


def _check_given_hash(name: str, given: object, actual: str | None, path: Path, sink: Sink) -> None:
    """The build writes the archive's own hash (`actual`, read by check_local_archive; None when
    it is unusable or not there yet): a sha256 written beside local_path must be it."""
    if not isinstance(given, str) or actual is None:
        return
    if actual != given.lower():
        _add_unmapped(
            sink,
            "DEP004",
            f"module.dependencies.{name}.sha256",
            f"{path} has sha256 {actual}, modpack.toml says {given}",
            "Remove sha256: the build computes it from local_path.",
        )


def _add_unmapped(sink: Sink, code: str, path: str, message: str, hint: str = "") -> None:
    """Add a finding whose path is already a path of the source file."""
    sink.add(code, path, message, hint, source_path=True)


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


_PLACEHOLDER = re.compile(r"\{\{[^{}\n]*\}\}")


def _check_placeholders(value: object, sink: Sink, path: str) -> None:
    """A `{{...}}` placeholder is for a build script to expand; modpack would ship it verbatim."""
    for where, text in locate.strings(value, path):
        match = _PLACEHOLDER.search(text)
        if match and where == "build.output":  # a format template: doubled braces are literal ones
            message = (
                f"{match.group()!r} is a template placeholder; the output template writes doubled braces"
                " as braces, so it names no field"
            )
            _add_unmapped(sink, "DECL002", where, message, _OUTPUT_FIELDS_HINT)
        elif match:
            message = f"{match.group()!r} is a template placeholder; modpack never expands it"
            _add_unmapped(sink, "DECL002", where, message)


_OUTPUT_FIELDS_HINT = f"Write each field in single braces: {FIELDS_TEXT}."
_TARGET_FIELDS = {"target": "name", "os": "operating_systems", "arch": "architecture"}
_OUTPUT_FIELDS = {"target": "{target}", "os": "{os}", "arch": "{architecture}"}


def _check_target_variables(written: dict[str, JSON], expanded: dict[str, JSON], sink: Sink) -> None:
    """${target}, ${os} and ${arch} have a value only in a [[targets]] entry's so, where the build
    expands them with the entry's name, operating_systems and architecture; anywhere else they are
    kept as written (DECL003), as is one the entry gives no value for. Read as written, so that
    `$${arch}` stays the literal it means."""
    for path, text in locate.strings(written, ""):
        used = dict.fromkeys(target_variables(text))
        if not used:
            continue
        in_target = TARGET_SO.fullmatch(path)
        if in_target is None:
            for name in used:
                sink.say_unexpanded(
                    path,
                    f"${{{name}}} has no value here: only a [[targets]] entry's so expands it",
                    _outside_target_hint(path, name),
                )
            continue
        entries, index = expanded.get("targets"), int(in_target.group(1))
        entry = entries[index] if isinstance(entries, list) else None
        target = _target(entry, index)
        if target is None or not isinstance(entry, dict):
            continue  # no name: the schema check's finding
        values = target.values()
        for name in (n for n in used if not values[n] and entry.get(_TARGET_FIELDS[n]) in (None, "", [])):
            sink.say_unexpanded(
                path,
                f"${{{name}}} has no value: [[targets]] {target.name!r} gives no {_TARGET_FIELDS[name]}",
                f"Give the entry {_TARGET_FIELDS[name]}, or write the path without ${{{name}}}.",
            )


def _outside_target_hint(path: str, name: str) -> str:
    if path == "build.output":
        return f"The output template's own field is {_OUTPUT_FIELDS[name]}: write it without the $."
    if path == "build.so":
        return (
            "Write the path here; per-target paths go in each [[targets]] entry's so, built with"
            " `modpack build --all` or --target."
        )
    return "Write the value: modpack keeps it as written here."


def _check_target_names(data: dict[str, JSON], sink: Sink) -> None:
    """`--target NAME` chooses a [[targets]] entry by name: two with one name cannot be told apart."""
    entries = data.get("targets")
    first: dict[str, int] = {}
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        if not name.strip():  # chosen by `--target ''` alone, and {target} in a bundle name is then ""
            _add_unmapped(
                sink, "SCH004", f"targets[{index}].name", "name is empty", "Give the target a name."
            )
        elif name in first:
            _add_unmapped(
                sink,
                "DECL008",
                f"targets[{index}].name",
                f"two [[targets]] are named {name!r}: this one and targets[{first[name]}]",
                "Give each [[targets]] entry its own name.",
            )
        else:
            first[name] = index


def _check_rule_codes(table: dict[str, JSON], sink: Sink) -> None:
    """[validate] select and ignore entries that match no rule: `modpack validate` refuses them,
    so the build of this file does too."""
    from modpack.rules import selects_a_rule

    for key in ("select", "ignore"):
        entries = table.get(key)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            codes = normalized_codes([entry]) if isinstance(entry, str) else ()
            if codes and not selects_a_rule(codes[0]):
                _add_unmapped(
                    sink,
                    "DECL009",
                    f"validate.{key}[{index}]",
                    f"[validate] {key} names {entry!r}, which matches no rule",
                    "Correct the code (`modpack rules` lists them) or remove it.",
                )


def identity_of(table: Mapping[str, JSON]) -> Module:
    """[module] name and semantic_version as module.json's module_name, semantic_version and the
    numeric version computed from it."""
    found: Module = {}
    name, semantic = table.get("name"), table.get("semantic_version")
    if isinstance(name, str):
        found["module_name"] = name
    if isinstance(semantic, str):
        found["semantic_version"] = semantic
        parsed = versions.parse_semver(semantic)
        if parsed is not None:
            found["version"] = versions.encode(*parsed)
    return found


def _assemble(decl: Declarations, data: dict[str, JSON]) -> None:
    table = _table(data, "module")
    module: Module = {}
    identity = identity_of(table)
    if "module_name" in identity:
        module["module_name"] = module["display_name"] = identity["module_name"]
    for key in MODULE_KEYS:
        if key in table:
            module[key] = table[key]
    crdb = module.get("crdb")
    if isinstance(crdb, dict) and isinstance(
        versions_list := crdb.get("supported_featureset_versions"), list
    ):
        module["crdb"] = {**crdb, "supported_featureset_versions": [as_integer(v) for v in versions_list]}
    module.update({k: v for k, v in identity.items() if k != "module_name"})
    module.setdefault("command_line_args", "")
    module.setdefault("capabilities", [])
    if "min_redis_version" not in module and isinstance(
        compatible := module.get("compatible_redis_version"), str
    ):
        module["min_redis_version"] = compatible
    platform = _table(data, "platform")
    for key in ("operating_systems", "architecture"):
        if key in platform:
            module[key] = platform[key]
    commands = data.get("commands")
    entries: list[JSON] = [_command(c) for c in commands] if isinstance(commands, list) else []
    module["commands"] = entries
    policy.canonicalise_commands(entries, target_redis(module))
    _command_records(module, table, decl.sink)
    decl.module = module
    decl.settings = settings_from(data.get("validate"))
    decl.targets = _targets(data.get("targets"))
    if "min_redis_version" not in _table(data, "module"):
        # min_redis_version defaults to compatible_redis_version in each build: a target giving
        # 7.2 was refused (VER007) against the 7.4 [module]'s default, which nobody wrote
        for target in decl.targets:
            if target.min_redis_version is None and isinstance(target.compatible_redis_version, str):
                target.min_redis_version = target.compatible_redis_version
    build = _table(data, "build")
    decl.output = output if isinstance(output := build.get("output"), str) else None
    decl.so = so if isinstance(so := build.get("so"), str) else None


def _command_records(module: Module, table: dict[str, JSON], sink: Sink) -> None:
    """[module] exclude_commands and add_command, into module.json as RAMP records them (ramp.md
    §3.3), where `validate --load` reads them: a command the module registers that is left out on
    purpose, and a declared one the module does not register when it is loaded (a plugin's).

    Names are compared as Redis compares command names, case-insensitively. An excluded command
    that a [[commands]] table declares, or an added one that none declares, is DECL004."""
    entries = [c for c in cast("list[JSON]", module["commands"]) if isinstance(c, dict)]
    declared = {folded_name(c) for c in entries}
    excluded = table.get("exclude_commands")
    if isinstance(excluded, list) and excluded:
        for index, name in enumerate(excluded):
            if isinstance(name, str) and name.casefold() in declared:
                sink.add(
                    "DECL004",
                    f"exclude_commands[{index}]",
                    f"exclude_commands names {name!r}, which a [[commands]] table declares: a command"
                    " is declared or excluded, not both",
                    "Remove the name from exclude_commands, or remove its [[commands]] table.",
                )
        module["exclude_commands"] = list(excluded)
    added = table.get("add_command")
    if isinstance(added, list) and added:
        names = recorded(table, "add_command")
        for index, name in enumerate(added):
            if isinstance(name, str) and name.casefold() not in declared:
                sink.add(
                    "DECL004",
                    f"add_command[{index}]",
                    f"add_command names {name!r}, which no [[commands]] table declares",
                    "add_command names [[commands]] tables: declare the command as one, or fix the name.",
                )
        module["add_command"] = [dict(c) for c in entries if folded_name(c) in names]


def _table(data: dict[str, JSON], key: str) -> dict[str, JSON]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _command(table: JSON) -> Module:
    if not isinstance(table, dict):
        return {}
    command: Module = {"command_name": table.get("name")}
    if "arity" in table:
        command["command_arity"] = as_integer(table["arity"])
    command["flags"] = table.get("flags", [])
    for key in ("first_key", "last_key", "step"):
        command[key] = as_integer(table.get(key, 0))
    return command


def _check_integer_range(data: dict[str, JSON], sink: Sink) -> None:
    """Integers past what Redis stores (a float is the schema check's finding, not this one's)."""
    places: list[tuple[str, JSON]] = []
    commands = data.get("commands")
    if isinstance(commands, list):
        for index, command in enumerate(commands):
            if isinstance(command, dict):
                places += [(f"commands[{index}].{k}", command[k]) for k in _INTEGER_FIELDS if k in command]
    crdb = _table(_table(data, "module"), "crdb").get("supported_featureset_versions")
    if isinstance(crdb, list):
        places += [(f"module.crdb.supported_featureset_versions[{i}]", v) for i, v in enumerate(crdb)]
    low, high = C_INT
    for path, value in places:
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            shown = str(value) if len(str(value)) <= 24 else f"a {len(str(value))}-digit number"
            _add_unmapped(
                sink, "SCH005", path, f"`{path}` is {shown}; Redis keeps it in a C int ({low} to {high})"
            )


def _targets(items: JSON) -> list[Target]:
    if not isinstance(items, list):
        return []
    return [target for index, item in enumerate(items) if (target := _target(item, index)) is not None]


def _target(item: JSON | None, index: int) -> Target | None:
    """One [[targets]] entry, the index-th written, or None without a name (the schema says so)."""
    if not isinstance(item, dict) or not isinstance(name := item.get("name"), str):
        return None
    systems = item.get("operating_systems")
    # The values as written: one of another type is the schema check's finding (SCH002).
    return Target(
        name=name,
        so=str(item.get("so") or ""),
        index=index,
        operating_systems=cast("list[str]", list(systems)) if isinstance(systems, list) else None,
        architecture=cast("str | None", item.get("architecture")),
        compatible_redis_version=cast("str | None", item.get("compatible_redis_version")),
        min_redis_version=cast("str | None", item.get("min_redis_version")),
    )
