"""Tiny modules compiled with the host's gcc at test time (never committed as binaries)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.tools import require

ONLOAD_C = """
int RedisModule_OnLoad(void *ctx, void **argv, int argc) {
    (void)ctx; (void)argv; (void)argc;
    return 0;
}
"""


def compile_so(
    tmp: Path, name: str, source: str, *flags: str, cxx: bool = False, shared: bool = True
) -> Path:
    """Compile `source` into tmp/name with gcc (or g++); the test fails when the compiler is missing."""
    compiler = "g++" if cxx else "gcc"
    require(shutil.which(compiler) is not None, f"{compiler} (apt-get install {compiler})")
    src = tmp / f"{name}.{'cc' if cxx else 'c'}"
    src.write_text(source)
    out = tmp / name
    kind = ["-shared", "-fPIC"] if shared else []
    subprocess.run(
        [compiler, "-O1", *kind, "-o", str(out), str(src), *flags], check=True, capture_output=True
    )
    return out
