"""`modpack inspect`: what a module binary is and where it can load, as plain data and as text."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict

from modpack import elf, loadability
from modpack.reporters import printable, shown_path

if TYPE_CHECKING:
    from modpack.bundle import StreamedBinary
    from modpack.findings import Sink


class SymbolVersions(TypedDict):
    """One family's requirements: the newest version, every version name, what pulls the newest in."""

    max: str
    required: list[str]
    symbols: list[str]


class Description(TypedDict):
    """`modpack inspect --format json`: what a module binary is and where it can load."""

    file: str
    size: int
    sha256: str
    architecture: str | None
    machine: str
    elf_class: int
    byte_order: Literal["little", "big"]
    type: str
    build_id: str | None
    onload: str
    needed: list[str]
    soname: str | None
    rpath: list[str]
    runpath: list[str]
    libc: Literal["glibc", "musl"] | None
    symbol_versions: dict[str, SymbolVersions]
    private_versions: list[str]
    loadable_on: list[str]
    oldest_os: str | None
    unbound_api: list[str]  # undefined RedisModule_* names: dlopen fails on every node (ELF032)
    unbound_symbols: list[str]  # other undefined names nothing in the process defines (ELF036)
    loads_nowhere: list[str]  # what else stops dlopen on every node, with its rule (ELF008, ELF018)
    missing_libraries: dict[str, list[str]]
    unlisted_libraries: list[str]  # needed sonames no Redis Enterprise OS is known to install (ELF019)
    optional_libraries: list[str]  # needed sonames in a package a minimal node may lack (ELF020)
    # "ZLIB_1.2.12 of libz.so.1": versions of libraries whose releases per OS modpack does not know
    unjudged_versions: list[str]
    x86_isa_level: int | None  # the x86-64 level (1 to 4) it needs of the CPU (ELF034); None off x86-64
    execstack: bool
    textrel: bool
    stripped: bool
    debug_info: bool
    bundle: NotRequired[str]  # the bundle the binary was read from


def describe_binary(path: str | os.PathLike[str]) -> Description:
    """A JSON-able description of a module .so. Raises `ElfError` when it is not a readable ELF."""
    return _describe(elf.read_elf(path), os.fspath(path), sha256_of(path))


def describe(path: Path) -> Description:
    """A .so, or the .so inside a bundle (decompressed once, never written to disk)."""
    from modpack.errors import ModpackError, UsageError
    from modpack.regular import is_file, not_a_file

    if not is_file(path):  # the command's one input: a usage error (2), as build and publish say it
        raise UsageError(f"{path} {not_a_file(path)}", "Pass the module .so or a bundle (.zip).")
    named_zip = path.suffix.lower() == ".zip"
    try:
        # By its name, else by its bytes, as validate tells them: an ELF file whose data ends like
        # a zip (Debian's zip and zipnote hold an end-of-central-directory record) is a binary
        if (not named_zip and _starts_as_elf(path)) or not zipfile.is_zipfile(path):
            if named_zip:  # "not an ELF file" said nothing of what a bundle lacks
                raise ModpackError(
                    f"{path} is not a zip archive (no end-of-central-directory record)",
                    "Pass a bundle `modpack build` wrote, or the module's .so.",
                )
            return describe_binary(path)
        return _describe_bundled(path)
    except elf.ElfError as exc:
        # A file that is no ELF at all (a source file, a text) has no findings to run validate for
        hint = "Pass the module's .so or a bundle (.zip)." if exc.kind == "not-elf" else _VALIDATE_HINT
        raise ModpackError(f"{path}: {exc.message}", hint) from exc


_VALIDATE_HINT = "Run `modpack validate` for every finding."


def _starts_as_elf(path: Path) -> bool:
    from modpack.regular import open_regular

    try:
        with open_regular(path) as stream:
            return stream.read(4) == b"\x7fELF"
    except OSError:
        return False  # describe_binary says why it cannot be read


def _describe_bundled(path: Path) -> Description:
    from modpack import bundle
    from modpack.errors import FindingsError
    from modpack.findings import Sink

    sink = Sink(str(path))
    with bundle.opened(path, sink) as layout:
        if layout is None:  # the findings say why (too large, damaged, unsafe names); "is not a
            # bundle with one .so" was said of a bundle holding exactly one
            raise FindingsError(f"{path} cannot be read as a bundle", sink.resolved())
        if len(layout.binaries) != 1:
            raise FindingsError(
                f"{path} holds {len(layout.binaries)} .so files; inspect reads a bundle with one",
                sink.resolved(),
            )
        member = layout.binaries[0]
        streamed = _stream_or_refuse(path, layout.archive, member, sink)
        description = _describe(elf.read_elf(streamed.image), f"{path}!{member.filename}", streamed.sha256)
    description["bundle"] = str(path)
    return description


def _stream_or_refuse(
    path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo, sink: Sink
) -> StreamedBinary:
    """The .so decompressed, or the ZIP014 finding validate gives for a damaged entry."""
    from modpack import bundle
    from modpack.checks.bundle import DAMAGED
    from modpack.errors import FindingsError

    try:
        return bundle.stream_binary(archive, member)
    except DAMAGED as exc:
        sink.add("ZIP014", "", f"{member.filename} does not decompress: {exc}")
        raise FindingsError(f"{path}: the .so in the bundle is damaged", sink.resolved()) from exc


def _describe(info: elf.ElfInfo, name: str, digest: str) -> Description:
    from modpack.checks.elf import unbound_module_api, unbound_symbols

    library = _shared_library(info)
    unbound = unbound_module_api(info) if library else []
    undefined = unbound_symbols(info) if library else []
    loads = library and not unbound and not undefined
    return {
        "file": name,
        "size": info.size,
        "sha256": digest,
        "architecture": info.architecture,
        "machine": info.machine,
        "elf_class": info.elf_class,
        "byte_order": "little" if info.little_endian else "big",
        "type": info.e_type,
        "build_id": info.build_id,
        # a shared object of any machine has an entry point to look up; a PIE has none (glibc
        # refuses to dlopen it), nor has an object file
        "onload": _entry_point_state(info) if _dlopen_kind(info) else "not-a-library",
        "needed": list(info.needed),
        "soname": info.soname,
        "rpath": list(info.rpath),
        "runpath": list(info.runpath),
        "libc": elf.libc_family(info),
        "symbol_versions": _symbol_versions(info),
        "private_versions": list(elf.private_versions(info)),
        "loadable_on": loadability.loadable_systems(info) if loads else [],
        "oldest_os": loadability.oldest_loadable(info) if loads else None,
        "unbound_api": unbound,
        "unbound_symbols": undefined,
        "loads_nowhere": loadability.loads_nowhere(info) if library else [],
        "missing_libraries": _missing_libraries(info) if library else {},
        "unlisted_libraries": loadability.unlisted_libraries(info) if library else [],
        "optional_libraries": loadability.optional_libraries(info) if library else [],
        "unjudged_versions": loadability.unjudged_versions(info) if library else [],
        "x86_isa_level": info.isa_level if info.architecture == "x86_64" else None,
        "execstack": info.executable_stack,
        "textrel": info.textrel,
        "stripped": not info.has_symtab,
        "debug_info": info.has_debug_info,
    }


def _dlopen_kind(info: elf.ElfInfo) -> bool:
    """An ELF file of the kind dlopen() takes, whatever its machine."""
    return info.e_type == "ET_DYN" and info.has_dynamic and not info.is_pie


def _shared_library(info: elf.ElfInfo) -> bool:
    """Whether the file is the kind of object dlopen() can load on some Redis Enterprise node."""
    return info.architecture is not None and _dlopen_kind(info)


def _missing_libraries(info: elf.ElfInfo) -> dict[str, list[str]]:
    """Per supported OS of the module's architecture: the needed sonames it does not ship."""
    missing: dict[str, list[str]] = {}
    for target in loadability.platforms():
        if target.status == "supported" and info.architecture in target.architectures:
            blocked = loadability.library_blockers(info, target)
            if blocked:
                missing[target.os_id] = [
                    b.needed + (f" (has {b.available})" if b.available != "none" else "") for b in blocked
                ]
    return missing


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The file's SHA-256, read in 1 MiB chunks so a large module never sits in memory."""
    from modpack.hashing import sha256_stream

    with Path(path).open("rb") as stream:
        return sha256_stream(stream)


def _entry_point_state(info: elf.ElfInfo) -> str:
    """exported | hidden | missing | missing-or-hidden | undefined | not-a-function, as the ELF
    checks tell them apart (missing-or-hidden: the static symbol table could not be read)
    (for a shared library: of an object file or an executable, dlopen reads no entry point)."""
    entry = info.onload
    if entry.exported_function:
        return "exported"
    if not entry.in_dynsym:
        if entry.defined_locally is None:
            return "missing-or-hidden"
        return "hidden" if entry.defined_locally else "missing"
    if not entry.defined:
        return "undefined"
    return "not-a-function" if entry.type not in ("FUNC", "GNU_IFUNC") else "hidden"


def _symbol_versions(info: elf.ElfInfo) -> dict[str, SymbolVersions]:
    """Per family: the newest version required and every version name required, newest first."""
    by_version = elf.symbols_by_version(info)
    return {
        family: {
            "max": elf.version_text(pairs[0][0]),
            "required": [name for _version, name in pairs],
            "symbols": [f"{symbol}@{pairs[0][1]}" for symbol in by_version.get(pairs[0][1], ())],
        }
        for family, pairs in elf.versions_by_family(info).items()
    }


def format_description(description: Description) -> str:
    """The description as aligned `label  value` lines for people."""
    d = description
    machine = f"{d['elf_class']}-bit {d['byte_order']}-endian {d['machine']}, {d['type']}"
    versions = [
        f"{family} {entry['max']}" + (f" ({', '.join(entry['symbols'][:3])})" if entry["symbols"] else "")
        for family, entry in d["symbol_versions"].items()
    ]
    loadable = ", ".join(d["loadable_on"]) or "none of the supported Redis Enterprise OSes"
    if d["loads_nowhere"]:
        loadable = f"none: {'; '.join(d['loads_nowhere'])}"
    if d["unbound_symbols"]:
        loadable = f"none: nothing defines {', '.join(d['unbound_symbols'])} (undefined; see ELF036)"
    if d["unbound_api"]:
        loadable = f"none: nothing defines {', '.join(d['unbound_api'])} (undefined; see ELF032)"
    loadable += f" (oldest: {d['oldest_os']})" if d["oldest_os"] else ""
    unlisted = d["unlisted_libraries"]
    if unlisted and d["loadable_on"]:  # validate warns ELF019: "loads on" holds only where they are
        names = ", ".join(unlisted)
        loadable += f", only where {names} {'is' if len(unlisted) == 1 else 'are'} installed besides the OS"
    private = d["private_versions"]
    if private and d["loadable_on"]:  # validate's ELF016: only the build of the library linked with
        loadable += f", only where the library has {', '.join(private)} (see ELF016)"
    optional = d["optional_libraries"]
    if optional and d["loadable_on"]:  # validate warns ELF020
        names = ", ".join(optional)
        loadable += (
            f", where {names} {'is' if len(optional) == 1 else 'are'} installed (a minimal node may lack"
        )
        loadable += f" {'it' if len(optional) == 1 else 'them'}; see ELF020)"
    unjudged = d["unjudged_versions"]
    if unjudged and d["loadable_on"]:
        loadable += f", {loadability.unjudged_caveat(unjudged)}"
    level = d["x86_isa_level"]
    if level is not None and level >= 2 and d["loadable_on"]:  # ELF034: glibc refuses it on an older CPU
        loadable += f", on CPUs with x86-64-v{level} only"
    lacking = [f"{os_id}: {', '.join(names)}" for os_id, names in d["missing_libraries"].items()]
    if unlisted:
        them = "it" if len(unlisted) == 1 else "them"
        lacking.append(f"every OS: {', '.join(unlisted)} (no Redis Enterprise OS is known to install {them})")
    rows = [
        ("architecture", f"{d['architecture'] or 'unsupported'} ({machine})"),
        ("size", f"{d['size']} bytes"),
        ("sha256", d["sha256"]),
        ("build-id", d["build_id"] or "none"),
        ("OnLoad", d["onload"]),
        ("needed", ", ".join(d["needed"]) or "none"),
        ("runpath", ":".join(d["runpath"]) or "none"),
        ("rpath", ":".join(d["rpath"]) or "none"),
        ("libc", d["libc"] or "not determinable"),
        ("versions", versions or ["none required"]),
        ("private", ", ".join(d["private_versions"]) or "none"),
        ("loads on", loadable),
        ("lacks", lacking or "none"),
        ("exec stack", "yes" if d["execstack"] else "no"),
        ("textrel", "yes" if d["textrel"] else "no"),
        ("stripped", "yes" if d["stripped"] else "no"),
    ]
    lines = [shown_path(d["file"])]
    for label, value in rows:
        values = value if isinstance(value, list) else [value]
        lines.append(f"  {label:<14}{values[0]}")
        lines.extend(f"  {'':<14}{more}" for more in values[1:])
    # a file name, or a name the binary holds (a needed library, a runpath), may hold control
    # characters: shown as escapes, as validate shows them, never sent to the terminal
    return "\n".join(printable(line) for line in lines)
