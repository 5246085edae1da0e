"""The getkeys-api probe's choices, with a server that answers as told: which commands it asks,
with which arguments, and what it says of a hang. A real crash is in test_redis_command_rules.py;
a real hang would cost the probe's whole 10 s wait, so the timeout is told here."""

from __future__ import annotations

import pytest

from modpack.redis.harness import Reply, ReplyError, ReplyTimeoutError, ServerGoneError
from modpack.redis.model import CommandInfo, KeySpec, SpecValue
from modpack.redis.probe import (
    PROBE_TIMEOUT,
    argument_counts,
    asks_callback,
    probe_getkeys,
    probe_routing,
    routed_by_callback_only,
)


class Told:
    """Answers COMMAND GETKEYS (or a call) as `answers` says by command name: a list, or an
    exception."""

    def __init__(self, answers: dict[str, Reply | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, ...]] = []

    def call(self, *args: str | bytes, timeout: float | None = None) -> Reply:
        assert timeout == PROBE_TIMEOUT
        asked = tuple(str(a) for a in args)
        self.asked.append(asked)
        name = asked[2] if asked[:2] == ("COMMAND", "GETKEYS") else asked[0]  # or a call itself
        answer = self.answers.get(name, [])
        if isinstance(answer, Exception):
            raise answer
        return answer


def command(name: str, arity: int, flags: tuple[str, ...], specs: tuple[KeySpec, ...] = ()) -> CommandInfo:
    return CommandInfo(name, arity, flags, 1, 1, 1, specs)


@pytest.mark.parametrize(("arity", "counts"), [(3, [2]), (1, [0]), (-1, [1, 3]), (-2, [1, 3]), (-4, [3, 5])])
def test_argument_counts_meet_the_arity(arity: int, counts: list[int]) -> None:
    assert argument_counts(arity) == counts


@pytest.mark.parametrize(("arity", "counts"), [(4, [2]), (2, [0]), (-2, [1, 3]), (-3, [1, 3]), (-5, [3, 5])])
def test_a_subcommands_arity_counts_both_its_names(arity: int, counts: list[int]) -> None:
    assert argument_counts(arity, words=2) == counts


def test_a_subcommand_is_asked_by_its_two_names() -> None:
    """COMMAND GETKEYS "x.c|get" ... is no command (Redis answers "Invalid command specified"),
    and the probe took that answer for the callback's: a subcommand's crash went unsaid."""
    server = Told({"x.c": ReplyTimeoutError("no answer")})
    problem = probe_getkeys(server, [command("x.c|get", 3, ("movablekeys",))], {})
    assert server.asked == [("COMMAND", "GETKEYS", "x.c", "get", "1")]
    assert problem is not None and "`COMMAND GETKEYS x.c get 1` got no answer" in problem.message


def test_only_commands_whose_keys_come_from_the_callback_are_asked() -> None:
    index: dict[str, SpecValue] = {"index": 1}
    last: dict[str, SpecValue] = {"lastkey": 0, "keystep": 1, "limit": 0}
    variable = KeySpec(("RW", "access", "update", "variable_flags"), "index", index, "range", last)
    complete = KeySpec(("RO", "access"), "index", index, "range", last)
    assert asks_callback(command("a", -1, ("readonly", "movablekeys")))
    assert asks_callback(command("b", -1, ("readonly", "movablekeys"), (variable,)))
    assert not asks_callback(command("c", -1, ("readonly", "movablekeys"), (complete,)))  # specs are read
    assert not asks_callback(command("d", -1, ("readonly",)))
    server = Told({})
    assert (
        probe_getkeys(server, [command("d", -1, ("readonly",)), command("a", 3, ("movablekeys",))], {})
        is None
    )
    assert server.asked == [("COMMAND", "GETKEYS", "a", "1", "2")]


def test_an_error_reply_is_an_answer_and_a_hang_is_said() -> None:
    server = Told({"a": ReplyError("Invalid arguments"), "b": ReplyTimeoutError("no answer")})
    problem = probe_getkeys(
        server, [command("a", -2, ("movablekeys",)), command("b", 2, ("movablekeys",))], {"b": "commands[1]"}
    )
    assert problem is not None
    assert (problem.code, problem.path) == ("LOAD029", "commands[1]")
    assert problem.message == (
        "b: `COMMAND GETKEYS b 1` got no answer within 10 s: its getkeys-api callback does not return,"
        " and cluster routing and ACL key checks run it on every call"
    )
    assert [asked[2:] for asked in server.asked] == [("a", "1"), ("a", "1", "2", "3"), ("b", "1")]


def test_a_command_only_routing_asks_the_callback_of_is_sent_inside_multi() -> None:
    """Complete key specs: COMMAND GETKEYS reads them, cluster routing asks the callback. Such a
    command is sent as a call, inside MULTI (queued if routing finds no key: never run), then
    DISCARD; one COMMAND GETKEYS reaches, or without movable keys, is not sent."""
    index: dict[str, SpecValue] = {"index": 1}
    last: dict[str, SpecValue] = {"lastkey": 0, "keystep": 1, "limit": 0}
    complete = KeySpec(("RW", "update"), "index", index, "range", last)
    commands = [
        command("s.spec", -2, ("write", "movablekeys"), (complete,)),
        command("s.plain", -2, ("write",), (complete,)),
        command("s.api", -2, ("write", "movablekeys")),
    ]
    assert [c.name for c in commands if routed_by_callback_only(c)] == ["s.spec"]
    server = Told({})
    assert probe_routing(server, commands, {}) is None
    assert server.asked == [("MULTI",), ("s.spec", "1"), ("s.spec", "1", "2", "3"), ("DISCARD",)]
    gone = Told({"s.spec": ServerGoneError("redis-server closed the connection")})
    problem = probe_routing(gone, commands, {"s.spec": "commands[0]"})
    assert problem is not None and (problem.code, problem.path) == ("LOAD029", "commands[0]")
    assert problem.message.startswith("s.spec: `s.spec 1`, sent inside MULTI to a cluster-enabled")
