"""The pinned codec's bytes on other x86-64 CPUs: the known-output test of tests/test_codec.py run
under qemu's user-mode emulation with CPU models that lack AVX2 (Nehalem: SSE4.2) or even SSSE3
(qemu64: SSE2 only), so zlib-ng's run-time dispatch picks its other code paths.

zlib-ng chooses SSE2, SSSE3, SSE4.2, AVX2 or AVX-512 functions at run time; a bundle must still be
byte-identical on every machine (modpack/codec.py). Needs qemu-user-static (Debian package).
Usage: python bench/codec_variants.py [CPU_MODEL...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("qemu64", "Nehalem", "Haswell", "max")
SCRIPT = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from modpack import codec
from tests.test_codec import KNOWN_DEFLATE, KNOWN_SIZE, code_like
digest = hashlib.sha256(codec.deflate(code_like(KNOWN_SIZE))).hexdigest()
print(digest, "same" if digest == KNOWN_DEFLATE else "DIFFERENT")
"""


def main() -> None:
    qemu = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")
    if qemu is None:
        sys.exit("qemu-x86_64 is needed (Debian package qemu-user-static)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    failed = False
    for model in sys.argv[1:] or MODELS:
        result = subprocess.run(
            [qemu, "-cpu", model, sys.executable, "-c", SCRIPT, str(ROOT)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        line = result.stdout.strip() or result.stderr.strip().splitlines()[-1]
        failed |= "same" not in line
        print(f"{model:<10} {line}")
    print(
        f"native     {subprocess.run([sys.executable, '-c', SCRIPT, str(ROOT)], capture_output=True, text=True, env=env, check=False).stdout.strip()}"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
