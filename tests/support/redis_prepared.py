"""The prepared redis-servers (`modpack redis prepare`) the emulation and version tests need.

Like `tests.support.tools.require_redis()`: a missing one FAILS the test (scripts/test.sh prepares them
in CI), unless MODPACK_ALLOW_NO_REDIS=1 (a laptop without them) makes it skip.
"""

from __future__ import annotations

import os

import pytest

from modpack.redis import provision
from modpack.redis.spec import ServerSpec


def require_prepared(architecture: str, version: str) -> ServerSpec:
    """The prepared redis-server of `architecture` whose version starts with `version` (8.0)."""
    for spec in provision.installed():
        if spec.architecture == architecture and spec.version.startswith(version + "."):
            return spec
    command = f"modpack redis prepare --arch {architecture} --version {version}"
    if os.environ.get("MODPACK_ALLOW_NO_REDIS") == "1":
        pytest.skip(
            f"no prepared {architecture} redis-server {version} (allowed by MODPACK_ALLOW_NO_REDIS=1)"
        )
    pytest.fail(
        f"no prepared {architecture} redis-server {version} in {provision.cache_root()}; "
        f"CI must run `{command}` (scripts/test.sh does; MODPACK_ALLOW_NO_REDIS=1 skips)"
    )
