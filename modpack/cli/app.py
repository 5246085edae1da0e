"""The `modpack` group and the one place errors become exit codes.

Exit status: 0 clean, 1 findings or a failed operation, 2 usage. A ModpackError prints as a
message and a hint; a traceback appears only with `modpack --debug`. The commands live in one
module per family: bundles (validate, build, inspect, rules, schema; loaded at start-up, as
validate must be quick), and, loaded only when used (modpack.cli.lazy), rest (serve, publish,
unpublish, artifacts, modules), redis (discover, redis) and authoring (init, ramp-pack).
"""

from __future__ import annotations

import atexit
import errno
import os
import sys
import threading
from typing import NoReturn

import click

from modpack import __version__
from modpack.cli import bundles
from modpack.cli.lazy import LazyGroup
from modpack.cli.output import echo_findings
from modpack.errors import FindingsError, ModpackError, Terminated


class CliContext:
    """State the group's own options give every command (click's `ctx.obj`)."""

    __slots__ = ("debug",)

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modpack")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def main_group(ctx: click.Context, debug: bool) -> None:
    """Package, validate and publish custom Redis modules for Redis Enterprise Software."""
    ctx.ensure_object(CliContext).debug = debug


for _command in bundles.COMMANDS:
    main_group.add_command(_command)


def _fail(error: ModpackError, debug: bool) -> NoReturn:
    if isinstance(error, FindingsError) and error.findings:
        echo_findings(error.findings)
    from modpack.reporters import printable

    # Messages quote file names and values from the input: one line each, no escape sequences.
    click.echo(f"modpack: {printable(error.message)}", err=True)
    for line in error.details:
        click.echo(f"  {printable(line)}", err=True)
    if error.hint:
        click.echo(f"  hint: {printable(error.hint)}", err=True)
    if debug:
        _print_traceback()
    sys.exit(error.exit_code)


def _print_traceback() -> None:
    import traceback  # only with --debug: with linecache and tokenize, 3 ms on every start-up

    traceback.print_exc()


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: the one place errors become exit codes."""
    args = sys.argv[1:] if argv is None else argv
    state = CliContext()  # click fills it while parsing: `modpack --debug ...` sets state.debug
    try:
        main_group.main(args=args, prog_name="modpack", standalone_mode=False, obj=state)
    except ModpackError as error:
        _fail(error, state.debug)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(2 if isinstance(error, click.UsageError) else error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as stop:
        # click turns a KeyboardInterrupt (SIGTERM's Terminated too) raised in a command into
        # Abort: SIGTERM before publish had changed anything said 'interrupted', exit 130
        if isinstance(stop, Terminated) or isinstance(stop.__cause__, Terminated):
            click.echo("modpack: terminated", err=True)
            sys.exit(143)
        click.echo("modpack: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as error:
        if not isinstance(error.filename, (str, bytes)) or _own_file(os.fsdecode(error.filename)):
            _internal(error, state.debug, args)
        _os_error(error, state.debug)
    except Exception as error:
        _internal(error, state.debug, args)
    sys.exit(0)


# A path the user gave that names no file the system can reach: usage (2), as for a missing one.
_BAD_PATH = frozenset([errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR])


def _os_error(error: OSError, debug: bool) -> NoReturn:
    """An operating-system error on a named file that no command turned into a message of its
    own (`Path.is_dir()` raises for a name over 255 bytes, say): the file and the reason, not
    an internal error."""
    from modpack.reporters import printable

    named = printable(os.fsdecode(error.filename))  # a newline or an escape sequence, shown escaped
    click.echo(f"modpack: {named}: {error.strerror or error}", err=True)
    if debug:
        _print_traceback()
    sys.exit(2 if error.errno in _BAD_PATH else 1)


def _own_file(name: str) -> bool:
    """Whether a file is part of modpack itself (its schemas, its data): an error there is an
    internal one, to report, not a path the user gave."""
    from pathlib import Path

    import modpack

    package = Path(modpack.__file__).parent.absolute()  # absolute(): no system call that could fail
    return package in Path(name).absolute().parents


def _internal(error: Exception, debug: bool, args: list[str]) -> NoReturn:
    click.echo(f"modpack: internal error: {type(error).__name__}: {error}", err=True)
    if debug:
        _print_traceback()
    else:
        click.echo(f"  hint: {_debug_hint(args)}", err=True)
    sys.exit(1)


def _is_group(name: str) -> bool:
    """Whether `modpack NAME` takes a subcommand (modules, artifacts, redis), as click knows it."""
    try:
        return isinstance(main_group.get_command(click.Context(main_group), name), click.Group)
    except Exception:  # a command that cannot even load: the hint must not fail too
        return False


def _debug_hint(args: list[str]) -> str:
    """How to see the traceback: --debug is the group's option, before the command. "run again
    with --debug" read as `modpack validate x --debug`, which click refuses (No such option), and
    ramp-pack's own --debug (RAMP's) shows no traceback. The rest of the command line is not
    repeated: it may hold a password (--password)."""
    words: list[str] = []
    for word in args[:2]:  # the command, and a group's subcommand (`modules list`)
        if word.startswith("-") or (words and not _is_group(words[0])):  # a subcommand only after a group
            break
        words.append(word)
    if not words:
        return "run again with --debug right after modpack for the traceback, and report it."
    rest = " ..." if len(args) > len(words) else ""
    shown = " ".join(words)
    where = "--debug right after modpack" + (", the rest as before" if rest else "")
    return f"run it again as `modpack --debug {shown}{rest}` ({where}) for the traceback, and report it."


def run() -> NoReturn:
    """The process's entry point (the `modpack` script, `python -m modpack`): main, then a quick exit.

    After a command has ended, Python's own shutdown (tearing down every module, a last garbage
    collection, OpenSSL's cleanup) took 30 to 50 ms that nothing needs: a quarter of a `modpack
    validate` run by a pre-commit hook. Here the atexit handlers run as they would (temporary
    folders, logging), the output is flushed, and the process ends with os._exit. A thread still
    running (none should be) gets Python's shutdown, which waits for it. `main` itself, which
    tests call in their own process, still ends in SystemExit.
    """
    status = 0
    try:
        try:
            main()
        except SystemExit as done:
            status = _exit_status(done.code)
        if threading.active_count() > 1:
            sys.exit(status)
        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # the reader went away (`modpack ... | head`): as main's BrokenPipeError
            status = status or 1
    except KeyboardInterrupt:  # Ctrl+C once the command had ended: not a traceback; its status stands
        os._exit(status or 130)
    os._exit(status)


def _exit_status(code: object) -> int:
    """The status SystemExit(code) gives a process: None is 0; a message is printed, and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
