"""The codec (modpack/codec.py): pinned bytes, standard unzippers, size beside zip -6, safe fallbacks."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from modpack import codec
from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES, SO

# sha256 of codec.deflate(code_like(3 MiB)) with zlib-ng 2.3.3 (PyPI zlib-ng 1.1.0) at level 6. When a
# modpack release moves to another codec release this changes, on purpose and in the same commit.
KNOWN_DEFLATE = "f62f7dbe4347a4beb9d4577a49213e5dd9c36bac1b741e8b68de9e386387f6ee"
KNOWN_SIZE = 3 * 1024 * 1024 + 12345  # not a multiple of the block: the last block is short


def code_like(size: int) -> bytes:
    """Deterministic input that compresses like code: instruction-like lines from a sha256 stream.

    Only sha256 decides it, so it is the same on every Python and every machine.
    """
    mnemonics = [b"mov", b"lea", b"add", b"cmp", b"jne", b"call", b"push", b"pop", b"xor", b"ret"]
    registers = [b"rax", b"rbx", b"rcx", b"rdx", b"rsi", b"rdi", b"r8", b"r12"]
    lines = []
    total, counter = 0, 0
    while total < size:
        digest = hashlib.sha256(counter.to_bytes(8, "little")).digest()
        counter += 1
        for i in range(0, 32, 4):
            a, b, c, d = digest[i : i + 4]
            line = b"%s %s, [%s+0x%x]\n" % (mnemonics[a % 10], registers[b % 8], registers[c % 8], d % 64)
            lines.append(line)
            total += len(line)
    return b"".join(lines)[:size]


@pytest.fixture(scope="module")
def known_input() -> bytes:
    return code_like(KNOWN_SIZE)


def test_a_known_input_deflates_to_known_bytes_whatever_the_threads(known_input: bytes) -> None:
    streams = {codec.deflate(known_input, workers=n) for n in (1, 2, 5)}
    assert len(streams) == 1, "the bytes depend on the number of threads"
    stream = streams.pop()
    assert zlib.decompress(stream, -15) == known_input
    assert hashlib.sha256(stream).hexdigest() == KNOWN_DEFLATE, (
        "the pinned codec wrote other bytes: a bundle would differ from the same release elsewhere"
    )


def _real_code_module(tmp_path: Path) -> Path:
    """The fixture module with the system C library added as a non-loaded section: real code."""
    libc = next(
        Path(line.split()[-1])
        for line in Path("/proc/self/maps").read_text().splitlines()
        if "/libc.so" in line or "/libc-" in line
    )
    target = tmp_path / "hello.so"
    subprocess.run(
        [
            "objcopy",
            "--add-section",
            f".blob={libc}",
            "--set-section-flags",
            ".blob=noload,readonly",
            str(SO / "x86_64" / "hello.so"),
            str(target),
        ],
        check=True,
    )
    target.chmod(0o755)
    return target


def _so_entry(bundle: Path) -> zipfile.ZipInfo:
    with zipfile.ZipFile(bundle) as archive:
        return next(i for i in archive.infolist() if i.filename.endswith(".so"))


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("codec")
    so = _real_code_module(folder)
    result = run_modpack("build", FIXTURES / "example" / "modpack.toml", "--so", so, "-o", folder / "out")
    assert result.returncode == 0, result.stderr
    return so, next((folder / "out").glob("*.zip"))


def test_a_bundle_of_real_code_unpacks_with_unzip_and_zipfile(real_bundle: tuple[Path, Path]) -> None:
    so, bundle = real_bundle
    assert shutil.which("unzip"), "unzip is needed (Debian package unzip)"
    tested = subprocess.run(["unzip", "-t", str(bundle)], capture_output=True, text=True, check=False)
    assert tested.returncode == 0 and "No errors detected" in tested.stdout, tested.stdout
    with zipfile.ZipFile(bundle) as archive:
        assert archive.testzip() is None
        assert archive.read(_so_entry(bundle).filename) == so.read_bytes()
    assert run_modpack("validate", bundle).returncode == 0


def test_a_bundle_of_real_code_is_within_5_percent_of_zip_6(
    real_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    so, bundle = real_bundle
    baseline = tmp_path / "baseline.zip"
    subprocess.run(["zip", "-6", "-q", "-j", str(baseline), str(so)], check=True)
    ours, theirs = _so_entry(bundle).compress_size, _so_entry(baseline).compress_size
    assert ours <= 1.05 * theirs, f"{ours} bytes against zip -6's {theirs}"


def _run_python(script: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=False
    )


_CLI = "import sys, runpy\nsys.argv = ['modpack', *sys.argv[1:]]\nrunpy.run_module('modpack', run_name='__main__')\n"
_NO_ZLIB_NG = "import sys\nsys.modules['zlib_ng'] = None\n"
_NO_ISAL = "import sys\nsys.modules['isal'] = None\n"
# Reading a bundle: ISA-L when installed, else zlib-ng, else zlib (modpack/codec.py, member_chunks).
_INFLATERS = ["", _NO_ISAL, _NO_ISAL + _NO_ZLIB_NG]
_OTHER_ZLIB_NG = "from zlib_ng import zlib_ng\nzlib_ng.ZLIBNG_VERSION = '2.2.4'\n"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (_NO_ZLIB_NG, "needs the zlib-ng package"),
        (_OTHER_ZLIB_NG, "zlib-ng 2.2.4 is installed"),
    ],
)
def test_build_refuses_without_the_pinned_codec_and_writes_nothing(
    setup: str, message: str, tmp_path: Path
) -> None:
    # Another zlib-ng release cannot be installed beside the pinned one, so its version is patched.
    out = tmp_path / "out"
    result = _run_python(
        setup + _CLI,
        "build",
        FIXTURES / "example" / "modpack.toml",
        "--so",
        SO / "x86_64" / "hello.so",
        "-o",
        out,
    )
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and "pip install 'zlib-ng==1.1.0'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(out.glob("*")) if out.exists() else True


@pytest.mark.parametrize("setup", [_NO_ISAL, _NO_ISAL + _NO_ZLIB_NG, _NO_ZLIB_NG])
def test_validate_inflates_with_another_inflater_when_one_is_missing(
    real_bundle: tuple[Path, Path], setup: str
) -> None:
    _, bundle = real_bundle
    result = _run_python(setup + _CLI, "validate", bundle)
    assert result.returncode == 0, result.stdout + result.stderr


def _damaged(bundle: Path, tmp_path: Path, *, crc: bool) -> Path:
    data = bytearray(bundle.read_bytes())
    info = _so_entry(bundle)
    if crc:  # the .so's CRC in both headers (they agree, so only the data check can see it)
        where = data.rfind(info.CRC.to_bytes(4, "little"))
        data[where] ^= 0xFF
        data[info.header_offset + 14] ^= 0xFF
    else:  # bytes in the middle of the .so's deflate stream
        middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
        data[middle : middle + 64] = bytes(64)
    target = tmp_path / "damaged.zip"
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("setup", _INFLATERS)
@pytest.mark.parametrize("crc", [False, True])
def test_a_damaged_so_entry_is_a_finding_with_either_inflater(
    real_bundle: tuple[Path, Path], tmp_path: Path, setup: str, crc: bool
) -> None:
    damaged = _damaged(real_bundle[1], tmp_path, crc=crc)
    result = _run_python(setup + _CLI, "validate", damaged)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "ZIP014" in result.stdout or "ZIP006" in result.stdout, result.stdout
    if crc:
        assert "Bad CRC-32" in result.stdout


def test_member_chunks_reads_stored_entries_and_short_reads_alike(tmp_path: Path, known_input: bytes) -> None:
    target = tmp_path / "two.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(zipfile.ZipInfo("stored.bin"), known_input, compress_type=zipfile.ZIP_STORED)
        archive.writestr(zipfile.ZipInfo("deflated.bin"), known_input, compress_type=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(target) as archive:
        for info in archive.infolist():
            chunks = list(codec.member_chunks(archive, info, size=100_000))
            assert b"".join(chunks) == known_input
            assert max(len(c) for c in chunks) <= 100_000


def _only(monkeypatch: pytest.MonkeyPatch, inflater: str) -> None:
    """member_chunks made to use one inflater, as on a machine where only it is installed."""
    if inflater != "isal":
        monkeypatch.setattr(codec, "igzip", lambda: None)
    if inflater == "zlib":
        monkeypatch.setattr(codec, "inflater", lambda: zlib)


@pytest.mark.parametrize("inflater", ["isal", "zlib_ng", "zlib"])
def test_every_inflater_keeps_zipfiles_checks(
    tmp_path: Path, known_input: bytes, monkeypatch: pytest.MonkeyPatch, inflater: str
) -> None:
    _only(monkeypatch, inflater)
    target = tmp_path / "one.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(zipfile.ZipInfo("m.so"), known_input, compress_type=zipfile.ZIP_DEFLATED)

    def read(change: str, value: int) -> bytes:
        with zipfile.ZipFile(target) as archive:
            info = archive.getinfo("m.so")
            setattr(info, change, value)
            return b"".join(codec.member_chunks(archive, info, size=100_000))

    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo("m.so")
    assert read("CRC", info.CRC) == known_input
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        read("CRC", info.CRC ^ 1)
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):  # output cut at the directory's size
        read("file_size", info.file_size // 2)
    # the stream goes on past the directory's compressed size (zipfile's loop sees the CRC differ)
    with pytest.raises(EOFError if inflater != "zlib" else zipfile.BadZipFile):
        read("compress_size", info.compress_size // 2)
    data = bytearray(target.read_bytes())
    start = 30 + len("m.so")
    data[start : start + 64] = b"\xff" * 64  # not a deflate stream: an invalid block type
    target.write_bytes(bytes(data))
    with pytest.raises(zlib.error):
        read("CRC", info.CRC)


# Stored members: read as they lie, CRC-32 by ISA-L when installed, else zlib (codec._stored).
_STEP = 64 * 1024
_ZIPFILE_READ = zipfile.ZipExtFile.read  # zipfile's own loop, kept before a test patches it out


def _system_code(size: int) -> bytes:
    """`size` bytes of real machine code: the shared libraries this interpreter has mapped, in turn."""
    paths = sorted(
        {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines() if ".so" in line}
    )
    code = b"".join(Path(p).read_bytes() for p in paths if p.startswith("/") and Path(p).is_file())
    assert len(code) > 1024 * 1024, paths
    return (code * (size // len(code) + 1))[:size]


def _stored_zip(target: Path, payload: bytes, name: str = "m.so") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), payload, compress_type=zipfile.ZIP_STORED)
    return target


def _data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a member's data starts: after its local header, name and extra field."""
    header = path.read_bytes()[info.header_offset : info.header_offset + 30]
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


@pytest.fixture(params=["isal", "zlib"])
def stored_crc(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which CRC-32 a stored member is checked with: ISA-L's, or zlib's on a machine without isal.

    zipfile's own loop is made to fail, so the stored path is the one under test, and with isal
    installed so is zlib's CRC-32 (4x slower: the cost this path removes)."""
    monkeypatch.setattr(
        zipfile.ZipExtFile, "read", lambda *_: pytest.fail("zipfile's loop read a stored member")
    )
    if request.param == "zlib":
        monkeypatch.setitem(sys.modules, "isal", None)
        assert codec.checksum() is zlib.crc32
    else:
        from isal import isal_zlib

        assert codec.checksum() is isal_zlib.crc32
        monkeypatch.setattr(zlib, "crc32", lambda *_: pytest.fail("zlib's CRC-32 with isal installed"))
    return str(request.param)


@pytest.mark.parametrize("size", [0, 1, _STEP - 1, _STEP, _STEP + 1, 2 * _STEP, 5 * 1024 * 1024 + 3])
def test_a_stored_member_reads_as_its_bytes_in_chunks_of_at_most_the_size(
    tmp_path: Path, stored_crc: str, size: int
) -> None:
    payload = _system_code(size)
    target = _stored_zip(tmp_path / "stored.zip", payload)
    with zipfile.ZipFile(target) as archive:
        chunks = list(codec.member_chunks(archive, archive.getinfo("m.so"), size=_STEP))
    assert b"".join(chunks) == payload
    assert [len(c) for c in chunks] == [min(_STEP, size - at) for at in range(0, size, _STEP)]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_changed_byte_in_a_stored_member_is_a_bad_crc_naming_it(
    tmp_path: Path, stored_crc: str, where: str
) -> None:
    payload = _system_code(3 * _STEP + 5)
    target = _stored_zip(tmp_path / "stored.zip", payload, name="lib/mod.so")
    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo("lib/mod.so")
    data = bytearray(target.read_bytes())
    at = {"first": 0, "middle": len(payload) // 2, "last": len(payload) - 1}[where]
    data[_data_offset(target, info) + at] ^= 1
    target.write_bytes(bytes(data))
    with zipfile.ZipFile(target) as archive, pytest.raises(zipfile.BadZipFile) as raised:
        b"".join(codec.member_chunks(archive, archive.getinfo("lib/mod.so"), size=_STEP))
    assert str(raised.value) == "Bad CRC-32 for file 'lib/mod.so'"


def _zipfile_reads(archive: zipfile.ZipFile) -> type[BaseException] | None:
    """What zipfile itself raises reading the archive's one member with its own loop."""
    try:
        with archive.open(archive.infolist()[0]) as member:
            _ZIPFILE_READ(member)
    except (EOFError, zipfile.BadZipFile) as exc:
        return type(exc)
    return None


@pytest.mark.parametrize("cut", [1, 40, 5000, 100_000])
def test_a_stored_member_cut_short_fails_as_zipfile_fails(tmp_path: Path, stored_crc: str, cut: int) -> None:
    """Bytes cut from the member's data, the directory moved up (its offset fixed): the reader runs
    into the directory and its end record, 72 bytes here (the CRC differs), or past the end of the
    file (EOFError)."""
    payload = _system_code(4 * _STEP)
    target = _stored_zip(tmp_path / "cut.zip", payload)
    with zipfile.ZipFile(target) as archive:
        middle = _data_offset(target, archive.getinfo("m.so")) + len(payload) // 2
    data = bytearray(target.read_bytes())
    del data[middle : middle + cut]
    end = data.rfind(b"PK\x05\x06")
    offset = int.from_bytes(data[end + 16 : end + 20], "little") - cut
    data[end + 16 : end + 20] = offset.to_bytes(4, "little")
    target.write_bytes(bytes(data))
    with zipfile.ZipFile(target) as archive:
        expected = _zipfile_reads(archive)
        assert expected is (zipfile.BadZipFile if cut < 72 else EOFError)
        with pytest.raises(expected, match=r"m\.so"):
            b"".join(codec.member_chunks(archive, archive.getinfo("m.so"), size=_STEP))


def test_a_stored_member_whose_file_shrinks_while_read_fails_as_zipfile_fails(
    tmp_path: Path, stored_crc: str
) -> None:
    payload = _system_code(4 * _STEP)
    target = _stored_zip(tmp_path / "shrinks.zip", payload)
    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo("m.so")
        os.truncate(target, _data_offset(target, info) + len(payload) // 2)
        assert _zipfile_reads(archive) is EOFError
        chunks = codec.member_chunks(archive, info, size=_STEP)
        with pytest.raises(EOFError, match=r"the data of m\.so ends 131072 bytes before its size does"):
            b"".join(chunks)


@pytest.mark.parametrize("change", [-1, 1])
def test_a_stored_member_whose_two_sizes_differ_is_refused(
    tmp_path: Path, stored_crc: str, change: int
) -> None:
    """zipfile reads the smaller of the two: it fails the CRC when the data is short, and would
    pass over bytes the directory claims when it is long. Either way the directory is wrong."""
    payload = _system_code(_STEP)
    target = _stored_zip(tmp_path / "sizes.zip", payload + b"tail")
    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo("m.so")
        info.file_size = len(payload) if change > 0 else len(payload) + 4
        info.compress_size = info.file_size + change
        with pytest.raises(
            zipfile.BadZipFile, match=r"stored file 'm\.so' has \d+ bytes of data for a size of \d+"
        ):
            b"".join(codec.member_chunks(archive, info, size=_STEP))


def _stored_copy(bundle: Path, target: Path) -> Path:
    """The bundle with every member stored, as bench/bench_publish.py writes its large one."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.external_attr = info.external_attr
            out.writestr(copy, source.read(info), compress_type=zipfile.ZIP_STORED)
    return target


@pytest.mark.parametrize("setup", ["", _NO_ISAL])
def test_validate_finds_a_changed_byte_in_a_stored_bundles_so(
    real_bundle: tuple[Path, Path], tmp_path: Path, setup: str
) -> None:
    stored = _stored_copy(real_bundle[1], tmp_path / "stored.zip")
    info = _so_entry(stored)
    assert info.compress_type == zipfile.ZIP_STORED
    result = _run_python(setup + _CLI, "validate", stored)
    assert result.returncode == 0, result.stdout + result.stderr
    data = bytearray(stored.read_bytes())
    data[_data_offset(stored, info) + info.file_size // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    result = _run_python(setup + _CLI, "validate", stored)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "ZIP014" in result.stdout, result.stdout
    assert f"Bad CRC-32 for file '{info.filename}'" in result.stdout, result.stdout
