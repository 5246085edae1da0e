"""Hand-made ELF files for the ELF tests, written with `struct` (no third-party binaries).

`build()` lays out a small but complete 64-bit shared object: program headers (PT_LOAD,
PT_DYNAMIC, optional PT_INTERP and PT_GNU_STACK), `.dynstr`, `.dynsym`, `.gnu.version`,
`.gnu.version_r`, `.dynamic`, a build-id note, optional `.rela.dyn` (relocations against
`.dynsym`) and `.rodata`, optional `.symtab`/`.strtab`, `.shstrtab` and the
section header table. Every field the reader looks at can be chosen, so each case states
exactly what it exercises; `Layout` tells where each table landed, for targeted corruption.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EHDR, PHDR, SHDR, SYM = 64, 56, 64, 24
FUNC, OBJECT, NOTYPE = 2, 1, 0
LOCAL, GLOBAL, WEAK = 0, 1, 2
DEFAULT, HIDDEN = 0, 2
EM_X86_64, EM_AARCH64, EM_RISCV = 62, 183, 243
ET_REL, ET_EXEC, ET_DYN = 1, 2, 3


@dataclass(frozen=True)
class Sym:
    name: str
    defined: bool = True
    type: int = FUNC
    bind: int = GLOBAL
    visibility: int = DEFAULT
    version: str | None = None  # a name from `verneed` (undefined symbols)


@dataclass
class Layout:
    """Where build() put things: section name -> (header index, offset, size)."""

    sections: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    shoff: int = 0
    phoff: int = EHDR


@dataclass
class Spec:
    machine: int = EM_X86_64
    e_type: int = ET_DYN
    osabi: int = 0
    little: bool = True
    needed: tuple[str, ...] = ("libc.so.6",)
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    flags: int = 0
    flags_1: int = 0
    textrel: bool = False
    symbols: tuple[Sym, ...] = (Sym("RedisModule_OnLoad"),)
    verneed: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"libc.so.6": ("GLIBC_2.2.5",)})
    stack_flags: int | None = 6  # PF_R|PF_W; None: no PT_GNU_STACK
    interp: str | None = None
    dt_null: bool = True
    static_symbols: tuple[Sym, ...] | None = None  # a .symtab, as in an unstripped file
    # R_X86_64_GLOB_DAT relocations in .rela.dyn, against these symbols (a name from `symbols`,
    # or a raw .dynsym index)
    relocations: tuple[str | int, ...] = ()
    rodata: bytes | None = None  # a read-only data section (string literals)
    build_id: bytes = bytes(range(20))


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.seen: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        if text not in self.seen:
            self.seen[text] = len(self.data)
            self.data += text.encode() + b"\0"
        return self.seen[text]


def build(spec: Spec | None = None) -> tuple[bytes, Layout]:
    spec = spec or Spec()
    e = "<" if spec.little else ">"
    dynstr = _Strings()
    version_index = _version_indexes(spec.verneed)
    dynsym = _symbols(e, spec.symbols, dynstr)
    versym = struct.pack(e + "H", 0) + b"".join(
        struct.pack(e + "H", version_index.get(s.version, 1) if s.version else 1) for s in spec.symbols
    )
    verneed = _verneed(e, spec.verneed, version_index, dynstr)
    dynamic = _dynamic(e, spec, dynstr, len(spec.verneed))
    note = struct.pack(e + "III", 4, len(spec.build_id), 3) + b"GNU\0" + spec.build_id
    parts: list[tuple[str, int, bytes, int, int]] = []  # name, type, data, link, info
    if spec.interp is not None:
        parts.append((".interp", 1, spec.interp.encode() + b"\0", 0, 0))
    parts += [
        (".dynstr", 3, bytes(dynstr.data), 0, 0),
        (".dynsym", 11, dynsym, -1, 1),  # -1: link to .dynstr
        (".gnu.version", 0x6FFFFFFF, versym, -2, 0),  # -2: link to .dynsym
        (".gnu.version_r", 0x6FFFFFFE, verneed, -1, len(spec.verneed)),
        (".dynamic", 6, dynamic, -1, 0),
        (".note.gnu.build-id", 7, note, 0, 0),
    ]
    if spec.relocations:
        parts.append((".rela.dyn", 4, _relocations(e, spec), -2, 0))  # -2: link to .dynsym
    if spec.rodata is not None:
        parts.append((".rodata", 1, spec.rodata, 0, 0))
    if spec.static_symbols is not None:
        strtab = _Strings()
        parts.append((".symtab", 2, _symbols(e, spec.static_symbols, strtab), -3, 1))  # -3: .strtab
        parts.append((".strtab", 3, bytes(strtab.data), 0, 0))
    return _assemble(e, spec, parts)


R_X86_64_GLOB_DAT = 6


def _relocations(e: str, spec: Spec) -> bytes:
    index = {sym.name: position for position, sym in enumerate(spec.symbols, start=1)}
    out = bytearray()
    for offset, target in enumerate(spec.relocations):
        symbol = target if isinstance(target, int) else index[target]
        out += struct.pack(e + "QQq", 0x3000 + 8 * offset, (symbol << 32) | R_X86_64_GLOB_DAT, 0)
    return bytes(out)


def _version_indexes(verneed: dict[str, tuple[str, ...]]) -> dict[str, int]:
    names = [name for versions in verneed.values() for name in versions]
    return {name: index for index, name in enumerate(names, start=2)}


def _symbols(e: str, symbols: tuple[Sym, ...], strings: _Strings) -> bytes:
    out = bytearray(SYM)  # symbol 0 is null
    for sym in symbols:
        info = (sym.bind << 4) | sym.type
        shndx = 1 if sym.defined else 0
        out += struct.pack(
            e + "IBBHQQ", strings.add(sym.name), info, sym.visibility, shndx, 0x1000 if sym.defined else 0, 16
        )
    return bytes(out)


def _verneed(e: str, verneed: dict[str, tuple[str, ...]], index: dict[str, int], strings: _Strings) -> bytes:
    out = bytearray()
    libraries = list(verneed.items())
    for position, (library, versions) in enumerate(libraries):
        last = position == len(libraries) - 1
        size = 16 + 16 * len(versions)
        out += struct.pack(e + "HHIII", 1, len(versions), strings.add(library), 16, 0 if last else size)
        for n, name in enumerate(versions):
            nxt = 0 if n == len(versions) - 1 else 16
            out += struct.pack(e + "IHHII", 0, 0, index[name], strings.add(name), nxt)
    return bytes(out)


def _dynamic(e: str, spec: Spec, strings: _Strings, verneed_count: int) -> bytes:
    tags: list[tuple[int, int]] = [(1, strings.add(name)) for name in spec.needed]
    if spec.soname:
        tags.append((14, strings.add(spec.soname)))
    if spec.rpath is not None:
        tags.append((15, strings.add(spec.rpath)))
    if spec.runpath is not None:
        tags.append((29, strings.add(spec.runpath)))
    if spec.textrel:
        tags.append((22, 0))
    if spec.flags:
        tags.append((30, spec.flags))
    if spec.flags_1:
        tags.append((0x6FFFFFFB, spec.flags_1))
    if verneed_count:
        tags.append((0x6FFFFFFF, verneed_count))  # DT_VERNEEDNUM
    if spec.dt_null:
        tags.append((0, 0))
    return b"".join(struct.pack(e + "qQ", tag, value) for tag, value in tags)


def _assemble(e: str, spec: Spec, parts: list[tuple[str, int, bytes, int, int]]) -> tuple[bytes, Layout]:
    layout = Layout()
    phnum = 2 + (spec.stack_flags is not None) + (spec.interp is not None)
    start = EHDR + phnum * PHDR
    body = bytearray()

    def place(data: bytes) -> int:
        body.extend(bytes(-(start + len(body)) % 8))
        offset = start + len(body)
        body.extend(data)
        return offset

    shstr = _Strings()
    names = [p[0] for p in parts]
    for name in [*names, ".shstrtab"]:
        shstr.add(name)
    index_of = {name: i for i, name in enumerate(names, start=1)}
    headers = bytearray(SHDR)  # section 0
    for index, (name, kind, data, link, info) in enumerate(parts, start=1):
        offset = place(data)
        link_to = {-1: ".dynstr", -2: ".dynsym", -3: ".strtab"}.get(link)
        entsize = {11: SYM, 2: SYM, 6: 16, 4: 24, 0x6FFFFFFF: 2}.get(kind, 0)
        headers += struct.pack(
            e + "IIQQQQIIQQ",
            shstr.add(name),
            kind,
            2,
            offset,
            offset,
            len(data),
            index_of[link_to] if link_to else link,
            info,
            8,
            entsize,
        )
        layout.sections[name] = (index, offset, len(data))
    shstrtab = bytes(shstr.data)
    shstr_offset = place(shstrtab)
    headers += struct.pack(
        e + "IIQQQQIIQQ", shstr.add(".shstrtab"), 3, 0, 0, shstr_offset, len(shstrtab), 0, 0, 1, 0
    )
    layout.sections[".shstrtab"] = (len(parts) + 1, shstr_offset, len(shstrtab))
    layout.shoff = place(b"")
    shnum = len(parts) + 2
    total = layout.shoff + len(headers)
    dyn = layout.sections[".dynamic"]
    phdrs = struct.pack(e + "IIQQQQQQ", 1, 5, 0, 0, 0, total, total, 0x1000)
    phdrs += struct.pack(e + "IIQQQQQQ", 2, 6, dyn[1], dyn[1], dyn[1], dyn[2], dyn[2], 8)
    if spec.interp is not None:
        interp = layout.sections[".interp"]
        phdrs += struct.pack(e + "IIQQQQQQ", 3, 4, interp[1], interp[1], interp[1], interp[2], interp[2], 1)
    if spec.stack_flags is not None:
        phdrs += struct.pack(e + "IIQQQQQQ", 0x6474E551, spec.stack_flags, 0, 0, 0, 0, 0, 16)
    ident = b"\x7fELF" + bytes([2, 1 if spec.little else 2, 1, spec.osabi]) + bytes(8)
    header = ident + struct.pack(
        e + "HHIQQQIHHHHHH",
        spec.e_type,
        spec.machine,
        1,
        0,
        EHDR,
        layout.shoff,
        0,
        EHDR,
        PHDR,
        phnum,
        SHDR,
        shnum,
        shnum - 1,
    )
    return header + phdrs + bytes(body) + bytes(headers), layout


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to
