"""Bundles Redis Enterprise's unpacker refuses must fail validate and build, never pass.

Each case is a refusal of the unpacker RAMP mirrors (ramp.md §11, RAMP's unpacker.py): a version
that is not truthy (module_version_missing), and more than one entry named *.so, deps/ counted
(invalid_number_of_files). Checked as a user meets them: the exit status, the finding's line, and
that build writes no bundle; a bundle the unpacker takes must still pass.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import build, run_modpack
from tests.support.paths import FIXTURES
from tests.support.tools import require

EXAMPLE = FIXTURES / "example"
SO = FIXTURES / "so" / "x86_64" / "hello.so"


def _project(folder: Path, semantic_version: str) -> Path:
    folder.mkdir()
    text = (EXAMPLE / "modpack.toml").read_text()
    text = text.replace('semantic_version = "1.2.3"', f'semantic_version = "{semantic_version}"')
    (folder / "modpack.toml").write_text(text.replace('so = "../so/x86_64/hello.so"', f'so = "{SO}"'))
    return folder


def _with_entry(bundle: Path, target: Path, name: str, data: bytes) -> Path:
    shutil.copyfile(bundle, target)
    with zipfile.ZipFile(target, "a") as archive:
        entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100644 << 16
        archive.writestr(entry, data)
    return target


@pytest.mark.rule("VER012")
def test_version_zero_is_refused_in_module_json_modpack_toml_and_build(tmp_path: Path) -> None:
    good = build(_project(tmp_path / "good", "1.2.3"), tmp_path / "good-dist")
    with zipfile.ZipFile(good) as archive:
        document = json.loads(archive.read("module.json"))
    document.update(version=0, semantic_version="0.0.0")
    (tmp_path / "module.json").write_text(json.dumps(document, indent=2))
    done = run_modpack("validate", tmp_path / "module.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[version]: error VER012 version is 0: Redis Enterprise reads 0 as no version" in done.stdout

    project = _project(tmp_path / "zero", "0.0.0")
    done = run_modpack("validate", project / "modpack.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "modpack.toml:7 [module.semantic_version]: error VER012" in done.stdout
    assert "semantic_version 0.0.0 encodes 0" in done.stdout
    done = run_modpack("build", project, "-o", tmp_path / "dist")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "VER012" in done.stdout + done.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
    # 0.0.1 is the first version the unpacker takes
    first = build(_project(tmp_path / "first", "0.0.1"), tmp_path / "first-dist")
    assert run_modpack("validate", first).returncode == 0


def _bundle_with(tmp_path: Path, entry: str) -> Path:
    bundle = build(_project(tmp_path / "project", "1.2.3"), tmp_path / "dist")
    return _with_entry(bundle, tmp_path / "with-deps.zip", entry, b"\x7fELF not a real library")


@pytest.mark.rule("ZIP003")
@pytest.mark.parametrize("entry", ["deps/libhelper.so", "deps/nested/libhelper.so"])
def test_a_second_so_under_deps_is_refused(tmp_path: Path, entry: str) -> None:
    done = run_modpack("validate", _bundle_with(tmp_path, entry))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"error ZIP003 the bundle holds 2 entries named *.so (hello.so, {entry}): Redis Enterprise"
        " counts those under deps/ too and refuses more than one (invalid_number_of_files)"
    ) in done.stdout
    assert "deps/<name>.tgz" in done.stdout


@pytest.mark.parametrize(
    "entry",
    [
        "deps/libhelper.so.1",  # does not end in .so: the unpacker does not count it
        "deps/helper.tgz",  # how RAMP packs a dependency
    ],
)
def test_deps_entries_the_unpacker_does_not_count_pass(tmp_path: Path, entry: str) -> None:
    done = run_modpack("validate", _bundle_with(tmp_path, entry))
    assert "ZIP003" not in done.stdout, done.stdout


def _recompressed(bundle: Path, target: Path, method: int) -> Path:
    """`bundle` with every member compressed by `method`, names and modes kept."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(target, "w") as archive:
        for info in source.infolist():
            data = source.read(info)
            info.compress_type = method
            archive.writestr(info, data)
    return target


def test_bzip2_and_lzma_bundles_pass_as_the_unpacker_reads_them(tmp_path: Path) -> None:
    """The unpacker opens members with Python's zipfile, which reads bzip2 and LZMA: `zip -Z bzip2`
    and 7-Zip's -mm=BZip2 / -mm=LZMA bundles were ZIP017 'uses compression method 12', and
    refused by serve, where the node takes them."""
    require(shutil.which("zip") is not None, "zip is not installed")
    good = build(_project(tmp_path / "project", "1.2.3"), tmp_path / "dist")
    parts = tmp_path / "parts"
    with zipfile.ZipFile(good) as archive:
        archive.extractall(parts)
    (parts / "hello.so").chmod(0o755)
    bzip2 = tmp_path / "bzip2.zip"
    subprocess.run(["zip", "-q", "-Z", "bzip2", str(bzip2), "module.json", "hello.so"], cwd=parts, check=True)
    with zipfile.ZipFile(bzip2) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_BZIP2}
    lzma = _recompressed(good, tmp_path / "lzma.zip", zipfile.ZIP_LZMA)
    for bundle in (bzip2, lzma):
        done = run_modpack("validate", bundle)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ZIP017" not in done.stdout
        assert run_modpack("inspect", bundle).returncode == 0


@pytest.mark.rule("ZIP017")
def test_a_method_the_unpacker_cannot_read_is_refused_by_name(tmp_path: Path) -> None:
    """Deflate64 (7-Zip's -mm=Deflate64): Python's zipfile raises NotImplementedError on it."""
    good = build(_project(tmp_path / "project", "1.2.3"), tmp_path / "dist")
    data = bytearray(good.read_bytes())
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.find(signature)
        while at >= 0:
            struct.pack_into("<H", data, at + method_at, 9)
            at = data.find(signature, at + 4)
    bundle = tmp_path / "deflate64.zip"
    bundle.write_bytes(bytes(data))
    done = run_modpack("validate", bundle)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error ZIP017 entry 'hello.so' uses compression method 9 (Deflate64)" in done.stdout


def test_damaged_lzma_data_is_zip014_not_a_crash(tmp_path: Path) -> None:
    good = build(_project(tmp_path / "project", "1.2.3"), tmp_path / "dist")
    bundle = _recompressed(good, tmp_path / "lzma.zip", zipfile.ZIP_LZMA)
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo("hello.so")
    start = info.header_offset + 30 + len("hello.so") + len(info.extra) + 4 + 200
    data[start : start + 64] = b"\xff" * 64
    bundle.write_bytes(bytes(data))
    for command in ("validate", "inspect"):
        done = run_modpack(command, bundle)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
        assert "ZIP014" in done.stdout + done.stderr


def _lying_member(target: Path, method: int, payload: bytes, size: int) -> Path:
    """A zip of one module.json whose compressed data is `payload` and whose headers say `size`."""
    name = b"module.json"
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 46, 0, method, 0, 0, 0, len(payload), size, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 46, 46, 0, method, 0, 0, 0, len(payload), size, len(name), 0, 0, 0,
        0, 0o644 << 16, 0,
    )  # fmt: skip
    entry = local + name + payload
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(entry), 0)
    target.write_bytes(entry + central + name + end)
    return target


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_a_small_bzip2_or_lzma_member_that_inflates_to_gigabytes_is_not_held(
    tmp_path: Path, method: int
) -> None:
    """zipfile's own loop decompresses each 4 KiB of bzip2 or LZMA input whole before it cuts the
    output at the member's size: a 1.6 KB bundle whose module.json says 100 bytes and holds 2 GB
    of zeros took validate 4 GB of memory and 12 s. The member is read a bounded chunk at a time."""
    import bz2
    import lzma
    import tracemalloc

    from modpack.bundle import read_small
    from modpack.unrelated import unrelated

    zeros = b"\0" * (256 * 1024 * 1024)
    if method == zipfile.ZIP_BZIP2:
        payload = bz2.compress(zeros, 9)
    else:  # as zipfile writes it: version, size of the properties, LZMA1 properties, raw data
        filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 20, "lc": 3, "lp": 0, "pb": 2}]
        raw = lzma.compress(zeros, lzma.FORMAT_RAW, filters=filters)
        payload = b"\x09\x04\x05\x00" + bytes([(2 * 5 + 0) * 9 + 3]) + (1 << 20).to_bytes(4, "little") + raw
    del zeros
    bomb = _lying_member(tmp_path / "bomb.zip", method, payload, 100)
    tracemalloc.start()
    try:
        with zipfile.ZipFile(bomb) as archive, pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
            read_small(archive, archive.getinfo("module.json"), 1024 * 1024)
        assert unrelated(bomb) is None  # --skip-unrelated's look: damaged, left to validation
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak
    done = run_modpack("validate", bomb)
    assert "ZIP014 module.json is damaged: Bad CRC-32" in done.stdout, done.stdout + done.stderr
    # publish's first look at each bundle's module.json (before validation) read it whole
    from modpack.rest.publish.bundles import peek

    tracemalloc.start()
    try:
        assert peek([bomb]) is None  # damaged: validating, in order, says what is wrong
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak


def test_a_bzip2_or_lzma_member_reads_as_zipfile_reads_it(tmp_path: Path) -> None:
    """Read here, not by zipfile's loop: the same bytes, in chunks no larger than asked."""
    from modpack import codec

    data = bytes(range(256)) * 5000
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        path = tmp_path / f"{method}.zip"
        with zipfile.ZipFile(path, "w", compression=method) as archive:
            archive.writestr("m.bin", data)
        with zipfile.ZipFile(path) as archive:
            chunks = list(codec.member_chunks(archive, archive.getinfo("m.bin"), 4096))
        assert b"".join(chunks) == data and max(map(len, chunks)) <= 4096, method
