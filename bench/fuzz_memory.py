"""Where a fuzz worker's memory goes: the campaign's inputs for one parser, traced with tracemalloc.

The campaign (bench/fuzz_campaign.py) samples RSS; when RSS climbs this tells which lines hold the
memory that stayed. It runs `--warm` inputs, takes a snapshot, runs `--inputs` more, takes another,
and prints the lines whose retained memory grew most, with RSS and the traced total at each
checkpoint. Same engines and seeds as the campaign: `--engine hypothesis` for the strategies,
`random` for the mutation engine, `generate` for the hypothesis strategies without any parsing
(to tell the parser's memory from hypothesis' own).

Usage: python bench/fuzz_memory.py module_json --engine hypothesis --warm 300 --inputs 1500
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fuzz_campaign import current_mb, run_hypothesis, warm_up
from tests.fuzz import corpus, harness


def feed(target: str, engine: str, seed: int, count: int, consume: Callable[[bytes], None]) -> None:
    """`count` inputs of the engine, consumed as the campaign does (inside hypothesis' test body)."""
    if engine == "random":
        for data in itertools.islice(corpus.random_inputs(target, seed), count):
            consume(data)
    else:
        run_hypothesis(target, count, seed, consume)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", choices=sorted(harness.TARGETS))
    parser.add_argument("--engine", choices=("random", "hypothesis", "generate"), default="hypothesis")
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--inputs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--top", type=int, default=12)
    options = parser.parse_args()
    warnings.simplefilter("error")
    with tempfile.TemporaryDirectory(prefix="modpack-fuzz-memory-") as scratch:
        fuzz = harness.Harness(Path(scratch), hard=60, hard_cpu=10)
        warm_up(fuzz, options.target)
        engine = "hypothesis" if options.engine == "generate" else options.engine
        parse = options.engine != "generate"

        def warm(data: bytes) -> None:
            if parse:
                fuzz.run(options.target, data)

        feed(options.target, engine, options.seed, options.warm, warm)
        gc.collect()
        tracemalloc.start(8)
        first = tracemalloc.take_snapshot()
        start = time.perf_counter()
        step = max(options.inputs // 10, 1)
        seen = 0
        print(f"{'inputs':>7} {'RSS MB':>7} {'traced MB':>10}")

        def measured(data: bytes) -> None:
            nonlocal seen
            warm(data)
            seen += 1
            if seen % step == 0:
                gc.collect()
                traced = tracemalloc.get_traced_memory()[0] / 2**20
                print(f"{seen:>7} {current_mb():>7.1f} {traced:>10.2f}", flush=True)

        feed(options.target, engine, options.seed + 1, options.inputs, measured)
        gc.collect()
        last = tracemalloc.take_snapshot()
        print(f"\n{options.inputs} inputs in {time.perf_counter() - start:.0f} s; retained growth by place:")
        for stat in last.compare_to(first, "traceback")[: options.top]:
            if stat.size_diff <= 0:
                continue
            print(f"  +{stat.size_diff / 1024:.1f} KB in {stat.count_diff:+} blocks")
            for line in stat.traceback.format()[-8:]:
                print(f"      {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
