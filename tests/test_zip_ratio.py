"""ZIP013 judges what an entry's method can expand to, not how well a real module compresses."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.elf_cases.compile import compile_so
from tests.support.cli import run_modpack
from tests.support.paths import FIXTURES

MIB = 1024 * 1024


def test_a_module_with_a_large_zero_table_builds_a_bundle_validate_takes(tmp_path: Path) -> None:
    """A module with a 64 MiB zero-initialised table in .data (a lookup table, `= {1}`) deflates
    about 1000:1. modpack build wrote that bundle, and validate refused it as a zip bomb (ZIP013
    "expands 967:1", exit 1), though unzip and Redis Enterprise's unpacker read it: the limit was
    200:1 past 32 MiB. Deflate cannot expand more than 1032:1, so a directory declaring more lies;
    this does not. Packed again with bzip2, which makes far more of zeros, it is not judged."""
    source = (FIXTURES / "src" / "hello.c").read_text() + "\nchar lookup_table[64 << 20] = {1};\n"
    so = compile_so(tmp_path, "hello.so", source, f"-I{FIXTURES / 'include'}")
    assert so.stat().st_size > 64 * MIB
    toml = (FIXTURES / "example" / "modpack.toml").read_text().replace("../so/x86_64/hello.so", str(so))
    (tmp_path / "modpack.toml").write_text(toml)
    built = run_modpack("build", tmp_path, "-o", tmp_path / "dist")
    assert built.returncode == 0, built.stdout + built.stderr
    (bundle,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        entry = archive.getinfo("hello.so")
        assert entry.file_size > 900 * entry.compress_size  # as real as the ratio gets
        repacked = tmp_path / "bzip2.zip"
        with zipfile.ZipFile(repacked, "w", zipfile.ZIP_BZIP2) as out:
            for info in archive.infolist():
                out.writestr(info, archive.read(info), zipfile.ZIP_BZIP2)
    for path in (bundle, repacked):
        done = run_modpack("validate", "--format", "json", path)
        assert done.returncode == 0, done.stdout + done.stderr
        codes = [f["code"] for f in json.loads(done.stdout)["files"][0]["findings"]]
        assert "ZIP013" not in codes, (path.name, codes)
