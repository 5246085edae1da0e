"""The byte ranges the bundle reader keeps of a streamed .so are the ones the ELF really has.

bundle.stream_binary keeps the head and the tail of a bundled .so, the program and section
header tables (`_table_ranges`, from the ELF header) and, in a second pass, the small sections
an ELF reader may read (`_needed_ranges`, from the kept section table). A wrong range there is
usually hidden because the head and tail cover ordinary layouts; these tests pin the ranges
themselves against pyelftools' reading of the same real files, and at the budgets' edges.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from modpack import bundle, elf
from tests.support.paths import SO
from tests.support.tools import require

# Every well-formed 64-bit fixture (elf32.so, truncated.so and text.so are other tests' bad inputs).
REAL = [*sorted((SO / "x86_64").glob("*.so")), SO / "aarch64" / "hello.so"]
REAL = [p for p in REAL if p.name not in ("elf32.so", "truncated.so", "text.so")]
TABLE_TYPES = {"SHT_SYMTAB", "SHT_STRTAB", "SHT_DYNSYM", "SHT_GNU_verneed", "SHT_GNU_versym"}


# The bundle reader's memory promise: a small section is at most 8 MiB, a symbol or string table
# at most what modpack's ELF reader accepts (elf.MAX_SYMBOL_TABLE), all of them 96 MiB at most.
# Stated here as figures, so a change of a budget is a visible decision, not a silent one.
SECTION_BUDGET = 8 << 20
TOTAL_BUDGET = 96 << 20


def _grown(tmp_path: Path, pad: int) -> Path:
    """hello.so with a non-alloc section of `pad` bytes added (the way debug data grows it)."""
    require(shutil.which("objcopy") is not None, "objcopy (binutils) is not installed")
    blob = tmp_path / "pad.bin"
    blob.write_bytes(bytes(range(251)) * (pad // 251) + bytes(pad % 251))
    out = tmp_path / "grown.so"
    base = SO / "x86_64" / "hello.so"
    # read-only loaded data (SHF_ALLOC), the kind of PROGBITS the ELF reader reads
    flags = ["--set-section-flags", ".pad=alloc,readonly"]
    subprocess.run(["objcopy", "--add-section", f".pad={blob}", *flags, str(base), str(out)], check=True)
    return out


def _truth(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(the two header tables, the small sections) of a file, as pyelftools reads them."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        reader = ELFFile(stream)
        h = reader.header
        tables = [
            (h.e_phoff, h.e_phoff + h.e_phentsize * h.e_phnum),
            (h.e_shoff, h.e_shoff + h.e_shentsize * h.e_shnum),
        ]
        sections = []
        for section in reader.iter_sections():
            kind, offset, length = section["sh_type"], section["sh_offset"], section["sh_size"]
            limit = elf.MAX_SYMBOL_TABLE if kind in TABLE_TYPES else SECTION_BUDGET
            if kind == "SHT_NOBITS" or length == 0 or length > limit:
                continue
            flags = section["sh_flags"] & (elf.SHF_WRITE | elf.SHF_ALLOC | elf.SHF_EXECINSTR)
            if kind == "SHT_PROGBITS" and flags != elf.SHF_ALLOC:
                continue  # code, writable or unloaded data: the ELF reader reads none of them
            sections.append((offset, min(offset + length + bundle.CSTRING_CHUNK, size)))
    return tables, sections


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_table_ranges_are_the_header_tables_pyelftools_reads(path: Path) -> None:
    data = path.read_bytes()
    tables, _sections = _truth(path)
    assert bundle._table_ranges(data[:64], len(data)) == tables
    assert all(0 < a < b <= len(data) for a, b in tables)


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_needed_ranges_are_the_tables_and_every_small_section(path: Path) -> None:
    data = path.read_bytes()
    tables, sections = _truth(path)
    assert sections, "a real module has small sections"
    assert bundle._needed_ranges({0: data}, len(data)) == tables + sections


def test_a_grown_module_keeps_the_tables_at_its_end_and_not_the_large_section(tmp_path: Path) -> None:
    grown = _grown(tmp_path, SECTION_BUDGET + 1)
    data = grown.read_bytes()
    size = len(data)
    tables, sections = _truth(grown)
    # objcopy writes the section header table last: it ends at the very last byte of the file.
    assert tables[1][1] == size
    head = {0: data[: bundle.HEAD_KEEP], size - bundle.TAIL_KEEP: data[-bundle.TAIL_KEEP :]}
    needed = bundle._needed_ranges(head, size)
    assert needed == tables + sections
    with grown.open("rb") as stream:
        pad = ELFFile(stream).get_section_by_name(".pad")
        start, length = pad["sh_offset"], pad["sh_size"]
    assert length == SECTION_BUDGET + 1
    # only the 64-byte name reads of the sections before it reach into it
    assert all(b <= start + bundle.CSTRING_CHUNK or a >= start + length for a, b in needed)


def test_a_section_of_exactly_the_budget_is_kept(tmp_path: Path) -> None:
    grown = _grown(tmp_path, SECTION_BUDGET)
    data = grown.read_bytes()
    with grown.open("rb") as stream:
        pad = ELFFile(stream).get_section_by_name(".pad")
        start, length = pad["sh_offset"], pad["sh_size"]
    assert length == SECTION_BUDGET
    needed = bundle._needed_ranges({0: data}, len(data))
    assert (start, min(start + length + bundle.CSTRING_CHUNK, len(data))) in needed


def test_a_bundled_module_keeps_every_needed_range(tmp_path: Path) -> None:
    """Through the real streaming path: every range the second pass needs ends up kept."""
    grown = _grown(tmp_path, bundle.HEAD_KEEP + bundle.TAIL_KEEP)
    data = grown.read_bytes()
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hello.so", data)
    with zipfile.ZipFile(zipped) as archive:
        streamed = bundle.stream_binary(archive, archive.getinfo("hello.so"))
    tables, sections = _truth(grown)
    for low, high in tables + sections:
        streamed.image.seek(low)
        assert streamed.image.read(high - low) == data[low:high], (low, high)


# --- synthetic headers and section tables: the edges no compiler produces cheaply -----------


def _header(
    phoff: int, shoff: int, phnum: int, shnum: int, *, phentsize: int = 56, shentsize: int = 64
) -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    fields = struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, phoff, shoff, 0, 64, phentsize, phnum, shentsize, shnum, 0
    )
    header = ident + fields
    assert len(header) == 64
    return header


def _section(kind: int, offset: int, size: int) -> bytes:
    # SHF_ALLOC: a PROGBITS section is then read-only loaded data, which the ELF reader reads
    return struct.pack("<IIQQQQIIQQ", 0, kind, 2, 0, offset, size, 0, 0, 1, 0)


def test_tables_ending_at_the_last_byte_are_kept_and_past_it_are_clipped() -> None:
    header = _header(phoff=64, shoff=1000, phnum=2, shnum=3)
    assert bundle._table_ranges(header, 1000 + 3 * 64) == [(64, 64 + 2 * 56), (1000, 1192)]
    # a header claiming a table past the end: the part within the file is kept
    assert bundle._table_ranges(header, 1100) == [(64, 176), (1000, 1100)]
    # a table starting at or past the end, or at offset 0 (absent), is no range
    assert bundle._table_ranges(header, 1000) == [(64, 176)]
    assert bundle._table_ranges(_header(phoff=0, shoff=0, phnum=2, shnum=3), 5000) == []
    # only offset 0 means "no table": a (garbled) header naming byte 1 gets its table kept
    assert bundle._table_ranges(_header(phoff=1, shoff=0, phnum=2, shnum=3), 5000) == [(1, 113)]


def test_zero_section_count_still_keeps_entry_zero() -> None:
    """e_shnum 0 with e_shoff set: the real count is in entry 0's sh_size (ELF gABI, extended numbering)."""
    assert bundle._table_ranges(_header(phoff=64, shoff=512, phnum=1, shnum=0), 4096) == [
        (64, 120),
        (512, 576),
    ]


@pytest.mark.parametrize("ident", [b"\x7fELG\x02\x01", b"\x7fELF\x01\x01", b"\x7fELF\x02\x02"])
def test_not_a_64_bit_little_endian_elf_has_no_ranges(ident: bytes) -> None:
    header = ident + _header(phoff=64, shoff=512, phnum=1, shnum=1)[6:]
    assert bundle._table_ranges(header, 4096) == []
    assert bundle._needed_ranges({0: header + bytes(4096 - 64)}, 4096) == []


def _image(sections: list[tuple[int, int, int]], size: int, *, shoff: int = 64) -> dict[int, bytes]:
    """Kept bytes of a `size`-byte file: an ELF header and a section table (kind, offset, size)."""
    table = b"".join(_section(*s) for s in sections)
    return {0: _header(phoff=0, shoff=shoff, phnum=0, shnum=len(sections)), shoff: table}


def test_a_big_endian_file_gets_no_ranges_even_from_a_readable_section_table() -> None:
    kept = _image([(1, 2000, 100)], 10_000)
    assert bundle._needed_ranges(kept, 10_000)[1:] == [(2000, 2164)]
    kept[0] = kept[0][:5] + b"\x02" + kept[0][6:]  # EI_DATA: ELFDATA2MSB
    assert bundle._needed_ranges(kept, 10_000) == []


def test_a_section_entry_cut_by_the_end_of_the_file_is_not_read() -> None:
    entries = [(1, 2000, 100), (1, 3000, 100)]
    whole = _image(entries, 10_000, shoff=9000)
    assert bundle._needed_ranges(whole, 10_000)[1:] == [(2000, 2164), (3000, 3164)]
    size = 9000 + 2 * 64 - 1  # the last entry's final byte (sh_entsize) is missing
    cut = {0: whole[0], 9000: whole[9000][:-1]}
    assert bundle._needed_ranges(cut, size) == [(9000, size), (2000, 2164)]


def test_small_sections_are_kept_with_a_name_read_past_their_end() -> None:
    size = 10_000
    sections = [
        (1, 2000, 100),
        (3, 3000, 50),
        (8, 4000, 500),
        (1, 5000, 0),
        (1, size - 10, 10),
        (1, size - 10, 11),
    ]
    kept = _image(sections, size)
    table = (64, 64 + 64 * len(sections))
    assert bundle._needed_ranges(kept, size) == [
        table,
        (2000, 2000 + 100 + 64),
        (3000, 3000 + 50 + 64),
        (size - 10, size),  # ends at the last byte: kept, the 64-byte name read clipped
    ]


def test_the_budgets_are_the_promised_figures() -> None:
    assert bundle.SECTION_KEEP == SECTION_BUDGET
    assert bundle.TABLE_KEEP == elf.MAX_SYMBOL_TABLE
    assert bundle.TOTAL_KEEP == TOTAL_BUDGET


def test_section_and_table_budgets_at_their_edges() -> None:
    size = TOTAL_BUDGET * 2  # only the kept header and table exist in memory
    s, t = SECTION_BUDGET, elf.MAX_SYMBOL_TABLE
    sections = [(1, 1 << 20, s), (1, 1 << 21, s + 1), (2, 1 << 25, t), (11, 1 << 27, t + 1)]
    kept = _image(sections, size)
    needed = bundle._needed_ranges(kept, size)
    assert needed[1:] == [(1 << 20, (1 << 20) + s + 64), (1 << 25, (1 << 25) + t + 64)]
    for kind in (3, 11, 0x6FFFFFFE, 0x6FFFFFFF):  # the other table types get the table budget
        assert bundle._needed_ranges(_image([(kind, 4096, s + 1)], size), size)[1:] == [(4096, 4096 + s + 65)]
    for kind in (1, 4, 6, 7):  # PROGBITS, RELA, DYNAMIC, NOTE: the section budget
        assert bundle._needed_ranges(_image([(kind, 4096, s + 1)], size), size)[1:] == []


@pytest.mark.parametrize("extra", [0, 1])
def test_total_budget_stops_at_the_section_that_passes_it(extra: int) -> None:
    t = elf.MAX_SYMBOL_TABLE
    rest = TOTAL_BUDGET - t
    size = TOTAL_BUDGET * 4
    sections = [(2, 1 << 20, t), (2, 1 << 28, rest + extra), (1, 1 << 29, 100)]
    needed = bundle._needed_ranges(_image(sections, size), size)
    first = (1 << 20, (1 << 20) + t + 64)
    if extra:
        assert needed[1:] == [first]  # the second passes TOTAL_KEEP: it and all after are left
    else:
        assert needed[1:] == [first, (1 << 28, (1 << 28) + rest + 64)]


def test_only_the_first_4096_section_entries_are_read() -> None:
    size = 1 << 20
    assert elf.MAX_SECTIONS == 4096  # the ELF reader reads no more entries either
    sections = [(1, 0, 0)] * 4095 + [(1, 900_000, 16), (1, 950_000, 16)]
    needed = bundle._needed_ranges(_image(sections, size), size)
    assert needed[1:] == [(900_000, 900_000 + 16 + 64)]


def test_a_section_table_of_other_entry_size_or_none_gives_the_tables_only() -> None:
    size = 8192
    odd = {0: _header(phoff=64, shoff=512, phnum=1, shnum=2, shentsize=40), 512: _section(1, 1024, 8) * 2}
    assert bundle._needed_ranges(odd, size) == [(64, 120), (512, 592)]
    none = {0: _header(phoff=64, shoff=0, phnum=1, shnum=2)}
    assert bundle._needed_ranges(none, size) == [(64, 120)]


def test_an_unkept_header_or_section_table_gives_no_ranges() -> None:
    size = 8192
    assert bundle._needed_ranges({0: _header(phoff=64, shoff=512, phnum=1, shnum=2)[:63]}, size) == []
    assert bundle._needed_ranges({0: _header(phoff=64, shoff=512, phnum=1, shnum=2)}, size) == []
    # a whole file one byte shorter than the 64-byte ELF header: nothing in it is a table
    short = _header(phoff=8, shoff=0, phnum=1, shnum=0)[:63]
    assert bundle._needed_ranges({0: short}, 63) == []


def test_keeper_covers_a_range_kept_exactly() -> None:
    keeper = bundle._Keeper(300, [(100, 200)])
    keeper.feed(bytes(300))
    assert keeper.pieces == {100: bytes(100)}
    assert keeper.covers([(100, 200)])
    assert not keeper.covers([(99, 200)]) and not keeper.covers([(100, 201)])


def test_keeper_pieces_are_never_empty_whatever_the_chunks() -> None:
    """A range ending exactly where a chunk starts adds no empty piece to the kept bytes."""
    keeper = bundle._Keeper(300, [(100, 200)])
    keeper.feed(bytes(200))
    keeper.feed(bytes(100))
    assert keeper.pieces == {100: bytes(100)}


def test_zip64_locator_at_the_first_byte_of_the_tail() -> None:
    """The tail read (the largest end record: 22 bytes and a 65535-byte comment) starts with the locator."""
    record = b"PK\x06\x06" + bytes(28) + struct.pack("<Q", 7) + bytes(16)
    assert len(record) == 56
    comment = bytes(65535 - 20)
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0, 0, len(comment)) + comment
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 0, 1)
    data = record + bytes(100) + locator + eocd
    tail_start = len(data) - (65535 + 22)
    assert data[tail_start : tail_start + 4] == b"PK\x06\x07"
    assert bundle.declared_entry_count(io.BytesIO(data), len(data)) == 7
