"""The parsers under test, run one input at a time with a time check and a crash signature.

Each target feeds one input to a public entry point, as a file of the right name (or as data, for
module objects), and checks the contract: findings come back, nothing escapes, nothing is
printed, `read_elf` raises only `ElfError`. `Harness.run` times the input with SIGALRM: past
`LIMIT` it samples the stack (a slow input, with a place to blame), past `HARD_LIMIT` it raises
`Hang` inside the parser, so a looping input ends as a finding instead of hanging the campaign.

"Slow" is judged on the CPU time the process spent on the input (`time.process_time`, every thread),
never on the wall clock: on a shared 2-core machine another process can stretch any wall time, and a
test must not fail because the machine was busy. The wall clock only stops a hang. Tests use
`TEST_LIMIT`/`TEST_HARD` (about 10x the normal cost: they catch a blow-up, not a slowdown); the speed
goal itself (`LIMIT`) is held by the long campaign in bench/.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modpack
from tests.fuzz import seeds

LIMIT = 1.0  # CPU seconds: the campaign's speed goal for any one input (issue 8)
HARD_LIMIT = 3.0  # wall seconds: the campaign interrupts a hang here
TEST_LIMIT = 10.0  # CPU seconds: tests catch a blow-up (10x the goal), never a busy machine
TEST_HARD = 30.0  # wall seconds: tests interrupt a hang here (10x the campaign's)
REGRESSIONS = seeds.ROOT / "tests" / "regressions"
PACKAGE = str(Path(modpack.__file__).resolve().parent) + os.sep
NO_REDIS = "/nonexistent/modpack-fuzz/redis-server"


class Hang(BaseException):
    """Raised inside a parser that ran past HARD_LIMIT (a BaseException: no `except Exception` eats it)."""


class ContractError(AssertionError):
    """A parser answered, but not as its contract says (a wrong type, printed output)."""


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str
    run: Callable[[bytes, Path], None]


@dataclass(frozen=True)
class Outcome:
    target: str
    kind: str  # "ok", "slow" (more CPU than the limit), "hang" (stopped at the hard limit), "crash"
    seconds: float  # wall time
    signature: str = ""
    summary: str = ""
    cpu_seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.kind != "ok"


# --- targets --------------------------------------------------------------------------------------


def _check_report(report: Any) -> None:
    from modpack.findings import Finding
    from modpack.report import Report

    if not isinstance(report, Report):
        raise ContractError(f"validate_paths returned {type(report).__name__}")
    for finding in report.findings():
        if not isinstance(finding, Finding) or not finding.code:
            raise ContractError(f"a finding is {finding!r}")


def _validate(data: bytes, path: Path) -> None:
    from modpack.validate import validate_paths

    path.write_bytes(data)
    _check_report(validate_paths([path]))


def run_module_json(data: bytes, folder: Path) -> None:
    _validate(data, folder / "module.json")


def run_module_object(data: bytes, folder: Path) -> None:
    from modpack.validate import validate_module_object

    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return  # not a module object at all: the JSON layer's business, covered by module_json
    findings = validate_module_object(document)
    if not isinstance(findings, list):
        raise ContractError(f"validate_module_object returned {type(findings).__name__}")


def run_declarations(name: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, folder: Path) -> None:
        from modpack import declarations, manifests

        path = folder / name
        path.write_bytes(data)
        decl = manifests.load(path)
        if not isinstance(decl, declarations.Declarations):
            raise ContractError(f"manifests.load returned {type(decl).__name__}")
        _validate(data, path)

    return run


def run_elf(data: bytes, folder: Path) -> None:
    from modpack import elf
    from modpack.checks.elf import check_binary
    from modpack.findings import Sink

    path = folder / "module.so"
    path.write_bytes(data)
    for source in (path, io.BytesIO(data)):
        with contextlib.suppress(elf.ElfError):
            elf.read_elf(source)  # type: ignore[arg-type]
    check_binary(path, Sink(str(path)))


def run_bundle(data: bytes, folder: Path) -> None:
    _validate(data, folder / "bundle.zip")


def run_bundled_elf(data: bytes, folder: Path) -> None:
    _validate(seeds.good_bundle(data), folder / "bundle.zip")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("module_json", ".json", run_module_json),
        Target("module_object", ".json", run_module_object),
        Target("modpack_toml", ".toml", run_declarations("modpack.toml")),
        Target("ramp_yml", ".yml", run_declarations("ramp.yml")),
        Target("elf", ".so", run_elf),
        Target("bundle", ".zip", run_bundle),
        Target("bundled_elf", ".so", run_bundled_elf),
    )
}


# --- running one input ----------------------------------------------------------------------------


@contextlib.contextmanager
def _watchdog(limit: float, hard: float, hard_cpu: float | None = None) -> Iterator[dict[str, Any]]:
    """Sample the stack after `limit` CPU seconds, raise Hang after `hard` wall seconds (or after
    `hard_cpu` CPU seconds when given: the campaign's bound, which a busy machine cannot trip).

    SIGPROF (ITIMER_PROF) counts the process's CPU time, so a busy machine does not trigger the
    sample; SIGALRM (ITIMER_REAL) bounds the wall time, so a parser blocked on nothing still ends.
    Main thread only; elsewhere the input runs untimed.
    """
    sample: dict[str, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        yield sample
        return

    def on_cpu_limit(_signum: int, frame: Any) -> None:
        if "stack" in sample and hard_cpu is not None:
            signal.setitimer(signal.ITIMER_PROF, 0.25)  # again, should a finalizer swallow this one
            raise Hang(f"no answer after {hard_cpu:g} s of CPU")
        sample.setdefault("stack", traceback.extract_stack(frame))
        if hard_cpu is not None:
            signal.setitimer(signal.ITIMER_PROF, max(hard_cpu - limit, 0.01))

    def on_wall_limit(_signum: int, _frame: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0.25)  # again, should a finalizer swallow this one
        raise Hang(f"no answer after {hard:g} s")

    previous_prof = signal.signal(signal.SIGPROF, on_cpu_limit)
    previous_alarm = signal.signal(signal.SIGALRM, on_wall_limit)
    signal.setitimer(signal.ITIMER_PROF, limit)
    signal.setitimer(signal.ITIMER_REAL, hard)
    try:
        yield sample
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGPROF, previous_prof)


@contextlib.contextmanager
def _no_redis_server() -> Iterator[None]:
    """`load = true` in a fuzzed manifest must not start servers: point it at nothing, for one input."""
    saved = os.environ.get("MODPACK_REDIS_SERVER")
    os.environ["MODPACK_REDIS_SERVER"] = NO_REDIS
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MODPACK_REDIS_SERVER"]
        else:
            os.environ["MODPACK_REDIS_SERVER"] = saved


class Harness:
    """Runs inputs against targets in one scratch folder (files are overwritten per input)."""

    def __init__(
        self, folder: Path, *, limit: float = LIMIT, hard: float = HARD_LIMIT, hard_cpu: float | None = None
    ) -> None:
        self.folder = folder
        self.limit = limit
        self.hard = hard
        self.hard_cpu = hard_cpu
        for name in TARGETS:
            (folder / name).mkdir(parents=True, exist_ok=True)

    def run(self, target: str, data: bytes) -> Outcome:
        runner = TARGETS[target].run
        out, err = io.StringIO(), io.StringIO()
        start, cpu_start = time.perf_counter(), time.process_time()

        def outcome(kind: str, signature: str = "", summary: str = "") -> Outcome:
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            return Outcome(target, kind, wall, signature, summary, cpu)

        try:
            with (
                _no_redis_server(),
                _watchdog(self.limit, self.hard, self.hard_cpu) as sample,
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                runner(data, self.folder / target)
        except Hang as exc:
            return outcome("hang", signature_of(exc), _summary(exc))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # anything escaping a parser is the finding
            return outcome("crash", signature_of(exc), _summary(exc))
        done = outcome("ok")
        printed = out.getvalue() + err.getvalue()
        if printed and "Hang" not in printed:
            return outcome("crash", "ContractError: the library printed", printed[:200])
        # A Hang raised inside a finalizer is printed ("Exception ignored ...") and the parser goes
        # on: the input was slow, not talkative.
        if done.cpu_seconds > self.limit:
            where = place(list(sample["stack"])) if "stack" in sample else "an unsampled place"
            return outcome("slow", f"Slow at {where}", f"answered after {done.cpu_seconds:.2f} s of CPU")
        return done


# --- signatures -------------------------------------------------------------------------------------


def _short(filename: str) -> str:
    if filename.startswith(PACKAGE):
        return "modpack/" + filename[len(PACKAGE) :]
    parts = Path(filename).parts
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[index + 1 :])
    return Path(filename).name


def place(frames: list[traceback.FrameSummary]) -> str:
    """Where to blame: modpack's frame that let it happen, and the library it went into.

    Recursive code blows up at varying depths and loops are caught at varying lines, so a
    recursion is named by its function, and a recursion inside a library by the library's entry.
    """
    frames = [f for f in frames if f.filename != __file__]  # the watchdog's own frame
    ours = [i for i, f in enumerate(frames) if f.filename.startswith(PACKAGE)]
    if not ours:
        return f"{_short(frames[-1].filename)}:{frames[-1].name}" if frames else "?"
    inner = [frames[i] for i in ours]
    calls = [(f.filename, f.name) for f in inner]
    repeated = next((f for f in inner if calls.count((f.filename, f.name)) > 1), None)
    if repeated is not None:
        return f"{_short(repeated.filename)} ({repeated.name}, recursive)"
    frame = inner[-1]
    where = f"{_short(frame.filename)}:{frame.lineno} ({frame.name})"
    outside = frames[ours[-1] + 1 :]
    if outside:
        names = [(f.filename, f.name) for f in outside]
        if len(set(names)) < len(names):
            return f"{where} -> {_short(outside[0].filename)} (recursive)"
        return f"{where} -> {_short(outside[-1].filename)}:{outside[-1].name}"
    return where


def signature_of(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{type(exc).__name__} at {place(list(frames))}"


def _summary(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    tail = "".join(traceback.format_list(frames[-6:]))
    message = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{tail}{type(exc).__name__}: {message}"


# --- the regression corpus ---------------------------------------------------------------------------


def slug(signature: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", signature.lower()).strip("-")[:80]


def regression_inputs(folder: Path = REGRESSIONS) -> list[tuple[str, Path]]:
    """(target, file) for every committed input, in a stable order."""
    found = []
    for name, target in TARGETS.items():
        base = folder / name
        if base.is_dir():
            found += [(name, p) for p in sorted(base.iterdir()) if p.suffix == target.suffix]
    return found


def save_regression(
    outcome: Outcome, data: bytes, folder: Path = REGRESSIONS, *, replaces: Path | None = None
) -> Path:
    """Write a failing input where the replay test finds it, and describe it in index.json."""
    target = TARGETS[outcome.target]
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = folder / outcome.target / f"{slug(outcome.signature)}-{digest}{target.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text("utf-8")) if index_path.is_file() else {}
    if replaces is not None and replaces != path:
        replaces.unlink(missing_ok=True)
        index.pop(replaces.relative_to(folder).as_posix(), None)
    index[path.relative_to(folder).as_posix()] = {
        "target": outcome.target,
        "kind": outcome.kind,
        "signature": outcome.signature,
        "seconds": round(outcome.seconds, 3),
        "bytes": len(data),
        "summary": outcome.summary,
    }
    index_path.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n", "utf-8")
    return path
