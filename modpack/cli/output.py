"""What several command families share: colour, the text report of findings, rule selections, the
group class that refuses an option given twice.

Only click is imported here; reporters and validation load inside the functions that print.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, ClassVar

import click

from modpack.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from modpack.config import Settings
    from modpack.findings import Finding
    from modpack.redis.model import Discovery
    from modpack.report import Report
    from modpack.reporters import ColourChoice, Output


class GivenPath(click.Path):
    """click.Path that refuses an empty argument: Path("") is the current folder, so `validate ""`
    (an unset variable in a CI script) checked the folder it ran in and passed, and `build -o ""`
    wrote into it."""

    def convert(
        self, value: str | os.PathLike[str], param: click.Parameter | None, ctx: click.Context | None
    ) -> str | bytes | os.PathLike[str]:
        if value == "":
            self.fail("is empty (an unset variable?): give a path, or . for the current folder", param, ctx)
        return super().convert(value, param, ctx)


class GivenText(click.types.StringParamType):
    """A text option that refuses an empty value, as GivenPath does a path: ramp-pack -o "" wrote
    into the current folder, --redis-server "" fell back to the redis-server on PATH."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value == "":
            self.fail("is empty (an unset variable?): give a value, or leave the option out", param, ctx)
        return super().convert(value, param, ctx)


COLOR_OPTION = click.option(
    "--color",
    "color",
    type=click.Choice(("auto", "always", "never")),
    default="auto",
    show_default=True,
    help="Colour the text output: auto is on a terminal unless NO_COLOR is set (FORCE_COLOR forces it).",
)


class OnceGroup(click.Group):
    """A group whose commands refuse an option that takes a value given twice.

    click keeps the last value in silence: `build --so old.so ... --so new.so`, `-o a -o b` or
    `--cluster` twice chose one without a word. Flags and options taking several values
    (`multiple`) may repeat. ramp-pack keeps click's last-wins, as `ramp pack` (click too) does
    for the scripts it replaces."""

    last_value_wins: ClassVar[frozenset[str]] = frozenset({"ramp-pack"})

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and name not in self.last_value_wins and not isinstance(command, click.Group):
            refuse_repeated_options(command, name or command.name or "", ctx, rest)
        return name, command, rest


def refuse_repeated_options(
    command: click.Command, name: str, parent: click.Context, args: list[str]
) -> None:
    """click.UsageError when an option of `command` that takes one value appears twice in `args`
    (never while completing a command line: click parses it leniently then)."""
    if parent.resilient_parsing:
        return
    context = click.Context(command, info_name=name, parent=parent, **command.context_settings)
    try:
        _, _, order = command.make_parser(context).parse_args(args=list(args))
    except click.UsageError:
        return  # the command's own parse reports it
    seen: set[str | None] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count or param.is_flag:
            continue
        if param.name in seen:
            raise click.UsageError(f"{' / '.join(param.opts)} is given more than once; give it once", context)
        seen.add(param.name)


def parse_codes(values: tuple[str, ...]) -> tuple[str, ...]:
    """`--select zip,CMD001 --select zero-step` -> ("ZIP", "CMD001", "zero-step")."""
    from modpack.config import normalized_codes

    return normalized_codes(c for v in values for c in v.split(","))


def checked_redis_version(text: str | None) -> str | None:
    """--redis-version as given, or a usage error when it is not a version (8.0, 7.0.15): the one
    check of the option, shared by validate and discover."""
    if text is not None and not re.fullmatch(r"\d+(\.\d+){0,2}", text):
        raise UsageError(f"--redis-version {text!r} is not a version", "Give one like 8.0 or 7.0.15.")
    return text


def colour(choice: ColourChoice = "auto") -> bool:
    from modpack.reporters import colour_enabled

    return colour_enabled(choice, sys.stdout.isatty(), os.environ)


def text_output(choice: ColourChoice = "auto") -> Output:
    from modpack import reporters

    return reporters.Output(colour=colour(choice))


def report_of(findings: list[Finding]) -> Report:
    """Findings of a build or a refusal as a report, one file entry per file they name."""
    from modpack.report import FileReport, Report

    files: dict[str, FileReport] = {}
    for finding in findings:
        name = finding.location.file
        files.setdefault(name, FileReport(name, "unknown")).findings.append(finding)
    return Report(list(files.values()))


def echo_findings(findings: list[Finding], choice: ColourChoice = "auto") -> None:
    """The findings as the text reporter prints them."""
    from modpack import reporters

    output = text_output(choice)
    click.echo(reporters.text(report_of(findings), output), color=output.colour)


def echo_registered_defects(found: Discovery, so: Path, near: Path) -> bool:
    """What the module registers that Redis cannot use (a keystep of 0 or -1, a limit routing
    drops), on stderr; True when one is an error (LOAD027: discover and `init --discover` then
    exit 1, as `validate --load` of the .so does). The commands listed or written are what it
    registers, defects included, and a modpack.toml written from them declares the defect as well
    (validate then reports it). `so`: the module's binary, read as `validate --load` reads it
    (whether it names getkeys-api decides what routing reads). `near`: the modpack.toml written,
    or a file whose nearest modpack.toml's [validate] select/ignore apply, as validate applies them
    (a LOAD027 the project ignores failed every `discover --write` of its CI)."""
    from modpack.findings import Severity, Sink
    from modpack.redis import compare

    said = Sink(str(so))
    compare.report_registered_defects(said, found, so)  # as build --discover and ramp-pack say them
    settings = _settings_near(near)
    kept = [f for f in said.findings if settings.reports(f.code)]
    for defect in kept:  # labelled as the catalogue (and validate --load) has it: LOAD027 is an error
        click.echo(f"modpack: {defect.severity.label}: {defect.code} {defect.message}", err=True)
        if defect.hint:
            click.echo(f"  fix: {defect.hint}", err=True)
    return any(f.severity is Severity.ERROR for f in kept)


def _settings_near(path: Path) -> Settings:
    """[validate] of `path` when it is a modpack.toml, else of the nearest one above it; none when
    there is none, or it cannot be read (discover itself says nothing of a broken one)."""
    from modpack.config import Settings, settings_near

    try:  # a modpack.toml is the nearest to itself: found in its own folder
        return settings_near(path)
    except UsageError:
        return Settings()
