"""Policy data (platforms, capabilities, flag vocabularies), loaded once from `modpack/data/`."""

from __future__ import annotations

import functools
import json
import re
from typing import Literal, NotRequired, TypeAlias, TypedDict, overload

from modpack import read_packaged

# The shapes of modpack/data/*.json (modpack's own files; "$comment" keys are not listed).


class Library(TypedDict):
    package: str
    installed: bool
    source: str


class OperatingSystem(TypedDict):
    name: str
    glibc: str
    glibcxx: str
    cxxabi: str
    gcc: dict[str, str]
    architectures: list[str]
    x86_64_level: NotRequired[int]  # the x86-64 micro-architecture level the OS requires of its CPU
    since: NotRequired[dict[str, str]]  # architecture -> the first RS release with packages for it
    status: str
    aliases: list[str]
    note: NotRequired[str]
    dropped_in: NotRequired[str]  # the first RS release without packages for it
    libraries: NotRequired[dict[str, Library]]


class SharedLibraries(TypedDict):
    present: list[str]
    desktop: list[str]
    versioned_exports: list[str]  # every export versioned: no unversioned name binds to them


class Sourced(TypedDict):
    version: str
    source: str


class Platforms(TypedDict):
    sources: dict[str, str]
    operating_systems: dict[str, OperatingSystem]
    special_versions: dict[str, str]
    marker_causes: dict[str, str]
    execstack_refused_from_glibc: Sourced
    libraries: SharedLibraries


class Capabilities(TypedDict):
    capabilities: dict[str, str]
    misspellings: dict[str, str]


class Flags(TypedDict):
    command_info: list[str]
    native_only: list[str]
    module_to_command_info: dict[str, str]
    module_only_invisible: dict[str, str]
    module_flag_since: dict[str, str]
    left_out_of_declarations: list[str]


class Supplement(TypedDict):
    source: str
    names: list[str]


class RedisServerExports(TypedDict):
    sources: list[dict[str, str]]
    names: list[str]
    supplement: Supplement


class HostExports(TypedDict):
    sources: list[dict[str, str | list[str]]]
    names: list[str]


class NativeCommands(TypedDict):
    source: str
    commands: dict[str, str]


PolicyName: TypeAlias = Literal[
    "platforms", "capabilities", "flags", "redis_server_exports", "host_exports", "native_commands"
]
PolicyData: TypeAlias = Platforms | Capabilities | Flags | RedisServerExports | HostExports | NativeCommands


@overload
def load(name: Literal["platforms"]) -> Platforms: ...
@overload
def load(name: Literal["capabilities"]) -> Capabilities: ...
@overload
def load(name: Literal["flags"]) -> Flags: ...
@overload
def load(name: Literal["redis_server_exports"]) -> RedisServerExports: ...
@overload
def load(name: Literal["host_exports"]) -> HostExports: ...
@overload
def load(name: Literal["native_commands"]) -> NativeCommands: ...
def load(name: PolicyName) -> PolicyData:
    return _read(name)


@functools.cache
def _read(name: PolicyName) -> PolicyData:
    text = read_packaged("data", f"{name}.json")
    data: PolicyData = json.loads(text)  # modpack's own file, of the shape its TypedDict names
    return data


def operating_systems() -> dict[str, OperatingSystem]:
    return load("platforms")["operating_systems"]


@functools.cache
def os_aliases() -> dict[str, str]:
    """Every accepted spelling (rhel9, rocky9, ubuntu22.04) mapped to its canonical id."""
    return {alias: key for key, info in operating_systems().items() for alias in info["aliases"]}


# Redis Enterprise reads an OS entry as its first run of letters and its first version (RAMP's
# unpacker, _os_version_parser: re.search of [a-zA-Z_]+ and (\d+)(\.\d+)?(\.\d+)?), so 'ubuntu-22.04'
# is the OS 'ubuntu22.04' is, and an entry without either is refused (module_os_list_invalid).
_OS_NAME = re.compile(r"[a-zA-Z_]+")
_OS_VERSION = re.compile(r"(\d+)(\.\d+)?(\.\d+)?")


def os_name(entry: str) -> str:
    """An OS entry's name, as Redis Enterprise reads it: its first run of letters ('' if none)."""
    found = _OS_NAME.search(entry)
    return found.group(0) if found else ""


def os_as_read(entry: str) -> str | None:
    """An operating_systems entry as Redis Enterprise reads it (letters, then the version:
    'ubuntu-22.04' is 'ubuntu22.04'), or None for one it refuses."""
    name, version = _OS_NAME.search(entry), _OS_VERSION.search(entry)
    return f"{name[0]}{version[0]}" if name and version else None


def canonical_os(name: str) -> str | None:
    aliases = os_aliases()
    found = aliases.get(name.lower())
    if found is None and (read := os_as_read(name)) is not None:
        found = aliases.get(read.lower())
    return found


def capabilities() -> dict[str, str]:
    return load("capabilities")["capabilities"]


def capability_misspellings() -> dict[str, str]:
    return load("capabilities")["misspellings"]


def command_info_flags() -> frozenset[str]:
    return frozenset(load("flags")["command_info"])


def native_only_flags() -> frozenset[str]:
    return frozenset(load("flags")["native_only"])


def module_flag_spellings() -> dict[str, str]:
    """RedisModule_CreateCommand flag string -> COMMAND INFO name (keyspecs.md §1.8)."""
    return load("flags")["module_to_command_info"]


@functools.cache
def flag_since() -> dict[str, tuple[tuple[int, ...], str]]:
    """Flag (either spelling, lower case) -> (the first Redis version whose RedisModule_CreateCommand
    accepts it, the flag string that needs it); flags any version accepts are not listed.

    A COMMAND INFO name takes the oldest of the flag strings that produce it: `noscript` comes
    from deny-script (any version) as well as from internal (8.0), so it is not listed."""
    flags = load("flags")
    since = {
        name: tuple(int(p) for p in version.split("."))
        for name, version in flags["module_flag_since"].items()
    }
    found: dict[str, tuple[tuple[int, ...], str]] = {name: (version, name) for name, version in since.items()}
    producers: dict[str, list[str]] = {}
    for name, shown in flags["module_to_command_info"].items():
        producers.setdefault(shown, []).append(name)
    for shown, names in producers.items():
        if shown not in found and all(n in since for n in names):
            found[shown] = min((since[n], n) for n in names)
    return found


@functools.cache
def flags_string_words() -> frozenset[str]:
    """Every word of either flag vocabulary, the native-only names and a module flag with '_' for
    '-': what a string literal must be made of to be taken for a RedisModule_CreateCommand flags
    string."""
    flags = load("flags")
    return frozenset(
        [
            *flags["module_to_command_info"],
            *flags["module_only_invisible"],
            *flags["command_info"],
            *flags["native_only"],
            *underscored_flags(),
        ]
    )


@functools.cache
def underscored_flags() -> dict[str, str]:
    """A module flag written with '_' for '-' (deny_oom), which neither vocabulary has, -> the flag
    (deny-oom): RedisModule_CreateCommand refuses it, and the module does not load (redis-server
    7.0.15, "write deny_oom", "readonly getkeys_api", "readonly no_cluster")."""
    flags = load("flags")
    module = [*flags["module_to_command_info"], *flags["module_only_invisible"]]
    known = {*module, *flags["command_info"], *flags["native_only"]}
    return {f.replace("-", "_"): f for f in module if "-" in f and f.replace("-", "_") not in known}


@functools.cache
def native_commands() -> dict[str, tuple[int, ...]]:
    """Lower-case name of every command a stock redis-server has -> the Redis version that added it."""
    return {
        name: tuple(int(p) for p in since.split("."))
        for name, since in load("native_commands")["commands"].items()
    }


def may_replicate_hidden(target: tuple[int, ...] | None) -> bool:
    """Whether COMMAND INFO of the `target` Redis leaves may_replicate out: it shows it on 6.2 and
    7.0.0 only (keyspecs.md §1.7; redis/redis PR #10744, 7.0.1). A target written "7.0" is the
    7.0 line, whose releases since 7.0.1 hide it."""
    return target is not None and target[:2] >= (7, 0) and target != (7, 0, 0)


def canonical_flags(flags: list[object], target: tuple[int, ...] | None, *, shown: bool = False) -> list[str]:
    """COMMAND INFO spellings in Redis 7's emission order, with `module` for Redis 7+ targets.

    Redis 7 reports `module` on every module command and 6.x never does (keyspecs.md §1.7), and
    matches a flags string's words case-insensitively (strcasecmp in src/module.c
    commandFlagsFromString; redis-server 7.0.15 reports "WRITE Deny-OOM" as write, denyoom).
    `shown`: only what COMMAND INFO of the target shows, as module.json holds it: without
    no-cluster, and without may_replicate where the target hides it. A declaration keeps both
    (no-cluster is CAP006's; one modpack.toml builds for several targets).
    """
    spelled = module_flag_spellings()
    order = load("flags")["command_info"]
    left_out = set(load("flags")["left_out_of_declarations"])  # getchannels-api: never shown
    if shown:
        left_out |= load("flags")["module_only_invisible"].keys()
    names = {
        spelled.get(f.lower(), f.lower()) for f in flags if isinstance(f, str) and f.lower() not in left_out
    }
    if target is not None and target >= (7,):
        names.add("module")
    elif target is not None:
        names.discard("module")  # what `discover` copied from a Redis 7 server, for a 6.x target
    if shown and may_replicate_hidden(target):
        names.discard("may_replicate")
    return sorted(names, key=lambda f: (order.index(f) if f in order else len(order), f))


def canonicalise_commands(commands: object, target: tuple[int, ...] | None, *, shown: bool = False) -> None:
    """Every command's flags in place, as canonical_flags spells them for the `target` Redis:
    what modpack.toml declares and what a build writes (`shown`), normalised one way."""
    for command in commands if isinstance(commands, list) else []:
        if isinstance(command, dict) and isinstance(command.get("flags"), list):
            command["flags"] = canonical_flags(command["flags"], target, shown=shown)
