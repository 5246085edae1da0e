"""The report of a validation: each file checked, what kind it is, and its findings.

Built by modpack.validate and modpack.builder, rendered by modpack.reporters; kept apart from
both so a change to how files are checked or shown leaves the model alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modpack.config import Settings
from modpack.rules import Severity

if TYPE_CHECKING:
    from modpack.findings import Finding
    from modpack.sources import SourceKind


class FileReport:
    """The findings of one file (or folder) and what kind of input it is."""

    __slots__ = ("findings", "kind", "path", "strict")

    def __init__(self, path: str, kind: SourceKind, findings: list[Finding] | None = None) -> None:
        self.path = path
        self.kind = kind
        self.findings: list[Finding] = [] if findings is None else findings
        self.strict: bool | None = None  # its own [validate] strict; None: the report's

    def __repr__(self) -> str:
        return f"FileReport({self.path!r}, {self.kind!r}, {self.findings!r})"


class Report:
    """Every file's report, and the settings that decide failure."""

    __slots__ = ("files", "settings")

    def __init__(self, files: list[FileReport], settings: Settings | None = None) -> None:
        self.files = files
        self.settings = Settings() if settings is None else settings

    def __repr__(self) -> str:
        return f"Report({self.files!r}, {self.settings!r})"

    def findings(self) -> list[Finding]:
        return [f for report in self.files for f in report.findings]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings() if f.severity is severity)

    @property
    def failed(self) -> bool:
        for report in self.files:
            strict = self.settings.strict if report.strict is None else report.strict
            worst = Severity.WARNING if strict else Severity.ERROR
            if any(f.severity >= worst for f in report.findings):
                return True
        return False
