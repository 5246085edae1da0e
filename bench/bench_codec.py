"""Deflate and inflate implementations side by side on real code: how modpack/codec.py was chosen.

Compresses the benchmark module (hello.so + libLLVM-15.so.1, common.real_module) in this process
with zlib, zlib-ng (PyPI zlib-ng) and ISA-L (PyPI isal, optional) at several levels, as one stream
and as modpack's 1 MiB blocks with preset dictionaries on two threads, and inflates the zlib-6
stream with each. CPU is this process's user+sys (threads included). The whole input is held in
memory here, unlike modpack itself: this is a comparison of codecs, not of peak memory.
Usage: python bench/bench_codec.py
"""

from __future__ import annotations

import concurrent.futures
import resource
import sys
import time
import zlib
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import real_module

BLOCK, WINDOW = 1 << 20, 1 << 15


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def block(codec: ModuleType, level: int, data: bytes, preset: bytes, final: bool) -> bytes:
    compressor = (
        codec.compressobj(level, 8, -15, 8, 0, preset) if preset else codec.compressobj(level, 8, -15)
    )
    return bytes(
        compressor.compress(data) + compressor.flush(codec.Z_FINISH if final else codec.Z_SYNC_FLUSH)
    )


def blocks(codec: ModuleType, level: int, data: bytes) -> bytes:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(
                block, codec, level, data[i : i + BLOCK], data[max(0, i - WINDOW) : i], i + BLOCK >= len(data)
            )
            for i in range(0, len(data), BLOCK)
        ]
        return b"".join(f.result() for f in futures)


def stream(codec: ModuleType, level: int, data: bytes) -> bytes:
    compressor = codec.compressobj(level, 8, -15)
    return bytes(compressor.compress(data) + compressor.flush())


def codecs() -> list[tuple[str, ModuleType, tuple[int, ...]]]:
    found: list[tuple[str, ModuleType, tuple[int, ...]]] = [("zlib", zlib, (1, 6))]
    try:
        from zlib_ng import zlib_ng

        found.append((f"zlib-ng {zlib_ng.ZLIBNG_VERSION}", zlib_ng, (1, 2, 3, 4, 5, 6)))
    except ImportError:
        print("zlib-ng not installed (pip install zlib-ng)")
    try:
        from isal import isal_zlib

        found.append(("isal", isal_zlib, (0, 1, 2, 3)))
    except ImportError:
        print("isal not installed (pip install isal)")
    return found


def main() -> None:
    data = real_module().read_bytes()
    print(f"input: {len(data) / 1e6:.1f} MB of real code")
    for name, codec, levels in codecs():
        for level in levels:
            for how, function in (("one stream", stream), ("1 MiB blocks x2", blocks)):
                start, wall = cpu(), time.perf_counter()
                out = function(codec, level, data)
                used, wall = cpu() - start, time.perf_counter() - wall
                assert zlib.decompress(out, -15) == data
                print(
                    f"deflate {name:<14} level {level} {how:<16} {used:6.2f} s CPU {wall:6.2f} s wall {len(out) / 1e6:7.2f} MB"
                )
    reference = stream(zlib, 6, data)
    for name, codec, _ in codecs():
        best = min(_inflate(codec, reference, len(data)) for _ in range(3))
        print(f"inflate {name:<14} {best:6.3f} s CPU (best of 3)")


def _inflate(codec: ModuleType, compressed: bytes, size: int) -> float:
    start = cpu()
    inflater, total = codec.decompressobj(-15), 0
    for offset in range(0, len(compressed), 1 << 18):
        total += len(inflater.decompress(compressed[offset : offset + (1 << 18)]))
    total += len(inflater.flush())
    assert total == size
    return cpu() - start


if __name__ == "__main__":
    main()
