"""Shared test helpers: paths, the fixture modules, running the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests run derandomized and with no per-example deadline by default: CI must give the
# same verdict on every run and on a busy 2-core machine (a deadline is a wall-clock limit).
# MODPACK_HYPOTHESIS=explore draws new examples on each run, for looking for bugs on purpose.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("MODPACK_HYPOTHESIS", "ci"))

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SO = FIXTURES / "so"
CASES = Path(__file__).resolve().parent / "cases"


def run_modpack(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess: exit codes, stdout and stderr as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "modpack", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def require_redis() -> str:
    """The redis-server binary; a missing one fails the test unless MODPACK_ALLOW_NO_REDIS=1."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.environ.get("MODPACK_ALLOW_NO_REDIS") == "1":
        pytest.skip("redis-server is not installed (allowed by MODPACK_ALLOW_NO_REDIS=1)")
    pytest.fail("redis-server is not installed; CI must install it (set MODPACK_ALLOW_NO_REDIS=1 to skip)")


def require(present: bool, what: str) -> None:
    """A test's tool or input is missing: fail, as CI must; MODPACK_ALLOW_NO_REDIS=1 skips instead."""
    if present:
        return
    if os.environ.get("MODPACK_ALLOW_NO_REDIS") == "1":
        pytest.skip(f"{what} (allowed by MODPACK_ALLOW_NO_REDIS=1)")
    pytest.fail(f"{what}; scripts/test.sh installs it (set MODPACK_ALLOW_NO_REDIS=1 to skip)")


REALWORLD = ROOT.parent / "shared" / "reference" / "examples" / "realworld"


@pytest.fixture
def realworld_folder() -> Path:
    require(REALWORLD.is_dir(), f"{REALWORLD} (shared/reference beside this checkout) is missing")
    return REALWORLD
