"""Deflate and inflate in one place: which implementation writes a bundle's bytes and which reads them.

Writing. A deflate stream is not defined by its input: each compressor, and each release of one,
may choose other matches and other Huffman blocks. A bundle must be byte-identical for a given
modpack release on any machine, so the compressor that decides its bytes is pinned exactly: the
zlib-ng C library 2.3.3 as bundled by the PyPI package zlib-ng 1.1.0 (pinned `==` in pyproject.toml).
A build refuses to run with another zlib-ng rather than write other bytes under the same release.
zlib-ng picks SSE2, SSE4.2 or AVX2 code at run time; its output was checked to be the same on each
(bench/codec_variants.py runs the known-output test of tests/test_codec.py under qemu CPU models).
zlib-ng was chosen by measurement (README, "The codec"): on real code (libLLVM-15.so.1) level 6
takes 0.43x the CPU of zlib level 6 for output 2.3% larger than `zip -6`; ISA-L is faster still but
its best level is 12% larger, and zlib-ng's levels below 5 grow by 4% or more.

The input is cut into 1 MiB blocks deflated on worker threads (zlib-ng releases the GIL), each with
the previous block's last 32 KiB as preset dictionary and ending with a sync flush, the last with
Z_FINISH: the concatenation is one valid raw deflate stream, as pigz makes it, and it depends only
on the input, never on the number of threads or their timing.

Reading. Inflated bytes are defined by the format, so the fastest inflater gives the same result as
any other: ISA-L's (PyPI isal, a dependency with a lower bound only), which also computes the CRC-32
as it writes; else zlib-ng's (1.7x faster than zlib on the same stream); else zlib's. On 117 MB of
real code, inflate + CRC-32 + sha256 took 237 ms CPU with ISA-L against 283 ms with zlib-ng (README,
"The codec"). Errors from each surface as zlib.error, so callers name one set of exceptions. A
stored member is read as it lies, its CRC-32 computed by ISA-L's crc32 when installed (4x faster
than zlib's: 18 ms against 71 ms CPU for 200 MB in 1 MiB chunks), else zlib's. A bzip2 or LZMA
member is read here too, never by zipfile's loop: that loop decompresses each 4 KiB it reads whole
before cutting the output at the member's size, and 4 KiB of bzip2 make gigabytes (a 1.6 KB bundle
took 4 GB of memory). Any other method, and any member zipfile decrypts, is read by zipfile.

This module imports neither zlib-ng, nor isal, nor anything heavy at import time: `modpack validate
module.json` must stay quick (tests/test_cli.py checks it).
"""

from __future__ import annotations

import collections
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol

from modpack.errors import ModpackError

if TYPE_CHECKING:
    import concurrent.futures

LEVEL = 6
BLOCK = 1024 * 1024
WINDOW = 32 * 1024
CHUNK = 1024 * 1024
READ = 256 * 1024  # compressed bytes per read: small, so inflating never copies much
ZLIBNG_PACKAGE = "zlib-ng==1.1.0"
ZLIBNG_LIBRARY = "2.3.3"  # the C library inside that package: what decides a bundle's bytes


class CodecError(ModpackError):
    """The pinned compressor is missing or another release of it is installed."""


def deflater() -> ModuleType:
    """zlib-ng's zlib module, refusing any release but the pinned one (its bytes would differ)."""
    try:
        from zlib_ng import zlib_ng
    except ImportError as exc:
        raise CodecError(
            "modpack build needs the zlib-ng package to write a bundle, and it is not installed",
            f"Install it with: python3 -m pip install '{ZLIBNG_PACKAGE}'",
        ) from exc
    found = getattr(zlib_ng, "ZLIBNG_VERSION", "unknown")
    if found != ZLIBNG_LIBRARY:
        raise CodecError(
            f"zlib-ng {found} is installed; this modpack release writes bundles with zlib-ng "
            f"{ZLIBNG_LIBRARY}, and another release would write different bytes",
            f"Install the pinned one with: python3 -m pip install '{ZLIBNG_PACKAGE}'",
        )
    return zlib_ng


def inflater() -> ModuleType:
    """The fastest installed implementation of zlib's decompressobj; they all inflate alike."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return zlib
    return zlib_ng


def igzip() -> ModuleType | None:
    """ISA-L's inflater (PyPI isal), the fastest on real code (README, "The codec"), or None."""
    try:
        from isal import igzip_lib
    except ImportError:
        return None
    return igzip_lib


def checksum() -> Callable[[bytes, int], int]:
    """The fastest installed CRC-32 (every implementation computes the same number): ISA-L's, or
    zlib's."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib.crc32
    return isal_zlib.crc32


class ParallelDeflate:
    """A compressor object (compress/flush, as zipfile calls it) deflating fixed blocks on threads."""

    def __init__(self, level: int = LEVEL, workers: int | None = None) -> None:
        import concurrent.futures  # here: reading a bundle never deflates

        self.codec = deflater()
        self.level = level
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers)
        self.pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self.buffer = bytearray()
        self.window = b""

    def _submit(self, block: bytes, *, final: bool) -> None:
        preset, self.window = self.window, block[-WINDOW:]
        self.pending.append(self.pool.submit(deflate_block, self.codec, block, preset, self.level, final))

    def compress(self, data: bytes) -> bytes:
        if not self.buffer and len(data) == BLOCK and type(data) is bytes:
            # A whole block (the builder reads BLOCK at a time): deflated as it is, where joining
            # it to the buffer and cutting it out again copied it three times on the main thread.
            self._submit(data, final=False)
        else:
            self.buffer += data
        while len(self.buffer) >= BLOCK:
            block = bytes(self.buffer[:BLOCK])
            del self.buffer[:BLOCK]
            self._submit(block, final=False)
        done = []  # at most 2 blocks per worker in flight: memory stays a few MiB
        while self.pending and (len(self.pending) > 2 * self.workers or self.pending[0].done()):
            done.append(self.pending.popleft().result())
        return b"".join(done)

    def flush(self) -> bytes:
        self._submit(bytes(self.buffer), final=True)
        self.buffer.clear()
        try:
            return b"".join(future.result() for future in self.pending)
        finally:
            self.pending.clear()
            self.pool.shutdown()


def deflate_block(codec: ModuleType, block: bytes, preset: bytes, level: int, final: bool) -> bytes:
    """One block as raw deflate, primed with the previous block's tail; sync-flushed unless final."""
    if preset:
        compressor = codec.compressobj(level, codec.DEFLATED, -15, 8, codec.Z_DEFAULT_STRATEGY, preset)
    else:
        compressor = codec.compressobj(level, codec.DEFLATED, -15)
    end = codec.Z_FINISH if final else codec.Z_SYNC_FLUSH
    return bytes(compressor.compress(block) + compressor.flush(end))


def deflate(data: bytes, workers: int | None = None) -> bytes:
    """The raw deflate stream a bundle holds for `data` (what tests and benchmarks compare)."""
    compressor = ParallelDeflate(workers=workers)
    return compressor.compress(data) + compressor.flush()


def member_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, size: int = CHUNK) -> Iterator[bytes]:
    """A member's bytes in chunks of at most `size`, inflated by the fastest inflater.

    zipfile.open does every check of the entry (local header, name, flags, encryption) and reads
    other methods itself. A stored or deflated entry is then read here, from the stream zipfile
    positioned at its data: zipfile's own loop hashes with zlib's slower CRC and, deflated, copies
    each compressed block twice, a third of the cost of reading a large module. A stored entry's
    bytes are read as they lie, their CRC-32 computed by ISA-L when installed (reading a stored
    200 MB .so took 35 ms CPU against zipfile's 77 ms). A deflated one is inflated by ISA-L when
    installed (it computes the CRC-32 as it writes the output), else zlib-ng, else zipfile's own
    loop. The checks are zipfile's: output cut at the directory's size, then the CRC compared
    (BadZipFile when it differs), data that ends early is EOFError, and a bad stream zlib.error; a
    stored entry whose two sizes differ is BadZipFile.
    """
    with archive.open(info) as member:
        direct = _direct(member, info, size)
        if direct is None:
            while chunk := member.read(size):
                yield chunk
        else:
            yield from direct


def _direct(member: IO[bytes], info: zipfile.ZipInfo, size: int) -> Iterator[bytes] | None:
    """The member read here rather than by zipfile's loop, or None where zipfile must read it
    (another method, an encrypted member, no stream to read from, no faster inflater)."""
    raw = getattr(member, "_fileobj", None)
    if raw is None or getattr(member, "_decrypter", None) is not None:
        return None
    if info.compress_type == zipfile.ZIP_STORED:
        return _stored(raw, info, size)
    if info.compress_type == zipfile.ZIP_BZIP2:
        import bz2

        return _decompressed(bz2.BZ2Decompressor(), raw, info, info.compress_size, size)
    if info.compress_type == zipfile.ZIP_LZMA:
        return _unlzma(raw, info, size)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return None
    isal = igzip()
    if isal is not None:
        return _as_zlib_errors(isal, _inflate_isal(isal, raw, info, size))
    codec = inflater()
    return None if codec is zlib else _as_zlib_errors(codec, _inflate(codec, raw, info, size))


def _as_zlib_errors(codec: ModuleType, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, with the inflater's own error class raised as zlib.error, which callers catch."""
    try:
        yield from chunks
    except codec.error as exc:
        raise zlib.error(str(exc)) from exc


def _stored(raw: BinaryIO, info: zipfile.ZipInfo, size: int) -> Iterator[bytes]:
    """A stored member's bytes as they lie, never past its size, then its CRC-32 compared."""
    if info.compress_size != info.file_size:
        # zipfile reads up to the compressed size and cuts the output at the size: it fails the
        # CRC when the data is short and never looks at the excess when it is long. Either way
        # the directory is wrong about a stored entry.
        raise zipfile.BadZipFile(
            f"stored file {info.filename!r} has {info.compress_size} bytes of data for a size of"
            f" {info.file_size} (stored, the two are the same)"
        )
    crc32 = checksum()
    left, crc, step = info.file_size, 0, max(size, 1)
    while left > 0:
        chunk = raw.read(min(step, left))
        if not chunk:
            raise EOFError(f"the data of {info.filename} ends {left} bytes before its size does")
        left -= len(chunk)
        crc = crc32(chunk, crc)
        yield chunk
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")


def _compressed(raw: BinaryIO, info: zipfile.ZipInfo, compressed_left: int) -> bytes:
    """The member's next compressed bytes (at most READ, never past its compressed size)."""
    data = raw.read(min(READ, compressed_left))
    if not data:
        raise EOFError(f"the compressed data of {info.filename} ends before its stream does")
    return data


class _Decompressor(Protocol):
    """bz2.BZ2Decompressor and lzma.LZMADecompressor: output bounded by `max_length`."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _decompressed(
    decompressor: _Decompressor, raw: BinaryIO, info: zipfile.ZipInfo, compressed_left: int, size: int
) -> Iterator[bytes]:
    """A bzip2 or LZMA member, never more than `size` bytes decompressed at a time and never past
    the directory's size (zipfile's checks: the output cut there, then the CRC-32 compared)."""
    left, crc = info.file_size, 0
    while left > 0 and not decompressor.eof:
        data = b""
        if decompressor.needs_input:
            data = _compressed(raw, info, compressed_left)
            compressed_left -= len(data)
        chunk = decompressor.decompress(data, min(size, left))
        left -= len(chunk)
        crc = zlib.crc32(chunk, crc)
        if chunk:
            yield chunk
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")


def _unlzma(raw: BinaryIO, info: zipfile.ZipInfo, size: int) -> Iterator[bytes]:
    """An LZMA member: a version (2 bytes), the size of the properties (2), the LZMA1 properties
    (5: lc, lp and pb in one byte, then the dictionary size), then raw LZMA1 data (APPNOTE 5.8.8),
    read as zipfile reads it (lzma.LZMAError for bad properties or data)."""
    import lzma

    header = raw.read(4)
    properties = raw.read(int.from_bytes(header[2:4], "little")) if len(header) == 4 else b""
    if len(header) < 4 or len(properties) < int.from_bytes(header[2:4], "little"):
        raise EOFError(f"the compressed data of {info.filename} ends in its LZMA header")
    if len(properties) != 5 or properties[0] >= 9 * 5 * 5:
        raise lzma.LZMAError(f"the LZMA properties of {info.filename} are invalid")
    lclppb, dictionary = properties[0], int.from_bytes(properties[1:5], "little")
    lzma1 = {"id": lzma.FILTER_LZMA1, "dict_size": dictionary}
    lzma1.update(lc=lclppb % 9, lp=lclppb // 9 % 5, pb=lclppb // 45)
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])
    yield from _decompressed(decompressor, raw, info, info.compress_size - 4 - len(properties), size)


def _inflate_isal(isal: ModuleType, raw: BinaryIO, info: zipfile.ZipInfo, size: int) -> Iterator[bytes]:
    # DECOMP_GZIP_NO_HDR: a raw deflate stream (no header, and no trailer read), with the CRC-32 of
    # everything written out kept in `crc` (isa-l's igzip_lib.h, ISAL_GZIP_NO_HDR).
    inflate = isal.IgzipDecompressor(flag=isal.DECOMP_GZIP_NO_HDR)
    compressed_left, left = info.compress_size, info.file_size
    while left > 0 and not inflate.eof:
        data = b""
        if inflate.needs_input:
            data = _compressed(raw, info, compressed_left)
            compressed_left -= len(data)
        chunk = inflate.decompress(data, min(size, left))
        left -= len(chunk)
        if chunk:
            yield chunk
    if inflate.crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")


def _inflate(codec: ModuleType, raw: BinaryIO, info: zipfile.ZipInfo, size: int) -> Iterator[bytes]:
    inflate = codec.decompressobj(-15)
    compressed_left, left, crc = info.compress_size, info.file_size, 0
    while left > 0 and not inflate.eof:
        data = inflate.unconsumed_tail
        if not data:
            data = _compressed(raw, info, compressed_left)
            compressed_left -= len(data)
        chunk = inflate.decompress(data, min(size, left))
        left -= len(chunk)
        crc = codec.crc32(chunk, crc)
        if chunk:
            yield chunk
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
