"""A bundled .so gets exactly the findings it gets alone, whatever its size and layout.

The bundle reader never extracts the .so: it keeps the head, the tail and the small sections in
memory (bundle.stream_binary). Issue 17: a .so of 1-4 MiB had its head and tail kept twice
(both ranges start at 0), so the image was garbled and the bundle got a bogus ELF002 and no
other ELF check. Every size from 0 bytes to past HEAD_KEEP + TAIL_KEEP is compared here, with
real bundles written by modpack's own writer from the real fixture module, grown with
`objcopy --add-section` (a non-alloc section, the way debug data grows a module).
"""

from __future__ import annotations

import errno
import io
import random
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modpack import builder, bundle, manifests, validate
from modpack.checks.elf import check_binary
from modpack.findings import Sink
from tests.elf_cases.compile import compile_so
from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, SO
from tests.support.tools import require

BASE = SO / "x86_64" / "hello.so"
MIB = 1024 * 1024
CHUNK = bundle.CHUNK
LIMIT = bundle.HEAD_KEEP + bundle.TAIL_KEEP + 2 * CHUNK


@pytest.fixture(autouse=True, params=["head and tail", "whole"])
def keeping(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs as a module larger than WHOLE_KEEP (head, tail, then what is needed) and
    as one kept whole; the CLI's child processes always keep as modpack does."""
    if request.param == "head and tail":
        monkeypatch.setattr(bundle, "WHOLE_KEEP", 0)
    return str(request.param)


def _module() -> dict[str, object]:
    decl = manifests.load(FIXTURES / "example" / "modpack.toml")
    return builder.assemble(decl, BASE, builder.read_facts(BASE))


MODULE = _module()


def _content(size: int) -> bytes:
    """Bytes that differ at every position modulo a prime, so a misplaced chunk is visible."""
    block = random.Random(size).randbytes(4099)
    return (block * (size // len(block) + 1))[:size]


def _so_of_size(size: int, folder: Path) -> Path:
    """The fixture module, grown to exactly `size` bytes (or cut to it when smaller)."""
    out = folder / "hello.so"
    base = BASE.read_bytes()
    if size <= len(base):
        out.write_bytes(base[:size])
        return out
    require(shutil.which("objcopy") is not None, "objcopy (binutils) is not installed")
    pad = folder / "pad.bin"
    grown = folder / "grown.so"
    length = size - len(base) - 64  # the new section header; alignment may add a few bytes
    while True:
        pad.write_bytes(_content(max(length, 0)))
        subprocess.run(["objcopy", "--add-section", f".pad={pad}", str(BASE), str(grown)], check=True)
        over = grown.stat().st_size - size
        if over <= 0 or length <= 0:
            break
        length -= over
    data = grown.read_bytes()
    # Alignment moves sizes in steps of 8; the last few bytes trail the section header table.
    out.write_bytes(data + _content(size - len(data)) if len(data) <= size else data[:size])
    return out


def _bundle_of(so: Path, folder: Path) -> Path:
    path = folder / "hello.zip"
    builder.write_bundle(path, dict(MODULE), so, force=True)
    return path


def _binary_findings(findings: list, where: str) -> list[tuple[str, str, str]]:
    return [(f.code, f.message, f.location.path) for f in findings if f.location.file == where]


def _alone(so: Path) -> list[tuple[str, str, str]]:
    sink = Sink(str(so))
    check_binary(so, sink, module=dict(MODULE), suggest_systems=False)
    return _binary_findings(sink.resolved(), str(so))


def _bundled(path: Path) -> list[tuple[str, str, str]]:
    findings = validate.validate_bundle(path).findings
    return _binary_findings(findings, f"{path}!hello.so")


def _assert_same_verdict(size: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        so = _so_of_size(size, folder)
        assert so.stat().st_size == size
        alone = _alone(so)
        bundled = _bundled(_bundle_of(so, folder))
        assert bundled == alone, f"a {size}-byte .so: bundled {bundled} != alone {alone}"


def _boundaries() -> list[int]:
    base = BASE.stat().st_size
    sizes = {0, 1, 3, 4, 5, 16, 63, 64, 65, base - 1, base, base + 1, base + 64, base + 72}
    for k in range(1, LIMIT // CHUNK + 1):
        sizes |= {k * CHUNK - 1, k * CHUNK, k * CHUNK + 1}
    for mark in (bundle.HEAD_KEEP, bundle.TAIL_KEEP, bundle.HEAD_KEEP + bundle.TAIL_KEEP):
        sizes |= {mark - 1, mark, mark + 1}
    return sorted(sizes)


@pytest.mark.parametrize("size", _boundaries())
def test_every_chunk_boundary_gets_the_verdict_of_the_so_alone(size: int) -> None:
    _assert_same_verdict(size)


@settings(max_examples=12, deadline=None)
@given(st.one_of(st.integers(min_value=0, max_value=4096), st.integers(min_value=MIB, max_value=LIMIT)))
def test_any_size_gets_the_verdict_of_the_so_alone(size: int) -> None:
    _assert_same_verdict(size)


def test_a_module_of_1_to_4_mib_gets_every_elf_check_not_elf002(tmp_path: Path) -> None:
    """What a user saw: a 2 MiB module's bundle failed with ELF002; it must validate clean."""
    bundled = _bundle_of(_so_of_size(2 * MIB + 12345, tmp_path), tmp_path)
    result = run_modpack("validate", bundled, "--format", "json")
    assert result.returncode == 0, result.stdout
    assert "ELF002" not in result.stdout
    # ELF checks ran: the same bundle with a wrong architecture gets ELF007 from the image.
    wrong = dict(MODULE, architecture="aarch64")
    builder.write_bundle(tmp_path / "wrong.zip", wrong, tmp_path / "hello.so", force=True)
    result = run_modpack("validate", tmp_path / "wrong.zip", "--format", "json")
    assert result.returncode == 1
    assert "ELF007" in result.stdout and "ELF002" not in result.stdout


BIG_SECTIONS_C = """
#include "redismodule_min.h"
const char big_ro[9 * 1024 * 1024] = {1};
char big_rw[9 * 1024 * 1024] = {1};
int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)ctx; (void)argv;
    return big_ro[argc] + big_rw[argc];
}
"""


def test_small_sections_between_two_large_ones_are_read_in_a_second_pass(
    tmp_path: Path, keeping: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.dynamic sits after 9 MiB of .rodata and before 9 MiB of .data: neither head nor tail.

    The second pass once kept only the sections, not the ELF header, so such a bundle got
    IN001 "byte 0 of the module was not kept".
    """
    so = compile_so(tmp_path, "big.so", BIG_SECTIONS_C, f"-I{FIXTURES / 'include'}")
    dynamic = _section_offset(so, ".dynamic")
    size = so.stat().st_size
    assert bundle.HEAD_KEEP < dynamic < size - bundle.TAIL_KEEP, "the layout this test needs"
    path = _bundle_of(so, tmp_path)
    alone = _alone(so)
    assert _bundled(path) == alone
    assert all(code.startswith("ELF") for code, _m, _p in alone)
    passes = []
    inflate = bundle.member_chunks
    monkeypatch.setattr(bundle, "member_chunks", lambda *args: passes.append(1) or inflate(*args))
    with zipfile.ZipFile(path) as archive:
        streamed = bundle.stream_binary(archive, archive.getinfo("hello.so"))
    # kept whole (it is under WHOLE_KEEP), the module is inflated once, not twice
    assert len(passes) == (1 if keeping == "whole" else 2)
    streamed.image.seek(dynamic)
    assert streamed.image.read(16) == so.read_bytes()[dynamic : dynamic + 16]


def _section_offset(so: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with so.open("rb") as stream:
        section = ELFFile(stream).get_section_by_name(name)
        assert section is not None
        return int(section["sh_offset"])


def test_a_read_running_past_the_kept_bytes_fails_instead_of_coming_back_short() -> None:
    """A short read would look like a truncated file (a false ELF002), so it must raise."""
    image = bundle.SparseImage(100, {0: b"a" * 10, 10: b"b" * 5, 50: b"c" * 10})
    assert image.read(15) == b"a" * 10 + b"b" * 5  # touching ranges are one run
    image.seek(12)
    with pytest.raises(OSError, match=r"bytes 12\.\.22 of the module were not kept") as missing:
        image.read(10)
    assert missing.value.errno == errno.EIO
    # A run after a gap joins the run just before it, not the first one.
    gapped = bundle.SparseImage(100, {0: b"a" * 10, 50: b"c" * 10, 60: b"d" * 5})
    gapped.seek(55)
    assert gapped.read(10) == b"c" * 5 + b"d" * 5
    image.seek(55)
    assert image.read(5) == b"c" * 5
    buffered = io.BufferedReader(bundle.SparseImage(100, {50: bytes(range(50))}), buffer_size=16)
    buffered.seek(60)
    assert buffered.read(8) == bytes(range(10, 18))
    image.seek(99)
    with pytest.raises(OSError, match="not kept"):
        image.read(10)
    image.seek(100)
    assert image.read(10) == b""


def test_overlapping_ranges_keep_each_byte_once() -> None:
    data = bytes(range(256)) * 40
    keeper = bundle._Keeper(len(data), [(0, 6000), (0, 6000), (4000, len(data)), (5000, 5100)])
    for at in range(0, len(data), 1000):
        keeper.feed(data[at : at + 1000])
    image = bundle.SparseImage(len(data), keeper.pieces)
    assert sum(len(piece) for piece in keeper.pieces.values()) == len(data)
    assert image.read(len(data)) == data


def test_wanted_ranges_after_a_gap_are_joined_with_their_neighbour() -> None:
    data = bytes(range(256)) * 2
    keeper = bundle._Keeper(len(data), [(0, 10), (20, 100), (50, 80), (200, 300)])
    for at in range(0, len(data), 60):
        keeper.feed(data[at : at + 60])
    assert sum(len(piece) for piece in keeper.pieces.values()) == 10 + 80 + 100
    image = bundle.SparseImage(len(data), keeper.pieces)
    image.seek(20)
    assert image.read(80) == data[20:100]
    image.seek(200)
    assert image.read(100) == data[200:300]
    image.seek(5)
    with pytest.raises(OSError, match="not kept"):
        image.read(10)


def test_a_module_with_data_appended_after_its_tables_gets_the_verdict_of_the_so_alone(
    tmp_path: Path,
) -> None:
    """5 MiB after the section header table (an appended payload or signature): the table is
    neither in the head nor in the tail, so the first pass must keep it from the ELF header."""
    so = _so_of_size(6 * MIB, tmp_path)  # its section header table ends at 6 MiB
    so.write_bytes(so.read_bytes() + _content(5 * MIB))
    assert _bundled(_bundle_of(so, tmp_path)) == _alone(so)


class _CountingZip(zipfile.ZipFile):
    """A real ZipFile that counts how often a member is opened (each open is one inflate pass)."""

    opened = 0

    def open(self, name, mode="r", pwd=None, *, force_zip64=False):  # type: ignore[no-untyped-def]
        type(self).opened += 1
        return super().open(name, mode, pwd, force_zip64=force_zip64)


@pytest.mark.parametrize("size", [2 * MIB, 6 * MIB, 10 * MIB])
def test_a_usual_module_is_decompressed_once(tmp_path: Path, size: int) -> None:
    path = _bundle_of(_so_of_size(size, tmp_path), tmp_path)
    _CountingZip.opened = 0
    with _CountingZip(path) as archive:
        streamed = bundle.stream_binary(archive, archive.getinfo("hello.so"))
    assert _CountingZip.opened == 1
    assert streamed.size == size
