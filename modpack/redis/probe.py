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
    the same (getKeysFromCommand), which no request from outside reaches."""
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
        # A subcommand is named by two arguments, its container's and its own ("x.c|get" is
        # no command: Redis answers "Invalid command specified" and never asks the callback).
        names = info.name.split("|")
        for count in argument_counts(info.arity, len(names)):
            arguments = [*names, *(str(n) for n in range(1, count + 1))]
            call = " ".join(["COMMAND GETKEYS", *arguments])
            try:
                server.call("COMMAND", "GETKEYS", *arguments, timeout=PROBE_TIMEOUT)
                continue
            except ReplyError:
                continue  # an answer: no key, or arguments the callback refuses
            except ServerGoneError as gone:
                what = (
                    f"ended the server: {gone.message}; its getkeys-api callback names a key Redis"
                    " cannot read, which cluster routing and ACL key checks read on every call"
                )
            except ReplyTimeoutError:
                what = (
                    f"got no answer within {PROBE_TIMEOUT:g} s: its getkeys-api callback does not"
                    " return, and cluster routing and ACL key checks run it on every call"
                )
            return Problem(
                "LOAD029", places.get(info.name.lower(), ""), f"{info.name}: `{call}` {what}", _HINT
            )
    return None
