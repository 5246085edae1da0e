"""`modpack build` of a module carrying 117 MB of real code, beside `zip -6` of the same file, in one run.

The module is hello.so with Debian's libLLVM-15.so.1 as a non-loaded section (common.real_module;
apt-get install libllvm15 binutils zip). The two commands run alternately, --repeat times each, so a
busy machine slows both alike; the best of each side and the median of the paired ratios are shown.

Targets (issue 16): wall at most 0.4x zip -6, CPU at most 0.6x; compressed size within a few
percent of zip -6; peak memory under 100 MB.
Usage: python bench/bench_build.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, ROOT, WORK, alternate, compile_modpack, mb, real_module, report, verdict


def entry_size(bundle: Path, suffix: str) -> int:
    with zipfile.ZipFile(bundle) as archive:
        return next(i.compress_size for i in archive.infolist() if i.filename.endswith(suffix))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("zip") is None:
        sys.exit("zip is needed (Debian package zip)")
    compile_modpack()
    so = real_module()
    out = WORK / "build-out"
    shutil.rmtree(out, ignore_errors=True)
    zip_target = WORK / "baseline.zip"
    toml = ROOT / "fixtures" / "example" / "modpack.toml"
    ours = [PYTHON, "-m", "modpack", "build", str(toml), "--so", str(so), "-o", str(out), "--force"]
    theirs = ["zip", "-6", "-q", "-j", str(zip_target), str(so)]
    pair = alternate(ours, theirs, args.repeat, before_each=lambda: zip_target.unlink(missing_ok=True))
    bundle = next(out.glob("*.zip"))
    print(f"input: {so} ({mb(so)}); {args.repeat} runs of each, alternating")
    report("modpack build", "zip -6", pair, (f"{mb(bundle)} out", f"{mb(zip_target)} out"))
    ours_best, theirs_best = pair.best("ours"), pair.best("theirs")
    print(verdict("wall", ours_best.wall, theirs_best.wall, 0.4, pair.median_ratio("wall")))
    print(verdict("CPU ", ours_best.cpu, theirs_best.cpu, 0.6, pair.median_ratio("cpu")))
    ours_size, theirs_size = entry_size(bundle, ".so"), entry_size(zip_target, ".so")
    print(
        f"compressed .so: {ours_size / 1e6:.2f} MB vs zip -6 {theirs_size / 1e6:.2f} MB "
        f"({(ours_size / theirs_size - 1) * 100:+.1f}%)"
    )
    peak = ours_best.peak_mb
    print(
        f"peak memory of modpack build: {peak:.0f} MB (target < 100 MB: {'met' if peak < 100 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
