"""Shared benchmark helpers: a large module fixture and per-process time and memory."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "fixtures" / "so" / "x86_64" / "hello.so"
WORK = Path(os.environ.get("MODPACK_BENCH_DIR", "/tmp/modpack-bench"))


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float


def measure(command: list[str], *, cwd: Path | None = None, stdout: int | None = subprocess.DEVNULL) -> Run:
    """Wall time, CPU time (user+sys) and peak RSS of one child process, read with wait4."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        error = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"{command} failed: {error}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def best(command: list[str], repeat: int = 3, **kwargs: object) -> Run:
    runs = [measure(command, **kwargs) for _ in range(repeat)]  # type: ignore[arg-type]
    return min(runs, key=lambda r: r.wall)


def large_module(size_mb: int = 200) -> Path:
    """hello.so plus a non-loaded section of `size_mb` MB (half random, half text-like), cached."""
    target = WORK / f"hello-{size_mb}mb.so"
    if target.exists():
        return target
    if shutil.which("objcopy") is None:
        sys.exit("objcopy is needed (Debian package binutils)")
    WORK.mkdir(parents=True, exist_ok=True)
    blob = WORK / "blob.bin"
    rng = random.Random(0)
    megabyte = 1024 * 1024
    line = b"redis module data, compressible like code and tables 0123456789\n"
    text = (line * (megabyte // len(line) + 1))[:megabyte]
    with blob.open("wb") as out:  # written a megabyte at a time: this process must stay small,
        for index in range(size_mb):  # since a child's peak RSS starts from its parent's
            out.write(rng.randbytes(megabyte) if index < size_mb // 2 else text)
    subprocess.run(
        [
            "objcopy",
            "--add-section",
            f".blob={blob}",
            "--set-section-flags",
            ".blob=noload,readonly",
            str(HELLO),
            str(target),
        ],
        check=True,
    )
    blob.unlink()
    target.chmod(0o755)
    return target


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"
