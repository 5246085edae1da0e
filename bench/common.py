"""Shared benchmark helpers: a module carrying real code, and per-process time and memory.

Every child runs this checkout (PYTHONPATH) with compiled bytecode, as an installed modpack does:
the benchmark compiles modpack once and lets the children use the .pyc files.
"""

from __future__ import annotations

import atexit
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "fixtures" / "so" / "x86_64" / "hello.so"
WORK = Path(os.environ.get("MODPACK_BENCH_DIR", "/tmp/modpack-bench"))
# 117 MB of real x86-64 code and tables: Debian's package libllvm15 (apt-get install libllvm15).
REAL_CODE = Path(os.environ.get("MODPACK_BENCH_CODE", "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"))
PYTHON = sys.executable


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float


def child_env() -> dict[str, str]:
    """This checkout first on the path, and bytecode used as an installed package uses it."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: on a shared machine they say how far to trust a run."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def compile_modpack() -> None:
    """Every benchmark starts here: compile once, and say the load at the start and at the end."""
    compileall.compile_dir(ROOT / "modpack", quiet=1)
    print(f"load average at start: {load_average()} ({os.cpu_count()} CPUs)")
    atexit.register(lambda: print(f"load average at end: {load_average()}"))


def measure(command: Sequence[str], *, cwd: Path | None = None) -> Run:
    """Wall time, CPU time (user+sys, threads included) and peak RSS of one child, read with wait4."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env()
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{command} failed: {error}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def best(command: Sequence[str], repeat: int = 3, **kwargs: Path | None) -> Run:
    """The best wall, CPU and peak over `repeat` runs (each its own minimum)."""
    runs = [measure(command, **kwargs) for _ in range(repeat)]
    return Run(min(r.wall for r in runs), min(r.cpu for r in runs), max(r.peak_mb for r in runs))


@dataclass
class Pair:
    """Two commands run alternately in one session: the machine's load falls on both alike."""

    ours: list[Run]
    theirs: list[Run]

    def best(self, side: str) -> Run:
        runs = self.ours if side == "ours" else self.theirs
        return Run(min(r.wall for r in runs), min(r.cpu for r in runs), max(r.peak_mb for r in runs))

    def median_ratio(self, metric: str) -> float:
        pairs = zip(self.ours, self.theirs, strict=True)
        return statistics.median(getattr(a, metric) / getattr(b, metric) for a, b in pairs)


def alternate(
    ours: Sequence[str],
    theirs: Sequence[str],
    repeat: int,
    before_each: Callable[[], None] | None = None,
) -> Pair:
    pair = Pair([], [])
    for _ in range(repeat):
        for command, runs in ((ours, pair.ours), (theirs, pair.theirs)):
            if before_each is not None:
                before_each()
            runs.append(measure(command))
    return pair


def report(label_ours: str, label_theirs: str, pair: Pair, sizes: tuple[str, str] = ("", "")) -> None:
    for label, side, size in ((label_ours, "ours", sizes[0]), (label_theirs, "theirs", sizes[1])):
        run = pair.best(side)
        print(f"{label:<34} {run.wall:7.2f} s wall {run.cpu:7.2f} s CPU  peak {run.peak_mb:5.0f} MB  {size}")


def verdict(name: str, ours: float, theirs: float, target: float, median: float) -> str:
    value = ours / theirs if theirs else float("inf")
    met = "met" if value <= target else "NOT met"
    return f"{name}: {value:.2f}x best/best, {median:.2f}x median of pairs (target <= {target}x: {met})"


def real_module() -> Path:
    """hello.so with libLLVM-15.so.1 added as a non-loaded section: a valid module of real code.

    The section is SHF_ALLOC-less (noload), so the loader never maps it and every ELF check still
    sees the small fixture module; the compressor sees 117 MB of real code and tables.
    """
    target = WORK / "hello-llvm15.so"
    if target.exists():
        return target
    if shutil.which("objcopy") is None:
        sys.exit("objcopy is needed (Debian package binutils)")
    if not REAL_CODE.is_file():
        sys.exit(f"{REAL_CODE} is missing: apt-get install libllvm15 (or set MODPACK_BENCH_CODE)")
    WORK.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    subprocess.run(
        [
            "objcopy",
            "--add-section",
            f".blob={REAL_CODE}",
            "--set-section-flags",
            ".blob=noload,readonly",
            str(HELLO),
            str(partial),
        ],
        check=True,
    )
    partial.chmod(0o755)
    partial.replace(target)
    return target


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB"
