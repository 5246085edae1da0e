"""Can a module load on a Redis Enterprise OS? Its ELF facts against the platform policy.

The limits come from `modpack/data/platforms.json` (the lowest value each OS release has shipped,
elf.md §3): glibc, the newest GLIBCXX and CXXABI of its libstdc++, the newest GCC node of its
libgcc_s per architecture, the architectures Redis Enterprise ships for it, and the sonames it
ships (OpenSSL is libcrypto.so.1.1 on rhel8 and libcrypto.so.3 on rhel9: a module linked to one
does not load on the other).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

from modpack import policy
from modpack.elf import (
    STATIC_TLS_SURPLUS,
    ElfInfo,
    Version,
    is_musl_library,
    libc_family,
    parse_version,
    split_version_name,
    symbols_by_version,
    version_key,
    version_text,
    versions_by_family,
)

if TYPE_CHECKING:
    from modpack.types import JSON, Module

# Version family -> (policy field, what provides it, as users know it).
FAMILIES = {
    "GLIBC": ("glibc", "glibc"),
    "GLIBCXX": ("glibcxx", "libstdc++"),
    "CXXABI": ("cxxabi", "libstdc++"),
    "GCC": ("gcc", "libgcc_s"),
}


class Library(NamedTuple):
    """A soname an OS ships; `installed` is False when a minimal node may lack its package."""

    soname: str
    package: str
    installed: bool
    source: str


# supported: Redis Enterprise installs on it; retired: no longer; not-yet: announced, not released.
PlatformStatus: TypeAlias = Literal["supported", "retired", "not-yet"]


class Platform(NamedTuple):
    """What one OS provides to a module; `gcc` is per architecture."""

    os_id: str
    name: str
    status: PlatformStatus
    glibc: Version
    glibcxx: Version
    cxxabi: Version
    gcc: tuple[tuple[str, Version], ...]
    architectures: tuple[str, ...]
    libraries: tuple[Library, ...] = ()
    x86_64_level: int = 1  # what the OS requires of an x86-64 CPU: 2 for RHEL 9 (ELF034)

    def library(self, soname: str) -> Library | None:
        return next((library for library in self.libraries if library.soname == soname), None)

    def limit(self, family: str, architecture: str | None) -> Version | None:
        """The newest version of `family` this OS provides (None: unknown, so not checked)."""
        if family == "GCC":
            return dict(self.gcc).get(architecture or "")
        field = FAMILIES[family][0]
        value: Version = getattr(self, field)
        return value


class Blocker(NamedTuple):
    """One reason a module cannot load on an OS.

    `kind` is a version family (GLIBC, GLIBCXX, CXXABI, GCC), "architecture", "execstack",
    "static-tls" (initial-exec TLS beyond what glibc keeps for dlopen), "libc" or "library" (a
    soname some OS ships and this one does not). `needed` and `available` are display strings;
    `symbols` are the `name@VERSION` references (or bare version names) that pull the
    requirement in, newest first.
    """

    kind: str
    needed: str
    available: str
    symbols: tuple[str, ...] = ()


def platform(os_name: str) -> Platform | None:
    """The policy entry for any accepted spelling (rhel9, rocky9, ubuntu22.04), or None."""
    canonical = policy.canonical_os(os_name)
    return next((p for p in _all_platforms() if p.os_id == canonical), None)


def platforms() -> list[Platform]:
    """Every OS of the policy, in policy order, whatever its status."""
    return list(_all_platforms())


@functools.cache
def _all_platforms() -> tuple[Platform, ...]:
    return tuple(_platform(key, entry) for key, entry in policy.operating_systems().items())


def _platform(os_id: str, entry: policy.OperatingSystem) -> Platform:
    return Platform(
        os_id=os_id,
        name=entry["name"],
        status=_status(os_id, entry["status"]),
        glibc=parse_version(entry["glibc"]),
        glibcxx=parse_version(entry["glibcxx"]),
        cxxabi=parse_version(entry["cxxabi"]),
        gcc=tuple((arch, parse_version(v)) for arch, v in entry["gcc"].items()),
        architectures=tuple(entry["architectures"]),
        libraries=tuple(
            Library(soname, item["package"], item["installed"], item["source"])
            for soname, item in entry.get("libraries", {}).items()
        ),
        x86_64_level=entry.get("x86_64_level", 1),
    )


_STATUSES: dict[object, PlatformStatus] = {
    "supported": "supported",
    "retired": "retired",
    "not-yet": "not-yet",
}


def _status(os_id: str, value: object) -> PlatformStatus:
    if value not in _STATUSES:
        raise ValueError(f"modpack/data/platforms.json: {os_id} has status {value!r}")
    return _STATUSES[value]


def execstack_refused_from() -> Version:
    """The glibc from which dlopen refuses a library that asks for an executable stack."""
    return parse_version(policy.load("platforms")["execstack_refused_from_glibc"]["version"])


def refuses_execstack(target: Platform) -> bool:
    return version_key(target.glibc) >= version_key(execstack_refused_from())


def blockers(info: ElfInfo, target: Platform | str) -> list[Blocker]:
    """Every reason `info` cannot load on `target` (an OS id or a Platform); empty: it can."""
    resolved = platform(target) if isinstance(target, str) else target
    if resolved is None:
        raise KeyError(f"{target!r} is not an OS of the platform policy")
    found = [blocker for family in FAMILIES if (blocker := _version_blocker(info, resolved, family))]
    if info.architecture not in resolved.architectures:
        needed = info.architecture or f"{info.machine} ({info.elf_class}-bit)"
        found.append(Blocker("architecture", needed, ", ".join(resolved.architectures)))
    if info.static_tls > STATIC_TLS_SURPLUS:
        needed = f"{info.static_tls} bytes of static TLS"
        found.append(Blocker("static-tls", needed, f"{STATIC_TLS_SURPLUS} bytes for dlopen()ed libraries"))
    if info.executable_stack and refuses_execstack(resolved):
        found.append(Blocker("execstack", "an executable stack", f"glibc {version_text(resolved.glibc)}"))
    if libc_family(info) == "musl":
        found.append(Blocker("libc", "musl libc", f"glibc {version_text(resolved.glibc)}"))
    found.extend(library_blockers(info, resolved))
    return found


def shipping_systems(soname: str) -> list[str]:
    """The OSes of the policy (any status) that ship `soname`, in policy order."""
    return [p.os_id for p in platforms() if p.library(soname) is not None]


def library_blockers(info: ElfInfo, target: Platform) -> list[Blocker]:
    """Needed sonames that some OS ships but `target` does not: dlopen fails there.

    A soname no OS ships is not a blocker of one OS (the library checks warn about it), nor is
    a soname every OS has under the same name (glibc's own, libgcc_s, libstdc++).
    """
    found: list[Blocker] = []
    for name in dict.fromkeys(info.needed):
        if target.library(name) is None and shipping_systems(name):
            found.append(Blocker("library", name, ", ".join(alternatives(target, name)) or "none"))
    return found


LibraryKind = Literal["path", "beside", "everywhere", "desktop", "unlisted", "per-os"]


def library_kind(soname: str) -> LibraryKind:
    """What the policy says of a needed soname: a path (ELF018); one every OS has (glibc's own, the
    loader, the GCC runtimes, or musl's, which ELF017 judges); a desktop library no server has; one
    no OS is known to ship (both ELF019: dlopen finds them only where a node has them installed
    besides its OS); else one each OS ships or not (platforms.json, per OS with its source)."""
    tiers = policy.load("platforms")["libraries"]
    # in the module's folder itself or under it: a path that climbs out (..) is one deps/ can never
    # fill, a bundle holding only module.json, the .so and deps/ (redis-enterprise.md §8)
    if soname.startswith(("$ORIGIN/", "${ORIGIN}/")) and in_module_folder(soname):
        # ld.so expands $ORIGIN in DT_NEEDED to the module's folder (ld.so(8)), where Redis
        # Enterprise extracts the bundle's deps/ (redis-enterprise.md §4.3): it is shipped, not lost
        return "beside"
    if "/" in soname:
        return "path"
    if soname in tiers["present"] or is_musl_library(soname):
        return "everywhere"
    if soname in tiers["desktop"]:
        return "desktop"
    return "per-os" if shipping_systems(soname) else "unlisted"


def in_module_folder(path: str) -> bool:
    """Whether a $ORIGIN path stays in the module's folder: $ORIGIN/deps/../libdep.so does,
    $ORIGIN/../lib does not (and no bundle can put anything there)."""
    import posixpath

    for origin in ("$ORIGIN", "${ORIGIN}"):
        if path == origin or path.startswith(origin + "/"):
            normal = posixpath.normpath("." + path[len(origin) :])
            return normal != ".." and not normal.startswith("../")
    return False


def unjudged_versions(info: ElfInfo) -> list[str]:
    """ "ZLIB_1.2.12 of libz.so.1": per needed library an OS ships, the newest version node required
    of it whose family is none of FAMILIES. Which release of zlib or OpenSSL an OS ships is not in
    the policy (elf.md §2.3 judges glibc, libstdc++ and libgcc_s), so an OS counted as loading the
    binary does so only if its copy defines that version: a module linked against zlib 1.2.12's
    crc32_combine_gen (ZLIB_1.2.12) was said to load on every OS, and dlopen names the version.
    A library the bundle ships itself ($ORIGIN/deps/...) or a path is no OS's; the libraries every
    OS has are judged by FAMILIES (their CXXABI_TM_1 and the like every supported OS has)."""
    found = []
    for need in info.version_needs:
        if library_kind(need.library) in ("beside", "path", "everywhere"):
            continue  # shipped in the bundle, or glibc's and the GCC runtimes', which FAMILIES judge
        others = [
            (_version_order(name), name)
            for name in need.versions
            if _family_of(name) not in FAMILIES and not name.endswith("_PRIVATE")
        ]
        if others:
            found.append(f"{max(others)[1]} of {need.library}")
    return found


def unjudged_caveat(versions: list[str]) -> str:
    """What a "loads on" list needs said beside it when the binary needs `versions`
    (unjudged_versions): inspect and ELF029 say it alike."""
    return (
        f"where the library it loads defines {', '.join(versions)} (modpack does not know which release"
        " of it each OS ships)"
    )


def _family_of(name: str) -> str:
    """GLIBC of GLIBC_2.34, OPENSSL of OPENSSL_1_1_1d (no dotted version: split_version_name's None)."""
    split = split_version_name(name)
    return split[0] if split is not None else re.split(r"_(?=\d)", name, maxsplit=1)[0]


def _version_order(name: str) -> tuple[tuple[int, ...], str]:
    """What orders one library's version nodes: the dotted version, else the digits of the name
    (OPENSSL_1_1_1d after OPENSSL_1_1_0)."""
    split = split_version_name(name)
    if split is not None:
        return version_key(split[1]), name
    return tuple(int(d) for d in re.findall(r"\d+", name)), name


def unlisted_libraries(info: ElfInfo) -> list[str]:
    """Needed sonames no OS is known to install, desktop ones included (ELF019)."""
    return [n for n in dict.fromkeys(info.needed) if library_kind(n) in ("desktop", "unlisted")]


def optional_libraries(info: ElfInfo) -> list[str]:
    """Needed sonames an OS ships in a package a minimal node may lack (ELF020: libatomic.so.1)."""
    supported = [p for p in platforms() if p.status == "supported"]
    return [
        name
        for name in dict.fromkeys(info.needed)
        if library_kind(name) == "per-os"
        and any((lib := p.library(name)) is not None and not lib.installed for p in supported)
    ]


def alternatives(target: Platform, soname: str) -> list[str]:
    """The sonames of the same library `target` ships instead (libcrypto.so.1.1 for libcrypto.so.3)."""
    family = _family(soname)
    return [
        library.soname
        for library in target.libraries
        if library.soname != soname and _family(library.soname) == family
    ]


def _family(soname: str) -> str:
    """The library a soname names, without its version: libpython3.6m.so.1.0 -> libpython."""
    return re.sub(r"[\d.]+m?$", "", soname.split(".so", 1)[0])


def _version_blocker(info: ElfInfo, target: Platform, family: str) -> Blocker | None:
    limit = target.limit(family, info.architecture)
    required = versions_by_family(info).get(family, ())
    if limit is None or not required or version_key(required[0][0]) <= version_key(limit):
        return None
    by_version = symbols_by_version(info)
    culprits: list[str] = []
    for version, name in required:
        if version_key(version) <= version_key(limit):
            break
        symbols = by_version.get(name, ())
        culprits.extend(f"{symbol}@{name}" for symbol in symbols)
        if not symbols:  # a marker node such as GLIBC_ABI_DT_RELR, pulled in by no symbol
            culprits.append(_marker_cause(name))
    newest_version, newest = required[0]
    needed = newest
    if not newest.endswith(version_text(newest_version)):
        needed = f"{newest} ({FAMILIES[family][1]} {version_text(newest_version)})"
    return Blocker(family, needed, version_text(limit), tuple(culprits))


def _marker_cause(name: str) -> str:
    """What pulls in a marker version node (platforms.json `marker_causes`), else its name."""
    return policy.load("platforms")["marker_causes"].get(name, name)


def loads_nowhere(info: ElfInfo) -> list[str]:
    """What stops glibc's dlopen() on every OS, each with the rule that reports it as an error:
    where the binary loads is then none, whatever the limits of each OS (`blockers`) say. An OS/ABI
    glibc refuses, a library named by a path of the build machine; musl and static TLS are
    blockers of every OS already. A *_PRIVATE version (ELF016) is not: the build of the library
    the module was linked with has it, and a library shipped in deps/ is that build."""
    reasons = []
    if info.osabi not in ("SYSV", "GNU"):  # glibc's open_verify (elf/dl-load.c), VALID_ELF_OSABI
        reasons.append(f"its OS/ABI is {info.osabi}, not System V or GNU (ELF008)")
    paths = [name for name in dict.fromkeys(info.needed) if library_kind(name) == "path"]
    if paths:
        reasons.append(f"it needs a library by a path of the build machine: {', '.join(paths)} (ELF018)")
    return reasons


def loadable_systems(info: ElfInfo) -> list[str]:
    """Supported OSes whose limits the binary satisfies, for its architecture, in policy order;
    none when something stops it on every OS (`loads_nowhere`)."""
    if loads_nowhere(info):
        return []
    return [p.os_id for p in platforms() if p.status == "supported" and not blockers(info, p)]


def fill_platform(module: Module, info: ElfInfo) -> None:
    """What `build` takes from the binary where the declarations give none: its architecture, and
    every supported OS it loads on."""
    if "architecture" not in module and info.architecture is not None:
        module["architecture"] = info.architecture
    if "operating_systems" not in module:
        systems: list[JSON] = [*loadable_systems(info)]
        module["operating_systems"] = systems


def oldest_loadable(info: ElfInfo) -> str | None:
    """The loadable supported OS with the oldest glibc (then libstdc++), or None."""
    systems = set(loadable_systems(info))  # once: in the comprehension it was judged again per OS
    loadable = [p for p in platforms() if p.os_id in systems]
    if not loadable:
        return None
    oldest = min(loadable, key=lambda p: (version_key(p.glibc), version_key(p.glibcxx)))
    return oldest.os_id
