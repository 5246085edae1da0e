"""The suite's own pytest configuration (pyproject.toml [tool.pytest.ini_options]) on a failing test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def test_a_failing_property_test_shows_its_example_not_an_internal_error(tmp_path: Path) -> None:
    """Warnings are errors in this suite; hypothesis, reporting a failure, set off a deprecation
    warning in mypy_extensions, so every failing property test ended in INTERNALERROR."""
    test = tmp_path / "test_property.py"
    test.write_text(
        "from hypothesis import given, strategies as st\n\n\n"
        "@given(st.integers())\n"
        "def test_small(x: int) -> None:\n"
        "    assert x < 5\n"
    )
    # As scripts/test.sh runs the suite (-p no:benchmark), outside the xdist worker this runs in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path)]
        + ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark", "-q", str(test)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "INTERNALERROR" not in output
    assert "assert 5 < 5" in output and "x = 5" in output  # the example hypothesis found
