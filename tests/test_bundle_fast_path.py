"""What `modpack validate BUNDLE.zip` loads and how it reads (issue 16: at most 0.7x the CPU of
Python's zipfile + sha256). Structural, never timed: bench/bench_elf.py measures the speed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import ROOT, SO

_REPORT = (
    "import sys, runpy\n"
    "before = set(sys.modules)\n"
    "sys.argv = ['modpack', 'validate', sys.argv[1]]\n"
    "try:\n    runpy.run_module('modpack', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print(' '.join(sorted(set(sys.modules) - before)))\n"
)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules a validate of a real bundle imports, beyond those the interpreter started with."""
    out = tmp_path_factory.mktemp("bundle")
    toml = ROOT / "fixtures" / "example" / "modpack.toml"
    hello = SO / "x86_64" / "hello.so"
    build = [sys.executable, "-m", "modpack", "build", str(toml), "--so", str(hello), "-o", str(out)]
    subprocess.run(build, check=True, capture_output=True)
    bundle = next(out.glob("*.zip"))
    result = subprocess.run(
        [sys.executable, "-c", _REPORT, str(bundle)], capture_output=True, text=True, check=True
    )
    assert "0 errors" in result.stdout, result.stdout
    return set(result.stdout.strip().splitlines()[-1].split())


def test_isa_l_inflates_a_bundle_and_zlib_ng_is_not_loaded(imported: set[str]) -> None:
    # ISA-L inflates and computes the CRC in 0.84x zlib-ng's CPU (modpack/codec.py).
    assert "isal.igzip_lib" in imported
    assert not {m for m in imported if m.startswith("zlib_ng")}


def test_the_bundle_path_imports_no_third_party_package_but_click_and_isal(imported: set[str]) -> None:
    packages = {m.partition(".")[0] for m in imported} - set(sys.stdlib_module_names)
    assert packages <= {"modpack", "click", "isal"}, packages - {"modpack", "click", "isal"}
