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


def build(project: Path, out: Path, *extra: str | Path) -> Path:
    """`modpack build PROJECT -o OUT EXTRA...` in a subprocess, which must succeed (else the test
    fails showing its output); the one bundle it wrote."""
    done = run_modpack("build", project, "-o", out, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    (bundle,) = out.glob("*.zip")
    return bundle
