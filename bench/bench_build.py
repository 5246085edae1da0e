"""`modpack build` of a 200 MB module beside `zip -6` of the same file, in one run.

Targets (issue 2): wall time at most 1.0x zip -6; peak memory under 100 MB.
Usage: python bench/bench_build.py [SIZE_MB]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, WORK, best, large_module, ratio


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    so = large_module(size)
    out = WORK / "build-out"
    shutil.rmtree(out, ignore_errors=True)
    toml = ROOT / "fixtures" / "example" / "modpack.toml"
    ours = best(
        [sys.executable, "-m", "modpack", "build", str(toml), "--so", str(so), "-o", str(out), "--force"]
    )
    zip_target = WORK / "baseline.zip"
    zip_target.unlink(missing_ok=True)
    theirs = best(["zip", "-6", "-q", "-j", str(zip_target), str(so)])
    bundle = next(out.glob("*.zip"))
    print(f"input: {so} ({so.stat().st_size / 1e6:.0f} MB)")
    print(
        f"modpack build: {ours.wall:.2f} s wall, {ours.cpu:.2f} s CPU, peak {ours.peak_mb:.0f} MB, {bundle.stat().st_size / 1e6:.0f} MB out"
    )
    print(
        f"zip -6:        {theirs.wall:.2f} s wall, {theirs.cpu:.2f} s CPU, peak {theirs.peak_mb:.0f} MB, {zip_target.stat().st_size / 1e6:.0f} MB out"
    )
    print(
        f"wall ratio: {ratio(ours.wall, theirs.wall)} (target <= 1.0x); peak memory {ours.peak_mb:.0f} MB (target < 100 MB)"
    )


if __name__ == "__main__":
    main()
