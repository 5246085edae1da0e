"""`modpack inspect` and `modpack validate` on a 200 MB .so and on a bundle of it, in one run,
beside `sha256sum` of the .so and a Python decompress-and-hash of the bundle's entry.

Targets (issue 4): validate of the .so at most 1.5x sha256sum of the file; validate of the bundle
at most 1.3x the decompress-and-hash baseline; peak memory under 100 MB.
Usage: python bench/bench_elf.py [SIZE_MB]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, WORK, Run, best, large_module, ratio

DECOMPRESS_AND_HASH = """
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".so"))
    digest = hashlib.sha256()
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            digest.update(chunk)
print(digest.hexdigest())
"""


def show(label: str, run: Run, baseline: Run | None = None, target: float | None = None) -> None:
    text = f"{label:<36} {run.wall:7.3f} s wall {run.cpu:7.3f} s CPU  peak {run.peak_mb:5.0f} MB"
    if baseline is not None and target is not None:
        verdict = "met" if run.wall <= target * baseline.wall else "NOT met"
        text += f"   {ratio(run.wall, baseline.wall)} (target <= {target}x: {verdict})"
    print(text)


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    so = large_module(size)
    out = WORK / "elf-bundle"
    shutil.rmtree(out, ignore_errors=True)
    toml = ROOT / "fixtures" / "example" / "modpack.toml"
    python = sys.executable
    best([python, "-m", "modpack", "build", str(toml), "--so", str(so), "-o", str(out)], repeat=1)
    bundle = next(out.glob("*.zip"))
    modpack = [python, "-m", "modpack"]
    print(f"module: {so} ({so.stat().st_size / 1e6:.0f} MB); bundle: {bundle.stat().st_size / 1e6:.0f} MB")
    sha = best(["sha256sum", str(so)])
    show("sha256sum FILE.so", sha)
    show("modpack inspect FILE.so", best([*modpack, "inspect", str(so)]))
    show("modpack validate FILE.so", best([*modpack, "validate", str(so)]), sha, 1.5)
    baseline = best([python, "-c", DECOMPRESS_AND_HASH, str(bundle)])
    show("python decompress-and-hash BUNDLE", baseline)
    show("modpack inspect BUNDLE", best([*modpack, "inspect", str(bundle)]))
    show("modpack validate BUNDLE", best([*modpack, "validate", str(bundle)]), baseline, 1.3)


if __name__ == "__main__":
    main()
