"""Checks of module.json metadata: versions, capabilities, platform and dependencies.

Each check reads the module dict defensively: a value of the wrong type was already reported by
the schema check, so here it is skipped rather than reported twice.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from modpack import policy, versions
from modpack.findings import Finding, Location, Sink, unset_variable
from modpack.types import JSON, Module

# RAMP's unpacker parses an OS entry as letters then a version (ramp.md §8).
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "arm64v8": "aarch64"}
ARCHITECTURES = ("x86_64", "aarch64")


def check_versions(module: Module, sink: Sink) -> None:
    semantic = module.get("semantic_version")
    parsed = None
    if isinstance(semantic, str) and semantic:
        parsed = versions.parse_semver(semantic)
        problem = versions.semver_problem(semantic) if parsed is None else None  # None iff it parses
        # an unset ${VAR} is kept as written, and DECL003 says it; a `${` that `$$` wrote (or any
        # in a module.json, where nothing is expanded) is what the bundle holds
        if problem and not unset_variable(sink, sink.mapper("semantic_version")):
            sink.add("VER001", "semantic_version", problem)
    if parsed is not None:
        _check_components(parsed, sink)
    _check_numeric_version(module.get("version"), parsed, sink)
    _check_redis_versions(module, sink)


def _check_components(parsed: tuple[int, int, int], sink: Sink) -> None:
    major, minor, patch = parsed
    for label, value in (("minor", minor), ("patch", patch)):
        if value > versions.MAX_COMPONENT:
            encoded = versions.encode(*parsed)
            sink.add(
                "VER002",
                "semantic_version",
                f"{label} {value} is above 99: version {encoded} would read back as "
                f"{'.'.join(map(str, versions.decode(encoded)))}",
            )
    if major > versions.MAX_MAJOR:
        sink.add(
            "VER002",
            "semantic_version",
            f"major {major} does not fit the numeric version (major * 10000 + minor * 100 + patch)",
            f"Keep major at {versions.MAX_MAJOR} or below: the numeric version is a C int.",
        )


def _check_numeric_version(number: object, parsed: tuple[int, int, int] | None, sink: Sink) -> None:
    if isinstance(number, bool) or not isinstance(number, int | float):
        return
    if isinstance(number, float):
        if not number.is_integer():
            return  # not an integer at all: the schema reports it (VER003)
        # RAMP writes every version as a float (10203.0) and the unpacker Redis Enterprise uses
        # reads it as int(float(v)) (ramp.md §2, redis-enterprise.md §8): a warning, not a refusal.
        sink.add(
            "VER011",
            "version",
            f"version is the float {number!r}" + ("" if sink.yaml else ", as RAMP writes it"),
            f"Write {int(number)} (an integer).",
        )
    if int(number) == 0:
        # RAMP's unpacker, which mirrors Redis Enterprise's, refuses a version that is not truthy
        # (ramp.md §11: module_version_missing): 0, or 0.0, is no version to it.
        sink.add(
            "VER012",
            "version",
            "version is 0: Redis Enterprise reads 0 as no version and refuses the bundle "
            "(module_version_missing)"
            + (", and semantic_version 0.0.0 encodes 0" if parsed == (0, 0, 0) else ""),
        )
    if parsed is not None and int(number) != versions.encode(*parsed):
        expected = versions.encode(*parsed)
        decoded = ".".join(map(str, versions.decode(int(number))))
        sink.add(
            "VER004",
            "version",
            f"version {int(number)} encodes {decoded}, but semantic_version is {'.'.join(map(str, parsed))}",
            f"Set version to {expected}.",
        )


def version_fix(key: str, value: JSON, sink: Sink) -> str:
    """VER005's fix for the field and the file, of a value that is no version string or no string
    at all (a number): min_redis_pack_version is a Redis Enterprise version, written without its
    build number (7.4.2, not 7.4.2-54); YAML's float trap is a YAML file's, which modpack.toml (a
    TOML file) and module.json (JSON) do not have."""
    quoted = " (quote it: 8.10 unquoted is 8.1)" if sink.yaml else ""
    if key.rsplit(".", 1)[-1] == "min_redis_pack_version":
        release = value.split("-", 1)[0] if isinstance(value, str) and "-" in value else ""
        if _redis_version(release) is not None:  # 7.4.2-54: the release and its build number
            return f'Write "{release}", the release without its build number{quoted}.'
        return f'Write the Redis Enterprise version as a string such as "7.4" or "7.4.2"{quoted}.'
    return f'Write the Redis version as a string such as "7.4" or "7.4.0"{quoted}.'


def _check_redis_versions(module: Module, sink: Sink) -> None:
    parsed: dict[str, tuple[int, ...]] = {}
    for key in ("min_redis_version", "compatible_redis_version", "min_redis_pack_version"):
        value = module.get(key)
        if not isinstance(value, str) or value == "":
            continue
        version = _redis_version(value) if len(value) <= 64 else versions.parse_redis_version(value)
        if version is None:
            sink.add(
                "VER005", key, f"{key} {value!r} is not major.minor[.patch]", version_fix(key, value, sink)
            )
            continue
        if version[:2] == (99, 99):
            sink.add("VER010", key, f"{key} {value!r} is the development placeholder")
            continue
        parsed[key] = version
    compatible = module.get("compatible_redis_version")
    if compatible is None or compatible == "":
        state = "missing" if compatible is None else "empty"
        sink.add("VER006", "compatible_redis_version", f"compatible_redis_version is {state}")
    low, high = parsed.get("min_redis_version"), parsed.get("compatible_redis_version")
    if high is not None and len(high) > 2:
        sink.add(
            "VER009",
            "compatible_redis_version",
            f"compatible_redis_version {compatible!r} has a patch level",
            f"Write {'.'.join(map(str, high[:2]))!r}.",
        )
    if low is not None and high is not None:
        low, high = low[:2], high[:2]  # databases are matched on major.minor
        if low > high:
            sink.add(
                "VER007",
                "min_redis_version",
                f"min_redis_version {module['min_redis_version']!r} is above compatible_redis_version "
                f"{compatible!r}",
            )
        elif low[0] != high[0] and _selected_by_minimum(high, parsed.get("min_redis_pack_version")):
            sink.add(
                "VER008",
                "min_redis_version",
                f"min_redis_version {module['min_redis_version']!r} and compatible_redis_version "
                f"{compatible!r} have different majors, and a Redis {'.'.join(map(str, high))} "
                "database may be matched by min_redis_version",
            )


# The same few Redis versions recur in every file of a run: each is parsed once.
_redis_version = functools.lru_cache(maxsize=256)(versions.parse_redis_version)


# Redis Enterprise 7.8.2 added compatible_redis_version; since then min_redis_version "is only
# relevant to Redis database versions earlier than 7.4" (redis-enterprise.md §1 and §9). Redis's
# own bundles pair min 7.4 (or 7.1) with compatible 8.0 (re-docs GET_v1_modules capture).
_MIN_VERSION_IGNORED_FROM_DB = (7, 4)
_COMPATIBLE_VERSION_FROM_PACK = (7, 8, 2)


def _selected_by_minimum(compatible: tuple[int, ...], pack: tuple[int, ...] | None) -> bool:
    """Whether a cluster may still match the compatible (major.minor) database by min_redis_version.

    Only for a database before 7.4, and only on a cluster older than 7.8.2 (one that knows
    nothing of compatible_redis_version), which min_redis_pack_version may rule out.
    """
    if compatible >= _MIN_VERSION_IGNORED_FROM_DB:
        return False
    return pack is None or pack < _COMPATIBLE_VERSION_FROM_PACK


def check_capabilities(module: Module, sink: Sink, *, defaulted: bool = False) -> None:
    """`defaulted`: the source left capabilities out, and the build writes an empty list."""
    capabilities = module.get("capabilities")
    if not isinstance(capabilities, list):
        return  # the schema reports it (a comma-separated string: CAP003)
    known = policy.capabilities()
    wrong = policy.capability_misspellings()
    seen: set[str] = set()
    for index, name in enumerate(capabilities):
        if not isinstance(name, str):
            continue
        path = f"capabilities[{index}]"
        if name in seen:
            sink.add("CAP002", path, f"capability {name!r} is listed twice")
        seen.add(name)
        if name not in known:
            hint = "" if sink.saturated("CAP001") else _capability_hint(name, known, wrong)
            sink.add("CAP001", path, f"unknown capability {name!r}", hint)
    if not capabilities:
        said = "missing: the build writes an empty list" if defaulted else "empty"
        sink.add("CAP004", "capabilities", f"capabilities is {said}")


def _capability_hint(name: str, known: dict[str, str], wrong: dict[str, str]) -> str:
    import difflib

    lowered = name.strip().lower().replace("-", "_")
    guess = wrong.get(lowered) or (lowered if lowered in known else None)
    if guess is None:
        close = difflib.get_close_matches(lowered, list(known), n=1, cutoff=0.7)  # mutate: equivalent -- n
        guess = next(iter(close), None)
    if guess is None:
        return "Known capabilities: " + ", ".join(known)
    if guess == lowered:
        return f"Write {guess!r}: capability names are exact, lower case, with underscores."
    return f"Did you mean {guess!r}?"


def check_platform(module: Module, sink: Sink, *, in_bundle: bool = False) -> None:
    _check_architecture(module, sink, in_bundle=in_bundle)
    os_value = module.get("os")
    # informational (the packing host's platform.system(); no unpacker reads it, redis-enterprise.md
    # §2): "linux" says Linux as well as RAMP's "Linux" does
    if isinstance(os_value, str) and os_value and os_value.casefold() != "linux":
        sink.add("PLT006", "os", f"os is {os_value!r}")
    if "os_list" in module:
        sink.add("PLT008", "os_list", "os_list is the legacy name of operating_systems")
    # No list at all: in a bundle, PLT005 names the OSes its binary loads on (checks/bundle.py).
    key = "operating_systems" if module.get("operating_systems") is not None else "os_list"
    entries = module.get(key)
    if entries == []:  # declares no OS: a node's cannot be among them (or, read leniently, is not checked)
        sink.add(
            "PLT005",
            key,
            f"{key} is empty",
            f"List the OSes the module is for, or leave {key} out (modpack build then fills it from"
            " the binary; an empty list it writes as it is).",
        )
    if isinstance(entries, list):
        _check_os_entries(entries, key, module.get("architecture"), _pack_floor(module), sink)


def _pack_floor(module: Module) -> tuple[int, ...] | None:
    """min_redis_pack_version as (major, minor, patch); None when absent or not a version (VER005)."""
    value = module.get("min_redis_pack_version")
    return _floor_of(value) if isinstance(value, str) and len(value) <= 64 else None


@functools.lru_cache(maxsize=256)  # the same few values recur in every file of a run
def _floor_of(text: str) -> tuple[int, ...] | None:
    parsed = versions.parse_redis_version(text)
    return _three(parsed) if parsed else None


def _three(version: tuple[int, ...]) -> tuple[int, ...]:
    return (*version, 0, 0)[:3]


def _check_architecture(module: Module, sink: Sink, *, in_bundle: bool) -> None:
    arch = module.get("architecture")
    if arch is None and in_bundle:
        sink.add("PLT009", "architecture", "architecture is not declared")
    elif isinstance(arch, str) and arch not in ARCHITECTURES:
        alias = _ARCH_ALIASES.get(arch.lower())
        hint = f"Write {alias!r}." if alias else ""
        sink.add("PLT003", "architecture", f"architecture {arch!r} is not x86_64 or aarch64", hint)


def _check_os_entries(
    entries: list[JSON], key: str, arch: object, floor: tuple[int, ...] | None, sink: Sink
) -> None:
    # Only a known architecture is compared with an OS's (PLT004); any other value is the schema's.
    known_arch = arch if isinstance(arch, str) and arch in ARCHITECTURES else None
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, str):
            continue
        path = f"{key}[{index}]"
        identifier, canonical, problems = _os_entry(entry, known_arch, floor)
        if not identifier:
            sink.add(
                "PLT001",
                path,
                f"{entry!r} is not an OS identifier (letters, then a version) such as rhel9 or ubuntu22",
            )
            continue
        if canonical in seen or entry in seen:
            sink.add("PLT007", path, f"{entry!r} is listed twice")
        seen.add(canonical or entry)
        for code, message in problems:
            sink.add(code, path, message)


_OsVerdict = tuple[bool, str | None, tuple[tuple[str, str], ...]]  # identifier?, canonical, findings


def _os_entry(entry: str, arch: str | None, floor: tuple[int, ...] | None) -> _OsVerdict:
    """What one operating_systems entry is: an identifier at all, its canonical id, and the
    findings (code, message) it gets on `arch` in a bundle for RS `floor` (min_redis_pack_version)
    and later. The same few entries recur in every file of a run, so a short entry's verdict is
    worked out once."""
    if len(entry) <= 64:
        return _cached_os_entry(entry, arch, floor)
    return _judge_os_entry(entry, arch, floor)


def _judge_os_entry(entry: str, arch: str | None, floor: tuple[int, ...] | None) -> _OsVerdict:
    if policy.os_as_read(entry) is None:
        return False, None, ()
    canonical = policy.canonical_os(entry)
    if canonical is None:
        return True, None, (("PLT002", f"{entry!r}: not a Redis Enterprise OS"),)
    return True, canonical, _renamed(entry, canonical) + _system_findings(entry, canonical, arch, floor)


def _system_findings(
    entry: str, canonical: str, arch: str | None, floor: tuple[int, ...] | None
) -> tuple[tuple[str, str], ...]:
    """The findings of a known OS (`canonical`) on `arch` for RS `floor` and later."""
    systems = policy.operating_systems()
    system = systems[canonical]
    if system["status"] != "supported":
        # A retired OS still runs the releases before the one that dropped it (Amazon Linux 2:
        # RS 8.0 until 8.0.22, in life until 2028): a bundle those releases may take is
        # installable there, for the architectures it was shipped for (below).
        dropped = system.get("dropped_in")
        cut = versions.parse_redis_version(dropped) if isinstance(dropped, str) else None
        if cut is None or (floor is not None and floor >= _three(cut)):
            note = system.get("note", "")
            if cut is not None and floor is not None:
                shown = ".".join(map(str, floor if floor[2] else floor[:2]))
                note += f" The bundle asks for RS {shown} or later (min_redis_pack_version)."
            return (("PLT002", f"{entry!r}: {note}".rstrip(": ")),)
    if arch is not None and arch not in systems[canonical]["architectures"]:
        shipped = ", ".join(systems[canonical]["architectures"])
        return (("PLT004", f"Redis Enterprise ships {entry} only for {shipped}, not {arch}"),)
    return ()


def _renamed(entry: str, canonical: str) -> tuple[tuple[str, str], ...]:
    """PLT011 for a RHEL-compatible system under its own name (rocky9): Redis Enterprise, and
    RAMP for module.json, name them all rhelN (RAMP's RLEC_OS_MAP, ramp.md §8)."""
    read = policy.os_as_read(entry) or entry
    name, family = policy.os_name(read).lower(), policy.os_name(canonical)
    if name == family:
        return ()
    return (("PLT011", f"{entry!r}: Redis Enterprise names this OS {canonical!r}"),)


_cached_os_entry = functools.lru_cache(maxsize=1024)(_judge_os_entry)


def check_dependencies(module: Module, sink: Sink) -> None:
    for key in ("dependencies", "optional-dependencies"):
        deps = module.get(key)
        if not isinstance(deps, dict):
            continue
        for name, dep in deps.items():
            if not isinstance(dep, dict):
                continue
            path = f"{key}.{name}"
            digest = dep.get("sha256")
            if isinstance(digest, str) and not _SHA256.fullmatch(digest):
                sink.add("DEP002", f"{path}.sha256", f"sha256 of dependency {name!r} is not 64 hex digits")
            url = dep.get("url")
            if isinstance(url, str) and not url.startswith(("http://", "https://")):
                sink.add("DEP005", f"{path}.url", f"url of dependency {name!r} is {url!r}")


SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def check_names(module: Module, sink: Sink) -> None:
    """module_name and module_file become folder and file names on every node."""
    for key in ("module_name", "module_file"):
        value = module.get(key)
        if isinstance(value, str) and value and not SAFE_NAME.fullmatch(value):
            sink.add("SCH006", key, f"{key} {value!r} is not a plain file name")
        elif key == "module_file" and isinstance(value, str) and value and not value.endswith(".so"):
            # A bundle holds module.json, one .so and deps/: another name is refused by the unpacker
            # (redis-enterprise.md §8, invalid_number_of_files). The rule's own fix is about the
            # characters of a name, which are fine here: say which name to give instead.
            stem = value.split(".so", 1)[0] if ".so" in value else value.rsplit(".", 1)[0]
            sink.add(
                "SCH006",
                key,
                f"module_file {value!r} does not name a .so file",
                f"Name the packed module {stem or 'module'}.so and write that in module_file: Redis "
                "Enterprise's unpacker takes module.json, one *.so and deps/, and refuses any other file",
            )


def binary_name_findings(so: Path) -> list[Finding]:
    """check_names of the module_file `modpack build` writes when the declarations name none: the
    binary's file name (builder.assemble). Located at the binary, saying where the name comes
    from: `--so hello.so.debug` was SCH006 at a [module] table that names no module_file."""
    probe = Sink(str(so))
    check_names({"module_file": so.name}, probe)
    note = f" (module_file is not declared: it is the file name of {so})"
    return [f._replace(location=Location(str(so)), message=f.message + note) for f in probe.resolved()]


def check_module(
    module: Module, sink: Sink, *, in_bundle: bool = False, capabilities_defaulted: bool = False
) -> None:
    """Every metadata check that needs nothing but the module dict."""
    check_names(module, sink)
    check_versions(module, sink)
    check_capabilities(module, sink, defaulted=capabilities_defaulted)
    check_platform(module, sink, in_bundle=in_bundle)
    check_dependencies(module, sink)
