"""Shared helpers of the redis-server tests (no tests here).

Tests marked `redis` need a real redis-server and call `tests.support.tools.require_redis()`: when it is
missing they FAIL, unless MODPACK_ALLOW_NO_REDIS=1 (a laptop without Redis) makes them skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.support.paths import FIXTURES

SO = FIXTURES / "so" / "x86_64"
EXPECTED = json.loads((FIXTURES / "expected" / "redis-7.0.15.json").read_text("utf-8"))
LOADABLE = ("hello", "mismatch", "subcommands", "keyspecs", "execstack", "cxx_module")


def redis_processes_in(folder: Path) -> list[int]:
    """Live redis-server processes whose command line names `folder` (a /proc scan)."""
    needle = os.fsencode(folder)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"redis-server" in cmdline and needle in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def assert_cleaned_up(pid: int | None, folder: Path | None) -> None:
    assert pid is not None and folder is not None
    assert not Path(f"/proc/{pid}").exists(), f"redis-server {pid} is still there"
    assert not folder.exists(), f"{folder} was not removed"
    assert redis_processes_in(folder) == []


def expected_commands(fixture: str) -> dict[str, list[Any]]:
    """COMMAND INFO replies recorded for `fixture`.so by fixtures/verify_redis.sh."""
    info: dict[str, list[Any]] = EXPECTED["fixtures"][f"{fixture}.so"]["command_info"]
    return info


def expected_module(fixture: str) -> dict[str, Any]:
    module: dict[str, Any] = EXPECTED["fixtures"][f"{fixture}.so"]["module"]
    return module
