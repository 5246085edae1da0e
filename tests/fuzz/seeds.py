"""The seed corpus: real inputs of every kind, plus crafted hostile ELF files and zip archives.

Real seeds are the repository's own cases (tests/cases), fixtures and the shared reference
examples. Crafted ones each name the attack they carry (`shnum-0-size-huge`, `verneed-cnt-0xffff`,
`ratio-bomb`, `cd-local-name-mismatch`...) and are made by patching a real file with `struct`, so
every case stays a few kilobytes and deterministic. `elf_anchors` and `zip_anchors` list the
offset and width of every header field, for the field-aware mutation in `tests.fuzz.mutate`.
"""

from __future__ import annotations

import functools
import io
import json
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.files import patched as patch
from tests.support.paths import CASES, HELLO, ROOT, SO

REFERENCE = ROOT.parent / "shared" / "reference" / "examples"  # beside the clone, in CI too
GOOD_BUNDLE = CASES / "good" / "bundle" / "bundle.zip"

Field = tuple[int, int]  # (offset, width in bytes)

# --- text seeds ---------------------------------------------------------------------------------


def _read_all(paths: list[Path]) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted(set(paths)) if p.is_file())


@functools.cache
def module_json_seeds() -> tuple[bytes, ...]:
    """Every module.json the repository and the references hold (valid and broken)."""
    paths = list(CASES.rglob("*.json")) + list((REFERENCE / "module-json").glob("*.json"))
    return _read_all(paths)


@functools.cache
def toml_seeds() -> tuple[bytes, ...]:
    """modpack.toml cases; relative `so` paths are made absolute so the binary checks run too."""
    paths = [*CASES.rglob("*.toml"), ROOT / "fixtures" / "example" / "modpack.toml"]
    seeds = []
    for path in sorted(paths):
        text = path.read_text("utf-8")
        text = text.replace('"../so/', f'"{SO}/').replace("'../so/", f"'{SO}/")
        seeds.append(text.encode())
    seeds.append(f'[module]\nname = "hello"\n\n[build]\nso = "{HELLO}"\n'.encode())
    return tuple(seeds)


@functools.cache
def yaml_seeds() -> tuple[bytes, ...]:
    paths = [*CASES.rglob("*.yml"), *CASES.rglob("*.yaml"), *(REFERENCE / "ramp").glob("*.yml")]
    return _read_all(paths)


def nested(opening: str, closing: str, depth: int, inner: str = "1") -> str:
    return opening * depth + inner + closing * depth


def alias_bomb(levels: int, width: int = 9) -> str:
    """The YAML billion-laughs: each level lists the previous one `width` times by alias."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        items = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{items}]")
    return "\n".join(lines) + "\n"


@functools.cache
def crafted_texts() -> dict[str, dict[str, bytes]]:
    """Hostile text per kind: deep nesting (below and above the recursion limit), alias bombs."""
    json_cases = {
        f"commands-nested-{d}": ('{"module_name": "m", "commands": ' + nested("[", "]", d, "") + "}")
        for d in (150, 199, 202, 250, 400)
    }
    json_cases |= {
        "objects-nested-300": '{"module_name": ' + nested('{"a": ', "}", 300) + "}",
        "arrays-nested-100000": nested("[", "]", 100_000, ""),
        "open-arrays-100000": "[" * 100_000,
        "long-string": json.dumps({"module_name": "x" * 1_000_000}),
        "many-keys": json.dumps({f"k{i}": i for i in range(20_000)}),
        "huge-number": '{"version": 1' + "0" * 4000 + "}",
        "nan-and-infinity": '{"version": NaN, "first_key": Infinity, "commands": [-Infinity]}',
        "lone-surrogate": '{"module_name": "\\ud800", "display_name": "\\udfff"}',
    }
    toml_cases = {f"array-nested-{d}": f"[module]\nname = {nested('[', ']', d)}\n" for d in (100, 300, 2000)}
    toml_cases |= {
        "inline-table-nested-2000": "x = " + nested("{a = ", "}", 2000),
        "many-commands": "".join(f'[[commands]]\nname = "c{i}"\narity = 1\n' for i in range(3000)),
        "env-everywhere": '[module]\nname = "${HOME}${NOPE}$$${PATH}"\nsemantic_version = "${X}"\n',
        "nul-escape": '[module]\nname = "a\\u0000b"\nsemantic_version = "1.0.0\\u0000"\n',
    }
    yaml_cases = {f"alias-bomb-{n}": alias_bomb(n) for n in (3, 5, 9)}
    yaml_cases |= {
        "flow-nested-2000": "commands: " + nested("[", "]", 2000),
        "mapping-nested-2000": "a: " + nested("{b: ", "}", 2000),
        "block-nested-300": "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n",
        "merge-key-cycle": "base: &b {x: 1}\nother:\n  <<: *b\n  <<: *b\n",
        "python-tag": "module_name: !!python/object/apply:os.system ['true']\n",
        "binary-and-timestamps": "module_name: !!binary aGVsbG8=\nversion: 2001-12-14t21:59:43.10-05:00\n",
        "unhashable-key": "? [a, b]\n: c\n",
        "many-documents": "---\na: 1\n---\nb: 2\n",
    }
    return {
        "json": {k: v.encode("utf-8", "surrogatepass") for k, v in json_cases.items()},
        "toml": {k: v.encode() for k, v in toml_cases.items()},
        "yaml": {k: v.encode() for k, v in yaml_cases.items()},
    }


# --- ELF ------------------------------------------------------------------------------------------

EHDR_FIELDS: tuple[Field, ...] = (
    (4, 1), (5, 1), (6, 1), (7, 1), (16, 2), (18, 2), (20, 4), (24, 8), (32, 8), (40, 8),
    (48, 4), (52, 2), (54, 2), (56, 2), (58, 2), (60, 2), (62, 2),
)  # fmt: skip
SHDR_FIELDS: tuple[Field, ...] = (
    (0, 4),
    (4, 4),
    (8, 8),
    (16, 8),
    (24, 8),
    (32, 8),
    (40, 4),
    (44, 4),
    (48, 8),
    (56, 8),
)
PHDR_FIELDS: tuple[Field, ...] = ((0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8))
SHT_DYNSYM, SHT_DYNAMIC, SHT_VERNEED, SHT_NOTE = 11, 6, 0x6FFFFFFE, 7


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    header: int  # file offset of its section header
    offset: int
    size: int


@dataclass(frozen=True)
class ElfMap:
    """Where the tables of a 64-bit little-endian ELF file are (what crafting needs to patch)."""

    phoff: int
    phnum: int
    shoff: int
    shnum: int
    sections: dict[str, Section]


def elf_map(data: bytes) -> ElfMap | None:
    """The layout of a well-formed 64-bit LE ELF file; None for anything else (never raises)."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff, shoff = struct.unpack_from("<QQ", data, 32)
    phnum, _shentsize, shnum, shstrndx = struct.unpack_from("<HHHH", data, 56)
    if shoff + shnum * 64 > len(data) or not 0 < shstrndx < shnum:
        return None
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
    names_at, names_size = headers[shstrndx][4], headers[shstrndx][5]
    names = data[names_at : names_at + names_size]
    sections = {}
    for index, (name, kind, _f, _a, offset, size, *_rest) in enumerate(headers):
        label = names[name : names.find(b"\0", name)].decode("ascii", "replace") or f"#{index}"
        sections[label] = Section(index, label, kind, shoff + 64 * index, offset, size)
    return ElfMap(phoff, phnum, shoff, shnum, sections)


def elf_anchors(data: bytes) -> tuple[Field, ...]:
    """Every header, table-entry and record field of an ELF file (the header's alone if unmapped)."""
    layout = elf_map(data)
    fields = list(EHDR_FIELDS)
    if layout is None:
        return tuple(fields)
    fields += [(layout.phoff + 56 * i + f, w) for i in range(layout.phnum) for f, w in PHDR_FIELDS]
    fields += [(layout.shoff + 64 * i + f, w) for i in range(layout.shnum) for f, w in SHDR_FIELDS]
    for section in layout.sections.values():
        if section.offset + section.size <= len(data):
            fields += _table_fields(section)
    return tuple((o, w) for o, w in fields if o + w <= len(data))


def _table_fields(section: Section) -> list[Field]:
    start, count = section.offset, min(section.size, 1 << 16)
    if section.type == SHT_DYNAMIC:
        return [(start + at + f, 8) for at in range(0, count, 16) for f in (0, 8)]
    if section.type == SHT_DYNSYM:
        return [
            (start + at + f, w) for at in range(0, count, 24) for f, w in ((0, 4), (4, 1), (5, 1), (6, 2))
        ]
    if section.type == SHT_VERNEED:  # Elf64_Verneed and Elf64_Vernaux are both 16 bytes
        return [
            (start + at + f, w) for at in range(0, count, 16) for f, w in ((2, 2), (4, 4), (8, 4), (12, 4))
        ]
    if section.type == SHT_NOTE:
        return [(start, 4), (start + 4, 4), (start + 8, 4)]
    return []


def _elf_cases(base: bytes) -> dict[str, Callable[[ElfMap], bytes]]:
    """Crafted attacks on one real module, each a patch of its own layout."""

    def sec(layout: ElfMap, name: str) -> Section:
        return layout.sections[name]

    def shdr(layout: ElfMap, name: str, field: int, fmt: str, value: int) -> bytes:
        return patch(base, sec(layout, name).header + field, fmt, value)

    def verneed(layout: ElfMap, at: int, fmt: str, value: int) -> bytes:
        return patch(base, sec(layout, ".gnu.version_r").offset + at, fmt, value)

    def no_dt_null(layout: ElfMap) -> bytes:
        dynamic, out = sec(layout, ".dynamic"), base
        for at in range(dynamic.offset, dynamic.offset + dynamic.size, 16):
            if struct.unpack_from("<q", out, at)[0] == 0:
                out = patch(out, at, "qQ", 1, 1)
        return out

    def every(layout: ElfMap, name: str, step: int, field: int, fmt: str, *values: int) -> bytes:
        section, out = sec(layout, name), base
        for at in range(section.offset, section.offset + section.size - step + 1, step):
            out = patch(out, at + field, fmt, *values)
        return out

    return {
        "phnum-0xffff": lambda m: patch(base, 56, "H", 0xFFFF),
        "phnum-257": lambda m: patch(base, 56, "H", 257),
        "shnum-0xffff": lambda m: patch(base, 60, "H", 0xFFFF),
        "shnum-4097": lambda m: patch(base, 60, "H", 4097),
        "shnum-0-size-huge": lambda m: patch(patch(base, 60, "H", 0), m.shoff + 32, "Q", 1_500_000),
        "shnum-0-size-2e63": lambda m: patch(patch(base, 60, "H", 0), m.shoff + 32, "Q", 2**63),
        "shnum-0-size-0": lambda m: patch(base, 60, "H", 0),
        "shnum-0-size-real": lambda m: patch(patch(base, 60, "H", 0), m.shoff + 32, "Q", m.shnum),
        "shstrndx-xindex-link-huge": lambda m: patch(
            patch(base, 62, "H", 0xFFFF), m.shoff + 40, "I", 2**32 - 1
        ),
        "shstrndx-out-of-range": lambda m: patch(base, 62, "H", 1000),
        "shstrndx-is-dynsym": lambda m: patch(base, 62, "H", sec(m, ".dynsym").index),
        "shoff-over-program-headers": lambda m: patch(base, 40, "Q", m.phoff),
        "phoff-over-section-headers": lambda m: patch(base, 32, "Q", m.shoff),
        "phoff-huge": lambda m: patch(base, 32, "Q", 2**64 - 8),
        "shoff-huge": lambda m: patch(base, 40, "Q", 2**64 - 64),
        "dynsym-over-section-table": lambda m: patch(
            patch(base, sec(m, ".dynsym").header + 24, "Q", m.shoff),
            sec(m, ".dynsym").header + 32,
            "Q",
            64 * m.shnum,
        ),
        "dynamic-over-dynsym": lambda m: patch(
            patch(base, sec(m, ".dynamic").header + 24, "Q", sec(m, ".dynsym").offset),
            sec(m, ".dynamic").header + 32,
            "Q",
            sec(m, ".dynsym").size,
        ),
        "dynsym-links-itself": lambda m: shdr(m, ".dynsym", 40, "I", sec(m, ".dynsym").index),
        "dynsym-links-dynamic": lambda m: shdr(m, ".dynsym", 40, "I", sec(m, ".dynamic").index),
        "dynsym-size-huge": lambda m: shdr(m, ".dynsym", 32, "Q", 2**63),
        "dynsym-offset-huge": lambda m: shdr(m, ".dynsym", 24, "Q", 2**64 - 8),
        "dynsym-size-odd": lambda m: shdr(m, ".dynsym", 32, "Q", sec(m, ".dynsym").size + 1),
        "dynsym-names-huge": lambda m: every(m, ".dynsym", 24, 0, "I", 2**32 - 1),
        "dynsym-shndx-xindex": lambda m: every(m, ".dynsym", 24, 6, "H", 0xFFFF),
        "versym-size-odd": lambda m: shdr(m, ".gnu.version", 32, "Q", sec(m, ".gnu.version").size - 1),
        "dynstr-compressed": lambda m: shdr(m, ".dynstr", 8, "Q", 0x802),
        "dynstr-without-final-nul": lambda m: patch(
            base, sec(m, ".dynstr").offset + sec(m, ".dynstr").size - 1, "B", 65
        ),
        "dynamic-no-dt-null": no_dt_null,
        "dynamic-needed-offsets-huge": lambda m: every(m, ".dynamic", 16, 0, "qQ", 1, 2**63),
        "dynamic-tags-negative": lambda m: every(m, ".dynamic", 16, 0, "q", -1),
        "dynamic-nobits": lambda m: shdr(m, ".dynamic", 4, "I", 8),
        "two-dynamic-sections": lambda m: shdr(m, ".got", 4, "I", SHT_DYNAMIC),
        "verneed-info-255-next-0": lambda m: shdr(m, ".gnu.version_r", 44, "I", 255),
        "verneed-info-0xffff": lambda m: shdr(m, ".gnu.version_r", 44, "I", 0xFFFF),
        "verneed-info-0": lambda m: shdr(m, ".gnu.version_r", 44, "I", 0),
        "verneed-cnt-0xffff": lambda m: verneed(m, 2, "H", 0xFFFF),
        "verneed-cnt-2-aux-next-0": lambda m: verneed(m, 2, "H", 2),
        "verneed-next-wraps-back": lambda m: patch(
            patch(base, sec(m, ".gnu.version_r").header + 44, "I", 2),
            sec(m, ".gnu.version_r").offset + 12,
            "I",
            2**32 - 16,
        ),
        "verneed-next-itself-16": lambda m: patch(
            patch(base, sec(m, ".gnu.version_r").header + 44, "I", 3),
            sec(m, ".gnu.version_r").offset + 12,
            "I",
            16,
        ),
        "verneed-aux-0-overlaps-itself": lambda m: verneed(m, 8, "I", 0),
        "verneed-aux-huge": lambda m: verneed(m, 8, "I", 2**32 - 1),
        "vernaux-next-wraps-back": lambda m: patch(
            verneed(m, 2, "H", 3), sec(m, ".gnu.version_r").offset + 28, "I", 2**32 - 16
        ),
        "verneed-file-offset-huge": lambda m: verneed(m, 4, "I", 2**32 - 1),
        "vernaux-name-offset-huge": lambda m: verneed(m, 24, "I", 2**32 - 1),
        "verneed-links-dynsym": lambda m: shdr(m, ".gnu.version_r", 40, "I", sec(m, ".dynsym").index),
        "note-namesz-huge": lambda m: patch(base, sec(m, ".note.gnu.build-id").offset, "I", 2**32 - 1),
        "note-descsz-huge": lambda m: patch(base, sec(m, ".note.gnu.build-id").offset + 4, "I", 2**32 - 4),
        "segment-filesz-huge": lambda m: patch(base, m.phoff + 32, "Q", 2**63),
        "segment-offset-huge": lambda m: patch(base, m.phoff + 8, "Q", 2**64 - 1),
        "interp-from-note-segment": lambda m: patch(base, m.phoff + 56 * 5, "I", 3),
        "phentsize-0": lambda m: patch(base, 54, "H", 0),
        "shentsize-0": lambda m: patch(base, 58, "H", 0),
        "shentsize-40": lambda m: patch(base, 58, "H", 40),
        "class-32-on-64": lambda m: patch(base, 4, "B", 1),
        "big-endian-flag": lambda m: patch(base, 5, "B", 2),
        "type-exec": lambda m: patch(base, 16, "H", 2),
        "machine-unknown": lambda m: patch(base, 18, "H", 0xBEEF),
        "all-sections-one-range": lambda m: _all_sections_at(base, m),
        "symtab-size-huge": lambda m: shdr(m, ".symtab", 32, "Q", 2**40),
        "symtab-links-itself": lambda m: shdr(m, ".symtab", 40, "I", sec(m, ".symtab").index),
        "bss-nobits-huge": lambda m: shdr(m, ".bss", 32, "Q", 2**63),
    }


def _all_sections_at(base: bytes, layout: ElfMap) -> bytes:
    dynsym = layout.sections[".dynsym"]
    out = base
    for section in layout.sections.values():
        if section.index:
            out = patch(out, section.header + 24, "QQ", dynsym.offset, dynsym.size)
    return out


def _truncations(base: bytes, layout: ElfMap) -> dict[str, bytes]:
    cuts = {"header-40": 40, "header-63": 63, "section-table-half": layout.shoff + 32}
    for name in (".dynsym", ".dynstr", ".gnu.version_r", ".dynamic"):
        cuts[f"inside{name.replace('.', '-')}"] = layout.sections[name].offset + 3
    return {f"truncated-{label}": base[:cut] for label, cut in cuts.items()}


@functools.cache
def crafted_elves() -> dict[str, bytes]:
    """Crafted hostile ELF files, from x86_64 hello.so (the catalogue) and two other modules."""
    found: dict[str, bytes] = {}
    for path in (HELLO, SO / "x86_64" / "cxx_module.so", SO / "aarch64" / "hello.so"):
        if not path.is_file():
            continue
        base = path.read_bytes()
        layout = elf_map(base)
        if layout is None:
            continue
        label = f"{path.parent.name}-{path.stem}"
        for name, make in _elf_cases(base).items():
            try:
                found[f"{label}:{name}"] = make(layout)
            except KeyError:  # a section this module does not have
                continue
        found |= {f"{label}:{k}": v for k, v in _truncations(base, layout).items()}
    return found


@functools.cache
def elf_seeds() -> tuple[bytes, ...]:
    """The fixture modules (every architecture and oddity the repository ships)."""
    return _read_all(list(SO.glob("*/*.so")))


# --- zip ------------------------------------------------------------------------------------------

LOCAL_FIELDS: tuple[Field, ...] = ((4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2))
CENTRAL_FIELDS: tuple[Field, ...] = (
    (6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (34, 2), (38, 4), (42, 4),
)  # fmt: skip
EOCD_FIELDS: tuple[Field, ...] = ((4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2))
ZIP64_EOCD_FIELDS: tuple[Field, ...] = ((4, 8), (16, 4), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8))
ZIP64_LOCATOR_FIELDS: tuple[Field, ...] = ((4, 4), (8, 8), (16, 4))
_SIGNATURES = {
    b"PK\x03\x04": LOCAL_FIELDS,
    b"PK\x01\x02": CENTRAL_FIELDS,
    b"PK\x05\x06": EOCD_FIELDS,
    b"PK\x06\x06": ZIP64_EOCD_FIELDS,
    b"PK\x06\x07": ZIP64_LOCATOR_FIELDS,
}


def signatures(data: bytes, signature: bytes) -> list[int]:
    found, at = [], data.find(signature)
    while at >= 0:
        found.append(at)
        at = data.find(signature, at + 1)
    return found


def zip_anchors(data: bytes) -> tuple[Field, ...]:
    """Every field of every local header, central header and end record found in the bytes."""
    fields = [
        (at + offset, width)
        for signature, layout in _SIGNATURES.items()
        for at in signatures(data, signature)
        for offset, width in layout
    ]
    return tuple((o, w) for o, w in fields if o + w <= len(data))


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes
    mode: int = stat.S_IFREG | 0o644
    method: int = zipfile.ZIP_DEFLATED


def make_zip(entries: list[Entry], *, force_zip64: bool = False, comment: bytes = b"") -> bytes:
    """A zip of these entries as zipfile writes it (duplicate names allowed)."""
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names: here they are the point
        with zipfile.ZipFile(out, "w") as archive:
            for entry in entries:
                info = zipfile.ZipInfo(entry.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = entry.mode << 16
                info.compress_type = entry.method
                with archive.open(info, "w", force_zip64=force_zip64) as target:
                    target.write(entry.data)
            archive.comment = comment
    return out.getvalue()


@functools.cache
def _good_parts() -> tuple[bytes, bytes]:
    with zipfile.ZipFile(GOOD_BUNDLE) as archive:
        return archive.read("module.json"), archive.read("hello.so")


def good_bundle(so: bytes | None = None, name: str = "hello.so") -> bytes:
    """The good bundle's module.json with `so` (hello.so by default) as the module file."""
    module, hello = _good_parts()
    return make_zip([Entry("module.json", module), Entry(name, hello if so is None else so, 0o100755)])


def zip_seeds() -> tuple[bytes, ...]:
    return _read_all(list(CASES.rglob("*.zip")))


@functools.cache
def _zeros_deflated(size: int) -> bytes:
    return zlib.compress(bytes(size), 9)[2:-4]  # raw deflate, as a zip entry holds it


def _with_stream(size: int, name: str = "hello.so") -> bytes:
    """A bundle whose `name` entry is `size` zero bytes deflated: a bomb by ratio when large."""
    module, _ = _good_parts()
    stream = _zeros_deflated(size)
    head = make_zip([Entry("module.json", module), Entry(name, b"", 0o100755)])
    layout = zipfile.ZipFile(io.BytesIO(head)).infolist()[1]
    return _replace_entry_data(head, layout, stream, crc=zlib.crc32(bytes(size)), size=size)


def _replace_entry_data(data: bytes, info: zipfile.ZipInfo, stream: bytes, *, crc: int, size: int) -> bytes:
    """Swap one entry's compressed bytes for `stream`, fixing sizes and offsets (last entry only)."""
    local = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_len + extra_len
    end = start + info.compress_size
    out = bytearray(data[:start] + stream + data[end:])
    grow = len(stream) - info.compress_size
    struct.pack_into("<III", out, local + 14, crc, len(stream), size)
    for at in signatures(bytes(out), b"PK\x01\x02"):
        if struct.unpack_from("<I", out, at + 42)[0] == local:
            struct.pack_into("<III", out, at + 16, crc, len(stream), size)
    eocd = bytes(out).rfind(b"PK\x05\x06")
    struct.pack_into("<I", out, eocd + 16, struct.unpack_from("<I", out, eocd + 16)[0] + grow)
    return bytes(out)


def _central(data: bytes, index: int) -> int:
    return signatures(data, b"PK\x01\x02")[index]


def _local(data: bytes, index: int) -> int:
    return signatures(data, b"PK\x03\x04")[index]


def _patch_both(data: bytes, index: int, central: int, local: int, fmt: str, value: int) -> bytes:
    """The same field in an entry's central and local header (offsets within each)."""
    return patch(
        patch(data, _central(data, index) + central, fmt, value), _local(data, index) + local, fmt, value
    )


def _zip64_count_bomb(base: bytes) -> bytes:
    """An EOCD saying 0xFFFF, with a zip64 record (and locator) claiming 2**40 entries."""
    eocd = base.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", base, eocd + 12)
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 2**40, 2**40, cd_size, cd_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    tail = patch(base[eocd:], 8, "HH", 0xFFFF, 0xFFFF)
    return base[:eocd] + record + locator + tail


def _streamed(entries: list[Entry]) -> bytes:
    """Written to a non-seekable stream: data descriptors after each entry (flag bit 3)."""

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.chunks.append(bytes(data))
            return len(data)

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for entry in entries:
            archive.writestr(entry.name, entry.data)
    return b"".join(pipe.chunks)


@functools.cache
def crafted_zips() -> dict[str, bytes]:
    """Crafted hostile archives, each named after its attack."""
    module, hello = _good_parts()
    base = good_bundle()
    link = stat.S_IFLNK | 0o777
    many = [Entry("module.json", module), Entry("hello.so", hello, 0o100755)]
    cases = {
        "good": base,
        "ratio-bomb-so": _with_stream(64 << 20),
        "ratio-bomb-dependency": _with_stream(64 << 20, "deps/bomb.tgz"),
        "ratio-just-under-floor": _with_stream((32 << 20) - 1),
        "count-bomb-eocd-0xffff": patch(base, base.rfind(b"PK\x05\x06") + 8, "HH", 0xFFFF, 0xFFFF),
        "count-bomb-zip64": _zip64_count_bomb(base),
        "count-1001-entries": make_zip(many + [Entry(f"deps/d{i}", b"") for i in range(999)]),
        "count-1000-entries": make_zip(many + [Entry(f"deps/d{i}", b"") for i in range(998)]),
        "name-dotdot": good_bundle(name="../hello.so"),
        "name-absolute": good_bundle(name="/tmp/hello.so"),
        "name-drive": good_bundle(name="C:/hello.so"),
        "name-backslash": good_bundle(name="..\\..\\hello.so"),
        "name-dotdot-in-deps": make_zip([*many, Entry("deps/../../evil.tgz", b"x")]),
        "name-empty": make_zip([*many, Entry("", b"x")]),
        "name-long": make_zip([*many, Entry("deps/" + "n" * 60_000, b"x")]),
        "symlink-so": make_zip([Entry("module.json", module), Entry("hello.so", b"/etc/passwd", link)]),
        "symlink-module-json": make_zip([Entry("module.json", b"/etc/passwd", link), many[1]]),
        "duplicate-module-json": make_zip([*many, Entry("module.json", b"{}")]),
        "duplicate-so": make_zip([*many, Entry("hello.so", b"\x7fELF", 0o100755)]),
        "zip64-forced": make_zip(many, force_zip64=True),
        "method-bzip2": make_zip([many[0], Entry("hello.so", hello, 0o100755, zipfile.ZIP_BZIP2)]),
        "method-lzma": make_zip([many[0], Entry("hello.so", hello, 0o100755, zipfile.ZIP_LZMA)]),
        "method-99": _patch_both(base, 1, 10, 8, "H", 99),
        "method-stored-says-deflated": _patch_both(
            make_zip([many[0], Entry("hello.so", hello, 0o100755, 0)]), 1, 10, 8, "H", 8
        ),
        "encrypted-so": _patch_both(base, 1, 8, 6, "H", 1),
        "encrypted-module-json": _patch_both(base, 0, 8, 6, "H", 1),
        "cd-local-name-mismatch": patch(base, _local(base, 1) + 30, "B", ord("j")),
        "cd-local-size-mismatch": patch(base, _local(base, 1) + 18, "I", 7),
        "cd-size-says-larger": patch(base, _central(base, 1) + 24, "I", 2**31),
        "cd-size-says-smaller": patch(base, _central(base, 1) + 24, "I", 10),
        "cd-compressed-size-huge": patch(base, _central(base, 1) + 20, "I", 2**32 - 1),
        "cd-crc-wrong": patch(base, _central(base, 1) + 16, "I", 0xDEADBEEF),
        "cd-offset-into-data": patch(base, _central(base, 1) + 42, "I", _local(base, 1) + 40),
        "cd-two-entries-one-header": patch(base, _central(base, 1) + 42, "I", 0),
        "cd-offset-past-eof": patch(base, _central(base, 1) + 42, "I", 2**32 - 2),
        "cd-name-length-huge": patch(base, _central(base, 1) + 28, "H", 0xFFFF),
        "cd-extra-length-odd": patch(base, _central(base, 0) + 30, "H", 3),
        "eocd-cd-offset-past-eof": patch(base, base.rfind(b"PK\x05\x06") + 16, "I", 2**32 - 1),
        "eocd-cd-size-huge": patch(base, base.rfind(b"PK\x05\x06") + 12, "I", 2**32 - 1),
        "eocd-comment-length-lies": patch(base, base.rfind(b"PK\x05\x06") + 20, "H", 0xFFFF),
        "comment-with-fake-eocd": make_zip(many, comment=(b"PK\x05\x06" + bytes(18)) * 3000),
        "data-descriptors": _streamed(many),
        "prefixed-junk": b"#!/bin/sh\nexit 0\n" * 100 + base,
        "appended-junk": base + b"\0" * 1000,
        "empty-archive": make_zip([]),
        "eocd-only-cut": base[base.rfind(b"PK\x05\x06") : -5],
        "so-not-elf": good_bundle(b"just text\n"),
        "so-empty": good_bundle(b""),
        "so-truncated-elf": good_bundle(hello[:700]),
        "module-json-not-utf8": make_zip([Entry("module.json", b"\xff\xfe{}"), many[1]]),
    }
    cases |= {f"so-{name}": good_bundle(data) for name, data in list(crafted_elves().items())[:40:3]}
    return cases
