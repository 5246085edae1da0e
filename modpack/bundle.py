"""Reading a bundle (zip) safely: central-directory checks first, then one streaming pass.

Nothing is extracted to disk. The end-of-central-directory record is checked before zipfile
parses the directory (an entry-count bomb never gets parsed); sizes, ratios, names, modes and
overlaps are checked from the directory and the local headers before anything is decompressed.
The .so is then decompressed once: the pass hashes it and keeps in memory a module of up to 32 MiB
whole, and of a larger one only the parts an ELF reader needs (headers, section tables, small
sections), so memory stays bounded for any size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from modpack import codec
from modpack.findings import Sink
from modpack.hashing import sha256_chunks

MAX_ENTRIES = 1000
MAX_TOTAL_SIZE = 500 * 1024 * 1024  # the RS module size limit quoted in redis-enterprise.md §8
# The most an entry's method can expand its bytes: stored not at all; deflate 1032:1, a 258-byte
# match in 2 bits (zlib makes 1029:1 of zeros). A directory declaring more lies about the entry (a
# zip bomb's mark); a high ratio alone does not, and ZIP012 caps what a bundle expands to: a
# module with a 64 MiB zero-initialised table deflates about 1000:1. bzip2 and LZMA expand
# runs of one byte far more, and declare no bound here.
MAX_RATIO = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}
RATIO_FLOOR = 32 * 1024 * 1024  # small entries may compress well without being bombs
MAX_MODULE_JSON = 4 * 1024 * 1024
CHUNK = 1024 * 1024
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
# The methods Python's zipfile reads, as Redis Enterprise's unpacker does (RAMP's unpacker.py opens
# each member with ZipFile.open): `zip -Z bzip2` and 7-Zip's -mm=BZip2 and -mm=LZMA make bundles the
# node takes. Deflate64 (7-Zip's -mm=Deflate64), PPMd, zstd and the rest it cannot read.
_ALLOWED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_METHOD_NAMES = {
    6: "imploded",
    9: "Deflate64",
    10: "PKWARE DCL imploded",
    18: "IBM TERSE",
    19: "IBM LZ77",
    93: "zstd",
    95: "xz",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
    99: "AES-encrypted",
}


class Layout:
    """What a bundle holds, once its directory passed the safety checks.

    A plain class, as StreamedBinary is a NamedTuple: a dataclass compiles its methods at import,
    about 1 ms each on the path of every bundle (issue 16).
    """

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.module_json: zipfile.ZipInfo | None = None
        self.binaries: list[zipfile.ZipInfo] = []
        self.deps: dict[str, zipfile.ZipInfo] = {}


def declared_entry_count(stream: BinaryIO, size: int) -> int | None:
    """The entry count of the end-of-central-directory record (zip64 aware), or None; the records
    found as zipfile finds them (`_end_records`)."""
    found = _end_records(stream, size)
    if found is None:
        return None
    record, end, zip64 = found
    count: int = struct.unpack_from("<H", record, 10)[0]
    if count == 0xFFFF and zip64 is None:
        zip64 = _zip64_at_locator_offset(stream, size, end)  # after a zip64 extensible data sector
    if count == 0xFFFF and zip64 is not None:
        count = struct.unpack_from("<Q", zip64, 32)[0]
    return count


def _zip64_at_locator_offset(stream: BinaryIO, size: int, end: int) -> bytes | None:
    """The zip64 end record at the offset its locator gives (APPNOTE 4.3.15), where a zip64
    extensible data sector keeps it from the locator; None where no such record is."""
    if end < 20:
        return None
    stream.seek(end - 20)
    locator = stream.read(20)
    if locator[:4] != _EOCD64_LOCATOR:
        return None
    (offset,) = struct.unpack_from("<Q", locator, 8)
    if offset + 56 > size:
        return None
    stream.seek(offset)
    record = stream.read(56)
    return record if record[:4] == b"PK\x06\x06" else None


_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # a central-directory record: 46 bytes


def directory_span(stream: BinaryIO, size: int) -> tuple[int, int] | None:
    """Where zipfile will read the central directory: (start, length), or None when unknown.

    The same arithmetic as zipfile: the directory ends where the end record (or the zip64 end
    record before it) starts, whatever offset the end record gives, so data prepended to the
    archive does not move it.
    """
    found = _end_records(stream, size)
    if found is None:
        return None
    record, end, zip64 = found
    (length,) = struct.unpack_from("<I", record, 12)
    if zip64 is not None:
        (length,) = struct.unpack_from("<Q", zip64, 40)
        end -= 56 + 20
    return end - length, length


def _end_records(stream: BinaryIO, size: int) -> tuple[bytes, int, bytes | None] | None:
    """(the end record's 22 bytes, where it starts, the zip64 end record's 56 bytes or None), as
    zipfile finds them: an end record with no comment at the very end first, else the last
    signature in the tail (a directory offset of 0x06054B50 spells the signature itself, 6 bytes
    before the end: the last one found there was no record, and a valid 96 MiB bundle was "not a
    zip archive"); the zip64 record right before its locator, not at the offset the locator gives,
    which data prepended to the archive (a self-extractor's stub) moves."""
    tail_size = min(size, 65535 + 22)
    stream.seek(size - tail_size)
    tail = stream.read(tail_size)
    no_comment = tail[-22:-18] == _EOCD and tail[-2:] == b"\x00\x00"
    at = len(tail) - 22 if no_comment else tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    end = size - tail_size + at
    zip64 = None
    if at >= 20 and tail[at - 20 : at - 16] == _EOCD64_LOCATOR and end >= 76:
        stream.seek(end - 20 - 56)
        record = stream.read(56)
        if record[:4] == b"PK\x06\x06":
            zip64 = record
    return tail[at : at + 22], end, zip64


def directory_within_limit(stream: BinaryIO, size: int, sink: Sink) -> bool:
    """Count the central-directory records themselves, stopping past MAX_ENTRIES (ZIP018).

    The end record's count may lie: zipfile parses the whole directory whatever it says (about
    0.55 KB of memory per entry). This walks the records as zipfile will, one fixed-size header
    at a time, and stops at MAX_ENTRIES + 1, so time and memory stay bounded.
    """
    span = directory_span(stream, size)
    if span is None:
        return True  # zipfile reports the archive as unreadable (ZIP001)
    start, length = span
    if start < 0:
        return True
    stream.seek(start)
    position, count = 0, 0
    while position < length:
        record = stream.read(_CENTRAL.size)
        if len(record) < _CENTRAL.size or record[:4] != b"PK\x01\x02":
            return True  # zipfile refuses a broken directory itself (ZIP001)
        count += 1
        if count > MAX_ENTRIES:
            sink.add(
                "ZIP018",
                "",
                f"the central directory holds more than {MAX_ENTRIES} entries"
                f" (the end record declares {declared_entry_count(stream, size)})",
            )
            return False
        name_len, extra_len, comment_len = struct.unpack_from("<3H", record, 28)
        skip = name_len + extra_len + comment_len
        stream.seek(skip, 1)
        position += _CENTRAL.size + skip
    declared = declared_entry_count(stream, size)
    if declared is not None and declared != count:
        # Python's zipfile reads the directory whatever the count; Info-ZIP's unzip goes by the
        # count and exits 3 ("expected central file header signature not found"). Found by the
        # structural fuzzing of issue 12 (tests/fuzz/zipstruct.py).
        sink.add(
            "ZIP016",
            "",
            f"the end record declares {declared} entr{'y' if declared == 1 else 'ies'},"
            f" the central directory holds {count}",
            "Rebuild the bundle: unpackers that trust the end record read a different list of entries.",
        )
    return True


@contextlib.contextmanager
def opened(path: Path, sink: Sink) -> Iterator[Layout | None]:
    """The bundle at `path` as every command reads one: a regular file only (never a FIFO or a
    device, whose open or read blocks), its directory checked by open_layout. Yields None when
    it cannot be read as a bundle; the findings in `sink` say why (IN001 when it cannot be
    opened at all). The archive is open inside the block and closed after it."""
    from modpack.regular import hint_for, open_regular

    try:
        stream = open_regular(path)
    except OSError as exc:
        sink.add("IN001", "", f"cannot read {path}: {exc.strerror or exc}", hint_for(exc))
        yield None
        return
    with stream:
        layout = open_layout(stream, os.fstat(stream.fileno()).st_size, sink)
        if layout is None:
            yield None
            return
        with layout.archive:
            yield layout


def open_layout(stream: BinaryIO, size: int, sink: Sink) -> Layout | None:
    """Check the archive from its directory and local headers; None when it cannot be trusted."""
    count = declared_entry_count(stream, size)
    if count is None:
        sink.add("ZIP001", "", "not a zip archive (no end-of-central-directory record)")
        return None
    if count > MAX_ENTRIES:
        sink.add("ZIP018", "", f"the archive declares {count} entries (the limit is {MAX_ENTRIES})")
        return None
    if not directory_within_limit(stream, size, sink):
        return None
    try:
        archive = zipfile.ZipFile(stream)
        infos = archive.infolist()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
    ) as exc:
        sink.add("ZIP001", "", f"unreadable zip archive: {exc}")
        return None
    if not _entries_safe(archive, infos, stream, size, sink):
        return None
    return _layout(archive, infos, sink)


def _entries_safe(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], stream: BinaryIO, size: int, sink: Sink
) -> bool:
    safe = True
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen:
            sink.add("ZIP010", "", f"entry {name!r} appears more than once")
            safe = False
        seen.add(name)
        safe &= _name_safe(info, sink)
        if info.flag_bits & 0x41:  # bit 0: encrypted; bit 6: strong encryption
            sink.add("ZIP011", "", f"entry {name!r} is encrypted")
            safe = False
        elif info.flag_bits & 0x20:  # bit 5: compressed patched data, which nothing here reads
            sink.add("ZIP017", "", f"entry {name!r} holds patched data (general purpose flag bit 5)")
            safe = False
        if info.compress_type not in _ALLOWED_METHODS:
            method = info.compress_type
            known = f" ({_METHOD_NAMES[method]})" if method in _METHOD_NAMES else ""
            sink.add("ZIP017", "", f"entry {name!r} uses compression method {method}{known}")
            safe = False
        total += info.file_size
    if total > MAX_TOTAL_SIZE:
        sink.add("ZIP012", "", f"the entries add up to {total} bytes (the limit is {MAX_TOTAL_SIZE})")
        return False
    for info in infos:
        most = MAX_RATIO.get(info.compress_type)
        if most and info.file_size > RATIO_FLOOR and info.file_size > most * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            sink.add("ZIP013", "", f"entry {info.filename!r} expands {ratio}:1 to {info.file_size} bytes")
            safe = False
    return _no_overlaps(archive, infos, stream, size, sink) and safe


def _name_safe(info: zipfile.ZipInfo, sink: Sink) -> bool:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        sink.add("ZIP009", "", f"entry {name!r} is a symbolic link")
        return False
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        sink.add("ZIP008", "", f"entry name {name!r} leaves the bundle folder")
        return False
    if "\x00" in name or "\\" in name:
        sink.add("ZIP008", "", f"entry name {name!r} contains a backslash or NUL")
        return False
    return True


def _no_overlaps(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], stream: BinaryIO, size: int, sink: Sink
) -> bool:
    """Each entry's local header and data must end before the next entry and the directory."""
    directory_start = min(getattr(archive, "start_dir", size), size)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for index, info in enumerate(ordered):
        if not 0 <= info.header_offset < directory_start:
            sink.add("ZIP016", "", f"entry {info.filename!r} points outside the archive")
            return False
        stream.seek(info.header_offset)
        header = stream.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
            sink.add("ZIP016", "", f"entry {info.filename!r} has no local header where the directory says")
            return False
        name_len, extra_len = _LOCAL.unpack(header)[9:11]
        if not local_header_agrees(info, header, sink):
            return False
        local_name = stream.read(name_len)
        if local_name.decode("utf-8", "replace") != info.filename and local_name != info.orig_filename.encode(
            "cp437", "replace"
        ):
            sink.add("ZIP016", "", f"entry {info.filename!r} is named {local_name!r} in its local header")
            return False
        end = info.header_offset + _LOCAL.size + name_len + extra_len + info.compress_size
        if info.flag_bits & 0x08:
            # The data descriptor follows the data: at least CRC and two 4-byte sizes (APPNOTE.TXT
            # 4.3.9). Without room for it Info-ZIP's unzip reads into the next record and refuses
            # the archive as overlapping (exit 12); found by tests/fuzz/zipstruct.py (issue 12).
            end += 12
        limit = ordered[index + 1].header_offset if index + 1 < len(ordered) else directory_start
        if end > limit:
            sink.add("ZIP015", "", f"entry {info.filename!r} overlaps the next entry or the directory")
            return False
    return True


# General purpose flag bits that change how an entry's data is read: 0 encrypted, 3 sizes and CRC
# in a data descriptor, 5 patched data, 6 strong encryption (APPNOTE.TXT 4.4.4). Other bits (11,
# UTF-8 names) may differ between the two headers without changing the bytes unpacked.
_DATA_FLAGS = 0x01 | 0x08 | 0x20 | 0x40


def local_header_agrees(info: zipfile.ZipInfo, header: bytes, sink: Sink) -> bool:
    """The local header's method, flags, CRC and sizes must be the central directory's (ZIP016).

    Unpackers differ in which of the two they believe: Info-ZIP takes sizes from the local header
    and Python from the directory, so a disagreement unpacks different files. With a data
    descriptor (flag bit 3) the local CRC and sizes are zero by design, and a zip64 entry keeps
    0xFFFFFFFF there with the real sizes in an extra field: those are not compared.
    """
    _, _, flags, method, _, _, crc, compressed, uncompressed, _, _ = _LOCAL.unpack(header)
    fields: list[tuple[str, int, int]] = [
        ("compression method", method, info.compress_type),
        ("flags", flags & _DATA_FLAGS, info.flag_bits & _DATA_FLAGS),
    ]
    if not flags & 0x08:
        fields.append(("CRC-32", crc, info.CRC))
        if 0xFFFFFFFF not in (compressed, uncompressed):
            fields += [
                ("compressed size", compressed, info.compress_size),
                ("uncompressed size", uncompressed, info.file_size),
            ]
    for what, local, central in fields:
        if local != central:
            shown = (f"{local:#x}", f"{central:#x}") if what in ("flags", "CRC-32") else (local, central)
            sink.add(
                "ZIP016",
                "",
                f"entry {info.filename!r}: the local header gives {what} {shown[0]},"
                f" the central directory {shown[1]}",
                "Rebuild the bundle: unpackers that read the local header get different bytes.",
            )
            return False
    return True


def _layout(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], sink: Sink) -> Layout:
    layout = Layout(archive)
    for info in infos:
        name = info.filename
        if name == "module.json":
            layout.module_json = info
        elif name.startswith("deps/"):
            if not info.is_dir():
                layout.deps[name] = info
        elif name.endswith(".so") and "/" not in name:
            layout.binaries.append(info)
        else:
            hint = "module.json must be at the root." if name.endswith("module.json") else ""
            sink.add("ZIP005", "", f"unexpected entry {name!r}", hint)
    if layout.module_json is None:
        nested = [i.filename for i in infos if i.filename.endswith("/module.json")]
        hint = f"It is at {nested[0]!r}; move it to the root." if nested else ""
        sink.add("ZIP002", "", "the bundle has no module.json at its root", hint)
    if len(layout.binaries) != 1:
        names = ", ".join(i.filename for i in layout.binaries) or "none"
        sink.add("ZIP003", "", f"the bundle holds {len(layout.binaries)} .so files at its root ({names})")
    elif deps_so := [name for name in layout.deps if name.endswith(".so")]:
        # The unpacker counts every entry whose name ends in .so, deps/ included, and refuses more
        # than one (RAMP's unpacker.py, which mirrors Redis Enterprise's: invalid_number_of_files).
        names = ", ".join([layout.binaries[0].filename, *deps_so])
        sink.add(
            "ZIP003",
            "",
            f"the bundle holds {1 + len(deps_so)} entries named *.so ({names}): Redis Enterprise counts"
            " those under deps/ too and refuses more than one (invalid_number_of_files)",
            "Ship a library the module needs in an archive under deps/ (RAMP packs a dependency as"
            " deps/<name>.tgz), or link it into the module.",
        )
    return layout


def is_executable(info: zipfile.ZipInfo) -> bool:
    return bool((info.external_attr >> 16) & 0o111)


class MemberTooLarge(ValueError):
    """A member is larger than the reader's limit for it (ZIP019)."""


def read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A small member read whole, never more than `limit` bytes however the header lies (read
    as codec.member_chunks reads it: zipfile's own loop inflates a bzip2 member 4 KiB of input at
    a time, gigabytes each, before it cuts the output)."""
    data = bytearray()
    for chunk in codec.member_chunks(archive, info, min(limit + 1, CHUNK)):
        data += chunk
        if len(data) > limit:
            raise MemberTooLarge(f"{info.filename} is larger than {limit} bytes")
    return bytes(data)


def member_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The decompressed member in chunks; zipfile checks the CRC when the stream ends."""
    yield from codec.member_chunks(archive, info, CHUNK)


def hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    return sha256_chunks(member_chunks(archive, info))


# --- keeping only what an ELF reader needs ---------------------------------------------------


class SparseImage(io.RawIOBase):
    """A read-only, seekable view of a file of which only some byte ranges are kept.

    Reading a byte that was not kept raises OSError, also when a read starts in kept bytes and
    runs past them: a reader that wanders outside the ranges it declared it needs gets a clear
    failure, never silently wrong or short bytes (a short read would look like a truncated file).
    """

    def __init__(self, size: int, ranges: dict[int, bytes]) -> None:
        super().__init__()
        self.size = size
        # The pieces as kept, never joined: a read joins only the bytes it returns (joining the
        # kept head and tail of a large module copied 8 MiB for reads of a few kilobytes).
        self.pieces = sorted(ranges.items())
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), max(self.size - self.position, 0))
        if wanted == 0:
            return 0
        got = _kept_bytes(self.pieces, self.position, wanted)
        if got is None:
            raise OSError(5, f"bytes {self.position}..{self.position + wanted} of the module were not kept")
        buffer[:wanted] = got
        self.position += wanted
        return wanted


def _disjoint(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open ranges sorted, empty ones dropped, overlapping or touching ones joined."""
    joined: list[tuple[int, int]] = []
    for low, high in sorted(r for r in ranges if r[0] < r[1]):
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], high))
        else:
            joined.append((low, high))
    return joined


# A module up to WHOLE_KEEP bytes is kept whole, so it is never inflated twice: its small sections
# may lie anywhere (a 20 MB module's .gnu.version or .rela.plt lies past a 4 MiB head), and a
# second pass costs as much as the first (about 2 ms of CPU per MB), where keeping costs a page
# fault per 4 KiB (0.2 ms per MB). A larger one keeps its head and tail, then what it needs.
WHOLE_KEEP = 32 * 1024 * 1024
HEAD_KEEP = 4 * 1024 * 1024
TAIL_KEEP = 4 * 1024 * 1024
SECTION_KEEP = 8 * 1024 * 1024
TABLE_KEEP = 64 * 1024 * 1024  # symbol and string tables, as large as the ELF reader accepts
TOTAL_KEEP = 96 * 1024 * 1024
CSTRING_CHUNK = 64
_TABLE_TYPES = {2, 3, 11, 0x6FFFFFFE, 0x6FFFFFFF}  # SYMTAB, STRTAB, DYNSYM, GNU_verneed, GNU_versym
_READ_ONLY_DATA = 0x1 | 0x2 | 0x4  # SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR: of these, only ALLOC is read


class StreamedBinary(NamedTuple):
    """The bundle's .so read once: its hash, its size and the bytes an ELF reader needs."""

    sha256: str
    size: int
    image: SparseImage


def stream_binary(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> StreamedBinary:
    """Decompress the .so once: hash it and keep it whole (up to WHOLE_KEEP), or its head, its
    tail and its header tables.

    When the small sections an ELF reader needs lie elsewhere in a larger module, a second pass
    keeps those ranges as well.
    """
    size = info.file_size
    first = [(0, min(size, HEAD_KEEP)), (max(size - TAIL_KEEP, 0), size)]
    if size <= WHOLE_KEEP:
        first = [(0, size)]
    wanted = _Keeper(size, first)
    # Hashed here, in the thread that inflates, while the chunk is still in this core's cache.
    # validate's measure is CPU (issue 16: at most 0.7x Python's inflate + sha256), and measured
    # by bench/bench_elf.py at load 6-7 on 2 cores, a hashing thread (BackgroundHash, as `build`
    # uses) cost 0.90x against 0.85x here (median of 5 pairs) for the same median wall time.
    digest = hashlib.sha256()
    for chunk in member_chunks(archive, info):
        digest.update(chunk)
        wanted.feed(chunk)
    needed = _needed_ranges(wanted.pieces, size)
    if needed and not wanted.covers(needed):
        second = _Keeper(size, first + needed)  # with the head: the ELF header is read again
        for chunk in member_chunks(archive, info):
            second.feed(chunk)
        wanted = second
    return StreamedBinary(digest.hexdigest(), size, SparseImage(size, wanted.pieces))


class _Keeper:
    """Keeps the bytes of a stream that fall inside the requested ranges (and the ELF tables).

    The requested ranges are kept disjoint, so every byte is kept at most once, however the
    head, the tail and the tables overlap (a file of at most HEAD_KEEP bytes is all head and all
    tail). `pieces` maps the file offset of each kept piece to its bytes; pieces never overlap.
    """

    def __init__(self, size: int, ranges: list[tuple[int, int]]) -> None:
        self.size = size
        self.want = _disjoint(ranges)
        self.pieces: dict[int, bytes] = {}
        self.offset = 0
        self.header = b""

    def feed(self, chunk: bytes) -> None:
        start, end = self.offset, self.offset + len(chunk)
        if len(self.header) < 64:
            self.header += chunk[: 64 - len(self.header)]
            if len(self.header) >= 64:
                self.want = _disjoint(self.want + _table_ranges(self.header, self.size))
        for low, high in self.want:
            a, b = max(low, start), min(high, end)
            if a < b:
                self.pieces[a] = chunk[a - start : b - start]
        self.offset = end

    def covers(self, needed: list[tuple[int, int]]) -> bool:
        spans = _disjoint([(low, low + len(data)) for low, data in self.pieces.items()])  # no bytes joined
        return all(any(a <= low and high <= b for a, b in spans) for low, high in needed)


def _kept_bytes(kept: list[tuple[int, bytes]], low: int, length: int) -> bytes | None:
    """Bytes low..low+length from the kept pieces, sorted by offset (they may overlap), or None
    where one is missing. Only these bytes are joined; one piece's are sliced, or returned whole."""
    parts: list[bytes] = []
    at, high = low, low + length
    for start, data in kept:
        if at >= high:
            break
        end = start + len(data)
        if end <= at:
            continue
        if start > at:
            return None
        parts.append(data if start == at and end <= high else data[at - start : min(end, high) - start])
        at = min(end, high)
    return b"".join(parts) if at >= high else None


def _table_ranges(header: bytes, size: int) -> list[tuple[int, int]]:
    """The program and section header tables of a 64-bit little-endian ELF, within the file."""
    if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return []
    phoff, shoff = struct.unpack_from("<QQ", header, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", header, 54)
    ranges = [
        (phoff, min(phoff + phentsize * phnum, size)),
        (shoff, min(shoff + shentsize * max(shnum, 1), size)),
    ]
    return [(a, b) for a, b in ranges if 0 < a < b <= size]


def _segment_ranges(pieces: list[tuple[int, bytes]], header: bytes, size: int) -> list[tuple[int, int]]:
    """What the ELF reader reads of a module without section headers (elf._sections_from_dynamic):
    the dynamic and note segments, and the segments that are not writable, where the dynamic
    tables and the read-only data lie; in file order, up to TOTAL_KEEP in all."""
    from modpack.elf import PF_W, PT_DYNAMIC, PT_LOAD, PT_NOTE  # the reader these ranges are for

    phoff = struct.unpack_from("<Q", header, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", header, 54)
    table = (
        _kept_bytes(pieces, phoff, min(phentsize * phnum, max(0, size - phoff))) if phentsize == 56 else None
    )
    if table is None:
        return []
    ranges, total = [], 0
    for offset in range(0, len(table) - 55, 56):
        kind, flags = struct.unpack_from("<II", table, offset)
        start, _, _, filesz = struct.unpack_from("<QQQQ", table, offset + 8)
        wanted = kind in (PT_DYNAMIC, PT_NOTE) or (kind == PT_LOAD and not flags & PF_W)
        if not wanted or filesz == 0 or start + filesz > size or filesz > TABLE_KEEP:
            continue
        total += filesz
        if total > TOTAL_KEEP:
            break
        ranges.append((start, start + filesz))
    return ranges


def _needed_ranges(kept: dict[int, bytes], size: int) -> list[tuple[int, int]]:
    """Small sections (and the tables) an ELF reader may read, from the kept section table."""
    pieces = sorted(kept.items())
    header = _kept_bytes(pieces, 0, min(64, size))
    if header is None or len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return []
    ranges = _table_ranges(header, size)
    shoff = struct.unpack_from("<Q", header, 40)[0]
    shentsize, shnum = struct.unpack_from("<HH", header, 58)
    if shoff == 0:  # stripped of its section headers: the reader goes by the program headers
        return ranges + _segment_ranges(pieces, header, size)
    if shentsize != 64:
        return ranges
    table = _kept_bytes(pieces, shoff, max(0, min(64 * min(shnum, 4096), size - shoff)))
    if table is None:
        return []
    total = 0
    for offset in range(0, len(table) - 63, 64):
        sh_type, sh_offset, sh_size = (
            struct.unpack_from("<I", table, offset + 4)[0],
            *struct.unpack_from("<QQ", table, offset + 24),
        )
        limit = TABLE_KEEP if sh_type in _TABLE_TYPES else SECTION_KEEP
        if sh_type == 8 or sh_size == 0 or sh_size > limit or sh_offset + sh_size > size:
            continue  # SHT_NOBITS, empty, large (code, data blobs) or out of bounds
        if sh_type == 1 and struct.unpack_from("<Q", table, offset + 8)[0] & _READ_ONLY_DATA != 2:
            # SHT_PROGBITS the ELF reader never reads: code, writable data, and what is not loaded
            # (debug data, comments). It reads only read-only loaded data (elf._getkeys_api); keeping
            # the others sent a module with a small one past the kept head and tail to a second
            # inflating pass (twice the CPU of validate BUNDLE.zip).
            continue
        total += sh_size
        if total > TOTAL_KEEP:
            break
        # pyelftools reads C strings in 64-byte chunks (elftools.common.utils.
        # parse_cstring_from_stream), so the last name of a string table is read past its end.
        ranges.append((sh_offset, min(sh_offset + sh_size + CSTRING_CHUNK, size)))
    return ranges
