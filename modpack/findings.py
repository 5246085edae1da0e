"""Findings: what a check reports, where, and how to fix it.

Checks never raise for bad input and never stop at the first problem: they add findings to a
`Sink`. A finding names a rule (stable code, severity, why it matters, how to fix it) and a
location (file, JSON path, line). Lines are resolved lazily, only for files that have findings,
so the clean path of `modpack validate` never pays for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

# The rule model lives with the catalogue; these names stay importable from here, where the
# findings that carry them are made.
from modpack.rules import Example, Rule, Severity, Source, rule

__all__ = [
    "MAX_PER_RULE",
    "Example",
    "Finding",
    "LineResolver",
    "Location",
    "PathMapper",
    "Rule",
    "Severity",
    "Sink",
    "Source",
    "said_once",
]


class Location(NamedTuple):
    file: str
    path: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.path:
            where += f" [{self.path}]"
        return where


class Finding(NamedTuple):
    rule: Rule
    message: str
    location: Location
    hint: str = ""
    severity: Severity = Severity.ERROR

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def fix(self) -> str:
        return self.hint or self.rule.fix

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes two findings the same one to a reader: rule, place and message."""
        return (self.rule.code, self.location.file, self.location.path, self.message)


class Problem(NamedTuple):
    """A finding not yet placed in a file: rule code, module.json path, message, fix hint.

    What the schema walker (a violation) and the comparison with a live Redis (a difference)
    produce, before a Sink gives it its rule, severity and location (`Sink.report`).
    """

    code: str
    path: str
    message: str
    hint: str = ""


def said_once(findings: list[Finding]) -> list[Finding]:
    """`findings` with each said once: a later one a reader takes for the same (Finding.identity:
    rule, place and message), which two checks of one value may both say, is left out."""
    seen: set[tuple[str, str, str, str]] = set()
    kept = []
    for finding in findings:
        if finding.identity not in seen:
            seen.add(finding.identity)
            kept.append(finding)
    return kept


MAX_PER_RULE = 50  # findings of one rule listed per file; a crafted file cannot flood the report

LineResolver = Callable[[str], int | None]
"""Maps a path inside a file (`commands[3].first_key`) to a 1-based line, if it can."""

PathMapper = Callable[[str], str]
"""Maps a module.json path to the path of the same value in the file it came from."""


def _same_path(path: str) -> str:
    return path


class Sink:
    """Collects findings for one source file.

    `mapper` translates module.json paths into the source's own paths (modpack.toml names
    `commands[0].arity` what module.json names `commands[0].command_arity`); `lines` turns the
    translated path into a line number on demand.
    """

    __slots__ = ("counts", "file", "findings", "getenv", "lines", "mapper", "unexpanded")

    def __init__(self, file: str, lines: LineResolver | None = None, mapper: PathMapper = _same_path) -> None:
        self.file = file
        self.lines = lines
        self.mapper = mapper
        self.findings: list[Finding] = []
        self.counts: dict[str, int] = {}
        self.unexpanded: set[str] = set()  # source paths of values kept with a ${...} (DECL003)
        # (source path, NAME) of a ramp.yml's {os.getenv('NAME')} fields, read as ${NAME}: True where
        # `ramp pack` evaluates the value and leaves it out of module.json, False where it packs it
        self.getenv: dict[tuple[str, str], bool] = {}

    def __repr__(self) -> str:
        return f"Sink({self.file!r}, {len(self.findings)} findings)"

    def withdraw(self, code: str) -> None:
        """Take back what was said under `code`, which a later step made untrue."""
        self.findings = [f for f in self.findings if f.code != code]
        self.counts.pop(code, None)

    def copy(self) -> Sink:
        """Another sink for the same file holding what this one holds so far."""
        twin = Sink(self.file, self.lines, self.mapper)
        twin.findings = list(self.findings)
        twin.counts = dict(self.counts)
        twin.unexpanded = set(self.unexpanded)
        twin.getenv = dict(self.getenv)
        return twin

    def add(
        self,
        code: str,
        path: str,
        message: str,
        hint: str = "",
        *,
        line: int | None = None,
        source_path: bool = False,
    ) -> None:
        """Report rule `code` at `path` (a module.json path, or the source's own if `source_path`)."""
        self.counts[code] = self.counts.get(code, 0) + 1
        if self.counts[code] > MAX_PER_RULE:
            return  # counted; resolved() reports the rest as one finding
        found = rule(code)
        where = Location(self.file, path if source_path else self.mapper(path), line)
        self.findings.append(Finding(found, message, where, hint, found.severity))

    def say_unexpanded(self, path: str, message: str, hint: str = "") -> None:
        """DECL003 at the source path `path`, whose value keeps a placeholder with no value: the
        checks of that value wait for it (unset_variable), past the 50 findings a rule lists too."""
        self.unexpanded.add(path)
        self.add("DECL003", path, message, hint, source_path=True)

    @property
    def toml(self) -> bool:
        """Whether the findings are about a modpack.toml, whose keys messages then name as it
        spells them (`arity`, [module] `name`), the file's kind told as sources.kind_of tells it."""
        return self.file.lower().endswith(".toml")

    @property
    def yaml(self) -> bool:
        """Whether the findings are about a YAML file (a ramp.yml), whose author wrote each value."""
        return self.file.lower().endswith((".yml", ".yaml"))

    def report(self, problem: Problem) -> None:
        """Report a Problem at its module.json path."""
        self.add(problem.code, problem.path, problem.message, problem.hint)

    def saturated(self, code: str) -> bool:
        """True once `code` has all the findings a file lists: skip costly hints for the rest."""
        return self.counts.get(code, 0) >= MAX_PER_RULE

    def extend(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    def resolved(self) -> list[Finding]:
        """The findings with their line numbers filled in, and one more for each flooded rule."""
        findings = list(self.findings)
        for code, count in self.counts.items():
            if count > MAX_PER_RULE:
                found = rule(code)
                message = f"and {count - MAX_PER_RULE} more {code} findings in this file"
                findings.append(Finding(found, message, Location(self.file), "", found.severity))
        if self.lines is None:
            return findings
        return [_with_line(f, self.lines) if f.location.file == self.file else f for f in findings]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)


def _with_line(finding: Finding, lines: LineResolver) -> Finding:
    if finding.location.line is not None:
        return finding
    try:
        line = lines(finding.location.path)
    except Exception:
        line = None
    loc = Location(finding.location.file, finding.location.path, line)
    return Finding(finding.rule, finding.message, loc, finding.hint, finding.severity)


def unset_variable(sink: Sink, path: str) -> bool:
    """Whether DECL003 said that the value at `path` keeps a ${VAR} it could not expand (the checks
    of that value then wait for it); a `${` that `$$` wrote is a literal one, judged as any text."""
    return path in sink.unexpanded
