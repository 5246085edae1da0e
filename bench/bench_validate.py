"""`modpack validate` on one module.json and on 5000 in one call, beside check-jsonschema and a bare
interpreter, in one run.

check-jsonschema (pip install check-jsonschema) gets modpack's own published module.json schema:
the equivalent of what modpack's schema layer checks (modpack checks far more). The commands run
alternately, --repeat times each, so a busy machine slows both alike; the best of each side and the
median of the paired ratios are shown. "Per file" is (CPU of N files - CPU of 1 file) / (N - 1):
the cost beyond start-up. A second corpus gives every file findings, so the line locators run too.

Targets (issue 16): one file at most 150 ms CPU and below check-jsonschema's; 5000 files at most
0.2 ms CPU per file beyond start-up and at most 0.5x check-jsonschema's CPU.
Usage: python bench/bench_validate.py [--count 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, ROOT, WORK, Pair, alternate, best, compile_modpack, verdict

SAMPLE = ROOT / "tests" / "cases" / "good" / "module-json" / "module.json"
SCHEMA = ROOT / "schemas" / "module.schema.json"


def corpus(count: int, *, findings: bool = False) -> list[Path]:
    """`count` module.json files, each a valid module of another version; with `findings`, each
    also carries a misspelt key and a misspelt flag (SCH003 with a hint, CMD008 at a line)."""
    folder = WORK / f"modules-{count}{'-findings' if findings else ''}"
    if not folder.is_dir():
        partial = folder.with_name(folder.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        base = json.loads(SAMPLE.read_text())
        for index in range(count):
            base["semantic_version"] = f"1.{index // 100 % 100}.{index % 100}"
            base["version"] = 10000 + index // 100 % 100 * 100 + index % 100
            document = dict(base)
            if findings:
                document["dispaly_name"] = document.pop("display_name")
                command = dict(document["commands"][0], flags=["write", "deny-oom"])
                document["commands"] = [command, *document["commands"][1:]]
            (partial / f"m{index:05}").mkdir()
            (partial / f"m{index:05}" / "module.json").write_text(json.dumps(document, indent=2))
        partial.rename(folder)
    return sorted(folder.glob("*/module.json"))


def show(label: str, cpu: float, wall: float, extra: str = "") -> None:
    print(f"{label:<44} {cpu * 1000:8.0f} ms CPU {wall * 1000:8.0f} ms wall  {extra}")


def compare(files: list[Path], checker: str, repeat: int) -> Pair:
    names = [str(p) for p in files]
    return alternate(
        [PYTHON, "-m", "modpack", "validate", *names],
        [checker, "--schemafile", str(SCHEMA), *names],
        repeat,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checker = shutil.which("check-jsonschema")
    if checker is None:
        sys.exit("check-jsonschema is needed: pip install check-jsonschema")
    # `python -m modpack` puts the current folder before PYTHONPATH: run from another checkout, the
    # children would import that checkout's modpack and measure it instead of this one.
    os.chdir(ROOT)
    compile_modpack()
    bare = best([PYTHON, "-c", "pass"], repeat=5)
    show("python -c pass", bare.cpu, bare.wall)

    one = compare([SAMPLE], checker, max(args.repeat, 5))
    ours_one, theirs_one = one.best("ours"), one.best("theirs")
    print("--- 1 module.json")
    show("modpack validate", ours_one.cpu, ours_one.wall)
    show("check-jsonschema --schemafile", theirs_one.cpu, theirs_one.wall)
    print(
        f"one file: {ours_one.cpu * 1000:.0f} ms CPU (target <= 150 ms: {'met' if ours_one.cpu <= 0.15 else 'NOT met'})"
    )
    print(verdict("one file CPU", ours_one.cpu, theirs_one.cpu, 1.0, one.median_ratio("cpu")))

    for findings in (False, True):
        files = corpus(args.count, findings=findings)
        pair = compare(files, checker, args.repeat)
        ours, theirs = pair.best("ours"), pair.best("theirs")
        per_ours = (ours.cpu - ours_one.cpu) / (len(files) - 1) * 1000
        per_theirs = (theirs.cpu - theirs_one.cpu) / (len(files) - 1) * 1000
        print(f"--- {len(files)} module.json files in one call{' (each with findings)' if findings else ''}")
        show("modpack validate", ours.cpu, ours.wall, f"{per_ours:.3f} ms CPU per file beyond start-up")
        show("check-jsonschema --schemafile", theirs.cpu, theirs.wall, f"{per_theirs:.3f} ms per file")
        print(f"per file: {per_ours:.3f} ms (target <= 0.2 ms: {'met' if per_ours <= 0.2 else 'NOT met'})")
        print(verdict(f"{len(files)} files CPU", ours.cpu, theirs.cpu, 0.5, pair.median_ratio("cpu")))
        print(f"peak memory of modpack validate: {ours.peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
