"""The real command line in a subprocess: exit codes, stdout and stderr as a user sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import produced


def run_modpack(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m modpack ARGS` with this interpreter, text output captured, a generous hang guard."""
    done = subprocess.run(
        [sys.executable, "-m", "modpack", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )
    produced.note_output(done.stdout)
    return done
