"""One exception hierarchy. The CLI turns these into a message, a hint and an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modpack.findings import Finding


class ModpackError(Exception):
    """A failure the user can act on: printed as one message and a hint, never a traceback.

    `details` are lines under the message (one per problem). The CLI prints each on its own line
    with its control characters escaped, so a value inside one (a file name, a node's address)
    cannot start a line of its own; `message` holds them too, indented, for library callers."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", details: Sequence[str] = ()) -> None:
        self.summary = message
        self.details = tuple(details)
        self.message = message + "".join(f"\n  {line}" for line in self.details)
        super().__init__(self.message)
        self.hint = hint


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
