"""Structural zip lies that `modpack validate` passes but Info-ZIP's unzip refuses or warns about.

A differential check for the bundle reader: each input is the good bundle with one structural lie
(tests/fuzz/zipstruct.py). When validate reports no error or warning, the archive is tested with
`unzip -tqq`; a non-zero exit there means the two disagree about an archive a node may unpack.
Exit statuses of unzip (man unzip): 1 warnings only, 2 generic format error, 3 severe format error,
12 overlapping components (zip bomb guard), 51 unexpected end of file, 81 unsupported compression
or encryption. Prints each (operator, unzip exit) class with a count, one argument that reproduces
it (`zipstruct.mutate(seeds.good_bundle(), operator, argument)`) and unzip's words.

Not a test: what unzip accepts is one unpacker's opinion, so each class is a question for a rule,
not a verdict. Usage: python bench/zip_differential.py [--inputs 1500] [--seed 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modpack.findings import Severity
from modpack.validate import validate_paths
from tests.fuzz import seeds, zipstruct


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=3)
    options = parser.parse_args()
    unzip = shutil.which("unzip")
    if unzip is None:
        print("unzip is not installed (apt-get install unzip)")
        return 2
    good = seeds.good_bundle()
    rng = random.Random(options.seed)
    classes: Counter[tuple[str, int]] = Counter()
    examples: dict[tuple[str, int], tuple[int, int, str]] = {}
    clean = 0
    with tempfile.TemporaryDirectory(prefix="modpack-zipdiff-") as scratch:
        path = Path(scratch) / "bundle.zip"
        for index in range(options.inputs):
            operator, argument = index % zipstruct.OPERATORS, rng.getrandbits(32)
            data = zipstruct.mutate(good, operator, argument)
            if data == good:
                continue
            path.write_bytes(data)
            findings = validate_paths([path]).findings()
            if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in findings):
                continue
            clean += 1
            tested = subprocess.run([unzip, "-tqq", str(path)], capture_output=True, check=False, timeout=60)
            if tested.returncode:
                key = (zipstruct.operator_name(operator), tested.returncode)
                classes[key] += 1
                words = (tested.stdout + tested.stderr).decode("utf-8", "replace").replace(scratch, "")
                examples.setdefault(key, (operator, argument, " ".join(words.split())[:160]))
    print(
        f"{options.inputs} lies, {clean} passed validate; of those, unzip disagreed on {sum(classes.values())}:"
    )
    for (name, status), count in classes.most_common():
        operator, argument, words = examples[(name, status)]
        print(
            f"  {name:<20} unzip exit {status:<3} x{count:<4} (operator {operator}, argument {argument}) {words}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
