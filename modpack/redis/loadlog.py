"""Why MODULE LOAD failed, read from the server log.

The reply to a failed MODULE LOAD is always `ERR Error loading the extension. Please check the
server logs.`; the reason is one log line written by src/module.c `moduleLoad()`, often quoting
`dlerror()`. Each known line becomes a reason key (mapped to a LOAD rule by the check), a message
that names what is missing, and a hint. Lines measured with redis-server 7.0.15 are listed in
fixtures/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias

_DLERROR = re.compile(r"Module (?P<path>.+?) failed to load: (?P<error>.*)$")
_VERSION_NOT_FOUND = re.compile(r"^(?P<lib>.*?): version `(?P<version>[^']+)' not found")
_CANNOT_OPEN = re.compile(r"^(?P<lib>.*?): cannot open shared object file")
_UNDEFINED = re.compile(r"undefined symbol: (?P<symbol>\S+)")
_NOT_AN_OBJECT = (
    "wrong ELF class",
    "invalid ELF header",
    "file too short",
    "ELF file's phentsize",
    "ELF file data encoding",
    "ELF file OS ABI",
    "ELF file version",
    "ELF load command",
    "only ET_DYN and ET_EXEC",
    "cannot dynamically load position-independent executable",
)

# Why a load failed; modpack.checks.load maps each reason to its LOAD rule.
FailureReason: TypeAlias = Literal[
    "no-onload",
    "missing-library",
    "symbol-version",
    "undefined-symbol",
    "not-executable",
    "wrong-binary",
    "onload-failed",
    "crashed",
    "timeout",
    "unknown",
]

ONLOAD_LOG_LINES = 5  # the last lines a failed OnLoad logged, quoted in LOAD011
LOG_LINE_SHOWN = 200  # characters of one quoted line (Redis writes up to 1024)


def _cut(text: str) -> str:
    return text if len(text) <= LOG_LINE_SHOWN else text[: LOG_LINE_SHOWN - 3] + "..."


BUILD_FOR_TARGET = "Build the module as a 64-bit ELF shared object for the target architecture."


@dataclass(frozen=True)
class LoadFailure:
    """Why MODULE LOAD failed: a reason key (the check maps it to a LOAD rule), a message, a hint."""

    reason: FailureReason
    message: str
    hint: str = ""
    log: tuple[str, ...] = ()
    # the module's string literals that name a command the server has (a failed OnLoad's), which
    # with_taken_names says, as the declarations allow
    taken: tuple[str, ...] = ()
    # the module API functions the module looks up that the server lacks (with_missing_api)
    missing_api: tuple[str, ...] = ()


def explain(path: Path, lines: Sequence[str], reply: str) -> LoadFailure:
    """The reason for a failed load, from the log lines written during MODULE LOAD."""
    log = tuple(lines)
    for at, line in enumerate(log):
        found = _explain_line(path, line, log[:at])
        if found is not None:
            return LoadFailure(found.reason, found.message, found.hint, log)
    shown = f": {log[-1]}" if log else f" (the server replied {reply!r} and logged nothing)"
    return LoadFailure("unknown", f"MODULE LOAD of {path.name} failed{shown}", "", log)


def _explain_line(path: Path, line: str, before: Sequence[str]) -> LoadFailure | None:
    """`line` explained, if it is a known failure; `before`: what the load logged until then."""
    if "does not export RedisModule_OnLoad() symbol" in line:
        return LoadFailure(
            "no-onload",
            f"{path.name} does not export RedisModule_OnLoad",
            "Export `int RedisModule_OnLoad(RedisModuleCtx *, RedisModuleString **, int)` with default "
            'visibility and C linkage (extern "C" in C++); check with `nm -D --defined-only`.',
        )
    if "initialization failed" in line:
        # `before` holds only what this MODULE LOAD logged: a failing call may have said why
        # (RedisModule_SetCommandInfo logs "Invalid command info: version missing", measured on
        # 7.0.15), or the module its own banner; both are shown, neither is taken for the reason.
        shown = [_cut(text) for text in before[-ONLOAD_LOG_LINES:]]
        earlier = len(before) - len(shown)
        more = f" ({earlier} earlier line{'s' if earlier != 1 else ''} not shown)" if earlier else ""
        logged = f"; the server logged during the load{more}: {' | '.join(shown)}" if before else ""
        return LoadFailure(
            "onload-failed",
            f"RedisModule_OnLoad of {path.name} returned an error{logged}",
            ("A line logged during the load may name the call that failed. " if before else "")
            + "Redis itself does not say which call failed: check the arguments the module was loaded"
            " with (command_line_args; a ramp.yml's discovery: run_command_line_args), the server's"
            " settings it needs, the flags strings given to RedisModule_CreateCommand (one space"
            " between flags, no trailing space), command infos and command names already taken.",
        )
    match = _DLERROR.search(line)
    if match is None:
        return None
    return _explain_dlerror(path, match.group("path"), match.group("error"))


def with_taken_names(failure: LoadFailure, declared: Collection[str] | None = None) -> LoadFailure:
    """A failed OnLoad's explanation, with the module's string literals that name a command the
    server already has (`failure.taken`): RedisModule_CreateCommand refuses a name taken, and a
    module written for an older Redis fails so once Redis adds a command of its name (redex's
    lmpop, a built-in command since Redis 7.0). A literal is no registration: RedisTimeSeries,
    RediSearch and RedisGears call `info` in their OnLoad, and a module named `acl` passes its name
    to RedisModule_Init; each was told its failure was a name it cannot register. So a clash is
    said as the cause only of a name in `declared` (the module's declared commands, which say
    what it registers): of none of them, nothing is said; without declarations (None), the
    literals are named as a possibility."""
    names = list(failure.taken)
    if not names:
        return failure
    if declared is not None:
        folded = {name.casefold() for name in declared}
        names = [name for name in names if name.casefold() in folded]
        if not names:
            return failure
    shown = ", ".join(names[:_TAKEN_SHOWN]) + (
        f" and {len(names) - _TAKEN_SHOWN} more" if len(names) > _TAKEN_SHOWN else ""
    )
    some = "one of them" if len(names) > 1 else "it"
    if declared is not None:
        said = (
            f"{shown} {'are' if len(names) > 1 else 'is'} declared as a command of the module, and this"
            f" redis-server has a command of {'each' if len(names) > 1 else 'that'} name already, which"
            " a module cannot register"
        )
        fix = "Give the command another name"
    else:
        said = (
            f"the module's string literals include {shown}, the name{'s' if len(names) > 1 else ''} of"
            f" {'commands' if len(names) > 1 else 'a command'} this redis-server has: if the module"
            f" registers {some} (not only calls it), that is the error, since a module cannot register"
            " a name taken"
        )
        fix = f"If the module registers {some}, give that command another name"
    hint = (
        f"{fix}, prefixed with the module's: RedisModule_CreateCommand fails on a name taken. {failure.hint}"
    )
    return replace(failure, message=f"{failure.message}; {said}", hint=hint.rstrip(), taken=())


_TAKEN_SHOWN = 5
_MISSING_API_SHOWN = 5


def with_missing_api(failure: LoadFailure) -> LoadFailure:
    """A failed OnLoad or a crash, with the module API functions the module looks up that the
    server does not have (`failure.missing_api`: names the module's binary holds and the server's
    does not). RedisModule_Init looks up every function of the redismodule.h the module is built
    with and leaves those the server lacks as NULL pointers: a call to one crashes the server (a
    7.2 call on 7.0.15 is a SIGSEGV in OnLoad), and a module that checks for it returns an error.
    A module built with a newer header looks up functions it never calls too, so they are named
    as the likely cause, not the proven one."""
    if not failure.missing_api:
        return failure
    hint = (
        "A call to a function the server does not have crashes it, and a module that checks for one"
        " may refuse to load: call each only when RMAPI_FUNC_SUPPORTED says the server has it, or"
        " raise min_redis_version to a Redis that has them (validate --load then runs such a server)."
    )
    return replace(
        failure,
        message=f"{failure.message}; {_missing_api(failure.missing_api)}",
        hint=f"{hint} {failure.hint}".rstrip(),
        missing_api=(),
    )


def _missing_api(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MISSING_API_SHOWN]) + (
        f" and {len(names) - _MISSING_API_SHOWN} more" if len(names) > _MISSING_API_SHOWN else ""
    )
    return (
        f"the module looks up {len(names)} function{'' if len(names) == 1 else 's'} of the module API"
        f" that this redis-server does not have ({shown}), which RedisModule_Init leaves as NULL pointers"
    )


# The failures a module can cause itself by needing a newer Redis: an OnLoad that returns an error
# when RedisModule_GetApi finds no function of a later Redis (RediSearch checks its version so),
# or one that calls such a function anyway and crashes. A missing library or a symbol version is
# the machine's, whichever Redis loads the module.
OLDER_REDIS_REASONS: frozenset[FailureReason] = frozenset({"onload-failed", "crashed", "timeout", "unknown"})


def on_older_redis(failure: LoadFailure, server: str, key: str, minimum: str, newer: str) -> LoadFailure:
    """A failed load on `server` (described), older than the module's `key` (min_redis_version)
    `minimum`: said as what it is, no proof against the module (LOAD011 said "RedisModule_OnLoad
    returned an error" of a module for 7.4 on 7.0.15, with a fix naming its flags and arguments).
    `newer`: how to get a server that is not older (servers.how_to_get_newer)."""
    return LoadFailure(
        failure.reason,
        f"{failure.message}, on {server}, which is older than the module's {key} {minimum}: a module"
        " may refuse to load on a Redis older than it needs ("
        + (
            _missing_api(failure.missing_api)
            if failure.missing_api
            else "a function of the module API it looks up is missing there"
        )
        + "), so this proves nothing against the module",
        newer + (f" If it fails on a Redis {minimum} or newer too: {failure.hint}" if failure.hint else ""),
        failure.log,
    )


def _explain_dlerror(path: Path, logged_path: str, error: str) -> LoadFailure:
    error = error.removeprefix(f"{logged_path}: ")
    for explain_one in _DLERROR_EXPLAINERS:
        found = explain_one(path, error)
        if found is not None:
            return found
    return LoadFailure("unknown", f"the loader refused {path.name}: {error}")


def _not_executable(path: Path, error: str) -> LoadFailure | None:
    if "execute permission" not in error:
        return None
    return LoadFailure(
        "not-executable",
        f"{path.name} has no execute permission; Redis refuses it before dlopen()",
        "chmod 0755 the .so (and store it with mode 0755 in the bundle).",
    )


def _symbol_version(path: Path, error: str) -> LoadFailure | None:
    match = _VERSION_NOT_FOUND.search(error)
    if match is None:
        return None
    lib, version = Path(match.group("lib")).name, match.group("version")
    return LoadFailure(
        "symbol-version",
        f"{path.name} needs symbol version {version}, which {lib} on this machine does not provide",
        f"Build on (or in a container of) the oldest platform you target, so no symbol newer than what "
        f"its {lib} provides is linked.",
    )


def _cannot_open(path: Path, error: str) -> LoadFailure | None:
    if error.startswith("cannot open shared object file"):
        # About the module itself (its path was stripped): glibc says this when the file exists
        # but is built for another machine (measured: an aarch64 .so on x86_64).
        return LoadFailure(
            "wrong-binary",
            f"the loader cannot open {path.name} although the file exists: it is most likely built for "
            f"another architecture ({error})",
            BUILD_FOR_TARGET,
        )
    match = _CANNOT_OPEN.search(error)
    if match is None:
        return None
    lib = match.group("lib")
    return LoadFailure(
        "missing-library",
        f"{path.name} needs {lib}, which the loader cannot find on this machine",
        f"Link {lib} statically, ship it as a dependency, or install it on every node "
        "(Redis Enterprise nodes have only the base OS libraries).",
    )


def _undefined_symbol(path: Path, error: str) -> LoadFailure | None:
    match = _UNDEFINED.search(error)
    if match is None:
        return None
    symbol = match.group("symbol")
    if symbol.startswith("RedisModule_"):
        # No library supplies the module API: RedisModule_Init fills in the module's own pointers
        # (ELF032), so an undefined RedisModule_* name is a call the header did not declare.
        return LoadFailure(
            "undefined-symbol",
            f"{path.name} uses {symbol}, which redis-server does not export: a module reaches its API"
            " only through the pointers RedisModule_Init fills in",
            "Check the name against the redismodule.h the module is built with (a misspelling, or an"
            " API newer than that header, compiles as an implicit declaration); build with"
            " -Werror=implicit-function-declaration.",
        )
    return LoadFailure(
        "undefined-symbol",
        f"{path.name} uses {symbol}, which no loaded library defines",
        "Link the library that defines it (so it appears in DT_NEEDED) or remove the reference.",
    )


def _not_an_object(path: Path, error: str) -> LoadFailure | None:
    if not any(text in error for text in _NOT_AN_OBJECT):
        return None
    message = f"{path.name} is not a shared object this redis-server can load: {error}"
    return LoadFailure("wrong-binary", message, BUILD_FOR_TARGET)


_DLERROR_EXPLAINERS: tuple[Callable[[Path, str], LoadFailure | None], ...] = (
    _not_executable,
    _symbol_version,
    _cannot_open,
    _undefined_symbol,
    _not_an_object,
)


# A bug report's assertion (src/debug.c _serverAssert: "==> server.c:2791 'firstkey != 0' is not
# true") and its backtrace's frames: "redis-server *:6379(RM_SetCommandInfo+0x6f2)[0x...]" on 7.0,
# with a space before "[0x" and one block per thread, the crashing one's header ending in " *"
# ("27078 ld-linux-x86-64 *"), on 8.0.
_ASSERTION = re.compile(r"==> (?P<where>\S+:\d+) '(?P<check>.*)' is not true")
_FRAME = re.compile(r"^(?P<object>\S.*?)\((?P<function>[\w.]*)\+0x[0-9a-f]+\) ?\[0x[0-9a-f]+\]$")


class Assertion(NamedTuple):
    """An assertion that ended redis-server, as its bug report names it."""

    check: str  # 'firstkey != 0'
    where: str  # server.c:2791
    call: str | None  # the module API call it failed in (RM_SetCommandInfo), or None
    innermost: str  # the file of the backtrace's innermost frame ("" when none was read)


def failed_assertion(lines: Sequence[str]) -> Assertion | None:
    """The assertion that stopped the server, from the bug report in its log: with the crashing
    thread's innermost frame's file (the module's own, for its RedisModule_Assert: the report
    leaves out the assert's frames) and the module API call of the Redis frames above it, if any."""
    found = next((m for line in lines if (m := _ASSERTION.search(line))), None)
    if found is None:
        return None
    frames = _crashing_thread(lines)
    leading = []  # the Redis frames the stack starts with: where Redis itself asserted
    for file, function in frames:
        if not Path(file.split(" ", 1)[0]).name.startswith("redis-server"):
            break
        leading.append(function)
    return Assertion(
        check=found["check"],
        where=found["where"],
        call=next((f for f in leading if f.startswith("RM_") and f != "RM__Assert"), None),
        innermost=frames[0][0] if frames else "",
    )


def _crashing_thread(lines: Sequence[str]) -> list[tuple[str, str]]:
    """(file, function) of each frame of the crashing thread's backtrace, innermost first: the
    block under the header marked " *" where threads are listed, else the first block."""
    blocks: list[tuple[str, list[tuple[str, str]]]] = []
    header, in_block = "", False
    for line in lines:
        match = _FRAME.match(line)
        if match is None:
            header, in_block = line, False
            continue
        if not in_block:
            blocks.append((header, []))
            in_block = True
        blocks[-1][1].append((match["object"], match["function"]))
    marked = [frames for head, frames in blocks if head.endswith(" *")]
    return marked[0] if marked else (blocks[0][1] if blocks else [])


def crashed(path: Path, message: str, log: Sequence[str], assertion: Assertion | None = None) -> LoadFailure:
    """LOAD012; `assertion`: the one that ended the server (failed_assertion)."""
    crash = f"redis-server crashed while loading {path.name}"
    if assertion is None:
        return LoadFailure("crashed", f"{crash}: {message}", _CRASH_HINT, tuple(log))
    check = f"'{assertion.check}' ({assertion.where})"
    if Path(assertion.innermost).name == path.name:
        # RedisModule_Assert, from OnLoad or from a callback Redis runs for it (RM_Call of its own
        # command, a config's set callback under RM_LoadConfigs): the module's own check
        what = f"{crash}: the module's RedisModule_Assert {check} failed ({message})"
        hint = (
            f"The module's own check at {assertion.where} failed while it loaded: see why it does not hold."
        )
    elif assertion.call is not None:
        # Redis checks some of what a module passes with assertions, which end the server: 7.0.15's
        # RM_SetCommandInfo asserts 'firstkey != 0' for a key spec at index 0 beside another one.
        what = f"{crash}: its assertion {check} failed in {assertion.call} ({message})"
        hint = (
            f"Redis ends the server on some arguments of {assertion.call} instead of answering an error:"
            " fix what RedisModule_OnLoad passes to it (the bug report in the server log has the backtrace)."
        )
    else:
        what, hint = f"{crash}: {message}; its assertion {check} failed", _CRASH_HINT
    return LoadFailure("crashed", what, hint, tuple(log))


_CRASH_HINT = (
    "A truncated or damaged .so can crash dlopen() itself; rebuild it and compare its size and "
    "sha256 with the build output. Otherwise the module's OnLoad crashed: run it under a debugger."
)


def timed_out(path: Path, seconds: float) -> LoadFailure:
    return LoadFailure(
        "timeout",
        f"MODULE LOAD of {path.name} did not answer within {seconds:g} s",
        "RedisModule_OnLoad must return promptly; move slow start-up work to a thread or a timer.",
    )
