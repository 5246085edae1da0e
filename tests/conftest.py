"""Pytest set-up and the fixtures shared by several test modules.

Helpers imported by name live in tests/support/ (paths, the CLI in a subprocess, required tools,
REST and redis helpers); this file holds only what pytest itself must see: the hypothesis
profiles and fixtures. tests/README.md says where each kind of test goes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from tests.support import produced
from tests.support.paths import RAMP_EXAMPLES, REALWORLD
from tests.support.tools import require

if TYPE_CHECKING:
    from modpack.rest.cluster import LocalCluster

# Property tests run derandomized and with no per-example deadline by default: CI must give the
# same verdict on every run and on a busy 2-core machine (a deadline is a wall-clock limit).
# MODPACK_HYPOTHESIS=explore draws new examples on each run, for looking for bugs on purpose.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("MODPACK_HYPOTHESIS", "ci"))


@pytest.fixture
def realworld_folder() -> Path:
    require(REALWORLD.is_dir(), f"{REALWORLD} (shared/reference beside this checkout) is missing")
    return REALWORLD


@pytest.fixture
def ramp_examples_folder() -> Path:
    require(RAMP_EXAMPLES.is_dir(), f"{RAMP_EXAMPLES} (shared/reference beside this checkout) is missing")
    return RAMP_EXAMPLES


@pytest.fixture(scope="module")
def role_users_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-node HTTPS cluster with the admin and one user per role (tests.support.rest.ROLE_USERS),
    one per test module, stopped after its last test."""
    from tests.support.rest import running_cluster, write_role_users

    folder = tmp_path_factory.mktemp("cluster")
    with running_cluster(folder / "data", users=write_role_users(folder / "users.json")) as running:
        yield running


@pytest.fixture(autouse=True)
def _rule_marker_is_true(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked `@pytest.mark.rule("ELF022", ...)` must produce each of those findings: the
    rule-coverage check (tests/test_cases.py) counts the marker as the rule's case."""
    claimed = {code for mark in request.node.iter_markers("rule") for code in mark.args}
    if not claimed:
        yield
        return
    from modpack.findings import Finding

    made = Finding.__new__  # a NamedTuple: every Finding is made here

    def recording(cls: type[Finding], *args: object, **kwargs: object) -> Finding:
        finding = made(cls, *args, **kwargs)  # type: ignore[arg-type]
        produced.SEEN.add(finding.code)
        return finding

    produced.SEEN.clear()
    Finding.__new__ = recording  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Finding.__new__ = made  # type: ignore[method-assign]
    missing = sorted(claimed - produced.SEEN)
    assert not missing, f"marked @pytest.mark.rule but no such finding was produced: {missing}"


@pytest.fixture(autouse=True)
def _signal_handlers_kept() -> Iterator[None]:
    """SIGINT and SIGTERM as they were before each test. A test that runs a command in-process
    (`main([...])`) and stops it leaves them ignored, as a stopped run does on its way out; every
    later test of that worker then started its subprocesses with SIGTERM ignored, and one whose
    `modpack discover` is stopped by SIGTERM waited for ever (two CI runs in three, after
    test_cli_hints' stopped publish ran in the same worker)."""
    import signal

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in before.items():
        if handler is not None and signal.getsignal(number) is not handler:
            signal.signal(number, handler)


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Ctrl+C raises KeyboardInterrupt in this test, as in a terminal: a test run started in the
    background (nohup, `cmd &` in a script) inherits SIGINT ignored, and Python keeps it so."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
