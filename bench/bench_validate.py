"""`modpack validate` on one module.json and on 1000, beside check-jsonschema and a bare interpreter.

Targets (issue 3): one file at most 0.5x check-jsonschema's CPU time; 1000 files in one call at
most 1.0x check-jsonschema's CPU time. check-jsonschema gets modpack's own published module.json
schema (the equivalent of what modpack's schema layer checks; modpack checks far more).
Usage: python bench/bench_validate.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, WORK, Run, best, ratio

SAMPLE = ROOT / "tests" / "cases" / "good" / "module-json" / "module.json"
SCHEMA = ROOT / "schemas" / "module.schema.json"


def corpus(count: int) -> list[Path]:
    folder = WORK / f"modules-{count}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        base = json.loads(SAMPLE.read_text())
        for index in range(count):
            base["semantic_version"] = f"1.{index // 100 % 100}.{index % 100}"
            base["version"] = 10000 + index // 100 % 100 * 100 + index % 100
            (folder / f"m{index:04}").mkdir()
            (folder / f"m{index:04}" / "module.json").write_text(json.dumps(base, indent=2))
    return sorted(folder.glob("*/module.json"))


def line(label: str, run: Run, baseline: Run | None = None) -> str:
    text = f"{label:<34} {run.cpu * 1000:8.0f} ms CPU {run.wall * 1000:8.0f} ms wall"
    return text + (f"   {ratio(run.cpu, baseline.cpu)} of check-jsonschema" if baseline else "")


def main() -> None:
    checker = shutil.which("check-jsonschema")
    if checker is None:
        sys.exit("check-jsonschema is needed: pip install check-jsonschema")
    python = sys.executable
    bare = best([python, "-c", "pass"], repeat=5)
    modpack = [python, "-m", "modpack", "validate"]
    for count in (1, 1000):
        files = [str(p) for p in corpus(count)] if count > 1 else [str(SAMPLE)]
        theirs = best([checker, "--schemafile", str(SCHEMA), *files], repeat=5 if count == 1 else 3)
        ours = best([*modpack, *files], repeat=5 if count == 1 else 3)
        print(f"--- {count} module.json file{'s' if count > 1 else ''}")
        print(line("python -c pass", bare))
        print(line("check-jsonschema --schemafile", theirs))
        print(line("modpack validate", ours, theirs))
        target = 0.5 if count == 1 else 1.0
        print(
            f"target: modpack <= {target}x check-jsonschema CPU -> {'met' if ours.cpu <= target * theirs.cpu else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
