"""Asking a module's own key callbacks for keys, on the throw-away server `--load` started.

A command registered with the getkeys-api flag names its keys at run time: Redis calls it with
RedisModule_IsKeysPositionRequest true, and it answers with RedisModule_KeyAtPos. Redis 7.x and
8.0 keep whatever position it gives and read that argument whenever they extract keys (cluster
routing, ACL key patterns, COMMAND GETKEYS): a position at or past the end of the arguments reads
past them. redis-server 7.0.15 crashes (SIGSEGV) on redis/redis tests/modules/keyposvalidate.c's
commands, whose callbacks name position argc or 999; newer Redis filters such positions
(moduleGetCommandKeysViaAPI, with that test). Nothing in the registration shows it, so the
callbacks are asked: COMMAND GETKEYS with made-up arguments, after every other check of the run,
since a crash ends the server.

COMMAND GETKEYS reads a command's complete key specs instead of its callback (7.0 src/db.c
getKeysFromCommandWithSpecs()), while cluster routing asks the callback of every command with the
flag (getNodeByQuery() through getKeysFromCommand()). Such a command is asked as routing asks it:
sent, inside MULTI, to a cluster-enabled redis-server with no slot assigned. Routing extracts its
keys before anything else; a key then gets CLUSTERDOWN (no slot is served), and a call without
one is queued: MULTI never lets it run (DISCARD drops it). Measured on redis-server 7.0.15 and
8.0.2 with a command whose callback names no key and that aborts if run; a callback naming
position 999 of a command with key specs crashes both there, while COMMAND GETKEYS answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from modpack.findings import Problem
from modpack.redis.harness import Reply, ReplyError, ReplyTimeoutError, ServerGoneError
from modpack.redis.model import CommandInfo


class Asked(Protocol):
    """What the probe needs of a server: harness.RedisServer's call."""

    def call(self, *args: str | bytes, timeout: float | None = None) -> Reply: ...


# A key callback answers at once; an emulated (qemu) server answers COMMAND GETKEYS in well under
# a second. Past this, key extraction hangs, which hangs a shard on every call as well.
PROBE_TIMEOUT = 10.0
_HINT = (
    "Fix the module's getkeys-api callback: call RedisModule_KeyAtPos only with a position from 1"
    " to argc - 1, of an argument the call has (check argc before naming a key)."
)


def argument_counts(arity: int, words: int = 1) -> list[int]:
    """The argument counts (after the name's `words`: 2 for a subcommand, whose arity counts its
    container's name and its own) to ask with: a fixed arity's own; for a variable one (-N, at
    least N - words), its least (and at least one) and two more, so a callback that walks
    key/value pairs or reads a count meets more than one."""
    if arity > 0:
        return [max(arity - words, 0)]
    least = max(-arity - words, 1)
    return [least, least + 2]


def asks_callback(info: CommandInfo) -> bool:
    """Whether COMMAND GETKEYS takes this command's keys from its getkeys-api callback: movable
    keys with no key spec, or one with variable_flags (which Redis gives the spec it makes from a
    getkeys-api command's first/last/step). Complete key specs are read instead (7.0 src/db.c
    getKeysFromCommandWithSpecs), and LOAD027 judges those; cluster routing asks the callback all
    the same (getKeysFromCommand): probe_routing asks it so."""
    variable = any("variable_flags" in {f.lower() for f in spec.flags} for spec in info.key_specs)
    return info.movable and (not info.key_specs or variable)


def probe_getkeys(
    server: Asked, commands: Sequence[CommandInfo], places: Mapping[str, str]
) -> Problem | None:
    """LOAD029 for the first command whose key callback, asked through COMMAND GETKEYS, crashes
    or hangs the server (after which nothing more can be asked); None when every one answered.
    `places`: a command's module.json path by its lower-case name (none: the file)."""
    for info in commands:
        if not asks_callback(info):
            continue
        for arguments in _calls(info):
            call = " ".join(["COMMAND GETKEYS", *arguments])
            what = _asked(server, ("COMMAND", "GETKEYS", *arguments), _EVERY_READER)
            if what is not None:
                return _problem(info, f"`{call}` {what}", places)
    return None


def routed_by_callback_only(info: CommandInfo) -> bool:
    """Whether cluster routing asks this command's getkeys-api callback, if it has one, where
    COMMAND GETKEYS does not: movable keys with complete key specs. One with first/last/step that
    never move forward is left out: without the flag, routing walks them instead (LOAD027)."""
    walks = info.first_key <= 0 or info.step > 0
    return info.movable and bool(info.key_specs) and not asks_callback(info) and walks


def probe_routing(
    server: Asked, commands: Sequence[CommandInfo], places: Mapping[str, str]
) -> Problem | None:
    """LOAD029 for the first command routed_by_callback_only whose routing, on a cluster-enabled
    `server` with no slot, crashes or hangs it; None when every call was refused or queued."""
    routed = [info for info in commands if routed_by_callback_only(info)]
    if not routed:
        return None
    server.call("MULTI", timeout=PROBE_TIMEOUT)
    for info in routed:
        for arguments in _calls(info):
            what = _asked(server, arguments, _ROUTING)
            if what is not None:
                call = " ".join(arguments)
                said = (
                    f"`{call}`, sent inside MULTI to a cluster-enabled redis-server (routed, never run),"
                    f" {what}; COMMAND GETKEYS reads its key specs instead"
                )
                return _problem(info, said, places)
    server.call("DISCARD", timeout=PROBE_TIMEOUT)
    return None


def _calls(info: CommandInfo) -> list[list[str]]:
    """The name's words and made-up arguments of each call to ask with: a subcommand is named by
    two, its container's and its own ("x.c|get" is no command: Redis answers "Invalid command
    specified" to COMMAND GETKEYS and "unknown command" to a call, and never asks the callback)."""
    names = info.name.split("|")
    return [
        [*names, *(str(n) for n in range(1, count + 1))] for count in argument_counts(info.arity, len(names))
    ]


def _asked(server: Asked, call: Sequence[str], readers: tuple[str, str]) -> str | None:
    """What asking `call` did, when it crashed or hung the server; None for an answer (an error
    reply is one: no key, or arguments the callback refuses). `readers`: who else extracts the
    command's keys so on every call, as the subject of "read" and of "run"."""
    reads, runs = readers
    try:
        server.call(*call, timeout=PROBE_TIMEOUT)
    except ReplyError:
        return None
    except ServerGoneError as gone:
        return (
            f"ended the server: {gone.message}; its getkeys-api callback names a key Redis cannot"
            f" read, which {reads} on every call"
        )
    except ReplyTimeoutError:
        return (
            f"got no answer within {PROBE_TIMEOUT:g} s: its getkeys-api callback does not return, and"
            f" {runs} on every call"
        )
    return None


_EVERY_READER = ("cluster routing and ACL key checks read", "cluster routing and ACL key checks run it")
_ROUTING = ("cluster routing reads", "cluster routing runs it")


def _problem(info: CommandInfo, said: str, places: Mapping[str, str]) -> Problem:
    return Problem("LOAD029", places.get(info.name.lower(), ""), f"{info.name}: {said}", _HINT)
