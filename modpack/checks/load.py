"""`validate --load`: load the .so into a disposable redis-server and compare with the declarations.

Every outcome is a LOAD finding, never an exception: no redis-server that can run the module
(LOAD001, or LOAD024 when loading is only wanted if possible), a server that does not start
(LOAD002), a failed MODULE LOAD explained from the server log (LOAD004-013), and each difference
between the declarations and what Redis registered (LOAD014-023). LOAD003 records the Redis that
proved the result (version, architecture, how it ran); LOAD026 warns when that Redis is of
another major version than the one the bundle targets.

The server is chosen by modpack.redis.servers: one of the module's own architecture (from its
ELF header; an aarch64 module runs in an emulated aarch64 redis-server on an x86_64 machine),
closest to the module's compatible_redis_version unless --redis-version names one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modpack.config import Settings
from modpack.findings import Sink
from modpack.types import Module

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from modpack.elf import ElfInfo
    from modpack.findings import Problem
    from modpack.ramp.edits import Packed
    from modpack.redis.harness import RedisServer
    from modpack.redis.loadlog import FailureReason
    from modpack.redis.model import Discovery

FAILURE_RULES: dict[FailureReason, str] = {
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
SHOWN_COMMANDS = 12  # command names listed in LOAD003 for a module loaded without declarations


def failure_rule(reason: FailureReason) -> str:
    """The LOAD rule of a load-failure reason (modpack.redis.loadlog); LOAD004 when unrecognised."""
    return FAILURE_RULES.get(reason, "LOAD004")


def not_loaded(so_name: str, why: str, hint: str, sink: Sink, settings: Settings) -> None:
    """The module was not loaded: a failure under --load, a note under --load-if-available."""
    if settings.load_if_available:
        sink.add("LOAD024", "", f"{so_name} was not loaded: {why}", hint)
    else:
        sink.add("LOAD001", "", f"{so_name} was not loaded: {why}", hint)


def check_load(
    so_path: Path,
    module: Module | None,
    sink: Sink,
    settings: Settings | None = None,
    *,
    architecture: str | None = None,
    declared: Sink | None = None,
    getkeys_api: bool | None = None,
    packed: Callable[[Discovery], Packed] | None = None,
    args: Sequence[str] | None = None,
    server_options: Sequence[str] = (),
) -> None:
    """Load `so_path` and add a finding for every difference from `module` (a module document).

    `module` None means no declarations (a .so validated alone): the module is loaded, a failed
    load is reported, and LOAD003 lists what it registered; nothing is compared. `architecture`
    is the binary's (read from its ELF header when not given). The differences, which name paths
    of the declarations, go to `declared` (by default `sink`). `getkeys_api`: whether the binary
    registers a command with the getkeys-api flag (None: not known), for the key-spec checks.
    `packed`: the module document is made from what the module registered (a ramp.yml lists no
    commands: RAMP reads them from the module, then applies its edits). `args`: the words the module
    is loaded with (None: its command_line_args, as a node loads it); `server_options`: the
    redis-server's own (a ramp.yml's, as RAMP's discovery loads it: reader.discovery_words).
    """
    from modpack.redis import harness, servers
    from modpack.redis.compare import STATIC_RULES

    settings = settings or Settings(load=True)
    if architecture is None:
        architecture = servers.binary_architecture(so_path)
    try:
        spec = servers.choose(
            architecture,
            target=servers.target_version(module),
            wanted=settings.redis_version,
            explicit=settings.redis_server,
            subject="it",
            minimum=_minimum(module),
        )
    except harness.RedisNotFoundError as exc:
        not_loaded(so_path.name, exc.message, exc.hint, sink, settings)
        return
    try:
        loading = harness.RedisServer(
            spec=spec, timeout=harness.COMMAND_TIMEOUT, options=tuple(server_options)
        )
        with loading as server:
            _load_and_compare(
                server,
                so_path,
                module,
                sink,
                declared or sink,
                args=_module_args(module) if args is None else list(args),
                settings=settings,
                getkeys_api=getkeys_api,
                packed=packed,
                reported=frozenset(c for c in STATIC_RULES if settings.reports(c)),
            )
    except harness.RedisNotFoundError as exc:
        not_loaded(so_path.name, exc.message, exc.hint, sink, settings)
    except harness.HarnessError as exc:
        sink.add("LOAD002", "", f"{so_path.name} was not loaded: {exc.message}", exc.hint)


def _load_and_compare(
    server: RedisServer,
    so_path: Path,
    module: Module | None,
    sink: Sink,
    declared: Sink,
    *,
    args: list[str],
    settings: Settings,
    getkeys_api: bool | None = None,
    packed: Callable[[Discovery], Packed] | None = None,
    reported: frozenset[str] = frozenset(),
) -> None:
    from modpack.redis import compare, discover, harness, servers
    from modpack.redis.loadlog import with_missing_api, with_taken_names

    try:
        discovery = discover.discover_with(server, so_path, args)
    except harness.ModuleLoadError as exc:
        older = servers.older_redis_failure(exc.failure, server, servers.minimum_version(module))
        if older is not None:
            # not the module's failure: no server of the Redis it needs was here (or one was named)
            not_loaded(so_path.name, older.message, older.hint, sink, settings)
            return
        failure = with_taken_names(with_missing_api(exc.failure), _declared_names(module))
        sink.add(failure_rule(failure.reason), "", f"{failure.message} ({server.describe()})", failure.hint)
        return
    sink.add("LOAD003", "", _loaded(discovery, server, listed=module is None))
    if module is None:
        for defect in compare.registered_defects(discovery, getkeys_api=getkeys_api):
            sink.report(defect)
        if (crash := _probe(server, discovery, {}, getkeys_api)) is not None:
            sink.report(crash)
        return
    _check_version(module, server, declared)
    as_packed = packed(discovery) if packed is not None else None
    if as_packed is not None:
        module = as_packed.module
    write = ""
    if declared.toml:  # the discover that adds what is not declared to this file, run as printed
        import shlex

        write = shlex.join(["modpack", "discover", str(so_path), "--write", declared.file])
    differences = compare.compare(
        module, discovery, toml=declared.toml, getkeys_api=getkeys_api, reported=reported, write=write
    )
    places = {name.lower(): f"commands[{index}]" for index, _, name in compare.declared_commands(module)}
    crash = _probe(server, discovery, places, getkeys_api)  # last: it may end the server
    for difference in [*differences, *([crash] if crash is not None else [])]:
        # of a ramp.yml, said where it writes the entry (overide_command[0]), not at the packed index
        place = as_packed.place(difference.path) if as_packed is not None else difference.path
        declared.report(difference._replace(path=place))


def _declared_names(module: Module | None) -> set[str] | None:
    """The names of the commands the module declares it registers (its commands, and those
    exclude_commands leaves out on purpose), None when it declares none (a .so alone, a ramp.yml):
    which of its string literals it registers is then not known."""
    from modpack.records import recorded
    from modpack.redis.compare import declared_commands

    if module is None:
        return None
    names = {name for _, _, name in declared_commands(module)} | recorded(module, "exclude_commands")
    return names or None


def _minimum(module: Module | None) -> str | None:
    """The oldest Redis the module claims to load on (servers.minimum_version), None if none."""
    from modpack.redis import servers

    floor = servers.minimum_version(module)
    return floor[1] if floor is not None else None


def _probe(
    server: RedisServer, discovery: Discovery, places: dict[str, str], getkeys_api: bool | None
) -> Problem | None:
    """LOAD029: a getkeys-api callback that crashes or hangs the server when asked for keys (None:
    the binary names no getkeys-api, so no command has a callback to ask). Asked through COMMAND
    GETKEYS where that reaches it, else as cluster routing asks it (probe.probe_routing)."""
    if getkeys_api is False:
        return None
    from modpack.redis.probe import probe_getkeys, probe_routing, routed_by_callback_only

    crash = probe_getkeys(server, discovery.commands, places)
    if crash is not None or not any(routed_by_callback_only(c) for c in discovery.commands):
        return crash
    from modpack.redis import harness

    # a server of its own, started only for such commands: routing asks only in cluster mode
    try:
        with harness.RedisServer(
            binary=server.binary,
            spec=server.spec,
            timeout=server.timeout,
            cluster=True,
            options=server.options,
        ) as routed:
            routed.load_module(Path(discovery.so_path).resolve(), discovery.args)
            return probe_routing(routed, discovery.commands, places)
    except harness.HarnessError:
        # no cluster-mode server here (its bus port taken meanwhile), or a module that does not
        # load in cluster mode (a no-cluster command): nothing proved either way
        return None


def _check_version(module: Module, server: RedisServer, sink: Sink) -> None:
    """LOAD026: the module was proved by a Redis of another major version than the one it targets,
    or by one older than its min_redis_version, on which Redis Enterprise never runs it. A fix never
    names a server older than the minimum (a module for 7.4 proved by 8.0.2 was told to run again
    with --redis-version 7.0.15)."""
    from modpack import versions
    from modpack.redis.servers import (
        how_to_get,
        how_to_get_newer,
        minimum_version,
        older_than,
        target_version,
    )
    from modpack.redis.spec import host_architecture

    arch = server.spec.architecture if server.spec is not None else host_architecture()
    floor, minimum = minimum_version(module) or ("", None)
    target = target_version(module)
    wanted = versions.parse_redis_version(target) if target else None
    if target and wanted and server.version_tuple and server.version_tuple[0] != wanted[0]:
        key = "compatible_redis_version" if module.get("compatible_redis_version") else "min_redis_version"
        sink.add(
            "LOAD026",
            key,
            f"{key} is {target}, and the Redis that proved the module is {server.version}: what Redis "
            f"reports for a module differs between major versions",
            how_to_get(arch, target, used=server.version, major=True, minimum=minimum),
        )
    elif minimum is not None and older_than(server.version_tuple, minimum):
        sink.add(
            "LOAD026",
            floor,
            f"{floor} is {minimum}, and the Redis that proved the module is {server.version}, older than"
            " that: Redis Enterprise does not run the module on it, and what Redis reports for a module"
            " changes between versions",
            how_to_get_newer(arch, minimum),
        )


def _module_args(module: Module | None) -> list[str]:
    """command_line_args as words; quoting that does not parse falls back to splitting on spaces."""
    import shlex

    text = module.get("command_line_args") if module is not None else None
    if not isinstance(text, str):
        return []
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _loaded(discovery: Discovery, server: RedisServer, *, listed: bool) -> str:
    count = len(discovery.commands)
    subcommands = sum(1 for c in discovery.commands if c.is_subcommand)
    registered = f"{count} command{'s' if count != 1 else ''}"
    if subcommands:
        registered += f" ({subcommands} of them subcommands)"
    if listed and count:
        names = [c.name for c in discovery.commands]
        more = f", and {len(names) - SHOWN_COMMANDS} more" if len(names) > SHOWN_COMMANDS else ""
        registered += f": {', '.join(names[:SHOWN_COMMANDS])}{more}"
    if discovery.internal:
        hidden = len(discovery.internal)
        registered += f", and {hidden} internal command{'s' if hidden != 1 else ''} COMMAND hides"
    if discovery.undescribed:
        from modpack.redis.compare import undescribed_names

        registered += f"; also {undescribed_names(discovery)}"
    return (
        f"{discovery.module_name} {discovery.semantic_version} ({discovery.module_version}) loaded into "
        f"{server.describe()} and registered {registered}"
    )


def check_load_of(
    so: Path,
    module: Module | None,
    sink: Sink,
    settings: Settings,
    elf_info: ElfInfo | None = None,
    *,
    declared: Sink | None = None,
    packed: Callable[[Discovery], Packed] | None = None,
    args: Sequence[str] | None = None,
    server_options: Sequence[str] = (),
) -> None:
    """`--load` of one binary: `module` None when nothing is declared (a .so validated alone);
    the architecture comes from the ELF facts when they were read. `declared`: where what is said
    of the declarations goes (a bundle's module.json), when not in `sink`."""
    architecture = elf_info.architecture if elf_info is not None else None
    from modpack.elf import getkeys_flag

    flag = getkeys_flag(elf_info)
    check_load(
        so,
        module,
        sink,
        settings,
        architecture=architecture,
        declared=declared,
        getkeys_api=flag,
        packed=packed,
        args=args,
        server_options=server_options,
    )
