"""Replay the regression corpus: each committed input must now be answered, without a blow-up.

An input lands here when a fuzzing campaign (tests/test_fuzz_short.py, bench/fuzz_campaign.py)
or a person finds that it crashes, hangs or slows a parser: the file goes under the folder of
its target (`module_json/`, `bundle/`, ...) and `index.json` says what it did and why. Inputs are
never removed when the bug is fixed: the replay is what keeps it fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fuzz import harness

HERE = Path(__file__).resolve().parent
INPUTS = harness.regression_inputs(HERE)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> harness.Harness:
    # CPU-time bound of 10x the campaign's goal: a blow-up fails here, a busy machine does not.
    runner = harness.Harness(
        tmp_path_factory.mktemp("replay"), limit=harness.TEST_LIMIT, hard=harness.TEST_HARD
    )
    runner.run("bundle", (harness.seeds.GOOD_BUNDLE).read_bytes())  # first imports are not timed
    runner.run("elf", harness.seeds.HELLO.read_bytes())
    return runner


def test_every_input_is_described() -> None:
    index = json.loads((HERE / "index.json").read_text("utf-8"))
    files = {path.relative_to(HERE).as_posix() for _, path in INPUTS}
    assert files == set(index), "index.json and the input files disagree"
    assert all(entry.get("signature") for entry in index.values())


@pytest.mark.parametrize(("target", "path"), INPUTS, ids=[p.relative_to(HERE).as_posix() for _, p in INPUTS])
def test_regression_input_is_answered_within_the_limit(
    fuzz: harness.Harness, target: str, path: Path
) -> None:
    outcome = fuzz.run(target, path.read_bytes())
    assert not outcome.failed, (
        f"{outcome.kind}: {outcome.signature} ({outcome.seconds:.2f} s)\n{outcome.summary}"
    )
