"""What a module's ELF file says about where it can load, read safely.

`read_elf` gathers every fact the platform checks need into one `ElfInfo`; the small functions
after it each answer one question about those facts. Readers of ELF made for trusted input are not
made for hostile input (elf.md §5: with pyelftools, crafted counts cost tens of seconds, fuzzed
files raise a dozen exception types and loop forever in `.gnu.version_r`). So the header, both
header tables and the extent of every section are checked here with `struct`, and the tables that
matter (`.dynamic`, `.dynsym`, `.dynstr`, `.gnu.version`, `.gnu.version_r`, the REL and RELA
tables against `.dynsym`) are read at their checked extents and unpacked raw with every loop
capped; sections are found by type, never by name; DWARF is never loaded and large sections are
never read whole (the read-only data is searched for a few API names a chunk at a time).
pyelftools is imported only to name an unusual machine or file type. Whatever is wrong with the
file ends as one `ElfError`. A file without section headers (strip --strip-sections, sstrip) loads,
since the loader reads only the program headers: its tables are then found through the dynamic
segment, as the loader finds them (`_sections_from_dynamic`), and every check runs."""

from __future__ import annotations

import contextlib
import os
import re
import struct
from collections.abc import Callable, Collection, Iterator
from typing import IO, BinaryIO, Literal, NamedTuple, Protocol, TypeVar, cast

from modpack.errors import ModpackError
from modpack.regular import hint_for, open_regular

T = TypeVar("T")
ErrorKind = Literal["not-elf", "truncated", "malformed", "unreadable"]
Version = tuple[int, ...]

# Limits far above any real module (25-45 sections, 8-15 segments, elf.md §5.2) and far below
# what makes pyelftools or this reader slow.
MAX_SECTIONS = 4096
MAX_SEGMENTS = 256
MAX_SYMBOL_TABLE = 64 << 20  # .dynsym/.dynstr/.symtab/.strtab: 2.8 M symbols
MAX_SMALL_TABLE = 1 << 20  # .dynamic, .gnu.version_r, .shstrtab
MAX_NOTES = 64 << 10
MAX_VERNEED = 256
MAX_VERNAUX = 4096
MAX_NAME = 4096
MAX_NOTE_SECTIONS = 32

ONLOAD = "RedisModule_OnLoad"
# Relocations that give a thread-pointer offset (initial-exec TLS), by machine: R_X86_64_TPOFF64,
# R_X86_64_TPOFF32; R_AARCH64_TLS_TPREL64. glibc's loader places the TLS block such a relocation
# names in the static TLS block, at dlopen (CHECK_STATIC_TLS, elf/dl-reloc.c).
TP_RELATIVE = {62: frozenset({18, 23}), 183: frozenset({1030})}
# Bytes of static TLS glibc keeps for every library dlopen()ed later (elf/dl-tls.c: TLS_STATIC_SURPLUS
# before 2.32, the same "historic value 1664" of the tunables' defaults since): one whose own block
# is larger fails with "cannot allocate memory in static TLS block" (measured on redis-server 7.0.15:
# aarch64 loaded 1664 bytes, not 1680; x86_64, whose area is rounded up to 64 bytes, 1680, not 1700).
STATIC_TLS_SURPLUS = 1664

# Section types (elf.h).
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_DYNAMIC, SHT_NOTE, SHT_NOBITS, SHT_REL, SHT_DYNSYM = 6, 7, 8, 9, 11
SHT_GNU_VERNEED, SHT_GNU_VERSYM = 0x6FFFFFFE, 0x6FFFFFFF
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 0x1, 0x2, 0x4, 0x800
# Segment types and flags.
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_TLS = 1, 2, 3, 4, 7
PT_GNU_STACK, PT_GNU_RELRO = 0x6474E551, 0x6474E552
PF_X, PF_W = 1, 2
# Dynamic tags and flags.
DT_NULL, DT_NEEDED, DT_SONAME, DT_RPATH, DT_SYMBOLIC = 0, 1, 14, 15, 16
DT_TEXTREL, DT_BIND_NOW, DT_RUNPATH, DT_FLAGS = 22, 24, 29, 30
DT_RELR = 36  # packed relative relocations (glibc 2.36's elf.h)
# The tags that locate the dynamic tables, read when a file has no section headers (elf.h).
DT_PLTRELSZ, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ = 2, 4, 5, 6, 7, 8
DT_STRSZ, DT_SYMENT, DT_REL, DT_RELSZ, DT_PLTREL, DT_JMPREL = 10, 11, 17, 18, 20, 23
DT_GNU_HASH, DT_VERSYM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFEF5, 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF
RELR_MARKER = "GLIBC_ABI_DT_RELR"  # the version node glibc 2.36+ defines for DT_RELR (elf.md §2.3)
DT_FLAGS_1 = 0x6FFFFFFB
DF_SYMBOLIC, DF_TEXTREL, DF_BIND_NOW, DF_1_NOW, DF_1_PIE = 0x2, 0x4, 0x8, 0x1, 0x08000000
DF_STATIC_TLS = 0x10
# Machines modpack accepts: (e_machine, class, little endian) -> architecture (elf.md §1.2).
ARCHITECTURES = {(62, 64, True): "x86_64", (183, 64, True): "aarch64"}
NT_GNU_BUILD_ID = 3

_SYMBOL_BINDS = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
_SYMBOL_TYPES = {
    0: "NOTYPE",
    1: "OBJECT",
    2: "FUNC",
    3: "SECTION",
    4: "FILE",
    5: "COMMON",
    6: "TLS",
    10: "GNU_IFUNC",
}
_VISIBILITIES = ("DEFAULT", "INTERNAL", "HIDDEN", "PROTECTED")
_OSABI_NAMES = {0: "SYSV", 3: "GNU"}

READ_CHUNK = 1 << 20  # read-only data is searched for API names a chunk at a time
# What a module implementing getkeys-api carries (keyspecs.md §3.4, §5): the flag in a
# RedisModule_CreateCommand flags string, and the API fetched by name through RedisModule_GetApi.
GETKEYS_FLAG = b"getkeys-api"
GETKEYS_CALLS = (b"RedisModule_IsKeysPositionRequest", b"RedisModule_KeyAtPos")
# Flags strings are looked for in the first 4 MiB of read-only data, at most 64 kept: the search
# costs about 4 ms a MiB of code-like data with many NULs (libLLVM-14), 1 ms of random data.
FLAGS_STRINGS_BUDGET = 4 << 20
FLAGS_STRINGS_KEPT = 64
_VERSION_NAME = re.compile(r"([A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*?)_(\d+(?:\.\d+)*)")
_MUSL = re.compile(r"(?:libc\.musl-[\w.-]+\.so\.1|ld-musl-[\w.-]+\.so\.1)")
_GLIBC = re.compile(r"(?:libc\.so\.6|ld-linux[\w.-]*\.so\.\d|ld64\.so\.\d)")


class ElfError(ModpackError):
    """The file is not an ELF module modpack can read; `kind` says how."""

    def __init__(self, kind: ErrorKind, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.kind: ErrorKind = kind


# What the reader says is NamedTuples: immutable and hashable as frozen dataclasses, and made in
# 0.2 ms each at import where a frozen dataclass takes 0.7-1.3 ms; the eleven of them were most of
# this module's import (issue 16: the CPU of `validate BUNDLE.zip`).
class UndefinedSymbol(NamedTuple):
    """A symbol the module needs from elsewhere, with the version node it asks for."""

    name: str
    version: str | None
    library: str | None
    weak: bool

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


class EntryPoint(NamedTuple):
    """How `RedisModule_OnLoad` appears: Redis finds it with dlsym(), so only `.dynsym` counts."""

    in_dynsym: bool = False
    defined: bool = False
    type: str = ""
    bind: str = ""
    visibility: str = ""
    # defined in .symtab (the static table) but not exported; None: that table could not be read
    # (a bundle's reader keeps tables up to 64 MiB, or a read failed)
    defined_locally: bool | None = False
    # Its only version is hidden (`.symver f, RedisModule_OnLoad@V1`, one @): dlsym() of the bare
    # name passes over such a definition (glibc dl-lookup.c, check_match: "Don't accept hidden
    # symbols"), so Redis does not find it
    hidden_version: bool = False
    # A C++ RedisModule_OnLoad not declared extern "C" (_Z18RedisModule_OnLoadP14RedisModuleCtx...),
    # which dlsym() of the bare name never finds; "" when there is none
    cxx_name: str = ""

    @property
    def exported_function(self) -> bool:
        return (
            self.in_dynsym
            and self.defined
            and not self.hidden_version
            and self.type in ("FUNC", "GNU_IFUNC")
            and self.bind in ("GLOBAL", "WEAK", "GNU_UNIQUE")
            and self.visibility in ("DEFAULT", "PROTECTED")
        )


class SymbolLookup(NamedTuple):
    """A name one of the module's dynamic relocations makes the loader look up in the process.

    Redis loads a module RTLD_LOCAL into a redis-server linked -rdynamic, so the lookup finds
    redis-server's own definition of the name first (elf.md §1.10). `defined`: the module has its
    own copy too (default visibility, so it can be preempted), which then goes unused.
    """

    name: str
    defined: bool


class GetkeysApi(NamedTuple):
    """What the binary's read-only data says about its command registrations: getkeys-api
    (keyspecs.md §3.4) and the strings that look like RedisModule_CreateCommand flags strings.

    The standard redismodule.h fetches every API by name in RedisModule_Init, so the API names
    alone prove little; a flags string naming getkeys-api is what makes Redis ask for the keys.
    """

    flag: bool  # a flags string names getkeys-api
    calls: bool  # RedisModule_IsKeysPositionRequest and RedisModule_KeyAtPos are fetched by name
    complete: bool = True  # every read-only section could be read
    # NUL-terminated strings of flag words of either spelling and one space at least, or of one
    # module flag with a '-' alone ("no-cluster"; the first FLAGS_STRINGS_KEPT, in the first
    # FLAGS_STRINGS_BUDGET bytes of read-only data)
    flags_strings: tuple[str, ...] = ()
    # every flags string of the read-only data is among flags_strings (neither limit was reached)
    strings_complete: bool = True

    @property
    def implemented(self) -> bool:
        return self.flag and self.calls

    def missing(self) -> str:
        """What the binary lacks, as the end of "the binary ..."."""
        if not self.flag:
            return "registers no command with the getkeys-api flag"
        return "never fetches RedisModule_IsKeysPositionRequest and RedisModule_KeyAtPos"


class VersionNeed(NamedTuple):
    """One `.gnu.version_r` entry: a library and the version nodes required from it."""

    library: str
    versions: tuple[str, ...]


class ElfInfo(NamedTuple):
    """Every fact of one ELF file that a check needs."""

    size: int
    elf_class: int
    little_endian: bool
    e_type: str
    machine: str
    architecture: str | None
    osabi: str
    is_pie: bool
    has_interp: bool
    interp: str | None
    has_dynamic: bool
    needed: tuple[str, ...]
    soname: str | None
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    version_needs: tuple[VersionNeed, ...]
    undefined: tuple[UndefinedSymbol, ...]
    onload: EntryPoint
    gnu_stack: bool
    executable_stack: bool
    textrel: bool
    bind_now: bool
    relro: bool
    build_id: str | None
    has_symtab: bool
    has_debug_info: bool
    symbolic: bool  # DT_SYMBOLIC / DF_SYMBOLIC: the module's own definitions are looked up first
    # Names looked up at load time (undefined, or defined but preemptible); None when the
    # relocation tables could not be read (a bundle keeps only sections of a bounded size).
    lookups: tuple[SymbolLookup, ...] | None
    getkeys: GetkeysApi
    # x86-64 micro-architecture level the code needs (GNU_PROPERTY_X86_ISA_1_NEEDED): 1 for the
    # baseline, or when the binary says nothing; 2, 3, 4 for x86-64-v2, v3 (AVX2), v4 (AVX-512)
    isa_level: int = 1
    # Bytes of the module's own thread-local storage that initial-exec code reaches at a fixed
    # offset from the thread pointer (a TP-relative relocation names it): dlopen must find them in
    # the static TLS block. 0 when the module's TLS, if any, is reached through __tls_get_addr.
    static_tls: int = 0
    # A separate debug-info file (objcopy --only-keep-debug): the program headers of the module,
    # whose dynamic segment and sections (.dynamic, .dynsym, .text) hold no bytes in the file
    debug_only: bool = False
    # DT_RELR: relative relocations packed (ld -z pack-relative-relocs), which only glibc 2.36+
    # applies; an older one ignores the tag and leaves those pointers unrelocated
    packed_relocations: bool = False


class _Header(NamedTuple):
    """The ELF header fields the reader uses."""

    elf_class: int
    little_endian: bool
    osabi: int
    e_type: int
    e_machine: int
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int
    shstrndx: int

    @property
    def endian(self) -> str:
        return "<" if self.little_endian else ">"

    @property
    def is64(self) -> bool:
        return self.elf_class == 64


class _Section(NamedTuple):
    """One section header."""

    number: int  # its index in the table (a NamedTuple field may not be called index)
    name: int
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int


class _Segment(NamedTuple):
    """One program header."""

    type: int
    flags: int
    offset: int
    filesz: int
    vaddr: int = 0
    memsz: int = 0
    align: int = 0


class _Dynamic(NamedTuple):
    """What the dynamic section says."""

    needed: tuple[str, ...] = ()
    soname: str | None = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    textrel: bool = False
    bind_now: bool = False
    pie: bool = False
    symbolic: bool = False
    static_tls: bool = False  # DF_STATIC_TLS: the linker saw initial-exec TLS accesses
    relr: bool = False  # DT_RELR


class _Symbols(NamedTuple):
    """What the dynamic symbols say."""

    undefined: tuple[UndefinedSymbol, ...] = ()
    onload: EntryPoint = EntryPoint()
    lookups: tuple[SymbolLookup, ...] | None = ()
    # a TP-relative relocation names the module's own TLS; None when the relocations were not read
    own_static_tls: bool | None = False


# --- reading ------------------------------------------------------------------------------


class Stream(Protocol):
    """A seekable binary stream, such as an open file or the bundle reader's in-memory image."""

    def read(self, size: int = -1, /) -> bytes | None: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...


Source = str | os.PathLike[str] | Stream


def read_elf(source: Source) -> ElfInfo:
    """Every fact the platform checks need. Raises `ElfError`, and only that, for a bad file.

    `source` is a path, or a seekable binary stream that stays open (the caller owns it).
    """
    with contextlib.ExitStack() as owned:
        if isinstance(source, str | os.PathLike):
            stream: Stream = owned.enter_context(_open(source))
        else:
            stream = source
        try:
            size = stream.seek(0, os.SEEK_END)
            header = _read_header(stream)
            segments = _read_segments(stream, header, size)
            sections = _sections_of(stream, header, segments, size)
        except OSError as exc:
            raise ElfError("unreadable", f"cannot read the file: {exc.strerror or exc}") from exc
        try:
            return _inspect(stream, size, header, segments, sections)
        except _library_errors() as exc:
            raise ElfError("malformed", f"damaged ELF structure ({type(exc).__name__}: {exc})") from exc


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    # Outside the broad `try` of read_elf, so "cannot read" stays distinct from "malformed".
    # The type is checked on the open descriptor (open_regular): a check of the path before the
    # open left a window in which a FIFO swapped in blocked the open forever.
    try:
        return open_regular(path)
    except OSError as exc:
        message = f"cannot open {os.fspath(path)}: {exc.strerror or exc}"
        raise ElfError("unreadable", message, hint_for(exc)) from exc


def _library_errors() -> tuple[type[Exception], ...]:
    """What pyelftools lets escape on malformed input (elf.md §5.1), besides its own ELFError."""
    from elftools.common.exceptions import ELFError as PyElfError
    from elftools.construct.core import ConstructError

    return (
        PyElfError,
        ConstructError,
        OSError,
        ValueError,
        OverflowError,
        AssertionError,
        AttributeError,
        KeyError,
        IndexError,
        TypeError,
        ZeroDivisionError,
        struct.error,
    )


def _read_at(stream: Stream, offset: int, length: int) -> bytes:
    stream.seek(offset)
    return stream.read(length) or b""


def _read_header(stream: Stream) -> _Header:
    raw = _read_at(stream, 0, 64)
    if raw[:4] != b"\x7fELF":
        if raw and b"\x7fELF".startswith(raw):
            raise ElfError("truncated", f"the file ends after {len(raw)} bytes of the ELF magic")
        raise ElfError("not-elf", "not an ELF file" + (" (the file is empty)" if not raw else ""))
    if len(raw) < 16:
        raise ElfError("truncated", f"the ELF identification is cut short at {len(raw)} bytes")
    elf_class, data, ident_version, osabi = raw[4], raw[5], raw[6], raw[7]
    if elf_class not in (1, 2):
        raise ElfError("malformed", f"invalid ELF class {elf_class} (must be 1 or 2)")
    if data not in (1, 2):
        raise ElfError("malformed", f"invalid ELF byte order {data} (must be 1 or 2)")
    if ident_version != 1:
        raise ElfError("malformed", f"invalid ELF identification version {ident_version}")
    endian = "<" if data == 1 else ">"
    layout = struct.Struct(endian + ("HHIQQQIHHHHHH" if elf_class == 2 else "HHIIIIIHHHHHH"))
    if len(raw) < 16 + layout.size:
        raise ElfError("truncated", f"the ELF header is cut short at {len(raw)} bytes")
    (
        e_type,
        e_machine,
        e_version,
        _entry,
        phoff,
        shoff,
        _flags,
        _ehsize,
        phentsize,
        phnum,
        shentsize,
        shnum,
        shstrndx,
    ) = layout.unpack_from(raw, 16)
    if e_version != 1:
        raise ElfError("malformed", f"invalid ELF version {e_version}")
    return _Header(
        32 * elf_class,
        data == 1,
        osabi,
        e_type,
        e_machine,
        phoff,
        phentsize,
        phnum,
        shoff,
        shentsize,
        shnum,
        shstrndx,
    )


def _read_segments(stream: Stream, header: _Header, size: int) -> tuple[_Segment, ...]:
    if header.phoff == 0 or header.phnum == 0:
        return ()
    layout = struct.Struct(header.endian + ("IIQQQQQQ" if header.is64 else "IIIIIIII"))
    if header.phentsize != layout.size:
        raise ElfError("malformed", f"program header entry size {header.phentsize}, expected {layout.size}")
    if header.phnum > MAX_SEGMENTS:
        raise ElfError("malformed", f"{header.phnum} program headers (a module has about 10)")
    end = header.phoff + header.phnum * layout.size
    if end > size:
        raise ElfError("truncated", _past_end("the program header table", end, size))
    raw = _read_at(stream, header.phoff, end - header.phoff)
    segments = []
    for index, entry in enumerate(layout.iter_unpack(raw)):
        if header.is64:
            kind, flags, offset, vaddr, _pa, filesz, memsz, align = entry
        else:
            kind, offset, vaddr, _pa, filesz, memsz, flags, align = entry
        if filesz and offset + filesz > size:
            raise ElfError("truncated", _past_end(f"segment {index}", offset + filesz, size))
        segments.append(_Segment(kind, flags, offset, filesz, vaddr, memsz, align))
    return tuple(segments)


def _sections_of(
    stream: Stream, header: _Header, segments: tuple[_Segment, ...], size: int
) -> tuple[_Section, ...]:
    """The section headers, or those the dynamic segment implies when the file has none."""
    if header.shoff == 0:
        return _sections_from_dynamic(stream, header, segments, size)
    return _read_sections(stream, header, size)


def _read_sections(stream: Stream, header: _Header, size: int) -> tuple[_Section, ...]:
    layout = struct.Struct(header.endian + ("IIQQQQIIQQ" if header.is64 else "IIIIIIIIII"))
    if header.shentsize != layout.size:
        raise ElfError("malformed", f"section header entry size {header.shentsize}, expected {layout.size}")
    if header.shoff + layout.size > size:
        raise ElfError("truncated", _past_end("the section header table", header.shoff + layout.size, size))
    first = _section(0, layout.unpack(_read_at(stream, header.shoff, layout.size)))
    count = header.shnum or first.size  # e_shnum 0: the real count is in section 0 (extended numbering)
    if count == 0 or count > MAX_SECTIONS:
        raise ElfError("malformed", f"{count} sections (a module has 25 to 45)")
    end = header.shoff + count * layout.size
    if end > size:
        raise ElfError("truncated", _past_end("the section header table", end, size))
    raw = _read_at(stream, header.shoff, end - header.shoff)
    sections = tuple(_section(i, entry) for i, entry in enumerate(layout.iter_unpack(raw)))
    for section in sections[1:]:
        if section.type not in (SHT_NULL, SHT_NOBITS) and section.offset + section.size > size:
            raise ElfError(
                "truncated", _past_end(f"section {section.number}", section.offset + section.size, size)
            )
    strtab = header.shstrndx if header.shstrndx != 0xFFFF else first.link
    if not 0 < strtab < count or sections[strtab].type != SHT_STRTAB:
        raise ElfError("malformed", f"section name table index {strtab} is not a string table")
    return sections


def _section(index: int, entry: tuple[int, ...]) -> _Section:
    name, kind, flags, _addr, offset, size, link, info, _align, _entsize = entry
    return _Section(index, name, kind, flags, offset, size, link, info)


def _past_end(what: str, end: int, size: int) -> str:
    return f"{what} ends at byte {end}, past the end of the {size}-byte file (truncated upload?)"


def _sections_from_dynamic(
    stream: Stream, header: _Header, segments: tuple[_Segment, ...], size: int
) -> tuple[_Section, ...]:
    """The sections a file without a section header table implies (strip --strip-sections,
    sstrip): glibc's loader reads only the program headers and the dynamic segment, so such a
    module loads, and the dynamic tags say where its tables are (elf.md §1.3). Each table is
    found at its address through the PT_LOAD segment that maps it, bounded by that segment;
    the dynamic symbols are counted by DT_HASH or DT_GNU_HASH, as the loader would. The notes
    come from PT_NOTE, and the string literals are searched for in the read-only segments (all
    of them but .dynstr, whose symbol names are no literals). The sections have no names."""
    null = _Section(0, 0, SHT_NULL, 0, 0, 0, 0, 0)
    dynamic = next((s for s in segments if s.type == PT_DYNAMIC and s.filesz), None)
    if dynamic is None:
        return (null,)  # no dynamic segment: ELF005 says what the file is
    if dynamic.filesz > MAX_SMALL_TABLE:
        raise ElfError("malformed", f"the dynamic segment is {dynamic.filesz} bytes")
    tags = _tag_values(_read_at(stream, dynamic.offset, dynamic.filesz), header)
    tables = _DynamicTables(stream, header, [s for s in segments if s.type == PT_LOAD], tags)
    return tables.sections(dynamic, [s for s in segments if s.type == PT_NOTE])


class _DynamicTables:
    """The dynamic tables of a file without section headers, made into sections one by one."""

    def __init__(
        self, stream: Stream, header: _Header, loads: list[_Segment], tags: dict[int, list[int]]
    ) -> None:
        self.stream, self.header, self.loads, self.tags = stream, header, loads, tags
        self.made: list[_Section] = [_Section(0, 0, SHT_NULL, 0, 0, 0, 0, 0)]

    def sections(self, dynamic: _Segment, notes: list[_Segment]) -> tuple[_Section, ...]:
        strings = self._table(SHT_STRTAB, DT_STRTAB, self._tag(DT_STRSZ) or 0)
        self._add(SHT_DYNAMIC, dynamic.offset, dynamic.filesz, strings)
        layout = _symbol_layout(self.header)
        if self._tag(DT_SYMENT) not in (None, layout.size):
            raise ElfError("malformed", f"DT_SYMENT is {self._tag(DT_SYMENT)}, expected {layout.size}")
        count = self._symbol_count() if self._tag(DT_SYMTAB) is not None else 0
        symbols = self._table(SHT_DYNSYM, DT_SYMTAB, count * layout.size, strings)
        self._table(SHT_GNU_VERSYM, DT_VERSYM, count * 2, symbols)
        verneed = self._tag(DT_VERNEED)
        if verneed is not None:
            offset, length = self._extent(verneed, "DT_VERNEED", MAX_SMALL_TABLE)
            self._add(SHT_GNU_VERNEED, offset, length, strings, self._tag(DT_VERNEEDNUM) or 0)
        self._table(SHT_RELA, DT_RELA, self._tag(DT_RELASZ) or 0, symbols)
        self._table(SHT_REL, DT_REL, self._tag(DT_RELSZ) or 0, symbols)
        plt = SHT_REL if self._tag(DT_PLTREL) == DT_REL else SHT_RELA
        self._table(plt, DT_JMPREL, self._tag(DT_PLTRELSZ) or 0, symbols)
        for note in notes:
            self._add(SHT_NOTE, note.offset, note.filesz)
        self._read_only_data(self.made[strings] if strings else None)
        return tuple(self.made)

    def _tag(self, tag: int) -> int | None:
        return self.tags[tag][0] if tag in self.tags else None

    def _add(self, kind: int, offset: int, length: int, link: int = 0, info: int = 0) -> int:
        self.made.append(_Section(len(self.made), 0, kind, SHF_ALLOC, offset, length, link, info))
        return len(self.made) - 1

    def _table(self, kind: int, tag: int, length: int, link: int = 0) -> int:
        """The section of the table the tag's address starts, `length` bytes; 0 without the tag."""
        address = self._tag(tag)
        if address is None or not length:
            return 0
        offset, available = self._extent(address, _TAG_NAMES[tag], length)
        if available < length:
            raise ElfError(
                "malformed",
                f"{_TAG_NAMES[tag]} (address 0x{address:x}, {length} bytes) runs past its segment",
            )
        return self._add(kind, offset, length, link)

    def _extent(self, address: int, what: str, cap: int) -> tuple[int, int]:
        """The file offset of `address` and the bytes from there to the end of its segment's
        file image, at most `cap`."""
        for segment in self.loads:
            if segment.vaddr <= address < segment.vaddr + segment.filesz:
                end = segment.vaddr + segment.filesz
                return segment.offset + address - segment.vaddr, min(end - address, cap)
        raise ElfError("malformed", f"{what} (address 0x{address:x}) lies in no loaded segment of the file")

    def _read(self, address: int, what: str, cap: int) -> bytes:
        offset, length = self._extent(address, what, cap)
        return _read_at(self.stream, offset, length)

    def _symbol_count(self) -> int:
        """How many dynamic symbols there are: DT_HASH's nchain, or one past the last symbol of
        the last DT_GNU_HASH chain (the layout of binutils' bfd/elflink.c and glibc's
        dl-lookup.c: a bloom filter, the buckets, then one hash per symbol from symoffset on,
        the last of each chain with its low bit set)."""
        endian = self.header.endian
        most = MAX_SYMBOL_TABLE // _symbol_layout(self.header).size
        sysv, gnu = self._tag(DT_HASH), self._tag(DT_GNU_HASH)
        if sysv is not None:
            data = self._read(sysv, "DT_HASH", 8)
            if len(data) < 8:
                raise ElfError("malformed", "DT_HASH is cut short")
            nchain: int = struct.unpack(endian + "II", data)[1]
            return min(nchain, most)
        if gnu is None:
            raise ElfError(
                "malformed", "no section headers, and neither DT_HASH nor DT_GNU_HASH to count symbols by"
            )
        data = self._read(gnu, "DT_GNU_HASH", MAX_SYMBOL_TABLE)
        if len(data) < 16:
            raise ElfError("malformed", "DT_GNU_HASH is cut short")
        buckets, offset, bloom, _shift = cast(
            "tuple[int, int, int, int]", struct.unpack_from(endian + "IIII", data)
        )
        start = 16 + bloom * (8 if self.header.is64 else 4)
        chains = start + 4 * buckets
        if chains > len(data):
            raise ElfError("malformed", "DT_GNU_HASH's buckets run past its segment")
        last = max(struct.unpack_from(f"{endian}{buckets}I", data, start), default=0)
        if last < offset:
            # No symbol is hashed (the module defines none it exports), and symoffset need not
            # count the undefined ones (ld writes 1): the table runs to the next one
            return self._count_to_next_table()
        words = data[chains + 4 * (last - offset) :]
        hashes = struct.iter_unpack(endian + "I", words[: len(words) - len(words) % 4])
        end = next((i for i, (word,) in enumerate(hashes) if word & 1), None)
        if end is None or last + end + 1 > most:
            raise ElfError("malformed", "DT_GNU_HASH's last chain does not end")
        return last + end + 1

    def _count_to_next_table(self) -> int:
        """The symbols that fit between DT_SYMTAB and the next table the tags place after it, or
        the end of its segment (ld and lld both follow .dynsym with another dynamic table)."""
        start = self._tag(DT_SYMTAB) or 0
        _offset, length = self._extent(start, "DT_SYMTAB", MAX_SYMBOL_TABLE)
        following = [
            address
            for tag in (DT_STRTAB, DT_VERSYM, DT_VERNEED, DT_HASH, DT_GNU_HASH, DT_RELA, DT_REL, DT_JMPREL)
            if (address := self._tag(tag)) is not None and start < address < start + length
        ]
        return (min(following, default=start + length) - start) // _symbol_layout(self.header).size

    def _read_only_data(self, strings: _Section | None) -> None:
        """The segments that are not writable, as sections of read-only data, .dynstr cut out.
        Executable ones too: without -z separate-code (aarch64's default) .rodata shares the
        text segment."""
        cut = (strings.offset, strings.offset + strings.size) if strings is not None else (0, 0)
        for segment in self.loads:
            if segment.flags & PF_W or not segment.filesz:
                continue
            start, end = segment.offset, segment.offset + segment.filesz
            for begin, stop in ((start, min(end, cut[0])), (max(start, cut[1]), end)):
                if stop > begin:
                    self.made.append(
                        _Section(len(self.made), 0, SHT_PROGBITS, SHF_ALLOC, begin, stop - begin, 0, 0)
                    )


_TAG_NAMES = {
    DT_STRTAB: "DT_STRTAB",
    DT_SYMTAB: "DT_SYMTAB",
    DT_VERSYM: "DT_VERSYM",
    DT_RELA: "DT_RELA",
    DT_REL: "DT_REL",
    DT_JMPREL: "DT_JMPREL",
}


class _Image:
    """The checked tables of one open file; `data()` reads a section within its checked extent.

    The header and both tables were read and bounded with `struct` already, so a section's bytes
    are a plain read at its offset: pyelftools (40 ms to import, a section object per read) is
    needed only to name a machine or file type this reader does not know (`_type_names`).
    """

    def __init__(self, stream: Stream, header: _Header, sections: tuple[_Section, ...]) -> None:
        self.stream = stream
        self.header = header
        self.sections = sections
        shstrndx = header.shstrndx if header.shstrndx != 0xFFFF else sections[0].link
        # Sections made from the dynamic segment (no section headers) have no names
        self.names = self.data(sections[shstrndx], MAX_SMALL_TABLE) if header.shoff else b""

    def first(self, kind: int) -> _Section | None:
        return next((s for s in self.sections if s.type == kind), None)

    def name(self, section: _Section) -> str:
        return _string(self.names, section.name, "section names", strict=False)

    def data(self, section: _Section, cap: int) -> bytes:
        if section.size > cap:
            raise ElfError(
                "malformed",
                f"section {section.number} is {section.size} bytes, above "
                f"modpack's limit of {cap} for its kind",
            )
        _check_uncompressed(section)
        if section.type == SHT_NOBITS:
            return bytes(section.size)  # no bytes in the file: zeros, as the loader maps them
        return self._read(section, 0, section.size)

    def _read(self, section: _Section, begin: int, length: int) -> bytes:
        """`length` bytes of `section` from `begin`, all of them or ElfError."""
        try:
            data = _read_at(self.stream, section.offset + begin, length)
        except OSError as exc:
            # The bounds were checked before, so this is the stream failing, not the file lying.
            raise ElfError("unreadable", f"cannot read section {section.number}: {exc}") from exc
        if len(data) != length:
            raise ElfError("truncated", f"section {section.number} is cut short")
        return data

    def linked_strings(self, section: _Section, cap: int = MAX_SYMBOL_TABLE) -> bytes:
        return self.data(self.linked(section), cap)

    def linked(self, section: _Section) -> _Section:
        """The string table `section` names its symbols in."""
        if not 0 < section.link < len(self.sections) or self.sections[section.link].type != SHT_STRTAB:
            raise ElfError("malformed", f"section {section.number} links to {section.link}, not strings")
        return self.sections[section.link]

    def pieces(self, section: _Section, size: int, overlap: int = 0) -> Iterator[tuple[int, bytes]]:
        """(offset in the section, bytes) of `section` read `size` bytes at a time, each piece
        holding the `overlap` bytes before it too: a section of any size in bounded memory."""
        _check_uncompressed(section)
        if section.type == SHT_NOBITS:
            return  # zeros: no name, no symbol
        start = 0
        while start < section.size:
            begin = max(0, start - overlap)
            length = min(size, section.size - start) + start - begin
            yield begin, self._read(section, begin, length)
            start = begin + length


def _check_uncompressed(section: _Section) -> None:
    if section.flags & SHF_COMPRESSED:
        raise ElfError("malformed", f"section {section.number} is compressed; a module's never are")


def _inspect(
    stream: Stream,
    size: int,
    header: _Header,
    segments: tuple[_Segment, ...],
    sections: tuple[_Section, ...],
) -> ElfInfo:
    image = _Image(stream, header, sections)
    dynamic = _dynamic_tags(image)
    version_map, needs = _version_needs(image)
    symbols = _dynamic_symbols(image, version_map, symbolic=dynamic.symbolic)
    onload = symbols.onload
    if not onload.in_dynsym:
        onload = EntryPoint(defined_locally=_defined_in_symtab(image, ONLOAD), cxx_name=onload.cxx_name)
    stack = next((s for s in segments if s.type == PT_GNU_STACK), None)
    architecture = ARCHITECTURES.get((header.e_machine, header.elf_class, header.little_endian))
    e_type, machine = _type_names(stream, header)
    return ElfInfo(
        size=size,
        elf_class=header.elf_class,
        little_endian=header.little_endian,
        e_type=e_type,
        machine=machine,
        architecture=architecture,
        osabi=_OSABI_NAMES.get(header.osabi, str(header.osabi)),
        is_pie=dynamic.pie,
        has_interp=any(s.type == PT_INTERP for s in segments),
        interp=_interpreter(stream, segments),
        # glibc refuses a PT_DYNAMIC with no bytes in the file ("object file has no dynamic section")
        has_dynamic=any(s.type == PT_DYNAMIC and s.filesz for s in segments),
        debug_only=_debug_only(segments, sections),
        needed=dynamic.needed,
        soname=dynamic.soname,
        rpath=dynamic.rpath,
        runpath=dynamic.runpath,
        version_needs=needs,
        undefined=symbols.undefined,
        onload=onload,
        gnu_stack=stack is not None,
        # No PT_GNU_STACK means an executable stack, except on aarch64 whose default is RW.
        executable_stack=bool(stack.flags & PF_X) if stack else architecture != "aarch64",
        textrel=dynamic.textrel,
        bind_now=dynamic.bind_now,
        relro=any(s.type == PT_GNU_RELRO for s in segments),
        build_id=_note(image, NT_GNU_BUILD_ID, _build_id_desc),
        has_symtab=image.first(SHT_SYMTAB) is not None,
        has_debug_info=any(image.name(s) in (".debug_info", ".zdebug_info") for s in sections),
        symbolic=dynamic.symbolic,
        lookups=symbols.lookups,
        getkeys=_getkeys_api(image, stream),
        isa_level=(_note(image, NT_GNU_PROPERTY_TYPE_0, _isa_level) or 1) if architecture == "x86_64" else 1,
        static_tls=_static_tls(segments, dynamic, symbols),
        packed_relocations=dynamic.relr,
    )


def _debug_only(segments: tuple[_Segment, ...], sections: tuple[_Section, ...]) -> bool:
    """Whether the file is the debug-info companion of a module: its PT_DYNAMIC holds no bytes in
    the file and no section is of type SHT_DYNAMIC (objcopy --only-keep-debug, strip
    --only-keep-debug and eu-strip -f keep the program headers of the module and turn .dynamic,
    .dynsym and .text into SHT_NOBITS)."""
    dynamic = [s for s in segments if s.type == PT_DYNAMIC]
    if not dynamic or any(s.filesz for s in dynamic):
        return False
    return not any(s.type == SHT_DYNAMIC for s in sections)


def _static_tls(segments: tuple[_Segment, ...], dynamic: _Dynamic, symbols: _Symbols) -> int:
    """The bytes of the module's TLS block the loader must place in static TLS at dlopen.

    glibc does so when it applies a TP-relative relocation (initial-exec TLS, -ftls-model=initial-exec
    or code that asks for it) whose symbol is the module's own: `l_tls_blocksize` (p_memsz) plus
    `l_tls_firstbyte_offset` (p_vaddr modulo p_align), _dl_try_allocate_static_tls in elf/dl-reloc.c.
    Without the relocations (a bundle keeps only sections of a bounded size), DF_STATIC_TLS says it.
    """
    tls = next((s for s in segments if s.type == PT_TLS and s.memsz), None)
    own = symbols.own_static_tls if symbols.own_static_tls is not None else dynamic.static_tls
    if tls is None or not own:
        return 0
    return tls.memsz + (tls.vaddr % tls.align if tls.align > 1 else 0)


# pyelftools' names (elftools/elf/enums.py, ENUM_E_TYPE and ENUM_E_MACHINE) for the file types and
# the machines a module is built for or mistaken with; tests/test_elf_reader.py checks each against
# pyelftools. Any other value is named by pyelftools itself, so every name stays what it was.
_E_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
_MACHINES = {
    0: "EM_NONE",
    2: "EM_SPARC",
    3: "EM_386",
    8: "EM_MIPS",
    20: "EM_PPC",
    21: "EM_PPC64",
    22: "EM_S390",
    40: "EM_ARM",
    43: "EM_SPARCV9",
    50: "EM_IA_64",
    62: "EM_X86_64",
    183: "EM_AARCH64",
    243: "EM_RISCV",
    258: "EM_LOONGARCH",
}


def _type_names(stream: Stream, header: _Header) -> tuple[str, str]:
    """e_type and e_machine by name, as pyelftools names them (ET_DYN, EM_X86_64)."""
    e_type, machine = _E_TYPES.get(header.e_type), _MACHINES.get(header.e_machine)
    if e_type is not None and machine is not None:
        return e_type, machine
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(cast("IO[bytes]", stream))
    return _enum_name(elf["e_type"]), _enum_name(elf["e_machine"])


def _enum_name(value: object) -> str:
    # pyelftools returns unknown enum values as plain ints (elf.md §1.2).
    return value if isinstance(value, str) else f"0x{value:x}" if isinstance(value, int) else str(value)


def _string(table: bytes, offset: int, where: str, *, strict: bool = True) -> str:
    """The name at `offset`, its first MAX_NAME bytes when longer. C++ template names pass 4096
    bytes (a std::tuple of 80 long type names: 5943), and such a module loads: a long name is no
    defect. A string table ends with a NUL (gABI, "String Table"), so one whose last byte is one
    ends every name in it; only a name in a table without it runs outside. Scanning no further
    than MAX_NAME keeps a table of millions of names pointing into one long span linear."""
    end = table.find(b"\0", offset, offset + MAX_NAME) if offset < len(table) else -1
    if end < 0:
        if offset < len(table) and table.endswith(b"\0"):
            end = offset + MAX_NAME
        elif not strict:
            return ""
        else:
            raise ElfError("malformed", f"a name points outside {where}")
    return table[offset:end].decode("utf-8", errors="replace")


def _interpreter(stream: Stream, segments: tuple[_Segment, ...]) -> str | None:
    interp = next((s for s in segments if s.type == PT_INTERP), None)
    if interp is None:
        return None
    raw = _read_at(stream, interp.offset, min(interp.filesz, MAX_NAME))
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _dynamic_tags(image: _Image) -> _Dynamic:
    section = image.first(SHT_DYNAMIC)
    if section is None:
        return _Dynamic()
    values = _tag_values(image.data(section, MAX_SMALL_TABLE), image.header)
    strings = image.linked_strings(section)

    def texts(tag: int) -> tuple[str, ...]:
        return tuple(_string(strings, v, ".dynstr") for v in values.get(tag, ()))

    flags = _or(values.get(DT_FLAGS, ()))
    flags_1 = _or(values.get(DT_FLAGS_1, ()))
    soname = texts(DT_SONAME)
    return _Dynamic(
        needed=texts(DT_NEEDED),
        soname=soname[0] if soname else None,
        rpath=tuple(p for entry in texts(DT_RPATH) for p in entry.split(":")),
        runpath=tuple(p for entry in texts(DT_RUNPATH) for p in entry.split(":")),
        textrel=DT_TEXTREL in values or bool(flags & DF_TEXTREL),
        bind_now=DT_BIND_NOW in values or bool(flags & DF_BIND_NOW) or bool(flags_1 & DF_1_NOW),
        pie=bool(flags_1 & DF_1_PIE),
        symbolic=DT_SYMBOLIC in values or bool(flags & DF_SYMBOLIC),
        static_tls=bool(flags & DF_STATIC_TLS),
        relr=DT_RELR in values,
    )


def _tag_values(data: bytes, header: _Header) -> dict[int, list[int]]:
    """Each dynamic tag's values, in order, up to DT_NULL."""
    layout = struct.Struct(header.endian + ("qQ" if header.is64 else "iI"))
    values: dict[int, list[int]] = {}
    # Bounded by the section size, not by DT_NULL (a file without DT_NULL runs pyelftools to EOF).
    for tag, value in layout.iter_unpack(data[: len(data) - len(data) % layout.size]):
        if tag == DT_NULL:
            return values
        values.setdefault(tag, []).append(value)
    raise ElfError("malformed", "the dynamic section has no DT_NULL terminator")


def _or(values: tuple[int, ...] | list[int]) -> int:
    result = 0
    for value in values:
        result |= value
    return result


def _version_needs(image: _Image) -> tuple[dict[int, tuple[str | None, str | None]], tuple[VersionNeed, ...]]:
    """Version index -> (library, version name), and the requirements per library."""
    section = image.first(SHT_GNU_VERNEED)
    if section is None or section.size == 0:
        return {}, ()
    data = image.data(section, MAX_SMALL_TABLE)
    strings = image.linked_strings(section)
    endian = image.header.endian
    by_index: dict[int, tuple[str | None, str | None]] = {}
    needs: list[VersionNeed] = []
    budget = MAX_VERNAUX
    # sh_info counts the entries and vn_cnt the versions of each; the chains must hold exactly
    # that many. Counts are capped and offsets only grow, so a crafted chain cannot loop (elf.md §1.7).
    if not 0 < section.info <= MAX_VERNEED:
        raise ElfError("malformed", f".gnu.version_r claims {section.info} entries")
    for offset in _chain(data, 0, section.info, endian):
        _version, count, file_offset, aux, _next = struct.unpack_from(endian + "HHIII", data, offset)
        library = _string(strings, file_offset, ".dynstr")
        if count > budget:
            raise ElfError("malformed", f".gnu.version_r claims {count} versions for {library}")
        names = []
        for aux_offset in _chain(data, offset + aux, count, endian):
            _hash, _flags, other, name_offset, _next_aux = struct.unpack_from(
                endian + "IHHII", data, aux_offset
            )
            name = _string(strings, name_offset, ".dynstr")
            by_index[other & 0x7FFF] = (library, name)
            names.append(name)
        budget -= len(names)
        needs.append(VersionNeed(library, tuple(names)))
    return by_index, tuple(needs)


def _chain(data: bytes, start: int, count: int, endian: str) -> Iterator[int]:
    """Offsets of the `count` Elf_Verneed or Elf_Vernaux records of a chain (16 bytes each,
    the offset of the next one at byte 12, 0 in the last)."""
    offset = start
    for position in range(count):
        if offset + 16 > len(data):
            raise ElfError("malformed", "a symbol version record lies outside .gnu.version_r")
        yield offset
        (step,) = struct.unpack_from(endian + "I", data, offset + 12)
        if step == 0 and position < count - 1:
            raise ElfError("malformed", f".gnu.version_r chain ends after {position + 1} of {count} records")
        offset += step


def _dynamic_symbols(
    image: _Image, version_map: dict[int, tuple[str | None, str | None]], *, symbolic: bool = False
) -> _Symbols:
    section = image.first(SHT_DYNSYM)
    if section is None:
        return _Symbols()
    data = image.data(section, MAX_SYMBOL_TABLE)
    strings = image.linked_strings(section)
    layout = _symbol_layout(image.header)
    versions = _version_indexes(image)
    target = ONLOAD.encode() + b"\0"
    mangled = f"_Z{len(ONLOAD)}{ONLOAD}".encode()  # a function at namespace scope, Itanium C++ ABI
    cxx_name = ""
    undefined: list[UndefinedSymbol] = []
    table = list(_symbols(data, layout, image.header.is64))
    onload = EntryPoint()
    for index, (name, info, other, shndx) in enumerate(table):
        if index == 0 or name == 0:
            continue
        if name >= len(strings):
            raise ElfError("malformed", f"the name of dynamic symbol {index} lies outside .dynstr")
        bind, kind, visibility = info >> 4, info & 0xF, other & 0x3
        if shndx == 0:
            library, version = version_map.get(
                versions[index] & 0x7FFF if index < len(versions) else 0, (None, None)
            )
            undefined.append(UndefinedSymbol(_string(strings, name, ".dynstr"), version, library, bind == 2))
        elif not cxx_name and strings.startswith(mangled, name):
            cxx_name = _string(strings, name, ".dynstr")
        elif strings.startswith(target, name) and not (onload.in_dynsym and not onload.hidden_version):
            # the first definition dlsym() takes: one of the default version beats a hidden one
            # (a module may define both, gold putting the default first)
            index_word = versions[index] if index < len(versions) else 0
            onload = EntryPoint(
                True,
                True,
                _SYMBOL_TYPES.get(kind, str(kind)),
                _SYMBOL_BINDS.get(bind, str(bind)),
                _VISIBILITIES[visibility],
                hidden_version=bool(index_word & 0x8000)
                and (index_word & 0x7FFF) >= 2,  # 0, 1: local, global
            )
    if not onload.in_dynsym:
        onload = _undefined_onload(undefined)._replace(cxx_name=cxx_name)
    lookups, own_static_tls = _lookups(image, section, table, strings, symbolic=symbolic)
    return _Symbols(tuple(undefined), onload, lookups, own_static_tls)


def _lookups(
    image: _Image,
    dynsym: _Section,
    table: list[tuple[int, int, int, int]],
    strings: bytes,
    *,
    symbolic: bool,
) -> tuple[tuple[SymbolLookup, ...] | None, bool | None]:
    """The symbols the dynamic relocations name that the loader searches the process for, and
    whether a TP-relative relocation names the module's own TLS (None for both when the relocation
    tables could not be read).

    A relocation against a local, hidden or internal symbol, or against a protected one the
    module defines, is bound inside the module; so is one against any symbol the module defines
    when it is linked -Bsymbolic (which leaves no such relocation, or sets DT_SYMBOLIC). What is
    left, undefined or defined with default visibility, goes through the global scope, where
    redis-server comes first (elf.md §1.10).
    """
    try:
        indexes, tp_relative = _relocated_symbols(image, dynsym)
    except ElfError as exc:
        if exc.kind != "unreadable":
            raise
        return None, None
    # symbol 0: the module's own block (a local or hidden TLS symbol); a defined symbol: its own too
    own_static_tls = any(i == 0 or (i < len(table) and table[i][3] != 0) for i in tp_relative)
    found: dict[str, SymbolLookup] = {}
    for index in sorted(indexes):
        if index >= len(table):
            raise ElfError("malformed", f"a relocation names dynamic symbol {index}, past the table")
        name, info, other, shndx = table[index]
        bind, kind, visibility = info >> 4, info & 0xF, other & 0x3
        defined = shndx != 0
        if name == 0 or bind == 0 or kind in (3, 4) or visibility in (1, 2):
            continue  # unnamed, local, a section or file symbol, internal or hidden
        if defined and (symbolic or visibility == 3):
            continue  # bound to the module's own definition
        text = _string(strings, name, ".dynstr")
        found.setdefault(text, SymbolLookup(text, defined))
    return tuple(found.values()), own_static_tls


def _relocated_symbols(image: _Image, dynsym: _Section) -> tuple[set[int], set[int]]:
    """Indexes into .dynsym named by the REL/RELA sections that relocate against it, and those
    (0 included) named by a TP-relative relocation."""
    is64 = image.header.is64
    tp_types = TP_RELATIVE.get(image.header.e_machine, frozenset())
    indexes: set[int] = set()
    tp_relative: set[int] = set()
    seen: set[tuple[int, int, int]] = set()
    budget = MAX_SYMBOL_TABLE  # over every table: 4000 headers naming one 8 MB table read it 4000 times
    for section in image.sections:
        if section.type not in (SHT_RELA, SHT_REL) or section.link != dynsym.number:
            continue
        if (section.offset, section.size, section.type) in seen:
            continue
        seen.add((section.offset, section.size, section.type))
        budget -= section.size
        if budget < 0:
            raise ElfError("unreadable", "the relocation tables are larger than any module's")
        word = "Q" if is64 else "I"
        addend = ("q" if is64 else "i") if section.type == SHT_RELA else ""
        layout = struct.Struct(image.header.endian + word + word + addend)
        data = image.data(section, MAX_SYMBOL_TABLE)
        shift = 32 if is64 else 8  # ELF64_R_SYM / ELF32_R_SYM
        type_mask = (1 << shift) - 1  # ELF64_R_TYPE / ELF32_R_TYPE
        for entry in layout.iter_unpack(data[: len(data) - len(data) % layout.size]):
            symbol = entry[1] >> shift
            if symbol:
                indexes.add(symbol)
            if entry[1] & type_mask in tp_types:
                tp_relative.add(symbol)
    return indexes, tp_relative


def _read_only_data(image: _Image) -> Iterator[_Section]:
    """The sections of read-only data, where string literals live (not .dynstr: symbol names)."""
    for section in image.sections:
        if section.type != SHT_PROGBITS or section.flags & (SHF_WRITE | SHF_EXECINSTR):
            continue
        if section.flags & SHF_ALLOC and section.size:
            yield section


# A string literal that could be a Redis command name: lowercase, as COMMAND LIST gives them.
_NAME_LITERAL = re.compile(rb"\x00([a-z][a-z0-9-]{0,39}+)(?=\x00)")
# The name of a function of the module API, as a string literal: redismodule.h's RedisModule_Init
# asks redis-server for each function it declares by this name (RedisModule_GetApi), and
# redis-server registers each function it has under it (src/module.c, REGISTER_API).
_API_LITERAL = re.compile(rb"\x00(RedisModule_[A-Za-z0-9_]{1,80}+)(?=\x00)")


def name_literals(path: str | os.PathLike[str], wanted: Collection[str]) -> list[str]:
    """The string literals of the binary's read-only data that equal a name of `wanted`
    (lowercase), in the order first found; [] when the file cannot be read as ELF."""
    return _literals(path, _NAME_LITERAL, 41, wanted.__contains__)


def api_names(path: str | os.PathLike[str]) -> frozenset[str]:
    """The names of module API functions among the binary's string literals: of a module, those
    its RedisModule_Init asks for; of a redis-server, those it offers. Empty when unreadable."""
    return frozenset(_literals(path, _API_LITERAL, 94))


def _literals(
    path: str | os.PathLike[str],
    pattern: re.Pattern[bytes],
    overlap: int,
    keep: Callable[[str], bool] = bool,
) -> list[str]:
    """The distinct string literals of the read-only data that `pattern` matches (group 1) and
    `keep` keeps, in the order first found; a window repeats the last `overlap` bytes (a NUL and
    the longest match). Streamed in chunks: a large .rodata is scanned, never held. What was
    found before the file proved unreadable, [] when it cannot be read as ELF."""
    found: dict[str, None] = {}
    unreadable: tuple[type[Exception], ...] = (ElfError, OSError, *_library_errors())
    try:
        with _open(path) as stream:
            size = stream.seek(0, os.SEEK_END)
            header = _read_header(stream)
            segments = _read_segments(stream, header, size)
            image = _Image(stream, header, _sections_of(stream, header, segments, size))
            for section in _read_only_data(image):
                if section.flags & SHF_COMPRESSED:
                    continue
                for window, _start in _windows(stream, section.offset, section.size, overlap):
                    literals = (match[1].decode("ascii") for match in pattern.finditer(window))
                    found.update((literal, None) for literal in literals if keep(literal))
    except unreadable:
        pass
    return list(found)


def _getkeys_api(image: _Image, stream: Stream) -> GetkeysApi:
    """Search the read-only data, where string literals live, for the getkeys-api evidence.

    Read straight from the stream in chunks, so a large .rodata is scanned, never held.
    """
    found: set[bytes] = set()
    strings = _FlagsStrings()
    complete = True
    sections = list(_read_only_data(image))
    if any(section.flags & SHF_COMPRESSED for section in sections):
        complete = False
    plain = [(s.offset, s.size) for s in sections if not s.flags & SHF_COMPRESSED]
    for offset, size in _union(plain):
        try:
            found |= _tokens_in(stream, offset, size, (GETKEYS_FLAG, *GETKEYS_CALLS), strings)
        except OSError:
            complete = False  # a bundle keeps only parts of a large .so: the answer may be incomplete
    # Redis reads the flags case-insensitively: "write GETKEYS-API" asks for the keys too.
    named = any(GETKEYS_FLAG.decode() in text.lower().split(" ") for text in strings.kept)
    flag, calls = GETKEYS_FLAG in found or named, all(name in found for name in GETKEYS_CALLS)
    return GetkeysApi(flag, calls, complete, tuple(strings.kept), strings.complete)


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(offset, size) ranges merged where they overlap, so each byte of the file is scanned once:
    4000 section headers over one 16 MB blob took 92 s, scanned 4000 times."""
    merged: list[tuple[int, int]] = []
    for offset, size in sorted(ranges):
        if merged and offset <= merged[-1][0] + merged[-1][1]:
            start, length = merged[-1]
            merged[-1] = (start, max(length, offset + size - start))
        else:
            merged.append((offset, size))
    return merged


# A NUL, a word no longer than a flag (17 characters), a space or a comma, then letters, '_', '-',
# spaces and commas up to a NUL. Possessive, so a sentence fails at its first other character
# without backtracking. Commas: "write,deny-oom" is refused (Redis splits on single spaces).
_FLAGS_STRING = re.compile(rb"\x00(([A-Za-z_-]{1,20}+)[ ,][A-Za-z_, -]{0,200}+)(?=\x00)")
_FLAG_SEPARATORS = re.compile(r"[ ,]")
# A string literal of one word with a '-' (no-cluster): a flag of a module's flags string alone
# ("no-cluster" is a whole flags string), which no other string of a binary is spelled as.
_LONE_FLAG = re.compile(rb"\x00([A-Za-z]{1,20}+(?:-[A-Za-z]{1,20}+){1,3}+)(?=\x00)")


class _FlagsStrings:
    """Collects, within FLAGS_STRINGS_BUDGET bytes, the string literals that may be flags strings:
    spaces and flag words of either spelling (Redis matches the words case-insensitively)."""

    def __init__(self) -> None:
        from modpack import policy  # only when a binary is read

        self.words = policy.flags_string_words()
        self.first_words = frozenset(w.encode() for w in self.words)
        flags = policy.load("flags")
        self.lone = frozenset(
            w for w in (*flags["module_to_command_info"], *flags["module_only_invisible"]) if "-" in w
        )
        self.budget = FLAGS_STRINGS_BUDGET
        self.kept: list[str] = []

    @property
    def complete(self) -> bool:
        """Whether no string was left unseen: the budget lasted and fewer than the most were kept."""
        return self.budget > 0 and len(self.kept) < FLAGS_STRINGS_KEPT

    def search(self, window: bytes, start: int) -> None:
        """Strings that end in `window` at or after `start` (earlier ones were seen already)."""
        if self.budget <= 0 or len(self.kept) >= FLAGS_STRINGS_KEPT:
            return
        self.budget -= len(window) - start
        for match in _FLAGS_STRING.finditer(window, max(start - 257, 0)):
            if match.end() + 1 <= start or match[2].lower() not in self.first_words:
                continue  # ended in the part of the window searched before, or a sentence
            text = match[1].decode("ascii")
            words = [w.lower() for w in _FLAG_SEPARATORS.split(text) if w]
            wanted = bool(words) and all(w in self.words for w in words)
            if wanted and text not in self.kept and len(self.kept) < FLAGS_STRINGS_KEPT:
                self.kept.append(text)
        for match in _LONE_FLAG.finditer(window, max(start - 257, 0)):
            text = match[1].decode("ascii")
            if match.end() + 1 <= start or text.lower() not in self.lone:
                continue
            if text not in self.kept and len(self.kept) < FLAGS_STRINGS_KEPT:
                self.kept.append(text)


def _tokens_in(
    stream: Stream, offset: int, size: int, tokens: tuple[bytes, ...], strings: _FlagsStrings | None = None
) -> set[bytes]:
    """Which tokens occur in bytes [offset, offset + size) of the stream (one may straddle chunks);
    `strings` collects the flags strings on the way."""
    overlap = max(len(token) for token in tokens) - 1
    if strings is not None:
        overlap = max(overlap, 258)  # a NUL, up to 256 characters and the closing NUL
    found: set[bytes] = set()
    for window, start in _windows(stream, offset, size, overlap):
        found |= {token for token in tokens if token in window}
        if strings is not None:
            strings.search(window, start)
    return found


def _windows(stream: Stream, offset: int, size: int, overlap: int) -> Iterator[tuple[bytes, int]]:
    """Bytes [offset, offset + size) of the stream in chunks, each after the last `overlap` bytes
    of the one before (a string may straddle two), with where the new bytes start; the first
    after a NUL, as a section starts a string. OSError when the file ends inside the range."""
    position, end, tail = offset, offset + size, b"\x00"
    while position < end:
        chunk = _read_at(stream, position, min(READ_CHUNK, end - position))
        if not chunk:
            raise OSError(f"the file ends inside a section, at byte {position}")
        window = tail + chunk
        yield window, len(tail)
        tail = window[-overlap:]
        position += len(chunk)


def _undefined_onload(undefined: list[UndefinedSymbol]) -> EntryPoint:
    symbol = next((s for s in undefined if s.name == ONLOAD), None)
    if symbol is None:
        return EntryPoint()
    return EntryPoint(True, False, "", "WEAK" if symbol.weak else "GLOBAL", "DEFAULT")


def _symbol_layout(header: _Header) -> struct.Struct:
    # Elf64_Sym: name, info, other, shndx, value, size. Elf32_Sym: name, value, size, info, other, shndx.
    return struct.Struct(header.endian + ("IBBHQQ" if header.is64 else "IIIBBH"))


def _symbols(data: bytes, layout: struct.Struct, is64: bool) -> Iterator[tuple[int, int, int, int]]:
    """(name offset, info, other, section index) of each symbol."""
    usable = data[: len(data) - len(data) % layout.size]
    if is64:
        for name, info, other, shndx, _value, _size in layout.iter_unpack(usable):
            yield name, info, other, shndx
    else:
        for name, _value, _size, info, other, shndx in layout.iter_unpack(usable):
            yield name, info, other, shndx


def _version_indexes(image: _Image) -> tuple[int, ...]:
    section = image.first(SHT_GNU_VERSYM)
    if section is None:
        return ()
    data = image.data(section, MAX_SYMBOL_TABLE)
    usable = data[: len(data) - len(data) % 2]
    return struct.unpack(f"{image.header.endian}{len(usable) // 2}H", usable)


_SCAN_PIECE = 1 << 20


def _defined_in_symtab(image: _Image, wanted: str) -> bool | None:
    """Whether the static symbol table defines `wanted`: tells "hidden" from "missing".

    Only a nicety for the message, so a table the stream cannot give (a bundle reader keeps
    only small sections) is None, unknown, rather than failing the whole read. Both tables
    are read a piece at a time (elf.md §5.4): an unstripped C++ module's .strtab passes 64 MiB,
    and a file that glibc loads was called damaged (ELF003) for the size of a table it never reads.
    """
    section = image.first(SHT_SYMTAB)
    if section is None:
        return False
    try:
        names = _string_offsets(image, image.linked(section), wanted.encode() + b"\0")
        if not names:
            return False
        layout = _symbol_layout(image.header)
        piece = _SCAN_PIECE - _SCAN_PIECE % layout.size  # whole symbols in every piece
        return any(
            shndx != 0 and name in names
            for _, data in image.pieces(section, piece)
            for name, _info, _other, shndx in _symbols(data, layout, image.header.is64)
        )
    except ElfError as exc:
        if exc.kind != "unreadable":
            raise
        return None


def _string_offsets(image: _Image, strings: _Section, target: bytes) -> set[int]:
    """Every offset in `strings` where `target` (a name and its NUL) starts: a symbol's name may
    start inside a longer string, whose tail the linker shares with it."""
    found: set[int] = set()
    for begin, data in image.pieces(strings, _SCAN_PIECE, overlap=len(target) - 1):
        at = data.find(target)
        while at != -1:
            found.add(begin + at)
            at = data.find(target, at + 1)
    return found


def _note(image: _Image, kind: int, read: Callable[[bytes, _Header], T | None]) -> T | None:
    """`read` of the first GNU note of `kind` it answers for, in the note sections."""
    notes = [s for s in image.sections if s.type == SHT_NOTE][:MAX_NOTE_SECTIONS]
    for section in notes:
        if section.size > MAX_NOTES:
            continue
        for desc in _gnu_notes(image.data(section, MAX_NOTES), image.header.endian, kind):
            found = read(desc, image.header)
            if found is not None:
                return found
    return None


def _gnu_notes(data: bytes, endian: str, wanted: int) -> Iterator[bytes]:
    """The descriptors of the GNU notes of type `wanted`; parsed here rather than with
    iter_notes, which reads n_descsz bytes as given (elf.md §1.8)."""
    offset = 0
    while offset + 12 <= len(data):
        namesz, descsz, kind = struct.unpack_from(endian + "III", data, offset)
        name_start = offset + 12
        desc_start = name_start + _align4(namesz)
        if desc_start + descsz > len(data):
            return
        if kind == wanted and data[name_start : name_start + namesz] == b"GNU\0":
            yield data[desc_start : desc_start + descsz]
        offset = desc_start + _align4(descsz)


def _build_id_desc(desc: bytes, _header: _Header) -> str | None:
    return desc.hex() or None


NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002  # binutils 2.36+; bits: 1 baseline, 2 v2, 4 v3, 8 v4


def _isa_level(desc: bytes, header: _Header) -> int | None:
    """x86-64-v2..v4 from GNU_PROPERTY_X86_ISA_1_NEEDED (auditwheel's reading: the highest bit
    above the baseline's), None when the property is absent. Properties are 8-byte aligned in a
    64-bit file."""
    align = 8 if header.is64 else 4
    offset = 0
    while offset + 8 <= len(desc):
        kind, size = struct.unpack_from(header.endian + "II", desc, offset)
        if kind == GNU_PROPERTY_X86_ISA_1_NEEDED and size >= 4 and offset + 12 <= len(desc):
            (bits,) = struct.unpack_from(header.endian + "I", desc, offset + 8)
            return 4 if bits & 8 else 3 if bits & 4 else 2 if bits & 2 else 1
        offset += 8 + (size + align - 1) // align * align
    return None


def _align4(value: int) -> int:
    return (value + 3) & ~3


# --- questions about the facts --------------------------------------------------------------


def parse_version(text: str) -> Version:
    """'2.2.5' -> (2, 2, 5). Compare versions as int tuples, never as strings: 2.2.5 < 2.17."""
    return tuple(int(part) for part in text.split("."))


def version_text(version: Version) -> str:
    return ".".join(map(str, version))


def version_key(version: Version) -> Version:
    """A sort key in which 11.0 and 11.0.0 are equal."""
    end = len(version)
    while end > 1 and version[end - 1] == 0:
        end -= 1
    return version[:end]


def split_version_name(name: str) -> tuple[str, Version] | None:
    """'GLIBC_2.34' -> ('GLIBC', (2, 34)); GLIBC_ABI_DT_RELR -> ('GLIBC', (2, 36)) via the policy."""
    from modpack import policy

    special: dict[str, str] = {
        k: v for k, v in policy.load("platforms")["special_versions"].items() if not k.startswith("$")
    }
    if name in special:
        return name.split("_", 1)[0], parse_version(special[name])
    match = _VERSION_NAME.fullmatch(name)
    if match is None:
        return None
    return match.group(1), parse_version(match.group(2))


def private_versions(info: ElfInfo) -> tuple[str, ...]:
    """Required `*_PRIVATE` nodes: internal to their library, never a stable interface."""
    return tuple(sorted({v for need in info.version_needs for v in need.versions if v.endswith("_PRIVATE")}))


def versions_by_family(info: ElfInfo) -> dict[str, tuple[tuple[Version, str], ...]]:
    """Per family (GLIBC, GLIBCXX, ...), the required (version, name) pairs, newest first."""
    found: dict[str, set[tuple[Version, str]]] = {}
    names = [name for need in info.version_needs for name in need.versions]
    if info.packed_relocations and not _linked_to_musl(info):
        # ld adds this marker only when it links against a libc that defines it: a module that
        # needs no libc symbol has DT_RELR without it, and an older glibc loads it unrelocated
        names.append(RELR_MARKER)
    for name in names:
        split = split_version_name(name)
        if split is not None:
            found.setdefault(split[0], set()).add((split[1], name))
    return {
        family: tuple(sorted(pairs, key=lambda p: (version_key(p[0]), p[1]), reverse=True))
        for family, pairs in sorted(found.items())
    }


def symbols_by_version(info: ElfInfo) -> dict[str, tuple[str, ...]]:
    """Version name -> the undefined symbols that require it (what pulls a requirement in)."""
    found: dict[str, list[str]] = {}
    for symbol in info.undefined:
        if symbol.version:
            found.setdefault(symbol.version, []).append(symbol.name)
    return {version: tuple(sorted(names)) for version, names in found.items()}


def libc_family(info: ElfInfo) -> Literal["glibc", "musl"] | None:
    """Which C library the module was linked against; None when nothing says (elf.md §2.4)."""
    if _linked_to_musl(info):
        return "musl"
    if any(_GLIBC.fullmatch(name) for name in _libc_names(info)) or "GLIBC" in versions_by_family(info):
        return "glibc"
    return None


def _libc_names(info: ElfInfo) -> tuple[str, ...]:
    return (*info.needed, *((info.interp.rsplit("/", 1)[-1],) if info.interp else ()))


def _linked_to_musl(info: ElfInfo) -> bool:
    return any(_MUSL.fullmatch(name) for name in _libc_names(info))


def is_musl_library(name: str) -> bool:
    return _MUSL.fullmatch(name) is not None


def unversioned_undefined(info: ElfInfo) -> tuple[str, ...]:
    """Undefined, non-weak symbols without a version, apart from RedisModule_OnLoad (whose
    absence is a rule of its own).

    glibc and libstdc++ version every export, so these are resolved from whatever the process
    already holds (redis-server is linked -rdynamic) or dlopen fails (elf.md §1.6).
    """
    return tuple(
        sorted({s.name for s in info.undefined if s.version is None and not s.weak and s.name != ONLOAD})
    )


def getkeys_flag(info: ElfInfo | None) -> bool | None:
    """Whether the binary registers a command with the getkeys-api flag (None: not known)."""
    getkeys = info.getkeys if info is not None else None
    return getkeys.flag if getkeys is not None and getkeys.complete else None


def getkeys_flag_of(path: str | os.PathLike[str]) -> bool | None:
    """getkeys_flag of the binary at `path`, read here (None when it cannot be read)."""
    try:
        return getkeys_flag(read_elf(path))
    except (ElfError, OSError):
        return None
