"""Checks of the module binary: will this .so load on the declared OSes and architecture?

`check_binary` reads the ELF facts once (modpack.elf), compares them with module.json and the
platform policy (modpack.loadability) and reports findings; it never raises. A binary that cannot be
a Redis module at all (not an ELF, 32-bit, an executable, another machine) gets that one finding
and nothing else, since every further finding would be noise.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

from modpack import elf, loadability, policy
from modpack.checks.commands import (
    NO_CLUSTER_EFFECT,
    NO_CLUSTER_FIX,
    Command,
    clustered,
    lowest_redis,
    module_commands,
)
from modpack.elf import ElfError, ElfInfo
from modpack.findings import Sink
from modpack.loadability import Platform
from modpack.types import Module

Target = tuple[Platform, str]  # a platform and the module.json path that declared it ("" if none)

_ERROR_CODES = {"not-elf": "ELF001", "truncated": "ELF002", "malformed": "ELF003", "unreadable": "IN001"}
_VERSION_CODES = {"GLIBC": "ELF012", "GLIBCXX": "ELF013", "CXXABI": "ELF014", "GCC": "ELF015"}
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "arm64v8": "aarch64"}
_SHOWN = 5  # symbols or names quoted in one message


def check_binary(
    source: elf.Source,
    sink: Sink,
    module: Module | None = None,
    *,
    platforms: Sequence[Platform] | None = None,
    suggest_systems: bool = True,
    declaring: Sink | None = None,
) -> ElfInfo | None:
    """Check the module binary against `module` (its architecture and operating_systems).

    When `module` declares no operating_systems, ELF029 says where the binary loads, unless
    `suggest_systems` is off (a bundle reports the missing list as PLT005 with those OSes).

    `source` is a path or a seekable binary stream (the bundle reader's image of the .so).
    `platforms` replaces the declared operating_systems as the targets to check against (for
    instance a description of the machine at hand); findings about them carry no path.
    `declaring`: the sink of the file that declares `module` (a modpack.toml, a bundle's
    module.json), where a finding about a declared field (an OS of operating_systems, the
    architecture) is placed, at that field's line; without it, `sink` takes them too.
    Returns the ELF facts, or None when the file could not be read as an ELF file at all.
    """
    try:
        info = elf.read_elf(source)
    except ElfError as exc:
        sink.add(_ERROR_CODES[exc.kind], "", exc.message, exc.hint)
        return None
    # Suggest into a module.json whose list is missing or empty; named but unknown OSes are
    # PLT001/PLT002 findings, and "operating_systems is not declared" would be untrue there.
    declared = isinstance(module, dict) and not _names_systems(module)
    module = module if isinstance(module, dict) else {}
    if not _loadable_format(info, sink):
        return info
    targets = [(p, "") for p in platforms] if platforms is not None else declared_targets(module)
    declared_arch = _declared_architecture(module)
    fields = declaring if declaring is not None else sink
    _check_architecture(info, declared_arch, fields, module.get("architecture"))
    _check_entry_point(info, sink)
    _check_targets(info, targets, declared_arch, _Placed(sink, fields))
    _check_libc(info, sink)
    _check_needed(info, targets, _Placed(sink, fields))
    _check_search_path(info, sink)
    _check_stack(info, targets, _Placed(sink, fields))
    _check_static_tls(info, sink)
    _check_hardening(info, sink)
    _check_isa_level(info, targets, sink)
    commands = module_commands(module)
    _check_flags_strings(info, sink, lowest_redis(module), frozenset(f for c in commands for f in c.flags))
    _check_no_cluster_strings(info, module, commands, sink)
    if not targets:
        _report_loadable(info, sink, suggest=declared and suggest_systems)
    return info


# What each x86-64 level adds that a node's CPU may lack (x86-64 psABI, micro-architecture levels).
_ISA_LEVELS = {2: "SSE4.2, POPCNT", 3: "AVX2, FMA, BMI2", 4: "AVX-512"}


def _check_isa_level(info: ElfInfo, targets: Sequence[Target], sink: Sink) -> None:
    level = info.isa_level
    if level not in _ISA_LEVELS:
        return
    said = (
        f"the binary needs x86-64-v{level} ({_ISA_LEVELS[level]}): glibc refuses to load it on a CPU"
        " without those instructions"
    )
    if level == 2:
        # RHEL 9 requires v2 of the machine (elf.md §2.5, the manylinux README's RHEL 9 caveat), so
        # a module built for RHEL 9's own level is no defect there; the other OSes run on older CPUs.
        lower = [p.os_id for p, _ in targets if p.x86_64_level < level]
        if targets and not lower:
            return
        if not lower:
            said += "; only RHEL 9 requires them of a node"
        else:
            verb = "does" if len(lower) == 1 else "do"
            said += f"; {_listed(lower)} {verb} not require them of a node, RHEL 9 does"
    sink.add("ELF034", "", said)


def _counted(count: int, noun: str) -> str:
    """'1 undefined symbol', '2 undefined symbols'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _article(word: str) -> str:
    """'an OBJECT', 'a NOTYPE', 'a TLS' (symbol types, read as words)."""
    return "an" if word[:1].upper() in "AEIO" else "a"


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class _Placed(NamedTuple):
    """Where a finding goes: one about a declared field (a path such as operating_systems[0]) to
    the declaring file, at that field, where the fix is made; one about the binary alone to it."""

    binary: Sink
    fields: Sink

    def add(self, code: str, path: str, message: str, hint: str = "") -> None:
        (self.fields if path else self.binary).add(code, path, message, hint)


def _names_systems(module: Module) -> bool:
    entries = module.get("operating_systems", module.get("os_list"))
    return isinstance(entries, list) and any(isinstance(e, str) and e for e in entries)


def declared_targets(module: Module) -> list[Target]:
    """The known OSes of operating_systems (or the legacy os_list), each once, with its path.

    Junk entries are skipped: the metadata checks report them.
    """
    key = "operating_systems" if "operating_systems" in module else "os_list"
    entries = module.get(key)
    if not isinstance(entries, list):
        return []
    targets: list[Target] = []
    for index, entry in enumerate(entries):
        target = loadability.platform(entry) if isinstance(entry, str) else None
        if target is not None and all(target.os_id != t.os_id for t, _ in targets):
            targets.append((target, f"{key}[{index}]"))
    return targets


def _declared_architecture(module: Module) -> str | None:
    value = module.get("architecture")
    if not isinstance(value, str):
        return None
    value = _ARCH_ALIASES.get(value.lower(), value)
    return value if value in elf.ARCHITECTURES.values() else None


def _describe_machine(info: ElfInfo) -> str:
    order = "little" if info.little_endian else "big"
    return f"{info.elf_class}-bit {order}-endian {info.machine}"


def _loadable_format(info: ElfInfo, sink: Sink) -> bool:
    """Whether the file is a 64-bit LE shared object for a shipped machine; reports why not."""
    if info.elf_class != 64 or not info.little_endian:
        sink.add("ELF004", "", f"the binary is a {_describe_machine(info)} ELF file")
    elif info.e_type == "ET_DYN" and info.debug_only:
        sink.add(
            "ELF005",
            "",
            "the binary is a separate debug-info file (as objcopy --only-keep-debug writes): its dynamic"
            " segment, symbols and code hold no bytes, so dlopen fails with 'object file has no dynamic"
            " section'",
            "Pack the module itself (the .so the linker wrote, stripped or not), not its debug-info"
            " companion.",
        )
    elif info.e_type != "ET_DYN" or not info.has_dynamic:
        what = "has no dynamic segment" if info.e_type == "ET_DYN" else f"is of type {info.e_type}"
        sink.add("ELF005", "", f"the binary {what}: it is not a shared library")
    elif info.is_pie:
        sink.add("ELF005", "", "the binary is a position-independent executable (DF_1_PIE), not a library")
    elif info.architecture is None:
        sink.add("ELF006", "", f"the binary is for {info.machine}, not x86_64 or aarch64")
    else:
        if info.osabi not in ("SYSV", "GNU"):
            sink.add("ELF008", "", f"the binary's OS/ABI is {info.osabi}, not System V or GNU")
        if info.has_interp:
            sink.add("ELF028", "", f"the binary has a program interpreter ({info.interp})")
        return True
    return False


def _check_architecture(info: ElfInfo, declared: str | None, sink: Sink, written: object = None) -> None:
    if declared is not None and declared != info.architecture:
        # `arm64` is read as aarch64: the message names the value as written, and what it means
        given = declared if written == declared else f"{written!r} ({declared})"
        sink.add(
            "ELF007",
            "architecture",
            f"the binary is built for {info.architecture} ({info.machine}), but architecture is {given}",
            f"Set architecture to {info.architecture}, or rebuild the module for {declared}.",
        )


def _check_entry_point(info: ElfInfo, sink: Sink) -> None:
    entry = info.onload
    name = elf.ONLOAD
    if entry.exported_function:
        return
    if not entry.in_dynsym and entry.defined_locally:
        sink.add("ELF010", "", f"{name} is defined but not exported: it is missing from .dynsym")
    elif not entry.in_dynsym:
        unknown = ""
        if not info.has_symtab:
            unknown = " (the file is stripped, so it may also be hidden)"
        elif entry.defined_locally is None:
            unknown = " (its static symbol table could not be read, so it may also be hidden)"
        if entry.cxx_name:  # C++ without extern "C": the name is there, mangled
            unknown = f': it defines {entry.cxx_name}, the C++ name of one not declared extern "C"'
        sink.add("ELF009", "", f"the binary does not define {name}{unknown}")
    elif not entry.defined:
        sink.add(
            "ELF011", "", f"{name} is undefined in the binary: it imports the name instead of defining it"
        )
    elif entry.type not in ("FUNC", "GNU_IFUNC"):
        sink.add("ELF011", "", f"{name} is {_article(entry.type)} {entry.type} symbol, not a function")
    elif entry.hidden_version:
        sink.add(
            "ELF010",
            "",
            f"{name} has only a hidden symbol version (name@VERSION): dlsym() of the bare name, as"
            " Redis calls it, passes over it",
            f"Make the version the default (.symver ..., {name}@@VERSION) or export {name} unversioned.",
        )
    else:
        sink.add(
            "ELF010", "", f"{name} is exported with {entry.bind} binding and {entry.visibility} visibility"
        )


def _check_targets(info: ElfInfo, targets: list[Target], declared_arch: str | None, sink: _Placed) -> None:
    for target, path in targets:
        found = loadability.blockers(info, target)
        shipped = next((b for b in found if b.kind == "architecture"), None)
        if shipped is not None:
            # An OS not shipped for the binary's architecture is that one cause: which glibc it
            # has is moot, and "build on rhel8" would name an OS that has no aarch64 build.
            # With a declared architecture, ELF007 or PLT004 already says it.
            if declared_arch is None:
                sink.add(
                    "ELF027",
                    path,
                    f"Redis Enterprise ships {target.os_id} only for {shipped.available}; "
                    f"the binary is {shipped.needed}",
                )
            continue
        for blocker in found:
            if blocker.kind in _VERSION_CODES:
                _report_version(blocker, target, path, sink)


def _report_version(blocker: loadability.Blocker, target: Platform, path: str, sink: _Placed) -> None:
    sink.add(
        _VERSION_CODES[blocker.kind],
        path,
        f"{_provides(blocker, target)}, but the binary needs {blocker.needed}"
        f" (required by {_some(blocker.symbols)})",
        f"Build on {target.os_id} or an older OS, or drop {target.os_id} from operating_systems.",
    )


def _provides(blocker: loadability.Blocker, target: Platform) -> str:
    """'rhel8 has glibc 2.28' / "rhel9's libstdc++ goes up to GLIBCXX_3.4.29"."""
    if blocker.kind == "GLIBC":
        return f"{target.os_id} has glibc {blocker.available}"
    provider = loadability.FAMILIES[blocker.kind][1]
    return f"{target.os_id}'s {provider} goes up to {blocker.kind}_{blocker.available}"


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _check_libc(info: ElfInfo, sink: Sink) -> None:
    private = elf.private_versions(info)
    if private:
        sink.add("ELF016", "", f"the binary needs {_some(private)}, which only one build of the library has")
    if elf.libc_family(info) == "musl":
        musl = [n for n in info.needed if elf.is_musl_library(n)] or [info.interp or "musl"]
        sink.add("ELF017", "", f"the binary is linked against musl libc ({_some(musl)})")


def _check_needed(info: ElfInfo, targets: list[Target], sink: _Placed) -> None:
    """Each needed soname against what the OSes ship (platforms.json, per OS with its source)."""
    for name in dict.fromkeys(info.needed):
        kind = loadability.library_kind(name)
        if kind == "path":
            sink.add("ELF018", "", f"the binary needs the library by path: {name}")
        elif kind == "beside":
            sink.add(
                "ELF019",
                "",
                f"the binary needs {name}, beside the module: no OS installs it there",
                "Ship it in the bundle under deps/, which Redis Enterprise extracts into the module's"
                " folder, or link it statically.",
            )
        elif kind == "desktop":
            sink.add(
                "ELF019",
                "",
                f"the binary needs {name}, a desktop library that server installs do not have",
                "Remove the dependency: a Redis module cannot use X11, GL or GLib on a server node.",
            )
        elif kind == "unlisted":
            sink.add(
                "ELF019", "", f"the binary needs {name}, which no Redis Enterprise OS is known to install"
            )
        elif kind == "per-os":
            _check_shipped(info, name, targets, sink)


def _check_shipped(info: ElfInfo, name: str, targets: list[Target], sink: _Placed) -> None:
    """PLT010 for each declared OS that does not ship `name`; ELF020 where a minimal node may lack it."""
    shipping = loadability.shipping_systems(name)
    for target, path in targets:
        if target.library(name) is None and info.architecture in target.architectures:
            other = loadability.alternatives(target, name)
            instead = f" (it has {', '.join(other)})" if other else ""
            sink.add(
                "PLT010",
                path,
                f"the binary needs {name}, which {target.os_id} does not ship{instead}",
                f"Build the {target.os_id} bundle against the library {target.os_id} ships, or drop "
                f"{target.os_id} from operating_systems ({name} ships on {', '.join(shipping)}).",
            )
    systems = [t for t, _path in targets] or [p for p in loadability.platforms() if p.status == "supported"]
    lacking = [(t.os_id, lib.package) for t in systems if (lib := t.library(name)) and not lib.installed]
    if lacking:
        where = ", ".join(f"{os_id} ({package})" for os_id, package in lacking)
        sink.add(
            "ELF020",
            "",
            f"the binary needs {name}, which a minimal node may lack on {where}",
            "Install that package on every node, or link the library statically.",
        )


def _check_search_path(info: ElfInfo, sink: Sink) -> None:
    for tag, entries in (("RUNPATH", info.runpath), ("RPATH", info.rpath)):
        bad = [entry for entry in entries if not loadability.in_module_folder(entry)]
        if bad:
            shown = ", ".join(repr(entry) if entry else "'' (the working directory)" for entry in bad)
            sink.add("ELF024", "", f"{tag} points outside the module's directory: {shown}")


def _check_stack(info: ElfInfo, targets: list[Target], sink: _Placed) -> None:
    if not info.executable_stack:
        return
    why = "PT_GNU_STACK is executable" if info.gnu_stack else "it has no PT_GNU_STACK header"
    # The error applies to OSes with glibc >= execstack_refused_from_glibc (2.41). No Redis
    # Enterprise OS in the policy has such a glibc today, so declared OSes get the warning; the
    # error turns on by itself once the policy gains one (or a `platforms` target has one).
    refusing = [(target, path) for target, path in targets if loadability.refuses_execstack(target)]
    for target, path in refusing:
        sink.add(
            "ELF022",
            path,
            f"the binary needs an executable stack ({why}); {target.os_id} has glibc "
            f"{elf.version_text(target.glibc)}, whose dlopen refuses it",
        )
    if not refusing:
        sink.add("ELF021", "", f"the binary needs an executable stack ({why})")


def _check_static_tls(info: ElfInfo, sink: Sink) -> None:
    """ELF035: initial-exec TLS larger than the static TLS glibc keeps for libraries dlopen()ed later."""
    if info.static_tls <= elf.STATIC_TLS_SURPLUS:
        return
    sink.add(
        "ELF035",
        "",
        f"the binary reaches {info.static_tls} bytes of thread-local storage with initial-exec code;"
        f" glibc keeps {elf.STATIC_TLS_SURPLUS} bytes of static TLS for every library dlopen()ed after"
        " start-up, so dlopen fails with 'cannot allocate memory in static TLS block'",
    )


def _check_flags_strings(
    info: ElfInfo, sink: Sink, lowest: tuple[int, ...] | None = None, declared: frozenset[str] = frozenset()
) -> None:
    """ELF031: a string literal made of flag words that RedisModule_CreateCommand refuses on every
    Redis; ELF033: one it refuses on `lowest`, the oldest the module claims (min_redis_version),
    for a flag no declaration names (`declared`, COMMAND INFO names: CMD023 says those).

    Redis splits a flags string on single spaces and refuses the whole call for any word it does
    not know, an empty one included (keyspecs.md §1.5): "write  fast" fails, and so does a
    COMMAND INFO name such as denyoom (measured on redis-server 7.0.15: each module failed to
    load). A string is taken for a flags string when every word is a flag word of either spelling
    and one at least is a flags-string word; a sentence is never one. A leading or trailing space
    alone is not named (though "write " fails too): "readonly " is as likely a piece of a flags
    string built at run time. A flag newer than `lowest` is refused there as an unknown word is
    (redis-server 7.0.15 refuses "write internal", 8.0.2 takes it): CMD023 says it of a declared
    flag, ELF033 of the binary, where a command COMMAND never shows (internal) is not declared. It
    has its own code: a module that passes the flag only to a Redis that has it ignores it, and
    keeps ELF031's spelling check.
    """
    flags = policy.load("flags")
    since = policy.flag_since() if lowest is not None else {}
    accepted = {*flags["module_to_command_info"], *flags["module_only_invisible"]}
    vocabulary = policy.flags_string_words()
    underscored = policy.underscored_flags()
    spelled = {shown: name for name, shown in flags["module_to_command_info"].items() if shown != name}
    spelled.update(underscored)
    for text in info.getkeys.flags_strings:
        words = text.split(" ")
        pieces = [p for w in words for p in w.split(",")]
        lowered = [w.lower() for w in pieces if w]
        if not all(w in vocabulary for w in lowered) or not any(
            w in accepted or w in underscored for w in lowered
        ):
            continue
        problems = ["an empty word (a doubled space)"] if "" in words[1:-1] else []
        if "," in text:
            problems.append("commas (Redis splits the flags on single spaces only)")
        for word in (w for w in pieces if w and w.lower() not in accepted):
            name = spelled.get(word.lower())
            problems.append(
                f"{word!r} (the flags string says {name!r})" if name else f"{word!r}, no flag of a module"
            )
        newer = [
            (word, version)
            for word, version in _newer_flags(words, since, lowest)
            if flags["module_to_command_info"].get(word.lower(), word.lower()) not in declared
        ]
        if problems:
            sink.add(
                "ELF031",
                "",
                f"the binary holds the flags string {text!r}, which RedisModule_CreateCommand refuses for "
                f"{'; '.join(problems)}: a command registered with it fails, and so does the module's load",
                "Separate the flags with single spaces and spell them as RedisModule_CreateCommand "
                "takes them (deny-oom, not denyoom).",
            )
        elif newer and lowest is not None:  # (lowest: for the type checker; newer needs it)
            needed = max(version for _, version in newer)
            oldest, first = _dotted(lowest), _dotted(needed)
            named = ", ".join(f"{word!r} (Redis {_dotted(version)} and later)" for word, version in newer)
            sink.add(
                "ELF033",
                "",
                f"the binary holds the flags string {text!r}, which RedisModule_CreateCommand of Redis "
                f"{oldest}, the module's min_redis_version, refuses for {named}: a command registered with "
                f"it fails there, and so does the module's load, unless the module checks the Redis version"
                " before it passes them",
                f"Raise min_redis_version to {first}, or pass those flags only to a Redis that has them "
                "(RedisModule_GetServerVersion).",
            )


def _check_no_cluster_strings(info: ElfInfo, module: Module, commands: list[Command], sink: Sink) -> None:
    """CAP006 from the binary: a flags string naming no-cluster, in a module that declares
    clustering. COMMAND never shows no-cluster, so a module.json made from it does not carry it;
    a declared no-cluster command is named at its declaration instead."""
    if not clustered(module) or any("no-cluster" in c.flags for c in commands):
        return
    for text in info.getkeys.flags_strings:
        if "no-cluster" in text.lower().split(" "):
            sink.add(
                "CAP006",
                "",
                f"the binary holds the flags string {text!r}, and capabilities has clustering: "
                f"{NO_CLUSTER_EFFECT}",
                NO_CLUSTER_FIX,
            )


def _newer_flags(
    words: list[str], since: dict[str, tuple[tuple[int, ...], str]], lowest: tuple[int, ...] | None
) -> list[tuple[str, tuple[int, ...]]]:
    """The words of a flags string that Redis `lowest` does not know yet, with the version that does."""
    if lowest is None:
        return []
    found = [(word, since[word.lower()][0]) for word in words if word.lower() in since]
    return [(word, version) for word, version in found if version > lowest[: len(version)]]


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version[:2]))


def _check_hardening(info: ElfInfo, sink: Sink) -> None:
    if info.textrel:
        sink.add("ELF023", "", "the binary has text relocations (DT_TEXTREL)")
    server = redis_server_names()
    api = unbound_module_api(info, server)
    if api:
        sink.add(
            "ELF032",
            "",
            f"the binary needs {_some(api)} from the process at load time, which redis-server does"
            " not export (a module reaches its API through the pointers RedisModule_Init fills in):"
            " dlopen fails with 'undefined symbol'",
        )
    others = [n for n in _unbound(info, server) if n not in api]
    nowhere = _undefined_anywhere(others)
    if nowhere:
        sink.add(
            "ELF036",
            "",
            f"the binary needs {_some(nowhere)} at load time, which neither redis-server nor a library"
            " it loads defines, and no library the binary needs may provide: dlopen (RTLD_NOW) fails with"
            f" 'undefined symbol: {nowhere[0]}'",
        )
    others = [n for n in others if n not in nowhere]
    if others:
        sink.add(
            "ELF025",
            "",
            f"{_counted(len(others), 'undefined symbol')} {'has' if len(others) == 1 else 'have'} no"
            f" version and no needed library that could define {'it' if len(others) == 1 else 'them'}:"
            f" {_some(others)}",
        )
    _check_redis_bindings(info, server, sink)


def unbound_module_api(info: ElfInfo, server: frozenset[str] | None = None) -> list[str]:
    """Undefined RedisModule_* names nothing can bind: redis-server defines none of the module API
    (redismodule.h makes each call a pointer the module defines and RedisModule_Init fills in,
    elf.md §1.5), so unless a needed library may define them, dlopen fails (ELF032)."""
    return [n for n in _unbound(info, server or redis_server_names()) if n.startswith("RedisModule_")]


def unbound_symbols(info: ElfInfo) -> list[str]:
    """Undefined names other than the module API's that nothing in the process or the needed
    libraries can define: dlopen fails on every node (ELF036)."""
    api = set(unbound_module_api(info))
    return _undefined_anywhere([n for n in _unbound(info, redis_server_names()) if n not in api])


def _undefined_anywhere(names: Sequence[str]) -> list[str]:
    """Of unversioned undefined names no needed library may define (`_unbound`), those that no
    library of a redis-server process defines either, under any version of any release: nothing
    in its global scope (redis-server's -rdynamic exports, already left out of `names`, glibc's
    libraries and those redis-server links, data/host_exports.json) can bind them, so dlopen
    fails (ELF036). A name one of them has stays ELF025's: `sqrt` of a module built without -lm
    binds to the libm redis-server loads. The list is read only when there is such a name
    (start-up time)."""
    if not names:
        return []
    host = frozenset(policy.load("host_exports")["names"])
    return [n for n in names if n not in host]


def _unbound(info: ElfInfo, server: frozenset[str]) -> list[str]:
    """Unversioned undefined names that neither redis-server (ELF026's) nor a needed library can
    define."""
    unversioned = [n for n in elf.unversioned_undefined(info) if n not in server]
    return unversioned if unversioned and not _unversioned_provider(info) else []


@functools.cache
def redis_server_names() -> frozenset[str]:
    """Names redis-server exports to the modules it loads (data/redis_server_exports.json)."""
    data = policy.load("redis_server_exports")
    return frozenset(data["names"]) | frozenset(data["supplement"]["names"])


def _check_redis_bindings(info: ElfInfo, server: frozenset[str], sink: Sink) -> None:
    """ELF026: relocations the loader resolves to redis-server's definitions (elf.md §1.10).

    Decided from the module's relocations, not from its export list: a name the module exports
    but binds itself (-Bsymbolic, protected or hidden visibility) loses nothing.
    """
    if info.lookups is None:
        return
    bound = [lookup for lookup in info.lookups if lookup.name in server]
    if not bound:
        return
    own = sorted(lookup.name for lookup in bound if lookup.defined)
    taken = sorted(lookup.name for lookup in bound if not lookup.defined)
    parts = []
    if own:
        verb = "loses" if len(own) == 1 else "lose"
        parts.append(f"{len(own)} of the module's own symbols {verb} to redis-server's copies: {_some(own)}")
    if taken:
        verb = "resolves" if len(taken) == 1 else "resolve"
        parts.append(
            f"{_counted(len(taken), 'undefined symbol')} {verb} to redis-server internals: {_some(taken)}"
        )
    sink.add("ELF026", "", f"at load time {'; '.join(parts)}", _binding_hint(own, taken))


def _binding_hint(own: list[str], taken: list[str]) -> str:
    hints = []
    if own:
        hints.append(
            "Bind the module's copies to itself: link with -Wl,-Bsymbolic (not followed by"
            " -Bsymbolic-functions, which binds functions only and replaces it), or build with"
            ' -fvisibility=hidden and mark RedisModule_OnLoad __attribute__((visibility("default"))),'
            " or use a version script that lists it under global:"
        )
    if taken:
        hints.append(
            "link the library that should provide the undefined names, or stop relying on "
            "redis-server internals (they differ between Redis versions and builds)"
        )
    text = "; ".join(hints)
    return text[0].upper() + text[1:] + "."


def _unversioned_provider(info: ElfInfo) -> bool:
    """Whether a needed library may define unversioned symbols (so they need not be redis-server's).

    The libraries every node has (glibc, libstdc++, libgcc_s) version every export (elf.md §2), and
    so do OpenSSL's (platforms.json: versioned_exports). Any other needed library may provide
    unversioned symbols: one no version is required from, and one that versions only some of its
    exports, as zlib does (compress, crc32 and inflate unversioned, compressBound@ZLIB_1.2.0), of
    which only the versioned part shows in the module's version needs.
    """
    libraries = policy.load("platforms")["libraries"]
    present, complete = set(libraries["present"]), set(libraries["versioned_exports"])
    versioned = {need.library for need in info.version_needs}
    return any(name not in versioned or name not in complete for name in info.needed if name not in present)


def _report_loadable(info: ElfInfo, sink: Sink, *, suggest: bool) -> None:
    """ELF029 (where it loads, to declare) or ELF030 (nowhere), when no OS was declared."""
    if elf.libc_family(info) == "musl":
        return  # ELF017 already says it loads nowhere
    if info.static_tls > elf.STATIC_TLS_SURPLUS or loadability.loads_nowhere(info):
        return  # and ELF035 of any glibc, or ELF008 or ELF018 of every OS
    loadable = loadability.loadable_systems(info)
    oldest = loadability.oldest_loadable(info)
    if oldest is not None:
        if not suggest:
            return
        unjudged = loadability.unjudged_versions(info)
        unknown = f", {loadability.unjudged_caveat(unjudged)}" if unjudged else ""
        sink.add(
            "ELF029",
            "",
            f"operating_systems is not declared; the oldest supported OS the binary loads on is "
            f"{oldest}; all it loads on: {', '.join(loadable)}{unknown}",
        )
        return
    # Explain with the supported OS that comes closest: fewest reasons, then the newest runtime
    # (a binary needing GLIBC_2.36 is named against ubuntu22's 2.35, not amzn2023's 2.34).
    supported = [p for p in loadability.platforms() if p.status == "supported"]
    newest_first = sorted(supported, key=lambda p: (p.glibc, p.glibcxx), reverse=True)
    closest = min(newest_first, key=lambda p: len(loadability.blockers(info, p)))  # the first of the fewest
    reasons = "; ".join(_reason(b, closest) for b in loadability.blockers(info, closest))
    sink.add("ELF030", "", f"no supported Redis Enterprise OS can load the binary; {reasons}")


def _reason(blocker: loadability.Blocker, target: Platform) -> str:
    if blocker.kind in loadability.FAMILIES:
        return (
            f"even {_provides(blocker, target)}, but the binary needs {blocker.needed} "
            f"(required by {_some(blocker.symbols)})"
        )
    return f"{target.os_id} cannot provide {blocker.needed} (it has {blocker.available})"
