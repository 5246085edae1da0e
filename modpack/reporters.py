"""Reporters: one report, rendered for people (text), machines (json, sarif) or GitHub (github).

Each reporter is a function from a Report and an `Output` (colour, the folder paths are relative
to) to text; the CLI picks one by name.

Every string a finding carries may come from the file being checked (a command name, a file
name), so nothing reaches the output unescaped: a newline in a `.so` name must not start a new
line, because GitHub Actions reads any line of a step's output that starts with `::` as a
workflow command (https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions),
and an escape sequence must not repaint the terminal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal, NamedTuple, TypedDict
from urllib.parse import quote

from modpack import __version__
from modpack.findings import Finding, Rule, Severity
from modpack.report import Report
from modpack.rules import all_rules

if TYPE_CHECKING:
    from modpack.types import JSON

REPORT_FORMAT_VERSION = 1
_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"

ColourChoice = Literal["auto", "always", "never"]
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


class Output(NamedTuple):
    """How to render: with colour or not, and the folder that file paths are relative to
    (None: the current folder)."""

    colour: bool = False
    root: Path | None = None


def colour_enabled(choice: ColourChoice, isatty: bool, environ: Mapping[str, str]) -> bool:
    """--color, then NO_COLOR and FORCE_COLOR (each counts only when non-empty), then the terminal.

    https://no-color.org: "when present and not an empty string"; https://force-color.org likewise.
    NO_COLOR wins over FORCE_COLOR: turning colour off is the safer reading of a contradiction.
    """
    if choice != "auto":
        return choice == "always"
    if environ.get("NO_COLOR", ""):
        return False
    if environ.get("FORCE_COLOR", ""):
        return True
    return isatty and environ.get("TERM", "") != "dumb"


def workspace_root(environ: Mapping[str, str]) -> Path:
    """GitHub's checkout ($GITHUB_WORKSPACE) when set, else the current folder."""
    workspace = environ.get("GITHUB_WORKSPACE", "")
    return Path(workspace).resolve() if workspace else Path.cwd().resolve()


# --- escaping ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(match: re.Match[str]) -> str:
    return _NAMED.get(match.group(), f"\\x{ord(match.group()):02x}")


def printable(value: str) -> str:
    """`value` with every control character (C0, DEL, C1) shown as an escape, on one line."""
    return _CONTROL.sub(_shown, value)


def shown_path(path: object) -> str:
    """A path as a report shows it: on one line, its control characters and the bytes of a name
    that is not UTF-8 as escapes (`\\n`, `\\xff`)."""
    return printable(str(_unicode(str(path))))


def _escape_data(value: str) -> str:
    """A workflow command's message: GitHub's escapeData (%, CR, LF, which the runner decodes back,
    so a newline stays a newline inside the annotation) and other control characters shown."""
    shown = _CONTROL_BUT_LINES.sub(_shown, value)
    return shown.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    """A workflow command's property value (GitHub's escapeProperty: also ':' and ',')."""
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


# --- paths ------------------------------------------------------------------------------------


class Place(NamedTuple):
    """Where a finding is, as a file in the workspace (when it is in it) and the part inside it."""

    file: str  # relative to the root, with '/', or absolute when outside the root
    inside: bool  # the file is under the root
    member: str  # a bundle's entry ("hello.so") the finding is about, or ""


def place(location_file: str, root: Path) -> Place:
    """`dist/x.zip!hello.so` -> the zip relative to `root`, and the entry."""
    name, _, member = location_file.partition("!")
    path = Path(name)
    absolute = Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))
    # The path as given first; through symlinks (a workspace reached by a linked folder) second.
    for candidate in (absolute, _resolved(absolute)):
        if candidate.is_relative_to(root):
            relative = candidate.relative_to(root)
            return Place(PurePosixPath(*relative.parts).as_posix() or ".", True, member)
    return Place(absolute.as_posix(), False, member)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path


def _detail(finding: Finding, where: Place) -> str:
    """The message, with what the file path alone cannot say: the bundle entry (and the line in
    it, which is no line of the zip the annotation is on) and the JSON path."""
    member = where.member
    if member and finding.location.line is not None:
        member = f"{member}:{finding.location.line}"
    inner = " ".join(part for part in (member, finding.location.path) if part)
    text = f"{finding.message}. Fix: {finding.fix}"
    return f"[{inner}] {text}" if inner else text


# --- text and json ----------------------------------------------------------------------------


def _summary(report: Report) -> str:
    counts = [
        f"{report.count(s)} {s.label}{'s' if report.count(s) != 1 else ''}"
        for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    ]
    files = len(report.files)
    line = f"{files} file{'s' if files != 1 else ''} checked: " + ", ".join(counts)
    if report.failed and not report.count(Severity.ERROR):  # failed on warnings: say whose strict
        line += "; warnings fail under --strict or the files' [validate] strict"
    return line


def _where(finding: Finding) -> str:
    where = printable(str(finding.location))
    # A line of ours must never start with "::" (a workflow command when run in GitHub Actions).
    return f"./{where}" if where.startswith(":") else where


def text(report: Report, output: Output | None = None) -> str:
    colour = output.colour if output else False
    lines: list[str] = []

    def paint(code: str, value: str) -> str:
        return f"{code}{value}{_RESET}" if colour else value

    for finding in report.findings():
        label = paint(_COLOURS[finding.severity], f"{finding.severity.label}")
        message = printable(finding.message)
        lines.append(f"{paint(_BOLD, _where(finding))}: {label} {paint(_BOLD, finding.code)} {message}")
        lines.append(f"  {paint(_DIM, 'fix:')} {printable(finding.fix)}")
    lines.append(_summary(report))
    return "\n".join(lines)


class LocationDocument(TypedDict):
    file: str
    path: str
    line: int | None


class FindingDocument(TypedDict):
    """One finding in `--format json` (REPORT_FORMAT_VERSION)."""

    code: str
    name: str
    severity: str
    message: str
    fix: str
    location: LocationDocument


def finding_dict(finding: Finding) -> FindingDocument:
    return {
        "code": finding.code,
        "name": finding.rule.name,
        "severity": finding.severity.label,
        "message": finding.message,
        "fix": finding.fix,
        "location": {
            "file": finding.location.file,
            "path": finding.location.path,
            "line": finding.location.line,
        },
    }


def as_json(report: Report, output: Output | None = None) -> str:
    document = {
        "format_version": REPORT_FORMAT_VERSION,
        "tool": {"name": "modpack", "version": __version__},
        "summary": {
            "files": len(report.files),
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "infos": report.count(Severity.INFO),
            "failed": report.failed,
        },
        "files": [
            {"path": f.path, "kind": f.kind, "findings": [finding_dict(x) for x in f.findings]}
            for f in report.files
        ],
    }
    return json.dumps(_unicode(document), indent=2)


def _unicode(value: object) -> object:
    """`value` with the bytes of a file name that is not UTF-8 (Python's surrogate escapes, which
    JSON would carry as lone surrogates that strict parsers refuse and jq turns into U+FFFD)
    written as `\\xff`, and any other lone surrogate as `\\udXXX`: valid UTF-8 throughout."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate no file name gave (a module.json's "\ud800")
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {key: _unicode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unicode(item) for item in value]
    return value


# --- github -----------------------------------------------------------------------------------

_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def github(report: Report, output: Output | None = None) -> str:
    """GitHub Actions workflow commands: one annotation per finding, paths relative to the workspace."""
    root = (output or Output()).root or Path.cwd()
    lines = []
    for finding in report.findings():
        where = place(finding.location.file, root)
        props = [f"file={_escape_property(where.file)}"]
        if finding.location.line is not None and not where.member:  # a member's line is in the text
            props.append(f"line={finding.location.line}")
        props.append(f"title={_escape_property(finding.code + ' ' + finding.rule.name)}")
        message = _escape_data(_detail(finding, where))
        lines.append(f"::{_GITHUB_COMMAND[finding.severity]} {','.join(props)}::{message}")
    lines.append(_summary(report))
    return "\n".join(lines)


# --- sarif ------------------------------------------------------------------------------------

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _sarif_rule(rule: Rule) -> dict[str, JSON]:
    """A reportingDescriptor: what code scanning shows beside an alert (SARIF 2.1.0 §3.49)."""
    references = [f"- {s.title}: {s.url}" if s.title else f"- {s.url}" for s in rule.sources]
    help_text = f"{rule.why}\n\nFix: {rule.fix}"
    help_markdown = f"**Why it matters.** {rule.why}\n\n**How to fix it.** {rule.fix}"
    if references:
        help_text += "\n\nSources:\n" + "\n".join(references)
        help_markdown += "\n\n**Sources**\n\n" + "\n".join(
            f"- [{s.title or s.url}]({s.url})" for s in rule.sources
        )
    descriptor: dict[str, JSON] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {"tags": ["modpack", rule.family]},
    }
    if rule.sources:
        descriptor["helpUri"] = rule.sources[0].url
    return descriptor


def _artifact_location(where: Place) -> dict[str, JSON]:
    if where.inside:
        # the name's own bytes, percent-encoded (RFC 3986): a name that is not UTF-8 (a surrogate
        # escape in Python) was an internal error in quote(), which encodes str as strict UTF-8
        return {"uri": quote(os.fsencode(where.file)), "uriBaseId": SRCROOT}
    return {"uri": Path(where.file).as_uri()}


def _fingerprint(finding: Finding, where: Place) -> str:
    """Stable across runs for the same problem, so code scanning does not open duplicates (GitHub
    computes one itself only from text files it can read; it cannot read a zip or a .so).

    A message names files as the command line reached them (build/hello.so from the module's
    folder, mod/build/hello.so from the repository's root): only the last part of each path is
    kept, or a workflow's working-directory changed every fingerprint."""
    import hashlib  # here, not at the top: `modpack validate module.json` never needs it

    message = _LAST_PART.sub(r"\1", finding.message)
    key = "\0".join((finding.code, where.file, where.member, finding.location.path, message))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


_LAST_PART = re.compile(r"[^\s'\"]*/([^\s/'\"]+)")


def _sarif_result(finding: Finding, where: Place, rule_index: int) -> dict[str, JSON]:
    # GitHub places an alert only with region.startLine (sarif-sdk's GH1003 check); a finding
    # about a whole file (a zip, a .so, a missing key), or inside a bundle's member (whose line is
    # in the message: the zip has none), is shown on its first line.
    line = finding.location.line if not where.member else None
    region: dict[str, JSON] = {"startLine": line or 1}
    return {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[finding.severity],
        "message": {"text": _detail(finding, where)},
        "locations": [
            {"physicalLocation": {"artifactLocation": _artifact_location(where), "region": region}}
        ],
        "partialFingerprints": {"modpackFinding/v1": _fingerprint(finding, where)},
    }


def sarif(report: Report, output: Output | None = None) -> str:
    """SARIF 2.1.0 for code scanning: URIs relative to %SRCROOT% (the workspace), rule help, lines."""
    root = (output or Output()).root or Path.cwd()
    catalogue = all_rules()
    used = sorted({f.code for f in report.findings()}, key=list(catalogue).index)
    results = [_sarif_result(f, place(f.location.file, root), used.index(f.code)) for f in report.findings()]
    run = {
        "tool": {
            "driver": {
                "name": "modpack",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_sarif_rule(catalogue[code]) for code in used],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2)


Reporter = Callable[[Report, Output], str]

REPORTERS: dict[str, Reporter] = {
    "text": text,
    "json": as_json,
    "github": github,
    "sarif": sarif,
}
