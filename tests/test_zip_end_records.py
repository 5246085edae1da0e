"""The end records of a bundle are found where Python's zipfile (Redis Enterprise's unpacker, as
RAMP's unpacker.py) finds them, on valid bundles whose bytes make a naive search go wrong."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

from tests.support.cli import run_modpack
from tests.support.paths import SO
from tests.support.rest import module_json
from tests.support.tools import require

HELLO = SO / "x86_64" / "hello.so"
SIGNATURE_OFFSET = 0x06054B50  # b"PK\x05\x06" read as a little-endian offset: 100,993,872


def _stored_bundle(path: Path, so_size: int) -> int:
    """A stored bundle of hello.so grown with zeros to `so_size` bytes; where its directory starts."""
    so = HELLO.read_bytes()
    so += bytes(so_size - len(so))
    document = module_json(HELLO, sha256=hashlib.sha256(so).hexdigest())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data, mode in (
            ("module.json", json.dumps(document).encode(), 0o644),
            ("hello.so", so, 0o755),
        ):
            entry = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            entry.external_attr = (0o100000 | mode) << 16
            entry.create_system = 3
            archive.writestr(entry, data)
    with zipfile.ZipFile(path) as archive:
        return archive.start_dir


def _unzip_tests(path: Path) -> None:
    unzip = shutil.which("unzip")
    require(unzip is not None, "unzip (apt-get install unzip)")
    assert unzip is not None
    done = subprocess.run([unzip, "-tqq", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_directory_at_the_offset_that_spells_the_signature_is_read(tmp_path: Path) -> None:
    """A bundle of about 96 MiB whose central directory starts at 0x06054B50 has the end record's
    offset field spell PK\\x05\\x06, 6 bytes before the file's end. The entry count was read from
    the last signature in the tail, that field, and the valid bundle was "not a zip archive" (ZIP001,
    exit 1), though unzip and zipfile read it: zipfile takes an end record with no comment first."""
    bundle = tmp_path / "hello.zip"
    size = HELLO.stat().st_size
    overhead = _stored_bundle(bundle, size) - size  # stored: the directory moves with the module
    assert _stored_bundle(bundle, SIGNATURE_OFFSET - overhead) == SIGNATURE_OFFSET
    assert bundle.read_bytes()[-6:-2] == b"PK\x05\x06"
    _unzip_tests(bundle)
    done = run_modpack("validate", "--format", "json", bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["files"][0]["findings"] == []
    assert run_modpack("inspect", bundle).returncode == 0


def test_a_zip64_bundle_behind_a_stub_declares_its_own_entry_count(tmp_path: Path) -> None:
    """A writer may put 0xFFFF in the classic end record for the zip64 record to give (APPNOTE
    4.4.1.4). With a self-extractor's stub in front (offsets not adjusted), the zip64 record was
    read at the offset the locator gives, which the stub moves, and the count stayed 0xFFFF: ZIP018
    "declares 65535 entries", exit 1. zipfile reads the record right before the locator."""
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("module.json", json.dumps(module_json(HELLO)))
        entry = zipfile.ZipInfo("hello.so", (2024, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100755 << 16
        entry.create_system = 3
        archive.writestr(entry, HELLO.read_bytes())
    blob = plain.read_bytes()
    end = len(blob) - 22
    count, directory_size, directory_at = struct.unpack_from("<HII", blob, end + 10)
    zip64 = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, directory_size, directory_at
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    record = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    for name, stub in (("zip64.zip", b""), ("stub.zip", b"#!/bin/sh\nexit 0\n".ljust(4096, b"\0"))):
        bundle = tmp_path / name
        bundle.write_bytes(stub + blob[:end] + zip64 + locator + record)
        with zipfile.ZipFile(bundle) as archive:
            assert archive.namelist() == ["module.json", "hello.so"] and archive.testzip() is None
        done = run_modpack("validate", "--format", "json", bundle)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["files"][0]["findings"] == [], name
