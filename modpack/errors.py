"""One exception hierarchy. The CLI turns these into a message, a hint and an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modpack.findings import Finding


class ModpackError(Exception):
    """A failure the user can act on: printed as one message, its detail lines, and a hint; never
    a traceback.

    Each of `message`, `details` and `hint` is printed as one line (a newline inside one is shown
    as an escape: values quoted from the input cannot forge lines), so a failure with several
    parts, such as every problem a preflight found, gives each part as a detail line.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str = "", details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = tuple(details)

    def __str__(self) -> str:
        return "\n  ".join((self.message, *self.details))


class UsageError(ModpackError):
    """The command line itself is wrong (exit status 2)."""

    exit_code = 2


class FindingsError(ModpackError):
    """An operation refused because validation found errors; the findings explain why."""

    def __init__(self, message: str, findings: Sequence[Finding]) -> None:
        super().__init__(message)
        self.findings = list(findings)


class OutputExistsError(ModpackError):
    """The output file exists with different content and --force was not given."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where a command must undo its work before it ends, as for Ctrl+C (publish)."""
