"""`modpack validate` of a module carrying 117 MB of real code and of its bundle, in one run, beside
`sha256sum` of the .so and Python's zipfile (zlib inflate) + hashlib sha256 of the bundle's entry.

The module is hello.so with Debian's libLLVM-15.so.1 as a non-loaded section (common.real_module;
apt-get install libllvm15 binutils). Each pair of commands runs alternately, --repeat times each, so
a busy machine slows both alike; the best of each side and the median of the paired ratios are shown.
`modpack inspect` is shown for reference. `--phases` adds where validate's CPU goes (getrusage around
each phase, in the child) and what the work itself costs on this .so (inflaters, CRC-32, sha256), so the
floor of the bundle figure can be stated with numbers.

Targets: validate of the bundle at most 0.7x the CPU of inflate + sha256 (issue 16); validate of
the .so at most 1.5x sha256sum's wall time (issue 4); peak memory under 100 MB.
Usage: python bench/bench_elf.py [--repeat 5] [--phases]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    ROOT,
    WORK,
    alternate,
    best,
    child_env,
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

# One `modpack validate BUNDLE` in a child, with the CPU (user + system, getrusage) of each phase.
PHASES = """
import json, resource, sys
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
marks = {"interpreter and site": cpu()}
import click
marks["click"] = cpu() - sum(marks.values())
import modpack.cli.app
marks["modpack.cli (without click)"] = cpu() - sum(marks.values())
from modpack import bundle, reporters, validate
from modpack.checks import bundle as checks_bundle, elf as checks_elf
marks["imports of the bundle path"] = cpu() - sum(marks.values())
labels = {
    "open_layout": "zip directory checks",
    "check_module_json": "module.json checks",
    "stream_binary": ".so: inflate, CRC-32, sha256, keep",
    "check_binary": "ELF checks",
}
def timed(module, name):
    function = getattr(module, name)
    def wrapper(*args, **kwargs):
        start = cpu()
        try:
            return function(*args, **kwargs)
        finally:
            marks[labels[name]] = marks.get(labels[name], 0.0) + cpu() - start
    setattr(module, name, wrapper)
timed(bundle, "open_layout"); timed(checks_bundle, "check_module_json")
timed(bundle, "stream_binary"); timed(checks_elf, "check_binary")
sys.argv = ["modpack", "validate", sys.argv[1]]
try:
    modpack.cli.app.main()
except SystemExit:
    pass
marks["the rest (settings, rules, report)"] = cpu() - sum(marks.values())
print(json.dumps(marks), file=sys.stderr)
"""

# The work itself on the bundle's .so, in one process: what no implementation of validate avoids.
WORK_COSTS = """
import hashlib, json, struct, sys, time, zipfile, zlib
from isal import igzip_lib
with zipfile.ZipFile(sys.argv[1]) as archive:
    info = next(i for i in archive.infolist() if i.filename.endswith(".so"))
with open(sys.argv[1], "rb") as stream:
    stream.seek(info.header_offset)
    name, extra = struct.unpack_from("<HH", stream.read(30), 26)
    stream.seek(info.header_offset + 30 + name + extra)
    raw = stream.read(info.compress_size)
plain = zlib.decompress(raw, -15)
chunks = [plain[i : i + (1 << 20)] for i in range(0, len(plain), 1 << 20)]
def zlib_inflate():
    inflate = zlib.decompressobj(-15)
    for at in range(0, len(raw), 1 << 18):
        inflate.decompress(raw[at : at + (1 << 18)])
def isal_inflate_crc():
    inflate = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP_NO_HDR)
    for at in range(0, len(raw), 1 << 18):
        inflate.decompress(raw[at : at + (1 << 18)])
    assert inflate.crc == info.CRC
def zlib_crc32():
    value = 0
    for chunk in chunks:
        value = zlib.crc32(chunk, value)
def sha256():
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
costs = {}
for function in (zlib_inflate, zlib_crc32, isal_inflate_crc, sha256):
    runs = []
    for _ in range(3):
        start = time.process_time()
        function()
        runs.append(time.process_time() - start)
    costs[function.__name__] = min(runs)
print(json.dumps(costs))
"""


def phases(bundle: Path, repeat: int, anchor_cpu: float) -> None:
    """Where validate's CPU goes, phase by phase (the best of `repeat` runs of each), and its floor."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [PYTHON, "-c", PHASES, str(bundle)], capture_output=True, text=True, env=child_env(), check=True
        )
        runs.append(json.loads(done.stderr.strip().splitlines()[-1]))
    print(f"CPU of modpack validate BUNDLE by phase (ms, the best of {repeat} runs of each phase):")
    for label in runs[0]:
        print(f"  {label:<40} {1000 * min(run[label] for run in runs):6.0f}")
    print(f"  {'total (sum of the bests)':<40} {1000 * sum(min(r[k] for r in runs) for k in runs[0]):6.0f}")
    done = subprocess.run(
        [PYTHON, "-c", WORK_COSTS, str(bundle)], capture_output=True, text=True, env=child_env(), check=True
    )
    costs = json.loads(done.stdout)
    print(
        "the work on this .so in one process (ms, best of 3): "
        + ", ".join(f"{k} {1000 * v:.0f}" for k, v in costs.items())
    )
    start = min(run["interpreter and site"] for run in runs) + min(run["click"] for run in runs)
    floor = start + costs["isal_inflate_crc"] + costs["sha256"]
    print(
        f"floor (interpreter + click + ISA-L inflate with CRC + sha256): {1000 * floor:.0f} ms ="
        f" {floor / anchor_cpu:.2f}x the anchor's best CPU; everything above it is modpack's own imports and work"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--phases", action="store_true", help="also show where validate's CPU goes")
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
    if args.phases:
        phases(bundle, args.repeat, theirs.cpu)

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
