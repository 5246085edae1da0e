"""`validate --load`: load the .so into a disposable redis-server and compare with the declarations.

Every outcome is a LOAD finding, never an exception: a missing redis-server (LOAD001), a server
that does not start (LOAD002), a failed MODULE LOAD explained from the server log (LOAD004-013),
and each difference between the declarations and what Redis registered (LOAD014-023). LOAD003
records the Redis version that proved the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modpack.findings import Sink

if TYPE_CHECKING:
    from modpack.redis.harness import RedisServer
    from modpack.redis.model import Discovery

FAILURE_RULES = {
    "no-onload": "LOAD005",
    "missing-library": "LOAD006",
    "symbol-version": "LOAD007",
    "undefined-symbol": "LOAD008",
    "not-executable": "LOAD009",
    "wrong-binary": "LOAD010",
    "onload-failed": "LOAD011",
    "crashed": "LOAD012",
    "timeout": "LOAD013",
}


def failure_rule(reason: str) -> str:
    """The LOAD rule of a load-failure reason (modpack.redis.loadlog); LOAD004 when unrecognised."""
    return FAILURE_RULES.get(reason, "LOAD004")


def check_load(so_path: Path, module: dict[str, Any], sink: Sink, redis_server: str | None = None) -> None:
    """Load `so_path` and add a finding for every difference from `module` (a module.json dict)."""
    from modpack.redis import harness

    try:
        with harness.RedisServer(redis_server, timeout=harness.COMMAND_TIMEOUT) as server:
            _load_and_compare(server, so_path, module, sink)
    except harness.RedisNotFoundError as exc:
        sink.add("LOAD001", "", f"{so_path.name} was not loaded: {exc.message}", exc.hint)
    except harness.HarnessError as exc:
        sink.add("LOAD002", "", f"{so_path.name} was not loaded: {exc.message}", exc.hint)


def _load_and_compare(server: RedisServer, so_path: Path, module: dict[str, Any], sink: Sink) -> None:
    from modpack.redis import compare, discover, harness

    try:
        discovery = discover.discover_with(server, so_path, _module_args(module))
    except harness.ModuleLoadError as exc:
        code = failure_rule(exc.failure.reason)
        sink.add(code, "", f"{exc.failure.message} (redis-server {server.version})", exc.failure.hint)
        return
    sink.add("LOAD003", "", _loaded(discovery))
    for difference in compare.compare(module, discovery):
        sink.add(difference.code, difference.path, difference.message, difference.hint)


def _module_args(module: dict[str, Any]) -> list[str]:
    """command_line_args as words; quoting that does not parse falls back to splitting on spaces."""
    import shlex

    text = module.get("command_line_args")
    if not isinstance(text, str):
        return []
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _loaded(discovery: Discovery) -> str:
    count = len(discovery.commands)
    subcommands = sum(1 for c in discovery.commands if c.is_subcommand)
    listed = f"{count} command{'s' if count != 1 else ''}"
    if subcommands:
        listed += f" ({subcommands} of them subcommands)"
    return (
        f"{discovery.module_name} {discovery.semantic_version} ({discovery.module_version}) loaded into "
        f"redis-server {discovery.redis_version} and registered {listed}"
    )
