"""A small mutation tester: do the targeted tests notice when the code is changed?

Usage (from the repository root):

    python bench/mutate.py modpack/loadability.py tests/test_elf_compat.py tests/test_boundaries.py
    python bench/mutate.py modpack/bundle.py tests/test_boundaries.py -- -k "not slow"
    python bench/mutate.py modpack/versions.py tests/test_boundaries.py --list
    python bench/mutate.py modpack/versions.py tests/test_boundaries.py --lines 12,30 --jobs 2

Each mutant changes one thing in the module (the AST, so only code, never comments or strings):
a comparison flipped at its boundary (< and <=) or negated (== and !=, in and not in), an integer
constant +1 and -1, True and False swapped, `and` and `or` swapped, + and -, * and //, a `not`
removed, an `if` condition negated, a statement deleted (replaced by `pass`). For each, the
targeted tests run (pytest -x, in a private copy of the tree, with a timeout) and the mutant is

    killed    a test failed: the tests pin what was changed
    survived  every test passed: nothing pins it (or the mutant is equivalent)
    timeout   the tests did not finish in time (counted as killed: the change was noticed)

The score is (killed + timeout) / (killed + survived + timeout). Each survivor is printed with
its line and its mutation.

Equivalent mutants (a change no test can notice because the behaviour is the same) are left
out of the score in two ways: a `# mutate: equivalent -- why` comment on the line skips every
mutant of that line; a --skip file lists single mutants, one a line, as printed for survivors
(`LINE: MUTATION`, `#` starts a comment), for lines whose other mutants must still count.

The tests run with the copy first on PYTHONPATH and bytecode writing off (two mutants of the
same size in the same second would otherwise share a stale .pyc). The unmutated tests must pass
first; the default timeout is 10x their time (at least 30 s).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = "# mutate: equivalent"
_IGNORED = shutil.ignore_patterns(
    ".git", "__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".hypothesis", "dist", "build", "*.egg-info"
)

_COMPARE_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
}
_SYMBOLS = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
    ast.BitAnd: "&", ast.BitOr: "|", ast.And: "and", ast.Or: "or",
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    index: int
    line: int
    description: str

    @property
    def label(self) -> str:
        return f"{self.line}: {self.description}"


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | timeout
    seconds: float


class _Mutator(ast.NodeTransformer):
    """Walks the tree counting mutation sites; applies site `target` (-1: none, only list)."""

    def __init__(self, target: int = -1) -> None:
        self.target = target
        self.found: list[Mutant] = []
        self._docstrings: set[int] = set()

    def _site(self, node: ast.AST, description: str) -> bool:
        index = len(self.found)
        self.found.append(Mutant(index, getattr(node, "lineno", 0), description))
        return index == self.target

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for position, op in enumerate(node.ops):
            for other in _COMPARE_SWAPS.get(type(op), ()):
                if self._site(node, f"{_SYMBOLS[type(op)]} -> {_SYMBOLS[other]}"):
                    node.ops[position] = other()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[other]}"):
            node.op = other()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        other = _BINOP_SWAPS.get(type(node.op))
        if other is not None and self._site(node, f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[other]}"):
            node.op = other()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "not x -> x"):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._site(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int):
            for delta in (1, -1):
                if self._site(node, f"{value} -> {value + delta}"):
                    return ast.copy_location(ast.Constant(value + delta), node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # The annotation is never evaluated (`from __future__ import annotations`): no sites there.
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        if self._site(node, "if cond -> if not cond"):
            node.test = ast.copy_location(ast.UnaryOp(ast.Not(), node.test), node.test)
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, self._body(value))
        return super().generic_visit(node)

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        result = list(body)
        for position, statement in enumerate(body):
            if not _deletable(statement):
                continue
            if self._site(statement, f"delete `{_first_line(statement)}`"):
                result[position] = ast.copy_location(ast.Pass(), statement)
        return result


def _deletable(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return False  # a docstring
    kinds = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If, ast.Return, ast.Raise, ast.For)
    kinds += (ast.Continue, ast.Break, ast.With, ast.While)
    if isinstance(statement, ast.AnnAssign) and statement.value is None:
        return False
    return isinstance(statement, kinds)


def _first_line(statement: ast.stmt) -> str:
    text = ast.unparse(statement).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def _strip_annotations(tree: ast.AST) -> None:
    """Annotations are never evaluated (`from __future__ import annotations`): no sites there."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None


def mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    _strip_annotations(tree)
    walker = _Mutator()
    walker.visit(tree)
    return walker.found


def mutated_source(source: str, index: int) -> str:
    tree = ast.parse(source)
    _strip_annotations(tree)
    walker = _Mutator(index)
    walker.visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def equivalent_lines(source: str) -> set[int]:
    return {n for n, line in enumerate(source.splitlines(), 1) if EQUIVALENT in line}


def skip_list(path: Path | None) -> set[str]:
    if path is None:
        return set()
    entries = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {entry for entry in entries if entry}


class _Workspace:
    """A private copy of the tree; one mutant at a time is written into it."""

    def __init__(self, module: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="modpack-mutate-"))
        self.root = self.folder / "tree"
        shutil.copytree(ROOT, self.root, symlinks=True, ignore=_IGNORED)
        self.target = self.root / module.resolve().relative_to(ROOT)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _pytest_args(tests: list[str], extra: list[str]) -> list[str]:
    return ["-x", "-q", "-p", "no:cacheprovider", *tests, *extra]


def _warm_up(space: _Workspace, tests: list[str], extra: list[str]) -> None:
    """Import pytest, its plugins and every third-party module the tests use, once, here.

    Each mutant then runs in a fork of this process, so it pays only for importing the
    project's own modules (dropped again below, so each fork imports the mutant afresh).
    """
    import pytest

    here = Path.cwd()
    sys.path.insert(0, str(space.root))
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.chdir(space.root)
        os.dup2(null, 1)
        os.dup2(null, 2)
        pytest.main(["--collect-only", *_pytest_args(tests, extra)])
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(null)
        os.chdir(here)
        sys.path.remove(str(space.root))
    for name, loaded in list(sys.modules.items()):
        if str(getattr(loaded, "__file__", None) or "").startswith(str(space.folder)):
            del sys.modules[name]


def _start(space: _Workspace, text: str, tests: list[str], extra: list[str]) -> int:
    """Write the mutant and run the tests on it in a child process (its own session)."""
    space.target.write_text(text)
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.chdir(space.root)
        sys.path.insert(0, str(space.root))
        os.environ["PYTHONPATH"] = str(space.root)  # for the modpack subprocesses tests start
        import pytest

        code = int(pytest.main(_pytest_args(tests, extra)))
    finally:
        os._exit(code)


@dataclass
class _Running:
    mutant: Mutant
    space: _Workspace
    started: float


def _run_all(
    spaces: list[_Workspace], source: str, todo: list[Mutant], args: argparse.Namespace, timeout: float
) -> list[Outcome]:
    free, queue = list(spaces), list(todo)
    running: dict[int, _Running] = {}
    done: list[Outcome] = []
    try:
        _loop(free, queue, running, done, source, args, timeout, len(todo))
    finally:
        for pid in running:  # interrupted: stop the test runs still going
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    order = {m.index: n for n, m in enumerate(todo)}
    return sorted(done, key=lambda o: order[o.mutant.index])


def _loop(
    free: list[_Workspace],
    queue: list[Mutant],
    running: dict[int, _Running],
    done: list[Outcome],
    source: str,
    args: argparse.Namespace,
    timeout: float,
    total: int,
) -> None:
    while queue or running:
        while queue and free:
            mutant = queue.pop(0)
            space = free.pop()
            pid = _start(space, mutated_source(source, mutant.index), args.tests, args.pytest_args)
            running[pid] = _Running(mutant, space, time.monotonic())
        time.sleep(0.02)
        for pid, job in list(running.items()):
            status = _status(pid, job, timeout)
            if status is None:
                continue
            del running[pid]
            free.append(job.space)
            done.append(Outcome(job.mutant, status, time.monotonic() - job.started))
            print(f"[{len(done)}/{total}] {status:<8} {args.module}:{job.mutant.label}", flush=True)


def _status(pid: int, job: _Running, timeout: float) -> str | None:
    finished, code = os.waitpid(pid, os.WNOHANG)
    if finished:
        return "survived" if os.waitstatus_to_exitcode(code) == 0 else "killed"
    if time.monotonic() - job.started <= timeout:
        return None
    os.killpg(pid, signal.SIGKILL)  # the test run and whatever it started
    os.waitpid(pid, 0)
    return "timeout"


def _baseline(space: _Workspace, source: str, args: argparse.Namespace) -> tuple[bool, float]:
    started = time.monotonic()
    pid = _start(space, source, args.tests, args.pytest_args)
    _pid, code = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(code) == 0, time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    module = Path(args.module)
    source = module.read_text()
    found = mutants(source)
    equivalent = equivalent_lines(source)
    skipped = skip_list(args.skip)
    chosen = [m for m in found if not args.lines or m.line in args.lines]
    excluded = [m for m in chosen if m.line in equivalent or m.label in skipped]
    todo = [m for m in chosen if m not in excluded]
    if args.list:
        for mutant in chosen:
            mark = "  (equivalent)" if mutant in excluded else ""
            print(f"{module}:{mutant.label}{mark}")
        print(f"{len(chosen)} mutants, {len(excluded)} marked equivalent")
        return 0
    sys.dont_write_bytecode = True  # two mutants of one size in one second would share a .pyc
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    spaces = [_Workspace(module) for _ in range(max(args.jobs, 1))]
    try:
        _warm_up(spaces[0], args.tests, args.pytest_args)
        passed, seconds = _baseline(spaces[0], source, args)
        if not passed:
            print("the unmutated tests do not pass; run them with pytest first", file=sys.stderr)
            return 2
        timeout = args.timeout or max(30.0, 10 * seconds)
        print(
            f"{module}: {len(todo)} mutants ({len(excluded)} equivalent left out); tests take {seconds:.1f} s"
        )
        outcomes = _run_all(spaces, source, todo, args, timeout)
    finally:
        for space in spaces:
            space.remove()
    return _report(module, outcomes, excluded)


def _report(module: Path, outcomes: list[Outcome], excluded: list[Mutant]) -> int:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "survived", "timeout")}
    total = len(outcomes)
    score = 100.0 * (counts["killed"] + counts["timeout"]) / total if total else 100.0
    print()
    for outcome in outcomes:
        if outcome.status == "survived":
            print(f"survived  {module}:{outcome.mutant.label}")
    print(
        f"\n{module}: killed {counts['killed']}, survived {counts['survived']}, timeout {counts['timeout']}, "
        f"equivalent (left out) {len(excluded)}; score {score:.1f}% "
        f"({counts['killed'] + counts['timeout']}/{total})"
    )
    return 0


def _lines(text: str) -> set[int]:
    """`12,30` or `74-219,300`: the lines whose mutants run."""
    lines: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _dash, high = part.partition("-")
        lines.update(range(int(low), int(high or low) + 1))
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the Python file to mutate, e.g. modpack/loadability.py")
    parser.add_argument("tests", nargs="+", help="the targeted test files (run with pytest -x)")
    parser.add_argument("--skip", type=Path, help="a file of equivalent mutants, `LINE: MUTATION` a line")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 10x the clean run)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once, each in its own copy")
    parser.add_argument("--lines", type=_lines, help="only mutants on these lines, e.g. 12,30 or 74-219")
    parser.add_argument("--list", action="store_true", help="list the mutants and run nothing")
    args = parser.parse_args(argv)
    args.pytest_args = pytest_args
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
