"""The long fuzzing campaign (issue 8): many inputs across every parser, in-process, timed.

Each parser runs in its own worker process (at most --jobs at once) fed by two engines: the random
mutation engine of tests/fuzz/corpus.py (seeded, reproducible) and the hypothesis strategies of
tests/fuzz/strategies.py (in chunks of 500 with fixed seeds, so hypothesis' own bookkeeping does
not grow for the whole run). With --atheris-runs N (and `pip install atheris`), each parser also
gets N coverage-guided inputs from libFuzzer through atheris, in a process of its own.

Every input goes through tests/fuzz/harness.py: answered within 1 s or it counts as slow,
interrupted at --hard seconds as a hang, and anything escaping the parser is a crash, named by
exception type and place. The report gives inputs per parser and engine, the distinct failures,
the slowest input and its time, and ru_maxrss (peak) and the current RSS at start and end of
each worker, with every step of more than 8 MB in the peak tied to the input that caused it.
Inputs of failures not yet in tests/regressions/index.json are written there (the smallest per
failure) unless --no-save; the slowest input of each parser is kept under --out.

Hangs: --hard-cpu N stops an input after N CPU seconds (a busy machine cannot trip it); --hard is
the wall-clock backstop. Zips are mutated structurally too (tests/fuzz/zipstruct.py).

Usage: python bench/fuzz_campaign.py [--inputs 140000] [--jobs 2] [--atheris-runs 5000]
       [--count-for bundle=50000] [--hard 60 --hard-cpu 10]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz import harness

OUT = ROOT / "bench" / "out" / "fuzz"
HYPOTHESIS_CHUNK = 500
MEMORY_STEP_MB = 8.0
CHECKPOINTS = 40  # memory samples per worker, to show it stays flat
ATHERIS_MAX_SEED = 64 * 1024
# The slowest parsers start first, so two workers finish close together.
COST_ORDER = ["ramp_yml", "module_json", "modpack_toml", "bundled_elf", "bundle", "elf", "module_object"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mb() -> float:
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Failure:
    signature: str
    kind: str
    count: int
    seconds: float
    summary: str
    path: str  # the smallest input seen, under the worker's failure folder
    size: int


@dataclass
class WorkerResult:
    target: str
    inputs: dict[str, int] = field(default_factory=dict)  # per engine
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    slowest: dict[str, object] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    memory_steps: list[dict[str, object]] = field(default_factory=list)
    checkpoints: list[tuple[int, float, float, float]] = field(default_factory=list)  # inputs, peak, RSS, s
    wall: float = 0.0
    cpu: float = 0.0  # user + system seconds of the worker process


class Recorder:
    """Tallies one worker's outcomes and keeps the inputs worth keeping."""

    def __init__(self, target: str, folder: Path) -> None:
        self.result = WorkerResult(target)
        self.folder = folder
        self.kinds: Counter[str] = Counter()
        self.total = 0
        folder.mkdir(parents=True, exist_ok=True)

    def record(self, engine: str, data: bytes, outcome: harness.Outcome, before_mb: float) -> None:
        result = self.result
        self.total += 1
        result.inputs[engine] = result.inputs.get(engine, 0) + 1
        self.kinds[outcome.kind] += 1
        if outcome.seconds > float(result.slowest.get("seconds", -1.0)):  # type: ignore[arg-type]
            path = self._keep(data, "slowest")
            result.slowest = {"seconds": round(outcome.seconds, 4), "bytes": len(data), "engine": engine,
                              "kind": outcome.kind, "path": str(path), "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
        grown = peak_mb() - before_mb
        if grown > MEMORY_STEP_MB:
            result.memory_steps.append({"input": self.total, "grew_mb": round(grown, 1), "kind": outcome.kind,
                                        "signature": outcome.signature, "bytes": len(data)})  # fmt: skip
        if outcome.failed:
            self._failure(data, outcome)

    def _keep(self, data: bytes, name: str) -> Path:
        path = self.folder / f"{name}{harness.TARGETS[self.result.target].suffix}"
        path.write_bytes(data)
        return path

    def _failure(self, data: bytes, outcome: harness.Outcome) -> None:
        known = self.result.failures.get(outcome.signature)
        if known is None or len(data) < known.size:
            digest = hashlib.sha256(data).hexdigest()[:12]
            path = self._keep(data, f"{harness.slug(outcome.signature)}-{digest}")
            if known is not None and known.path != str(path):
                Path(known.path).unlink(missing_ok=True)
            count = known.count if known else 0
            known = Failure(
                outcome.signature,
                outcome.kind,
                count,
                round(outcome.seconds, 3),
                outcome.summary,
                str(path),
                len(data),
            )
            self.result.failures[outcome.signature] = known
        known.count += 1

    def finish(self, wall: float) -> WorkerResult:
        self.result.outcomes = dict(self.kinds)
        self.result.wall = round(wall, 1)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.result.cpu = round(usage.ru_utime + usage.ru_stime, 1)
        return self.result


# --- one worker: one parser, random and hypothesis engines --------------------------------------


def run_hypothesis(target: str, count: int, seed: int, consume: Callable[[bytes], None]) -> None:
    """`count` inputs from the target's hypothesis strategy, in chunks with fixed seeds.

    Each input is consumed inside the test body, so no batch is ever held in memory.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    from tests.fuzz import strategies

    produced = 0
    for chunk in range(4 * (count // HYPOTHESIS_CHUNK + 1)):
        wanted = min(HYPOTHESIS_CHUNK, count - produced)
        if wanted <= 0:
            return

        @fixed_seed(seed * 100_003 + chunk)
        @settings(max_examples=wanted, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(strategies.STRATEGIES[target]())
        def draw(data: bytes) -> None:
            nonlocal produced
            if produced < count:
                produced += 1
                consume(data)

        draw()


def warm_up(fuzz: harness.Harness, target: str) -> None:
    """Imports, caches and the crafted corpus, before memory is first measured (not counted)."""
    from tests.fuzz import corpus, seeds, strategies

    strategies.STRATEGIES[target]()
    next(corpus.random_inputs(target, seed=0))  # builds the crafted corpus
    real = {
        "module_json": seeds.module_json_seeds,
        "module_object": seeds.module_json_seeds,
        "modpack_toml": seeds.toml_seeds,
        "ramp_yml": seeds.yaml_seeds,
        "bundle": seeds.zip_seeds,
    }.get(target, seeds.elf_seeds)
    for data in real()[:20]:
        fuzz.run(target, data)
    run_hypothesis(target, 20, seed=0, consume=lambda data: None)  # hypothesis' own first-run memory


def run_worker(
    target: str,
    count: int,
    hypothesis_share: float,
    seed: int,
    hard: float,
    out: Path,
    hard_cpu: float | None,
) -> WorkerResult:
    from tests.fuzz import corpus

    warnings.simplefilter("error")  # as under pytest (filterwarnings = error)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"modpack-fuzz-{target}-") as scratch:
        fuzz = harness.Harness(Path(scratch), hard=hard, hard_cpu=hard_cpu)
        warm_up(fuzz, target)
        recorder = Recorder(target, out / target)
        recorder.result.memory = {
            "peak_start_mb": round(peak_mb(), 1),
            "rss_start_mb": round(current_mb(), 1),
        }
        step = max(count // CHECKPOINTS, 1)

        def consume(engine: str, data: bytes) -> None:
            before = peak_mb()
            recorder.record(engine, data, fuzz.run(target, data), before)
            if recorder.total % step == 0:
                elapsed = round(time.perf_counter() - start, 1)
                print(f"{target}: {recorder.total} inputs, {elapsed} s, peak {peak_mb():.1f} MB, "
                      f"RSS {current_mb():.1f} MB, {dict(recorder.kinds)}", flush=True)  # fmt: skip
                recorder.result.checkpoints.append(
                    (recorder.total, round(peak_mb(), 1), round(current_mb(), 1), elapsed)
                )

        from_hypothesis = int(count * hypothesis_share)
        for data in itertools.islice(corpus.random_inputs(target, seed), count - from_hypothesis):
            consume("random", data)
        run_hypothesis(target, from_hypothesis, seed, lambda data: consume("hypothesis", data))
        recorder.result.memory |= {"peak_end_mb": round(peak_mb(), 1), "rss_end_mb": round(current_mb(), 1)}
    return recorder.finish(time.perf_counter() - start)


# --- atheris: coverage-guided, one process per parser -------------------------------------------------


def run_atheris_worker(target: str, runs: int, hard: float, out: Path, stats_path: Path) -> None:
    """libFuzzer drives the target; stats are flushed every 100 inputs (libFuzzer exits with no hook)."""
    import atheris

    with atheris.instrument_imports(include=["modpack"]):
        import modpack.bundle
        import modpack.checks.elf
        import modpack.declarations
        import modpack.elf
        import modpack.locate
        import modpack.modpack_toml
        import modpack.ramp.reader
        import modpack.schema
        import modpack.validate  # noqa: F401

    warnings.simplefilter("error")
    scratch = Path(tempfile.mkdtemp(prefix=f"modpack-atheris-{target}-"))
    fuzz = harness.Harness(scratch, hard=hard)
    warm_up(fuzz, target)
    recorder = Recorder(target, out / f"atheris-{target}")
    recorder.result.memory = {"peak_start_mb": round(peak_mb(), 1), "rss_start_mb": round(current_mb(), 1)}

    def flush() -> None:
        recorder.result.memory |= {"peak_end_mb": round(peak_mb(), 1), "rss_end_mb": round(current_mb(), 1)}
        recorder.finish(0.0)
        temporary = stats_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(recorder.result)))
        temporary.replace(stats_path)

    def one_input(data: bytes) -> None:
        before = peak_mb()
        outcome = fuzz.run(target, data)
        recorder.record("atheris", data, outcome, before)
        if recorder.total % 100 == 0 or outcome.failed:
            flush()

    seed_folder = scratch / "corpus"
    seed_folder.mkdir()
    for index, data in enumerate(atheris_seeds(target)):
        (seed_folder / f"seed{index:04}").write_bytes(data)
    args = [sys.argv[0], str(seed_folder), f"-runs={runs}", "-timeout=0", f"-max_len={ATHERIS_MAX_SEED}",
            "-rss_limit_mb=6144", "-print_final_stats=1"]  # fmt: skip
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def atheris_seeds(target: str) -> list[bytes]:
    from tests.fuzz import corpus, seeds

    if target in ("elf", "bundled_elf", "bundle"):
        found = [data for data, _ in corpus.binary_corpus(target)]
    elif target == "module_object":
        found = list(seeds.module_json_seeds())
    else:
        found = [text.encode("utf-8", "surrogatepass") for text in corpus.text_corpus(target)]
    return [data for data in found if len(data) <= ATHERIS_MAX_SEED]


# --- the campaign ------------------------------------------------------------------------------------


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT
    )


def run_all(jobs: list[tuple[str, list[str], Path]], parallel: int) -> None:
    """Run (name, args, log) jobs, at most `parallel` at a time."""
    pending = list(jobs)
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    while pending or running:
        while pending and len(running) < parallel:
            name, args, log = pending.pop(0)
            running.append((name, spawn(args, log)))
            print(f"  started {name}", flush=True)
        time.sleep(0.5)
        for name, process in list(running):
            if process.poll() is not None:
                running.remove((name, process))
                print(f"  finished {name} (exit {process.returncode})", flush=True)


def split(total: int, parts: list[str]) -> dict[str, int]:
    base, extra = divmod(total, len(parts))
    return {name: base + (index < extra) for index, name in enumerate(parts)}


def campaign(options: argparse.Namespace) -> int:
    out: Path = options.out
    out.mkdir(parents=True, exist_ok=True)
    targets = sorted(options.targets or harness.TARGETS, key=lambda t: [*COST_ORDER, t].index(t))
    fixed = dict(item.split("=", 1) for item in options.count_for)
    counts = split(
        options.inputs - sum(int(v) for v in fixed.values()), [t for t in targets if t not in fixed]
    )
    counts |= {name: int(value) for name, value in fixed.items() if name in targets}
    targets.sort(key=lambda t: -counts[t])  # the longest worker first, so both slots end close together
    jobs = []
    for target in (t for t in targets if counts[t]):
        args = ["--worker", target, "--count", str(counts[target]), "--hypothesis-share", str(options.hypothesis_share),
                "--seed", str(options.seed), "--hard", str(options.hard), "--out", str(out)]  # fmt: skip
        args += ["--hard-cpu", str(options.hard_cpu)] if options.hard_cpu else []
        jobs.append((target, args, out / f"{target}.log"))
    use_atheris = options.atheris_runs > 0 and atheris_available()
    if options.atheris_runs > 0 and not use_atheris:
        print("atheris is not importable: coverage-guided fuzzing skipped (pip install atheris)")
    if use_atheris:
        for target in targets:
            if target == "module_object":
                continue  # libFuzzer's byte mutations rarely keep JSON valid: the data engines cover it
            args = ["--atheris-worker", target, "--count", str(options.atheris_runs), "--hard", str(options.hard),
                    "--out", str(out)]  # fmt: skip
            jobs.append((f"atheris {target}", args, out / f"atheris-{target}.log"))
    start = time.perf_counter()
    print(f"fuzz campaign: {options.inputs} inputs over {len(targets)} parsers, {options.jobs} at a time")
    run_all(jobs, options.jobs)
    results = collect(out, targets, counts, use_atheris)
    summary = report(results, time.perf_counter() - start)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not options.no_save:
        save_new_failures(results)
    return 1 if summary["failing_inputs"] else 0


def atheris_available() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def collect(out: Path, targets: list[str], counts: dict[str, int], use_atheris: bool) -> list[WorkerResult]:
    results = []
    for target in targets:
        names = [f"{target}.json"] if counts.get(target) else []
        names += [f"atheris-{target}.json"] if use_atheris and target != "module_object" else []
        for name in names:
            path = out / name
            if not path.is_file():
                print(f"  no result from {name}: see {path.with_suffix('.log')}")
                continue
            data = json.loads(path.read_text())
            data["failures"] = {k: Failure(**v) for k, v in data["failures"].items()}
            result = WorkerResult(**data)
            if name.startswith("atheris"):
                result.inputs = {
                    "atheris": atheris_done(path.with_suffix(".log"), result.inputs.get("atheris", 0))
                }
            results.append(result)
    return results


def atheris_done(log: Path, flushed: int) -> int:
    """libFuzzer's own count ("Done N runs"), which includes the inputs after the last flush."""
    match = re.search(rb"Done (\d+) runs", log.read_bytes()) if log.is_file() else None
    return max(int(match.group(1)), flushed) if match else flushed


def report(results: list[WorkerResult], wall: float) -> dict[str, object]:
    total = sum(sum(r.inputs.values()) for r in results)
    print(f"\n{total} inputs in {wall / 60:.1f} min\n")
    print(f"{'parser':<14} {'engine':<22} {'inputs':>8} {'failing':>8} {'distinct':>8} {'slowest s':>10} "
          f"{'peak MB start->end':>19} {'RSS MB start->end':>18}")  # fmt: skip
    failures: dict[str, dict[str, object]] = {}
    for result in results:
        engines = ", ".join(f"{k} {v}" for k, v in sorted(result.inputs.items()))
        failing = sum(v for k, v in result.outcomes.items() if k != "ok")
        memory = result.memory
        print(f"{result.target:<14} {engines:<22} {sum(result.inputs.values()):>8} {failing:>8} {len(result.failures):>8} "
              f"{float(result.slowest.get('seconds', 0)):>10.3f} "  # type: ignore[arg-type]
              f"{memory.get('peak_start_mb', 0):>8.1f} -> {memory.get('peak_end_mb', 0):>7.1f} "
              f"{memory.get('rss_start_mb', 0):>7.1f} -> {memory.get('rss_end_mb', 0):>7.1f}")  # fmt: skip
        for failure in result.failures.values():
            entry = failures.setdefault(
                f"{result.target}: {failure.signature}",
                {"kind": failure.kind, "count": 0, "input": failure.path, "bytes": failure.size},
            )
            entry["count"] = int(entry["count"]) + failure.count  # type: ignore[call-overload]
    slowest = max(results, key=lambda r: float(r.slowest.get("seconds", 0)), default=None)  # type: ignore[arg-type]
    if slowest is not None:
        s = slowest.slowest
        print(f"\nslowest input: {slowest.target}, {s.get('seconds')} s ({s.get('kind')}), {s.get('bytes')} bytes, "
              f"{s.get('engine')} engine, kept at {s.get('path')}")  # fmt: skip
    print(f"\n{len(failures)} distinct failures (exception type + place):")
    for name, entry in sorted(failures.items()):
        print(f"  {entry['kind']:<5} x{entry['count']:<6} {name}  [{entry['bytes']} bytes: {entry['input']}]")
    kinds: Counter[str] = Counter()
    for result in results:
        kinds.update(result.outcomes)
    print(f"\noutcomes: {dict(kinds)} (crash = traceback or broken contract, slow = over {harness.LIMIT:g} s "
          f"of CPU, hang = stopped at the hard wall limit)")  # fmt: skip
    print(
        f"CPU seconds (user+sys): {sum(r.cpu for r in results):.0f} in all; "
        + ", ".join(f"{r.target} {r.cpu:.0f}" for r in results)
    )
    print("\nmemory over time (inputs: peak MB / RSS MB):")
    for result in results:
        series = result.checkpoints[:: max(len(result.checkpoints) // 8, 1)] + result.checkpoints[-1:]
        print(f"  {result.target:<14} " + "  ".join(f"{c[0]}: {c[1]:.0f}/{c[2]:.0f}" for c in series))
    steps = [(r.target, step) for r in results for step in r.memory_steps]
    print(f"\npeak-memory steps above {MEMORY_STEP_MB:g} MB: {len(steps)}")
    for target, step in steps[:20]:
        print(
            f"  {target}: +{step['grew_mb']} MB at input {step['input']} ({step['kind']} {step['signature']}, {step['bytes']} bytes)"
        )
    return {
        "inputs": total,
        "wall_seconds": round(wall, 1),
        "failing_inputs": sum(sum(v for k, v in r.outcomes.items() if k != "ok") for r in results),
        "outcomes": dict(kinds),
        "cpu_seconds": round(sum(r.cpu for r in results), 1),
        "distinct_failures": failures,
        "workers": [asdict(r) for r in results],
    }


def save_new_failures(results: list[WorkerResult]) -> None:
    """The smallest input of each failure that tests/regressions does not hold yet."""
    index_path = harness.REGRESSIONS / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    known = {(entry["target"], entry["signature"]) for entry in index.values()}
    for result in results:
        for failure in result.failures.values():
            if (result.target, failure.signature) in known:
                continue
            outcome = harness.Outcome(
                result.target, failure.kind, failure.seconds, failure.signature, failure.summary
            )
            saved = harness.save_regression(outcome, Path(failure.path).read_bytes())
            known.add((result.target, failure.signature))
            print(f"  new regression input: {saved.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--inputs", type=int, default=140_000, help="inputs in total, split evenly over the parsers"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="worker processes at once")
    parser.add_argument(
        "--targets", nargs="*", choices=sorted(harness.TARGETS), help="parsers (default: all)"
    )
    parser.add_argument("--hypothesis-share", type=float, default=0.3, help="share of inputs from hypothesis")
    parser.add_argument(
        "--atheris-runs", type=int, default=0, help="coverage-guided inputs per parser (atheris)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--hard", type=float, default=harness.HARD_LIMIT, help="seconds before a hang is stopped"
    )
    parser.add_argument(
        "--hard-cpu", type=float, default=None, help="CPU seconds of one input before it is stopped as a hang"
    )
    parser.add_argument(
        "--count-for",
        nargs="*",
        default=[],
        metavar="PARSER=N",
        help="inputs for these parsers (the rest split evenly)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-save", action="store_true", help="do not add failures to tests/regressions")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--atheris-worker", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a runaway input fails alone, not the machine
    if options.worker:
        result = run_worker(
            options.worker,
            options.count,
            options.hypothesis_share,
            options.seed,
            options.hard,
            options.out,
            options.hard_cpu,
        )
        (options.out / f"{options.worker}.json").write_text(json.dumps(asdict(result)))
        return 0
    if options.atheris_worker:
        target = options.atheris_worker
        run_atheris_worker(
            target, options.count, options.hard, options.out, options.out / f"atheris-{target}.json"
        )
        return 0
    return campaign(options)


if __name__ == "__main__":
    sys.exit(main())
