"""Reporters: one report, rendered for people (text), machines (json, sarif) or GitHub (github).

Each reporter is a function from a Report to text; the CLI picks one by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modpack import __version__
from modpack.findings import Finding, Severity
from modpack.rules import all_rules
from modpack.validate import Report

REPORT_FORMAT_VERSION = 1
_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def _summary(report: Report) -> str:
    counts = [
        f"{report.count(s)} {s.label}{'s' if report.count(s) != 1 else ''}"
        for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    ]
    files = len(report.files)
    return f"{files} file{'s' if files != 1 else ''} checked: " + ", ".join(counts)


def text(report: Report, *, colour: bool = False) -> str:
    lines: list[str] = []

    def paint(code: str, value: str) -> str:
        return f"{code}{value}{_RESET}" if colour else value

    for finding in report.findings():
        where = str(finding.location)
        label = paint(_COLOURS[finding.severity], f"{finding.severity.label}")
        lines.append(f"{paint(_BOLD, where)}: {label} {paint(_BOLD, finding.code)} {finding.message}")
        lines.append(f"  {paint(_DIM, 'fix:')} {finding.fix}")
    lines.append(_summary(report))
    return "\n".join(lines)


def finding_dict(finding: Finding) -> dict[str, Any]:
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


def as_json(report: Report) -> str:
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
    return json.dumps(document, indent=2)


def _escape_property(value: str) -> str:
    return (
        value.replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(":", "%3A")
        .replace(",", "%2C")
    )


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github(report: Report) -> str:
    """GitHub Actions workflow commands: one annotation per finding."""
    command = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    lines = []
    for finding in report.findings():
        props = [f"file={_escape_property(finding.location.file.split('!', 1)[0])}"]
        if finding.location.line is not None:
            props.append(f"line={finding.location.line}")
        props.append(f"title={_escape_property(finding.code + ' ' + finding.rule.name)}")
        text_ = f"{finding.message}. Fix: {finding.fix}"
        if finding.location.path:
            text_ = f"[{finding.location.path}] {text_}"
        lines.append(f"::{command[finding.severity]} {','.join(props)}::{_escape_data(text_)}")
    lines.append(_summary(report))
    return "\n".join(lines)


def sarif(report: Report) -> str:
    """SARIF 2.1.0 for code-scanning upload."""
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
    used = sorted({f.code for f in report.findings()})
    catalogue = all_rules()
    rules = [
        {
            "id": code,
            "name": catalogue[code].name,
            "shortDescription": {"text": catalogue[code].name},
            "fullDescription": {"text": catalogue[code].why},
            "help": {"text": catalogue[code].fix},
            "defaultConfiguration": {"level": level[catalogue[code].severity]},
        }
        for code in used
    ]
    results = []
    for finding in report.findings():
        region = {"startLine": finding.location.line} if finding.location.line else {}
        physical: dict[str, Any] = {"artifactLocation": {"uri": finding.location.file.split("!", 1)[0]}}
        if region:
            physical["region"] = region
        results.append(
            {
                "ruleId": finding.code,
                "ruleIndex": used.index(finding.code),
                "level": level[finding.severity],
                "message": {"text": f"{finding.message}. Fix: {finding.fix}"},
                "locations": [{"physicalLocation": physical}],
            }
        )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "modpack", "version": __version__, "rules": rules}},
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2)


REPORTERS: dict[str, Callable[[Report], str]] = {
    "text": text,
    "json": as_json,
    "github": github,
    "sarif": sarif,
}
