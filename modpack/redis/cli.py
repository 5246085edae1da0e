"""The `modpack discover` command: options in, library call, output printed.

Only click is imported at the top; the harness loads inside the command. The main group imports
this module only when `modpack discover` runs (modpack.command_registry).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("so", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--args", "module_args", default="", help="Module arguments for MODULE LOAD (shell quoting).")
@click.option("--format", "fmt", type=click.Choice(("toml", "json")), default="toml", show_default=True)
@click.option(
    "--write",
    "write_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Merge the commands into this modpack.toml (keeps its other keys and comments).",
)
@click.option("--prune", is_flag=True, help="With --write: drop declared commands Redis does not register.")
@click.option("--no-subcommands", is_flag=True, help="Leave out parent|sub subcommands (RAMP lists none).")
@click.option(
    "--redis-server",
    "redis_server",
    envvar="MODPACK_REDIS_SERVER",
    help="The redis-server to run [env MODPACK_REDIS_SERVER; default: redis-server on PATH].",
)
def discover(
    so: Path,
    module_args: str,
    fmt: str,
    write_path: Path | None,
    prune: bool,
    no_subcommands: bool,
    redis_server: str | None,
) -> None:
    """Load a module into a throw-away redis-server and list the commands it registers."""
    from modpack.redis import discover as library

    found = library.discover(so, library.split_args(module_args), redis_server)
    include = not no_subcommands
    if write_path is not None:
        summary = library.write_toml(write_path, found, include_subcommands=include, prune=prune)
        click.echo(summary.describe())
    elif fmt == "json":
        click.echo(library.to_json(found, include), nl=False)
    else:
        click.echo(library.to_toml(found, include), nl=False)
