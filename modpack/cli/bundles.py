"""The commands on bundles and their parts: validate, build, inspect, rules, schema.

`validate` is the start-up path (pre-commit hooks run it on every commit): only click and the
light modules are imported at the top; validation, reporters, the builder and the ELF reader
load inside the commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import click

from modpack.cli.output import (
    COLOR_OPTION,
    GivenPath,
    GivenText,
    checked_redis_version,
    colour,
    echo_findings,
    parse_codes,
)
from modpack.errors import FindingsError, ModpackError, UsageError

if TYPE_CHECKING:
    from modpack.config import NearestSettings, Settings
    from modpack.reporters import ColourChoice

FORMATS = ("text", "json", "github", "sarif")


def validation_settings(
    config: Path | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    strict: bool,
    load: LoadOptions | None = None,
) -> Settings | NearestSettings:
    """What `validate` and `publish` check each file with (config.settings_for): --config's
    [validate] for every file, else each file's nearest, as `modpack build` of it reads it; the
    command line on top."""
    from modpack.config import Settings, settings_for

    load = load or LoadOptions()
    given = Settings(
        parse_codes(select),
        parse_codes(ignore),
        strict,
        load.load,
        load.if_available,
        load.redis_server,
        load.redis_version,
    )
    return settings_for(config, given)


class LoadOptions(NamedTuple):
    """validate's --load options, as given on the command line."""

    load: bool = False
    if_available: bool = False
    redis_server: str | None = None
    redis_version: str | None = None


@click.command()
# readable=False: a file validate cannot read is IN001 beside the others' findings (as one in a
# folder is), not a usage error that checked none of them
@click.argument("paths", nargs=-1, required=True, type=GivenPath(path_type=Path, readable=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (comma-separated).")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes (comma-separated).")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option(
    "--load",
    is_flag=True,
    help="Also load each module into a real redis-server and compare; not loading it fails.",
)
@click.option(
    "--load-if-available",
    is_flag=True,
    help="Like --load when a redis-server for the module is there; else only a note (laptops).",
)
@click.option(
    "--redis-server",
    "redis",
    type=GivenText(),
    help="redis-server for --load (default: $MODPACK_REDIS_SERVER, PATH).",
)
@click.option(
    "--redis-version",
    help="Prove with this Redis (e.g. 8.0; see `modpack redis list`) [default: the one closest to the "
    "module's compatible_redis_version].",
)
@click.option(
    "--config", type=GivenPath(path_type=Path, dir_okay=False), help="modpack.toml with [validate]."
)
@click.option(
    "--skip-unrelated",
    is_flag=True,
    help="Skip files named like module files that hold something else (a zip with no module.json "
    "and no .so, YAML with no RAMP key); pre-commit's hooks pass it.",
)
@COLOR_OPTION
def validate(
    paths: tuple[Path, ...],
    fmt: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    strict: bool,
    load: bool,
    load_if_available: bool,
    redis: str | None,
    redis_version: str | None,
    config: Path | None,
    skip_unrelated: bool,
    color: ColourChoice,
) -> None:
    """Validate bundles, module.json, modpack.toml, ramp.yml and .so files (folders too).

    With --format github or sarif, paths are relative to $GITHUB_WORKSPACE (else the current folder).
    """
    from modpack import reporters
    from modpack.validate import validate_paths

    if load and load_if_available:
        raise UsageError("--load and --load-if-available contradict each other", "Give one of them.")
    options = LoadOptions(load, load_if_available, redis, checked_redis_version(redis_version))
    settings = validation_settings(config, select, ignore, strict, options)
    skipped: list[tuple[Path, str]] | None = [] if skip_unrelated else None
    report = validate_paths(paths, settings, skipped)
    for path, reason in skipped or []:
        # a file name may hold a newline: on a line of its own, `::error ...` is a workflow command
        click.echo(f"modpack: skipped {reporters.shown_path(path)}: {reason}", err=True)
    output = reporters.Output(colour(color), reporters.workspace_root(os.environ))
    # click strips escape sequences from what is not a terminal unless told the colour is wanted.
    click.echo(reporters.REPORTERS[fmt](report, output), color=output.colour)
    sys.exit(1 if report.failed else 0)


@click.command()
@click.argument("path", required=False, type=GivenPath(path_type=Path), default=Path("modpack.toml"))
@click.option("--so", "so", type=GivenPath(path_type=Path, dir_okay=False), help="The module binary.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=GivenPath(path_type=Path, file_okay=False),
    default=Path("dist"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--name", "name_template", help="Bundle file name template, e.g. '{module_name}-{semantic_version}.zip'."
)
@click.option("--force", is_flag=True, help="Replace an existing bundle with different content.")
@click.option("--all", "all_targets", is_flag=True, help="Build every [[targets]] entry.")
@click.option("--target", "target_names", multiple=True, help="Build this [[targets]] entry (repeatable).")
@click.option(
    "--discover",
    is_flag=True,
    help="Fill the commands from the module when none of its own are declared (add_command's are kept).",
)
@click.option(
    "--redis-server",
    "redis",
    type=GivenText(),
    help="redis-server for --discover (default: $MODPACK_REDIS_SERVER, PATH).",
)
@COLOR_OPTION
def build(
    path: Path,
    so: Path | None,
    out_dir: Path,
    name_template: str | None,
    force: bool,
    all_targets: bool,
    target_names: tuple[str, ...],
    discover: bool,
    redis: str | None,
    color: ColourChoice,
) -> None:
    """Build module.json and a deterministic bundle from modpack.toml (or ramp.yml) and the .so."""
    from modpack.builder import build_project

    results = build_project(
        path,
        so,
        out_dir,
        name_template=name_template,
        force=force,
        all_targets=all_targets,
        target_names=target_names,
        discover=discover,
        redis_server=redis,
    )
    from modpack.reporters import shown_path

    for result in results:
        if result.findings:
            echo_findings(result.findings, color)
        state = "unchanged" if result.unchanged else "wrote"
        shown = shown_path(result.path)  # a newline in it made two lines of one
        click.echo(f"{state} {shown} (sha256 of {result.module['module_file']}: {result.sha256})")


@click.command()
@click.argument("codes", nargs=-1)
@click.option(
    "--format", "fmt", type=click.Choice(("text", "json", "markdown")), default="text", show_default=True
)
@click.option(
    "--capabilities", is_flag=True, help="List the capability names Redis Enterprise knows instead."
)
@click.option(
    "--platforms", is_flag=True, help="List the Redis Enterprise OSes and what they provide instead."
)
def rules(codes: tuple[str, ...], fmt: str, capabilities: bool, platforms: bool) -> None:
    """List every rule, or explain the rules CODES in full (`modpack rules CMD002`).

    One rule in full: why it matters, how to fix it, what triggers it, what fixes it, its sources.
    """
    from modpack import rule_docs

    given = [
        name
        for name, on in (("--capabilities", capabilities), ("--platforms", platforms), ("CODES", codes))
        if on
    ]
    if len(given) > 1:  # one was printed and the others dropped, exit 0
        raise click.UsageError(f"{' and '.join(given)} cannot be combined: give one of them per run")
    if capabilities:
        click.echo(rule_docs.render_capabilities(fmt))
    elif platforms:
        click.echo(rule_docs.render_platforms(fmt))
    elif codes:
        found = [rule_docs.find_rule(code) for code in codes]
        if fmt == "json":
            import json

            click.echo(json.dumps([rule_docs.rule_dict(r) for r in found], indent=2))
        else:
            click.echo("\n\n".join(rule_docs.render_rule(r, fmt) for r in found))
    else:
        click.echo(rule_docs.render(fmt))


@click.command()
@click.argument("name", type=click.Choice(("module", "modpack", "report")))
def schema(name: str) -> None:
    """Print a JSON schema: module (module.json), modpack (modpack.toml), report (validate --format json)."""
    from modpack import read_packaged

    click.echo(read_packaged("schemas", f"{name}.schema.json"), nl=False)


@click.command()
@click.argument("file", type=GivenPath(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def inspect(file: Path, fmt: str) -> None:
    """Describe a module .so or a bundle: architecture, libraries, symbol versions, loadable OSes."""
    import json

    from modpack.inspection import describe

    try:
        description = describe(file)
    except FindingsError as refused:
        if fmt != "json":
            raise
        # --format json keeps stdout JSON or empty: the findings go to stderr, with the error (the
        # text report of a bundle's findings went to stdout, where a pipeline parses JSON).
        lines = [f"{f.location}: {f.severity.label} {f.code} {f.message}" for f in refused.findings]
        raise ModpackError(refused.message, refused.hint, lines) from None
    if fmt == "json":
        click.echo(json.dumps(description, indent=2))
    else:
        from modpack.inspection import format_description

        click.echo(format_description(description))


COMMANDS = (validate, build, rules, schema, inspect)
