"""A test whose tool or input is missing fails, as CI must; MODPACK_ALLOW_NO_REDIS=1 skips instead."""

from __future__ import annotations

import os
import shutil

import pytest


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


# Marks for tests that read the shared reference examples: missing, such a test fails (the
# conftest fixture `require`s the folder), as it must in CI.
needs_realworld = pytest.mark.usefixtures("realworld_folder")
needs_manifests = pytest.mark.usefixtures("ramp_examples_folder")
