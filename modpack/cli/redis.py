"""`modpack discover` and `modpack redis prepare|list`: options in, library call, output printed.

Only click is imported at the top; the harness loads inside the commands. The main group imports
this module only when one of these commands runs (modpack.cli.lazy).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modpack.cli.output import GivenPath, GivenText, OnceGroup
from modpack.errors import UsageError

if TYPE_CHECKING:
    from modpack.redis.model import Discovery


@click.command()
@click.argument("so", type=GivenPath(path_type=Path, dir_okay=False))
@click.option("--args", "module_args", default="", help="Module arguments for MODULE LOAD (shell quoting).")
@click.option("--format", "fmt", type=click.Choice(("toml", "json")), default="toml", show_default=True)
@click.option(
    "--write",
    "write_path",
    type=GivenPath(path_type=Path, dir_okay=False),
    help="Merge the commands into this modpack.toml (keeps its other keys and comments).",
)
@click.option("--prune", is_flag=True, help="With --write: drop declared commands Redis does not register.")
@click.option(
    "--subcommands/--no-subcommands",
    default=None,
    help="List parent|sub subcommands too (RAMP lists none; declared, they are CMD022's) [default: with"
    " --format json only].",
)
@click.option(
    "--redis-server",
    "redis_server",
    envvar="MODPACK_REDIS_SERVER",
    type=GivenText(),
    help="The redis-server to run [env MODPACK_REDIS_SERVER; default: redis-server on PATH].",
)
@click.option(
    "--redis-version",
    help="Load into this Redis (e.g. 8.0; see `modpack redis list`) [default: this machine's, or the "
    "newest prepared one of the module's architecture].",
)
def discover(
    so: Path,
    module_args: str,
    fmt: str,
    write_path: Path | None,
    prune: bool,
    subcommands: bool | None,
    redis_server: str | None,
    redis_version: str | None,
) -> None:
    """Load a module into a throw-away redis-server and list the commands it registers.

    A module of another architecture is loaded into an emulated redis-server of its own
    architecture (`modpack redis prepare --arch aarch64` prepares one)."""
    from modpack.cli.output import checked_redis_version, echo_registered_defects
    from modpack.redis import discover as library

    if write_path is not None:
        library.refuse_other_target(write_path, so)
    elif prune:  # it was ignored: the list printed still held what it would have dropped
        raise UsageError("--prune works with --write", "Pass --write PATH: it drops from that file.")
    found = library.discover(
        so, library.split_args(module_args), redis_server, redis_version=checked_redis_version(redis_version)
    )
    # What is written or printed as TOML goes into declarations, where build warns of a subcommand.
    include = subcommands if subcommands is not None else fmt == "json" and write_path is None
    if write_path is not None:
        summary = library.write_toml(
            write_path,
            found,
            include_subcommands=include,
            prune=prune,
            new_file=lambda: _new_file(found, so, write_path),
        )
        click.echo(summary.describe())
    elif fmt == "json":
        click.echo(library.to_json(found, include), nl=False)
    else:
        click.echo(library.to_toml(found, include), nl=False)
    if echo_registered_defects(found, so, write_path or so):
        sys.exit(1)  # a command Redis registers and cannot use: an error, as validate --load says


def _new_file(found: Discovery, so: Path, path: Path) -> tuple[str, list[str]]:
    """The modpack.toml `modpack init --discover` writes, without its commands (the merge adds
    them): [module] name, version, the Redis versions and capabilities, [build] so. A new file
    held only name and semantic_version, and its first validate failed (SCH001)."""
    from modpack import scaffold

    conversion = scaffold.discovered_file(scaffold.discovered_of(found), so, path)
    conversion.commands = []
    return conversion.render(), conversion.notes


@click.group("redis", cls=OnceGroup)
def redis_group() -> None:
    """Prepare and list redis-servers of other Redis versions and architectures for --load."""


@redis_group.command("prepare")
@click.option(
    "--arch",
    "architecture",
    type=click.Choice(("x86_64", "aarch64")),
    help="The architecture of the modules to load [default: this machine's].",
)
@click.option(
    "--version",
    "version",
    type=click.Choice(("7.0", "8.0")),
    default="8.0",
    show_default=True,
    help="The Redis version (7.0: Debian bookworm's redis-server, 8.0: trixie's).",
)
@click.option("--force", is_flag=True, help="Fetch and unpack again, replacing what is there.")
def prepare_command(architecture: str | None, version: str, force: bool) -> None:
    """Fetch Debian's redis-server of that version and architecture into the cache folder.

    Uses private apt folders (the system's apt setup is untouched) and Debian's mirror; a
    server of another architecture runs under qemu-user (apt-get install qemu-user-static).
    """
    from modpack.redis import provision
    from modpack.redis.harness import terminate_raises
    from modpack.redis.spec import host_architecture

    arch = architecture or host_architecture()
    with terminate_raises():  # apt-get and dpkg-deb are killed, and the partial folder removed
        made = provision.prepare(arch, version, force=force)
    spec = made.spec()
    how = spec.origin if spec is not None else "cannot run on this machine"
    click.echo(f"redis-server {made.version} ({how})")
    click.echo(f"  {made.binary}")


@redis_group.command("list")
def list_command() -> None:
    """List the redis-servers --load, discover and build --discover can use here."""
    from modpack.redis import provision, servers
    from modpack.redis.harness import RedisNotFoundError
    from modpack.redis.spec import host_architecture

    try:
        own = servers.system_server()
        click.echo(f"{own.version or '?':<8} {own.architecture:<8} {own.origin}")
    except RedisNotFoundError as exc:
        click.echo(f"{'-':<8} {host_architecture():<8} no redis-server of this machine: {exc.message}")
    try:
        found = provision.prepared()
    except OSError as exc:  # another user's cache: the machine's own server above still serves
        found = []
        click.echo(f"{'-':<8} {'-':<8} the prepared servers cannot be listed: {exc.strerror or exc}")
    for made in found:
        spec = made.spec()
        how = spec.origin if spec is not None else f"{made.folder}, cannot run here (qemu-user missing?)"
        click.echo(f"{made.version:<8} {made.architecture:<8} {how}")
    click.echo(f"prepared servers live in {provision.cache_root()} (`modpack redis prepare` adds one)")
