"""The short fuzzing campaign, run in CI on every change (issue 8): every parser, hostile inputs.

Per parser: every real and crafted seed as is, a few hundred hypothesis inputs (the shared
strategies of tests/fuzz) and a thousand inputs of the random mutation engine. Each input must be
answered with findings, never an exception, within `harness.TEST_LIMIT` CPU seconds (10x the
campaign's 1 s goal: a blow-up fails, a busy machine does not); a looping parser is interrupted at
`harness.TEST_HARD` wall seconds. The campaign is derandomized, so CI sees the same inputs on
every run; exploring is the long campaign's job (bench/fuzz_campaign.py). A test collects every
distinct failure of its parser before failing, and writes each failing input to
$MODPACK_FUZZ_FAILURES (or the test's tmp folder) to be replayed or kept under tests/regressions.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz import corpus, harness, seeds, strategies

TARGETS = sorted(harness.TARGETS)
HYPOTHESIS_EXAMPLES = 250
RANDOM_INPUTS = 800
RANDOM_SEED = 8  # the number: any fixed value keeps CI reproducible
MAX_FAILURES = 12  # failing inputs gathered per test before the rest is skipped (a hang costs TEST_HARD)


@dataclass
class Failures:
    """The distinct failures of one parser, each with the first input that showed it."""

    folder: Path
    found: dict[str, tuple[harness.Outcome, Path]] = field(default_factory=dict)
    tried: int = 0
    failed: int = 0

    def check(self, fuzz: harness.Harness, target: str, data: bytes) -> None:
        if self.failed >= MAX_FAILURES:
            return
        outcome = fuzz.run(target, data)
        self.tried += 1
        self.failed += outcome.failed
        if outcome.failed and outcome.signature not in self.found:
            path = harness.save_regression(outcome, data, self.folder)
            self.found[outcome.signature] = (outcome, path)

    def report(self) -> str:
        lines = [f"{self.failed} failing inputs ({len(self.found)} distinct) in {self.tried} tried:"]
        for outcome, path in self.found.values():
            lines += [
                f"- {outcome.kind}: {outcome.signature} ({outcome.seconds:.2f} s), input {path}",
                outcome.summary,
            ]
        return "\n".join(lines)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> harness.Harness:
    """One harness for the module, warmed up so no first import is timed as a slow input."""
    runner = harness.Harness(
        tmp_path_factory.mktemp("fuzz"), limit=harness.TEST_LIMIT, hard=harness.TEST_HARD
    )
    for target in TARGETS:
        runner.run(target, seeds.good_bundle() if target == "bundle" else seeds.HELLO.read_bytes())
    return runner


@pytest.fixture
def failures(tmp_path: Path) -> Failures:
    folder = (
        Path(os.environ["MODPACK_FUZZ_FAILURES"]) if os.environ.get("MODPACK_FUZZ_FAILURES") else tmp_path
    )
    return Failures(folder)


def seed_inputs(target: str) -> list[bytes]:
    """The real and crafted seeds of a parser, unmutated (the bombs included)."""
    if target in ("elf", "bundled_elf"):
        return [*seeds.elf_seeds(), *seeds.crafted_elves().values()]
    if target == "bundle":
        return [*seeds.zip_seeds(), *seeds.crafted_zips().values()]
    if target == "module_object":
        return list(seeds.module_json_seeds())
    return [text.encode("utf-8", "surrogatepass") for text in corpus.text_corpus(target)]


@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_and_crafted_input_is_answered(
    fuzz: harness.Harness, failures: Failures, target: str
) -> None:
    for data in seed_inputs(target):
        failures.check(fuzz, target, data)
    assert not failures.found, failures.report()


@pytest.mark.parametrize("target", TARGETS)
def test_hypothesis_inputs_are_answered(fuzz: harness.Harness, failures: Failures, target: str) -> None:
    @settings(
        max_examples=HYPOTHESIS_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,  # the harness bounds each input itself (CPU time, TEST_LIMIT)
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a hang would be re-run for minutes
        suppress_health_check=list(HealthCheck),
    )
    @given(strategies.STRATEGIES[target]())
    def run(data: bytes) -> None:
        failures.check(fuzz, target, data)

    run()
    assert not failures.found, failures.report()


@pytest.mark.parametrize("target", TARGETS)
def test_random_mutations_are_answered(fuzz: harness.Harness, failures: Failures, target: str) -> None:
    for data in itertools.islice(corpus.random_inputs(target, RANDOM_SEED), RANDOM_INPUTS):
        failures.check(fuzz, target, data)
    assert not failures.found, failures.report()


def _run_as_target(runner: harness.Harness, body: Callable[[bytes, Path], None]) -> harness.Outcome:
    harness.TARGETS["probe"] = harness.Target("probe", ".bin", body)
    try:
        return runner.run("probe", b"")
    finally:
        del harness.TARGETS["probe"]


def test_the_watchdog_interrupts_a_loop_and_blames_it(tmp_path: Path) -> None:
    """The harness itself: a parser that never returns ends as a hang, at the wall-clock bound."""

    def forever(_data: bytes, _folder: Path) -> None:
        while True:
            pass

    outcome = _run_as_target(harness.Harness(tmp_path, limit=0.05, hard=0.5), forever)
    assert outcome.kind == "hang"
    assert outcome.signature.startswith("Hang"), outcome.signature
    assert 0.5 <= outcome.seconds < 20  # stopped at the bound, not left to run (generous: a busy machine)


def test_slow_means_cpu_spent_not_wall_time_waited(tmp_path: Path) -> None:
    """A parser that burns CPU past the limit is slow; one that waits as long on nothing is not.

    The tests must pass on a machine that another process keeps busy: only the CPU time the input
    itself costs can make it "slow".
    """
    runner = harness.Harness(tmp_path, limit=0.05, hard=10)

    def burn(_data: bytes, _folder: Path) -> None:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass

    def wait(_data: bytes, _folder: Path) -> None:
        time.sleep(0.3)

    burnt = _run_as_target(runner, burn)
    assert burnt.kind == "slow", burnt
    assert burnt.cpu_seconds >= 0.3
    assert "burn" in burnt.signature  # the sampled stack blames the function that spent the CPU
    waited = _run_as_target(runner, wait)
    assert waited.kind == "ok", waited
    assert waited.seconds >= 0.3 > waited.cpu_seconds
