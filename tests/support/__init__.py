"""Helpers shared by the test modules, imported by name (`from tests.support.cli import run_modpack`).

paths: the checkout's folders (fixtures, cases, the .so fixtures, HELLO); cli: the real command line
in a subprocess (and `build`, a build that must succeed); tools: a missing tool or input fails the
test; rest: bundles and local clusters for the REST tests, and `http` / `cli` to talk to one; redis:
recorded replies and clean-up checks for the redis-server tests; redis_prepared: the prepared
servers of other architectures and versions; libraries: version nodes system libraries define; elf:
crafted modules written and read back; files: sha256 and patched bytes; strategies: hypothesis
strategies several modules draw from; produced: the findings a test produced (what
`@pytest.mark.rule` is checked against). Fixtures live in tests/conftest.py; tests/README.md says
where each kind of test goes.
"""
