"""`modpack validate` of a module carrying 117 MB of real code and of its bundle, in one run, beside
`sha256sum` of the .so and Python's zipfile (zlib inflate) + hashlib sha256 of the bundle's entry.

The module is hello.so with Debian's libLLVM-15.so.1 as a non-loaded section (common.real_module;
apt-get install libllvm15 binutils). Each pair of commands runs alternately, --repeat times each, so
a busy machine slows both alike; the best of each side and the median of the paired ratios are shown.
`modpack inspect` is shown for reference.

Targets: validate of the bundle at most 0.7x the CPU of inflate + sha256 (issue 16); validate of
the .so at most 1.5x sha256sum's wall time (issue 4); peak memory under 100 MB.
Usage: python bench/bench_elf.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    ROOT,
    WORK,
    alternate,
    best,
    compile_modpack,
    mb,
    measure,
    real_module,
    report,
    verdict,
)

INFLATE_AND_HASH = """
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".so"))
    digest = hashlib.sha256()
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            digest.update(chunk)
print(digest.hexdigest())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_modpack()
    so = real_module()
    out = WORK / "elf-bundle"
    shutil.rmtree(out, ignore_errors=True)
    toml = ROOT / "fixtures" / "example" / "modpack.toml"
    modpack = [PYTHON, "-m", "modpack"]
    measure([*modpack, "build", str(toml), "--so", str(so), "-o", str(out)])
    bundle = next(out.glob("*.zip"))
    print(f"module: {so} ({mb(so)}); bundle: {mb(bundle)}; {args.repeat} runs of each, alternating")

    pair = alternate(
        [*modpack, "validate", str(bundle)], [PYTHON, "-c", INFLATE_AND_HASH, str(bundle)], args.repeat
    )
    report("modpack validate BUNDLE", "python zipfile inflate + sha256", pair)
    ours, theirs = pair.best("ours"), pair.best("theirs")
    print(verdict("bundle CPU ", ours.cpu, theirs.cpu, 0.7, pair.median_ratio("cpu")))
    print(f"bundle wall: {ours.wall / theirs.wall:.2f}x best/best, {pair.median_ratio('wall'):.2f}x median")

    pair = alternate([*modpack, "validate", str(so)], ["sha256sum", str(so)], args.repeat)
    report("modpack validate FILE.so", "sha256sum FILE.so", pair)
    ours_so, theirs_so = pair.best("ours"), pair.best("theirs")
    print(verdict("FILE.so wall", ours_so.wall, theirs_so.wall, 1.5, pair.median_ratio("wall")))
    print(
        f"FILE.so CPU: {ours_so.cpu / theirs_so.cpu:.2f}x best/best, {pair.median_ratio('cpu'):.2f}x median"
    )

    for label, target in (("modpack inspect BUNDLE", bundle), ("modpack inspect FILE.so", so)):
        run = best([*modpack, "inspect", str(target)], repeat=args.repeat)
        print(f"{label:<34} {run.wall:7.2f} s wall {run.cpu:7.2f} s CPU  peak {run.peak_mb:5.0f} MB")
    peak = max(ours.peak_mb, ours_so.peak_mb)
    print(
        f"peak memory of modpack validate: {peak:.0f} MB (target < 100 MB: {'met' if peak < 100 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
