"""Declarations: modpack.toml (and RAMP's ramp.yml) read into the module.json they describe.

Loading never raises for content problems: syntax errors, unknown keys and wrong types become
findings in `Declarations.sink`, and the module dict holds whatever could be assembled, so one
run reports every problem at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modpack import locate, policy, schema, versions
from modpack.checks.commands import target_redis
from modpack.findings import Sink
from modpack.regular import open_regular

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

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


@dataclass
class Settings:
    """Validation settings from [validate] and the command line (the command line wins)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    strict: bool = False
    load: bool = False  # load the module into a real redis-server (--load, load = true)
    # --load-if-available, load = "if-available": no redis-server for the module is not a failure
    load_if_available: bool = False
    redis_server: str | None = None  # for --load; default: $MODPACK_REDIS_SERVER, then PATH
    redis_version: str | None = None  # for --load: the Redis to prove with (default: the target's)


@dataclass
class Target:
    """One [[targets]] entry: a build of the module for other platforms."""

    name: str
    so: str
    operating_systems: list[str] | None = None
    architecture: str | None = None
    compatible_redis_version: str | None = None
    min_redis_version: str | None = None


@dataclass
class Declarations:
    """What modpack.toml or ramp.yml declares, with the findings of reading it."""

    path: Path
    kind: str  # "toml" or "ramp"
    sink: Sink
    module: dict[str, Any] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    targets: list[Target] = field(default_factory=list)
    output: str | None = None
    so: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # Paths of values that hold a `{{...}}` placeholder: they stand for something unknown until a
    # build script expands them, so checks of their value are not made.
    opaque: set[str] = field(default_factory=set)

    @property
    def has_commands(self) -> bool:
        return bool(self.module.get("commands"))

    @property
    def ok(self) -> bool:
        from modpack.findings import Severity

        return not any(f.severity is Severity.ERROR for f in self.sink.findings)


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


MAX_TEXT_FILE = 4 * 1024 * 1024  # declarations and module.json are small; a huge one is crafted


def read_text(path: Path, sink: Sink) -> str | None:
    from modpack.regular import read_regular

    try:
        raw = read_regular(path, MAX_TEXT_FILE)
        if len(raw) > MAX_TEXT_FILE:
            sink.add("IN001", "", f"{path} is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB")
            return None
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        sink.add("IN001", "", f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}")
        return None


def load(path: Path) -> Declarations:
    """modpack.toml or ramp.yml, by name."""
    if path.suffix in (".yml", ".yaml"):
        from modpack import ramp

        return ramp.load(path)
    return load_toml(path)


def load_toml(path: Path) -> Declarations:
    sink = Sink(str(path), mapper=toml_path)
    decl = Declarations(path, "toml", sink)
    text = read_text(path, sink)
    if text is None:
        return decl
    sink.lines = _lazy_lines(text, locate.toml_lines)
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        sink.add("IN003", "", f"TOML syntax error: {exc}", line=_toml_error_line(str(exc)))
        return decl
    except RecursionError:
        sink.add("IN003", "", "TOML nested too deeply to read")
        return decl
    except ValueError as exc:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        sink.add("IN003", "", f"TOML value cannot be read: {exc}", "Write a number Redis can hold.")
        return decl
    decl.raw = data
    for violation in schema.check(data, "modpack", exact_integers=True):
        hint = violation.hint or _REQUIRED_HINTS.get(violation.path, "")
        _add_unmapped(sink, violation.code, violation.path, violation.message, hint)
    _check_integer_range(data, sink)
    if "{{" in text:
        _check_placeholders(data, sink, "")
    data = substitute_env(data, sink, "")
    _assemble(decl, data)
    _check_dependencies(decl)
    if "module" in data:
        no_commands(decl.module, sink)
    return decl


_REQUIRED_HINTS = {
    "module.name": 'Add name = "..." under [module]: the name the module passes to RedisModule_Init '
    "(`modpack init --discover FILE.so` reads it from the module).",
    "module.semantic_version": 'Add semantic_version = "X.Y.Z" under [module] '
    "(`modpack init --discover FILE.so` reads it from the module).",
}


def _check_dependencies(decl: Declarations) -> None:
    """Each dependency is a url and a sha256, or a local archive (`local_path`) modpack packs
    under deps/ and hashes itself, as RAMP does (ramp.md §3.4). A url is needed either way:
    module.json's dependency object is {url, sha256} (redis-enterprise.md, module object)."""
    deps = decl.module.get("dependencies")
    if not isinstance(deps, dict):
        return
    for name, dep in deps.items():
        if not isinstance(dep, dict):
            continue
        local = dep.get("local_path")
        if "sha256" not in dep and not isinstance(local, str):
            _add_unmapped(
                decl.sink,
                "DEP001",
                f"module.dependencies.{name}",
                f"dependency {name!r} has neither sha256 nor local_path",
                "Give the sha256 of the archive at url, or local_path: an archive modpack packs and hashes.",
            )
        if isinstance(local, str) and local and "${" not in local:
            check_local_archive(name, decl.path.parent / local, decl.sink, required=False)
            _check_given_hash(name, dep.get("sha256"), decl.path.parent / local, decl.sink)


GZIP_MAGIC = b"\x1f\x8b"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,100}")


def check_local_archive(name: str, path: Path, sink: Sink, *, required: bool, place: str = "module.") -> None:
    """A local_path is a gzip'd tar (RAMP packs deps/<name>.tgz and Redis Enterprise unpacks it).
    A missing file is a finding only when building (`required`): validation, as for [build] so,
    runs before the archive is made. `place`: where `dependencies` sits in the source file."""
    where = f"{place}dependencies.{name}.local_path"
    if not _SAFE_NAME.fullmatch(name):  # it names the entry deps/<name>.tgz
        message = f"dependency name {name!r} cannot name a file under deps/ (letters, digits, '.', '_', '-')"
        _add_unmapped(sink, "DEP006", where, message)
        return
    try:
        if not path.is_file():
            if required:
                _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: {path} is not a file")
            return
        with open_regular(path) as stream:
            magic = stream.read(2)
    except OSError as exc:
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: cannot read {path}: {exc.strerror}")
        return
    except ValueError:  # a NUL in the path
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r} is not a usable path")
        return
    if magic != GZIP_MAGIC:
        _add_unmapped(sink, "DEP006", where, f"local_path of {name!r}: {path} is not a gzip archive")


def _check_given_hash(name: str, given: Any, path: Path, sink: Sink) -> None:
    """The build writes the archive's own hash; a sha256 written beside local_path must be it."""
    if not isinstance(given, str) or any(f.code == "DEP006" for f in sink.findings):
        return
    from modpack.hashing import sha256_stream

    try:
        with open_regular(path) as stream:
            actual = sha256_stream(stream)
    except (OSError, ValueError):
        return  # no archive yet: the build checks it (DEP006)
    if actual != given.lower():
        _add_unmapped(
            sink,
            "DEP004",
            f"module.dependencies.{name}.sha256",
            f"{path} has sha256 {actual}, modpack.toml says {given}",
            "Remove sha256: the build computes it from local_path.",
        )


def no_commands(module: dict[str, Any], sink: Sink) -> None:
    """CMD030 for a modpack.toml (or the module.json a build assembles) that declares no command.

    checks/commands.py says nothing of hand-written declarations with no entries (a ramp.yml never
    lists them: RAMP reads them from the loaded module), so a modpack.toml is judged here: left
    empty, the bundle's module.json would route no command (`build --discover` fills them in).
    Never twice: silent when the module.json checks already said it.
    """
    if module.get("commands") != [] or any(f.code == "CMD030" for f in sink.findings):
        return
    sink.add("CMD030", "commands", "commands is empty: the proxy routes no command of this module")


def _lazy_lines(text: str, scan: Any) -> Any:
    cache: dict[str, Any] = {}

    def line_of(path: str) -> int | None:
        if "map" not in cache:
            cache["map"] = locate.resolver(scan(text))
        result: int | None = cache["map"](path)
        return result

    return line_of


def _add_unmapped(sink: Sink, code: str, path: str, message: str, hint: str = "") -> None:
    """Add a finding whose path is already a path of the source file."""
    sink.add(code, path, message, hint, source_path=True)


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


_PLACEHOLDER = re.compile(r"\{\{[^{}\n]*\}\}")


def _check_placeholders(value: Any, sink: Sink, path: str) -> None:
    """A `{{...}}` placeholder is for a build script to expand; modpack would ship it verbatim."""
    if isinstance(value, str):
        match = _PLACEHOLDER.search(value)
        if match:
            message = f"{match.group()!r} is a template placeholder; modpack never expands it"
            _add_unmapped(sink, "DECL002", path, message)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_placeholders(item, sink, locate.join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_placeholders(item, sink, locate.join(path, key))


def substitute_env(value: Any, sink: Sink, path: str) -> Any:
    """Expand ${VAR} in every string (`$$` is a literal `$`); an unset variable is a finding."""
    if isinstance(value, str):
        return _expand(value, sink, path)
    if isinstance(value, list):
        return [substitute_env(v, sink, locate.join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute_env(v, sink, locate.join(path, k)) for k, v in value.items()}
    return value


def _expand(text: str, sink: Sink, path: str) -> str:
    if "$" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        if name in ("target", "os", "arch"):
            return match.group(0)  # expanded per build target
        if name not in os.environ:
            _add_unmapped(sink, "DECL003", path, f"${{{name}}} is not set in the environment")
            return match.group(0)
        return os.environ[name]

    return _ENV.sub(replace, text)


def _assemble(decl: Declarations, data: dict[str, Any]) -> None:
    table = _table(data, "module")
    module: dict[str, Any] = {}
    name = table.get("name")
    if isinstance(name, str):
        module["module_name"] = name
        module["display_name"] = name
    for key in MODULE_KEYS:
        if key in table:
            module[key] = table[key]
    crdb = module.get("crdb")
    if isinstance(crdb, dict) and isinstance(crdb.get("supported_featureset_versions"), list):
        versions_list = crdb["supported_featureset_versions"]
        module["crdb"] = {**crdb, "supported_featureset_versions": [as_integer(v) for v in versions_list]}
    semantic = table.get("semantic_version")
    if isinstance(semantic, str):
        module["semantic_version"] = semantic
        parsed = versions.parse_semver(semantic)
        if parsed is not None:
            module["version"] = versions.encode(*parsed)
    module.setdefault("command_line_args", "")
    module.setdefault("capabilities", [])
    if "min_redis_version" not in module and isinstance(module.get("compatible_redis_version"), str):
        module["min_redis_version"] = module["compatible_redis_version"]
    platform = _table(data, "platform")
    for key in ("operating_systems", "architecture"):
        if key in platform:
            module[key] = platform[key]
    commands = data.get("commands")
    module["commands"] = [_command(c) for c in commands] if isinstance(commands, list) else []
    goal = target_redis(module)
    for command in module["commands"]:
        if isinstance(command.get("flags"), list):
            command["flags"] = policy.canonical_flags(command["flags"], goal)
    decl.module = module
    decl.settings = settings_from(data.get("validate"))
    decl.targets = _targets(data.get("targets"))
    build = _table(data, "build")
    decl.output = build.get("output") if isinstance(build.get("output"), str) else None
    decl.so = build.get("so") if isinstance(build.get("so"), str) else None


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _command(table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        return {}
    command: dict[str, Any] = {"command_name": table.get("name")}
    if "arity" in table:
        command["command_arity"] = as_integer(table["arity"])
    command["flags"] = table.get("flags", [])
    for key in ("first_key", "last_key", "step"):
        command[key] = as_integer(table.get(key, 0))
    return command


# Redis keeps arity, first_key, last_key and step in C ints: RedisModule_CreateCommand takes
# `int firstkey, int lastkey, int keystep` (fixtures/include/redismodule_min.h, from redismodule.h).
INT_RANGE = (-(2**31), 2**31 - 1)
_INTEGER_FIELDS = ("arity", "first_key", "last_key", "step")


def as_integer(value: Any) -> Any:
    """A number in an integer field as the checks after the schema's should see it: 3.0 as 3, so
    one cause gives one finding; 2.5, 1e308 or 10**20 (each already reported) as its text, which
    no check takes for a number. Any other value is returned as it is."""
    if type(value) is int and INT_RANGE[0] <= value <= INT_RANGE[1]:
        return value  # the common case, first
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return repr(value)
    return int(value)


def report_floats(value: Any, sink: Sink, path: str = "") -> None:
    """A float anywhere in what becomes module.json: modpack writes integers only (JSON readers
    such as Redis Enterprise's take 3.0 for 3, but a 2.5 or 1e308 has no integer to be)."""
    if isinstance(value, float):
        code = "CMD004" if path.endswith("command_arity") else "SCH002"
        message = f"`{path}` is a float ({value!r}); module.json takes an integer here"
        sink.add(code, path, message, schema.integer_hint(value, "integer"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            report_floats(item, sink, locate.join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            report_floats(item, sink, locate.join(path, str(key)))


def _check_integer_range(data: dict[str, Any], sink: Sink) -> None:
    """Integers past what Redis stores (a float is the schema check's finding, not this one's)."""
    places: list[tuple[str, Any]] = []
    commands = data.get("commands")
    if isinstance(commands, list):
        for index, command in enumerate(commands):
            if isinstance(command, dict):
                places += [(f"commands[{index}].{k}", command[k]) for k in _INTEGER_FIELDS if k in command]
    crdb = _table(_table(data, "module"), "crdb").get("supported_featureset_versions")
    if isinstance(crdb, list):
        places += [(f"module.crdb.supported_featureset_versions[{i}]", v) for i, v in enumerate(crdb)]
    low, high = INT_RANGE
    for path, value in places:
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            shown = str(value) if len(str(value)) <= 24 else f"a {len(str(value))}-digit number"
            _add_unmapped(
                sink, "SCH005", path, f"`{path}` is {shown}; Redis keeps it in a C int ({low} to {high})"
            )


def settings_from(table: Any) -> Settings:
    if not isinstance(table, dict):
        return Settings()

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key)
        return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

    return Settings(
        select=strings("select"),
        ignore=strings("ignore"),
        strict=table.get("strict") is True,
        load=table.get("load") in (True, "if-available"),
        load_if_available=table.get("load") == "if-available",
    )


def _targets(items: Any) -> list[Target]:
    if not isinstance(items, list):
        return []
    targets = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        systems = item.get("operating_systems")
        targets.append(
            Target(
                name=item["name"],
                so=str(item.get("so") or ""),
                operating_systems=list(systems) if isinstance(systems, list) else None,
                architecture=item.get("architecture"),
                compatible_redis_version=item.get("compatible_redis_version"),
                min_redis_version=item.get("min_redis_version"),
            )
        )
    return targets
