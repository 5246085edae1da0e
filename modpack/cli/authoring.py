"""Commands for where module authors already work: `modpack init` and `modpack ramp-pack`.

Thin click wrappers: the work is in modpack.scaffold, modpack.ramp, modpack.builder and modpack.redis.
Loaded only when one of these commands runs (modpack.cli.lazy).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modpack.cli.output import COLOR_OPTION, GivenPath, GivenText, echo_findings, echo_registered_defects
from modpack.errors import ModpackError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from modpack.atomic import AtomicFile
    from modpack.ramp.pack import RampOption
    from modpack.redis.model import Discovery
    from modpack.reporters import ColourChoice
    from modpack.scaffold import Conversion, Discovered


def _discovered(
    so: Path | None, args: str | None, source: Path | None = None
) -> tuple[Discovered | None, Discovery | None]:
    """What --discover found, as init writes it and as Redis reported it (None: no --discover).
    From a ramp.yml (`source`), the module is loaded as RAMP's discovery loads it, with its
    run_command_line_args (else command_line_args) unless --args gives others, on a redis-server
    started with its redis_args."""
    if so is None:
        return None, None
    from modpack.redis.discover import discover, split_args
    from modpack.scaffold import discovered_of

    words = split_args(args or "")
    options: tuple[str, ...] = ()
    if source is not None and source.name.lower().endswith((".yml", ".yaml")):
        from modpack.ramp import reader

        manifest = reader.load(source)
        options = manifest.server_options
        if args is None:
            words = reader.discovery_words(manifest)
    with no_server_option():
        found = discover(so, words, server_options=options)
    return discovered_of(found), found


@contextlib.contextmanager
def no_server_option() -> Iterator[None]:
    """A command without --redis-server (init, ramp-pack): a missing server's hint names the
    environment variable only."""
    from modpack.redis.harness import RedisNotFoundError

    try:
        yield
    except RedisNotFoundError as exc:
        exc.hint = exc.without_option
        raise


def _write(path: Path, text: str, force: bool) -> None:
    from modpack.redis.discover import atomic_write

    _refuse_existing(path, force)  # again: it may have come meanwhile
    atomic_write(path, text)


def _refuse_existing(path: Path, force: bool) -> None:
    if os.path.lexists(path) and not force:  # a link to nothing is there too: --force replaces it
        raise UsageError(f"{path} exists", "Pass --force to replace it.")


@click.command("init")
@click.argument("given", metavar="[PATH]", type=GivenPath(), default="modpack.toml")
@click.option(
    "--from",
    "source",
    type=GivenPath(path_type=Path, dir_okay=False, exists=True),
    help="Convert ramp.yml, module.json or a bundle (.zip).",
)
@click.option(
    "--discover",
    "so",
    type=GivenPath(path_type=Path, dir_okay=False, exists=True),
    help="Load this .so into a real redis-server for its name, version and commands.",
)
@click.option("--args", "args", help="Module load arguments for --discover.")
@click.option("--name", help="The module name (what it passes to RedisModule_Init).")
@click.option("--version", "version", help="The semantic version X.Y.Z.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init_command(
    given: str,
    source: Path | None,
    so: Path | None,
    args: str | None,
    name: str | None,
    version: str | None,
    force: bool,
) -> None:
    """Write modpack.toml: new, or converted from ramp.yml, module.json or a bundle.

    PATH is the file to write (default: modpack.toml here), or a folder to write modpack.toml in,
    as `modpack build` takes a folder; a PATH ending in '/' is a folder, made when missing.
    """
    path, folder = _target(given)
    _refuse_own_input(path, [p for p in (source, so) if p is not None])  # --force cannot lift it
    _refuse_other_kind(path)
    # Then: a bare `init` beside an existing modpack.toml said it needed --name and --version.
    _refuse_existing(path, force)
    _check_identity(name, version)
    discovered, found = _discovered(so, args, source)
    conversion, taken = None, []
    if source is None:
        text, notes = _new(name, version, discovered, so, path)
    else:
        conversion = _convert(source, discovered, name, version)
        if so is not None:  # from the file written, which reads it from its own folder
            conversion.so = os.path.relpath(so.resolve(), path.resolve().parent)
        elif source.name.lower().endswith(".json"):
            taken = _binary_beside(conversion, path, source)
    made = _make_folder(folder) if folder is not None else []
    extracted: list[Path] = []
    try:
        if conversion is not None:
            from modpack.scaffold import extract_archives

            extracted = extract_archives(conversion, path.parent)  # a bundle's deps/, beside it
            text, notes = conversion.render(), conversion.notes + taken
        _write(path, text, force)
    except BaseException:
        for written in extracted:  # nothing was written: what was made for it goes too
            with contextlib.suppress(OSError):
                written.unlink()
        for created in reversed(made):
            with contextlib.suppress(OSError):
                created.rmdir()
        raise
    click.echo(f"wrote {_shown(path)}")
    for note in notes:
        click.echo(f"  {note}")
    if found is not None and so is not None and echo_registered_defects(found, so, path):
        sys.exit(1)  # written as registered; a command Redis cannot use is the module's to fix


def _target(given: str) -> tuple[Path, Path | None]:
    """The modpack.toml to write for PATH, and the folder to make for it first (None: no folder
    to make). A folder writes modpack.toml in it, as `modpack build` takes a folder (`init .` said
    "File '.' is a directory"); so does a name ending in '/', a folder to be, like `mkdir -p`'s
    (`init nofold/` wrote a file named nofold)."""
    path = Path(given)
    if path.is_dir():
        return path / "modpack.toml", None
    if given.rpartition("/")[2] not in ("", ".", ".."):  # Path(given) drops a trailing "/"
        return path, None
    if os.path.lexists(path):
        raise UsageError(
            f"{given} is not a folder",
            "Give a folder to write modpack.toml in, or the file to write (without the trailing '/').",
        )
    return path / "modpack.toml", path


def _shown(path: object) -> str:
    from modpack.reporters import shown_path

    return shown_path(path)


def _refuse_other_kind(path: Path) -> None:
    """init writes a modpack.toml: under a name every command reads as another kind (ramp.yml,
    module.json, a bundle or a .so) it wrote TOML that each of them then misread."""
    from modpack.sources import kind_of

    kinds = {
        "ramp.yml": "a RAMP manifest",
        "module.json": "a module.json",
        "bundle": "a bundle",
        "binary": "a .so",
    }
    kind = kinds.get(str(kind_of(path)))
    if kind is not None:
        option = "--discover" if kind == "a .so" else "--from"
        raise UsageError(
            f"init writes a modpack.toml, not {path} ({kind}, by its name)",
            f"Write {path.with_name('modpack.toml')}, and pass {path.name} with {option} to read it.",
        )


def _make_folder(folder: Path) -> list[Path]:
    """Make `folder` and the parents it lacks; the ones made, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not os.path.lexists(p)][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModpackError(
            f"cannot make the folder {folder}: {exc.strerror or exc}",
            "Give a folder that exists or can be made (a writable parent, no file in the way).",
        ) from None
    return missing


def _check_identity(name: str | None, version: str | None) -> None:
    """--name and --version as validate would judge them in the file init writes (VER001,
    VER002, SCH006): `init --version 1` wrote a modpack.toml whose first validate failed."""
    from modpack.checks.metadata import SAFE_NAME, check_versions
    from modpack.findings import Sink

    if name is not None and not SAFE_NAME.fullmatch(name):
        raise UsageError(
            f"--name {name!r} is not a module name",
            "Give the name the module passes to RedisModule_Init: letters, digits, '.', '_' and '-'.",
        )
    if version is not None and not version.strip():
        raise UsageError("--version is empty", "Give the module's version as X.Y.Z.")
    if version is not None:
        from modpack import versions

        sink = Sink("--version")
        parsed = versions.parse_semver(version)
        encoded = {"version": versions.encode(*parsed)} if parsed is not None else {}
        check_versions({"semantic_version": version, **encoded}, sink)  # the numeric one build writes
        # VER012: 0.0.0 is version 0, which the unpacker reads as none; not the Redis versions'
        wrong = [f for f in sink.findings if f.code in ("VER001", "VER002", "VER012")]
        if wrong:
            raise UsageError(
                f"--version: {wrong[0].message}",
                "Give the module's version as X.Y.Z, each part a number (minor and patch below 100).",
            )


def _refuse_own_input(target: Path, inputs: list[Path]) -> None:
    """A usage error when the file to write is one init reads: with --force it was replaced."""
    from modpack import atomic

    source = atomic.one_of(target, inputs)
    if source is not None:
        raise UsageError(
            f"init would write {target} over its own input {source}",
            "Give the modpack.toml to write as PATH (default: modpack.toml in this folder).",
        )


def _convert(
    source: Path, discovered: Discovered | None, name: str | None, version: str | None
) -> Conversion:
    from modpack import scaffold

    kind = source.name.lower()
    if kind.endswith((".yml", ".yaml")):
        return scaffold.from_ramp(source, discovered, name=name, version=version)
    if kind.endswith(".zip"):
        return scaffold.from_bundle(source)
    if kind.endswith(".json"):
        return scaffold.from_module_file(source)
    raise UsageError(f"--from takes ramp.yml, module.json or a .zip, not {source.name}")


def _new(
    name: str | None, version: str | None, discovered: Discovered | None, so: Path | None, path: Path
) -> tuple[str, list[str]]:
    from modpack import scaffold

    if discovered is not None and so is not None:  # --discover gave both
        conversion = scaffold.discovered_file(discovered, so, path, name=name, version=version)
        return conversion.render(), conversion.notes
    if name is None or version is None:
        if not sys.stdin.isatty():
            missing = " and ".join(o for o, v in (("--name", name), ("--version", version)) if v is None)
            raise UsageError(
                f"init needs {missing} when standard input is not a terminal to ask on",
                "Pass `--name NAME --version X.Y.Z` (the name the module passes to RedisModule_Init),"
                " or take them from the module with `--discover FILE.so`, or from `--from ramp.yml`.",
            )
        name = name or click.prompt("module name (as passed to RedisModule_Init)")
        version = version or click.prompt("semantic version", default="0.1.0")
        _check_identity(name, version)
    beside = _only_binary_beside(path)
    notes = [_beside_note(beside, path)] if beside else []
    return scaffold.new_module(name, version, so=beside), notes


def _binary_beside(conversion: Conversion, path: Path, source: Path) -> list[str]:
    """[build] so of a modpack.toml converted from a module.json: the one .so beside it, as a new
    one takes it (the hint of a build in a folder of a module.json and its .so named `init --from`
    of it, whose modpack.toml then built nothing: "no module binary to build from"); else, written
    elsewhere, the one beside the module.json (`source`), as a path from the new file's folder."""
    named = conversion.module.get("module_file")
    if isinstance(named, str) and named and "/" not in named:
        # the binary module.json names, beside it: another .so beside the new file is not it
        found = source.parent / named
        if found.is_file():
            # the path as it lies (a link keeps its own name), from the new file's folder
            conversion.so = os.path.relpath(found.absolute(), path.parent.absolute())
            return [f"[build] so = {conversion.so!r}: the module_file beside {source.name}"]
    beside = _only_binary_beside(path)
    if beside is not None:
        conversion.so = beside
        return [_beside_note(beside, path)]
    if source.parent.resolve() == path.parent.resolve():
        return []
    from modpack.beside import only_binary_in

    one = only_binary_in(source.parent)
    if one is None:
        return []
    conversion.so = os.path.relpath(one.absolute(), path.parent.absolute())
    return [f"[build] so = {conversion.so!r}: the one .so beside {source.name}"]


def _beside_note(beside: str, path: Path) -> str:
    return f"[build] so = {beside!r}: the one .so beside {path.name}"


def _only_binary_beside(path: Path) -> str | None:
    """The one .so file in the folder modpack.toml goes to (build would otherwise need --so), as
    a path relative to it; None when there is none, or several to choose from."""
    from modpack.beside import only_binary_in

    found = only_binary_in(path.parent)
    return found.name if found is not None else None


def _packname_output(stack: contextlib.ExitStack, path: Path | None) -> AtomicFile | None:
    """--packname-file, opened before anything is packed: a name that cannot be written fails
    while no bundle exists (it failed after the bundle was written, which was left behind)."""
    if path is None:
        return None
    from modpack.atomic import atomic_output

    out = stack.enter_context(atomic_output(path, named=True))  # RAMP writes it as it is: /dev/stdout
    mode = out.existing_mode()  # an existing file keeps its mode, as atomic.write_text keeps it
    if mode is not None:
        os.fchmod(out.stream.fileno(), mode)
    return out


def _write_packname(out: AtomicFile, formatted: str, *, wrote: bool) -> None:
    """The bundle's path as -o formats it, folder included (RAMP writes `output.format(...)`, with
    no newline), renamed into place after the bundle. Scripts run `realpath $(cat FILE)` on it."""
    try:
        out.stream.write(formatted.encode("utf-8"))
        out.commit()
    except ModpackError as exc:
        if not wrote:
            raise
        raise ModpackError(f"wrote {_shown(formatted)}, but {exc.message}", exc.hint) from exc


@click.command("ramp-pack", context_settings={"help_option_names": ["--help"]})
@click.argument("module_so", type=GivenPath(path_type=Path, dir_okay=False, exists=True))
@click.option("-m", "--manifest", type=GivenPath(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    type=GivenText(),
    default="module.zip",
    show_default=True,
    help="Output path; {module_name}-style fields.",
)
@click.option("-n", "--module-name")
@click.option("-d", "--display-name")
@click.option("-b", "--capability-name")
@click.option("-a", "--author")
@click.option("-e", "--email")
@click.option("-A", "--architecture")
@click.option("-D", "--description")
@click.option("-h", "--homepage")
@click.option("-l", "--license")
@click.option("-c", "--cmdargs", "command_line_args")
@click.option("--runcmdargs", "run_command_line_args")
@click.option("-r", "--redis-min-version", "min_redis_version")
@click.option("-R", "--redis-pack-min-version", "min_redis_pack_version")
@click.option("-cr", "--redis-compatible-version", "compatible_redis_version")
@click.option("-cc", "--config-command")
@click.option("-O", "--os", "os_name")
@click.option("-C", "--capabilities")
@click.option("-E", "--exclude-commands")
@click.option("--overide-command", multiple=True)
@click.option("--add-command", multiple=True)
@click.option("--bigstore-version-2-support", is_flag=True, default=None)
@click.option("--dependencies", help='JSON: {"name": {"url": ..., "sha256": ...}} or a list with "name".')
@click.option("--optional-dependencies", help="JSON, as --dependencies.")
@click.option("--redis-args", help="Accepted for compatibility and ignored, as `ramp pack` ignores it.")
@click.option("-P", "--print-filename-only", is_flag=True)
@click.option("--packname-file", type=GivenPath(path_type=Path, dir_okay=False))
@click.option("-v", "--verbose", is_flag=True)
@click.option("--debug", "debug_flag", is_flag=True)
@click.option(
    "--force", is_flag=True, help="Replace an existing bundle with different content (modpack's own)."
)
@COLOR_OPTION
def ramp_pack_command(
    module_so: Path,
    manifest: Path | None,
    output: str,
    print_filename_only: bool,
    packname_file: Path | None,
    verbose: bool,
    debug_flag: bool,
    force: bool,
    color: ColourChoice,
    **options: RampOption,  # RAMP's options by name, as click gives them
) -> None:
    """`ramp pack` compatibility: the same options, modpack's checks and deterministic zip."""
    import json

    from modpack.ramp.pack import RampOptions, ramp_pack

    request = RampOptions(module_so, manifest, output, options)
    with contextlib.ExitStack() as stack:
        packname = _packname_output(stack, packname_file)
        with no_server_option():
            result, formatted = ramp_pack(request, dry_run=print_filename_only, force=force)
        if packname is not None:
            _write_packname(packname, formatted, wrote=not print_filename_only)
    if print_filename_only:
        if packname is None:  # RAMP prints the name only when no --packname-file takes it
            click.echo(formatted)
        return
    if result.findings:
        echo_findings(result.findings, color)
    if verbose or debug_flag:
        click.echo(json.dumps(result.module, indent=4, sort_keys=True))
    click.echo(f"wrote {_shown(result.path)}")
