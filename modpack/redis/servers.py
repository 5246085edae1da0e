"""Which redis-server proves a module: one of its architecture, closest to the Redis it targets.

The candidates are the redis-server of this machine (--redis-server, $MODPACK_REDIS_SERVER, or
PATH) and the servers `modpack redis prepare` unpacked from Debian's packages into the cache
folder (modpack.redis.provision): another Redis version run through its own dynamic loader, or a
redis-server of another architecture run under qemu-user. A module is only ever loaded into a
server of its own architecture: loading an aarch64 module into an x86_64 server proves nothing
about the module (glibc refuses it as it refuses any foreign file).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modpack import versions
from modpack.redis import provision
from modpack.redis.harness import RedisNotFoundError, not_installed
from modpack.redis.spec import ServerSpec, host_architecture
from modpack.types import Module

if TYPE_CHECKING:
    from modpack.redis.harness import RedisServer
    from modpack.redis.loadlog import LoadFailure


def target_version(module: Module | None) -> str | None:
    """The Redis version the module is for: compatible_redis_version, else min_redis_version."""
    if module is None:
        return None
    for key in ("compatible_redis_version", "min_redis_version"):
        value = module.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def minimum_version(module: Module | None) -> tuple[str, str] | None:
    """(key, version) of the oldest Redis the module claims to load on: min_redis_version, else
    compatible_redis_version; 99.99, the development placeholder, is none (as
    modpack.checks.commands.lowest_redis reads them)."""
    for key in ("min_redis_version", "compatible_redis_version"):
        value = module.get(key) if module is not None else None
        parsed = versions.parse_redis_version(value) if isinstance(value, str) else None
        if isinstance(value, str) and parsed and parsed[:2] != (99, 99):
            return key, value
    return None


def older_than(version: tuple[int, ...], minimum: str | None) -> bool:
    """Whether a server of `version` is older than `minimum` ("7.4" is 7.4.0); an unknown version
    (()) is not said to be."""
    floor = versions.parse_redis_version(minimum) if minimum else None
    if not floor or not version:
        return False
    return (*version, 0, 0, 0)[:3] < (*floor, 0, 0, 0)[:3]


def older_redis_failure(
    failure: LoadFailure, server: RedisServer, minimum: tuple[str, str] | None
) -> LoadFailure | None:
    """A failed load said as one on a redis-server older than the module's `minimum` (the key and
    version minimum_version gives), when it was and the failure is one a module that needs a newer
    Redis can cause (loadlog.OLDER_REDIS_REASONS); None otherwise."""
    from modpack.redis import loadlog

    if minimum is None or failure.reason not in loadlog.OLDER_REDIS_REASONS:
        return None
    key, version = minimum
    if not older_than(server.version_tuple, version):
        return None
    architecture = server.spec.architecture if server.spec is not None else host_architecture()
    newer = how_to_get_newer(architecture, version)
    return loadlog.on_older_redis(failure, server.describe(), key, version, newer)


def binary_architecture(so_path: Path) -> str | None:
    """The architecture in the ELF header (x86_64, aarch64); None when it is not a module's."""
    from modpack import elf

    try:
        return elf.read_elf(so_path).architecture
    except elf.ElfError:
        return None


def system_server(explicit: str | None = None) -> ServerSpec:
    """This machine's own redis-server (explicit path or name, $MODPACK_REDIS_SERVER, PATH)."""
    from modpack.redis.harness import HarnessError, binary_version, find_redis_server

    binary = find_redis_server(explicit)
    try:
        version = ".".join(str(n) for n in binary_version(binary))
    except HarnessError:
        version = ""  # starting it reports the failure, with the server's output
    where = "given with --redis-server" if explicit else "of this machine"
    return ServerSpec((binary,), host_architecture(), version, f"{host_architecture()}, {binary} {where}")


def available(architecture: str, explicit: str | None = None) -> list[ServerSpec]:
    """Every redis-server that runs `architecture` code here, this machine's own first."""
    found: list[ServerSpec] = []
    if architecture == host_architecture():
        try:
            found.append(system_server(explicit))
        except RedisNotFoundError:
            if explicit or os.environ.get("MODPACK_REDIS_SERVER"):
                raise  # a server the user named must exist; never fall back silently
    found += [s for s in provision.installed() if s.architecture == architecture]
    return found


def choose(
    architecture: str | None,
    *,
    target: str | None = None,
    wanted: str | None = None,
    explicit: str | None = None,
    subject: str = "the module",
    minimum: str | None = None,
) -> ServerSpec:
    """The server to load a module of `architecture` into (None: this machine's).

    `wanted` (--redis-version) must match; else, of the servers not older than `minimum`
    (min_redis_version) when there is one, the server whose version is closest to `target`
    (compatible_redis_version) wins, this machine's own on a tie; without a target, this
    machine's own, else the newest. `explicit` (--redis-server) is used as given for modules of
    this machine's architecture. `subject` names the module in messages. A module for 7.4 that
    looks up an API of 7.2 and refuses to load without it was loaded into this machine's 7.0.15,
    nearer 7.4 than a prepared 8.0.2, and its OnLoad's error was reported as the module's.
    """
    host = host_architecture()
    arch = architecture or host
    if explicit and arch == host and not wanted:
        return system_server(explicit)
    candidates = available(arch, explicit)
    if wanted:
        prefix = _prefix(wanted)
        matching = [s for s in candidates if prefix and s.version_tuple[: len(prefix)] == prefix]
        if not matching:
            raise RedisNotFoundError(
                f"no {arch} redis-server {wanted} is available (found: {_listed(candidates)})",
                how_to_get(arch, wanted, here=candidates),
            )
        candidates = matching
    if not candidates:
        raise _none_for(arch, host, subject)
    if not wanted:
        recent = [s for s in candidates if not older_than(s.version_tuple, minimum)]
        candidates = recent or candidates  # none: the load says that the server is older
    if target and (goal := versions.parse_redis_version(target)):
        return min(
            candidates,
            key=lambda s: (_distance(s.version_tuple, goal), s.emulated, bool(s.release), _newest(s)),
        )
    return min(candidates, key=lambda s: (s.emulated, bool(s.release), _newest(s)))


def how_to_get(
    architecture: str,
    version: str,
    *,
    used: str | None = None,
    major: bool = False,
    here: Sequence[ServerSpec] | None = None,
    minimum: str | None = None,
) -> str:
    """A fix that can be followed, for a check that wants Redis `version` (of its major only, with
    `major`) of `architecture`, not older than `minimum` (min_redis_version): --redis-version
    naming a server of it already here (`used`: the version the check ran on, never suggested
    again); else `modpack redis prepare` where Debian ships one; else what is left. LOAD026 told a
    ramp-pack bundle (min_redis_version 4.0) to run `modpack redis prepare --version 4.0`, which
    offers 7.0 and 8.0 only, and a module for 7.4 (minimum 7.4) proved by 8.0.2 to run again with
    --redis-version 7.0.15. `here`: the servers already listed (each listing runs this machine's
    redis-server for its version)."""
    prefix = _prefix(version)[: 1 if major else None]
    shown = f"{prefix[0]}.x" if major and prefix else version
    if older_than(prefix, minimum):  # 7.x for a minimum of 7.4: any 7.x not older than it
        shown += f" of {minimum} or newer"
    servers = available(architecture) if here is None else here
    fitting = [
        s
        for s in servers
        if prefix
        and s.version_tuple[: len(prefix)] == prefix
        and s.version != used
        and not older_than(s.version_tuple, minimum)
    ]
    if fitting:
        return f"Run again with --redis-version {fitting[0].version}, a redis-server {shown} that is here."
    series = prefix[:2]  # prepare installs Debian's 8.0.x for 8.0: a patch version is one of them
    ready = [v for v in _offered(minimum) if series and _prefix(v)[: len(series)] == series]
    if ready:
        return _prepare(architecture, ready[0])
    return (
        f"No redis-server {shown} is here, and `modpack redis prepare` offers {_OFFERS} only: name one"
        " you have with --redis-server (a server of this machine's architecture), or target a Redis"
        " the check can run on."
    )


def how_to_get_newer(architecture: str, minimum: str, *, here: Sequence[ServerSpec] | None = None) -> str:
    """A fix for a check run on a redis-server older than the module's `minimum`
    (min_redis_version), which chose it only because none newer was there (or --redis-version
    asked for it): a server of `architecture` not older than `minimum`, here or to prepare."""
    servers = available(architecture) if here is None else here
    fitting = [s for s in servers if s.version and not older_than(s.version_tuple, minimum)]
    if fitting:
        return (
            f"Run again with --redis-version {fitting[0].version}, a redis-server {minimum} or newer"
            " that is here."
        )
    named = (
        "name a redis-server you have with --redis-server or $MODPACK_REDIS_SERVER (one of this"
        " machine's architecture)"
    )
    ready = _offered(minimum)
    if ready:
        return (
            f"Run `modpack redis prepare --arch {architecture} --version {ready[-1]}` (Debian's"
            f" {ready[-1]}.x, not older than {minimum}), then run again; or {named}."
        )
    return (
        f"No redis-server {minimum} or newer is here, and `modpack redis prepare` offers {_OFFERS} only:"
        f" {named}."
    )


_OFFERS = " and ".join(provision.RELEASES.values())


def _offered(minimum: str | None) -> list[str]:
    """The Redis series `modpack redis prepare` installs (Debian's 7.0.x, 8.0.x), less those older
    than `minimum` (by major and minor: which patch Debian ships is not known here)."""
    floor = ".".join(minimum.split(".")[:2]) if minimum else None
    return [v for v in provision.RELEASES.values() if not older_than(_prefix(v), floor)]


def _prepare(architecture: str, series: str) -> str:
    return (
        f"Run `modpack redis prepare --arch {architecture} --version {series}` (Debian's {series}.x),"
        " then run again."
    )


def _prefix(version: str) -> tuple[int, ...]:
    """The numbers of a version as given: "8.0.2" -> (8, 0, 2), "7" -> (7,)."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _distance(version: tuple[int, ...], goal: tuple[int, ...]) -> tuple[int, int]:
    """How far `version` is from `goal`: major first, then minor; newer wins a tie of distance."""
    padded = (*version, 0, 0)[:2]
    wanted = (*goal, 0, 0)[:2]
    return abs(padded[0] - wanted[0]), abs(padded[1] - wanted[1])


def _newest(spec: ServerSpec) -> tuple[int, ...]:
    return tuple(-n for n in spec.version_tuple)


def _listed(candidates: list[ServerSpec]) -> str:
    return ", ".join(s.version or "?" for s in candidates) or "none"


def _none_for(arch: str, host: str, subject: str) -> RedisNotFoundError:
    if arch == host:
        return not_installed()
    return RedisNotFoundError(
        f"{subject} is built for {arch} and this machine runs {host}: only an {arch} redis-server can "
        f"load it, and none is prepared here",
        f"Run `modpack redis prepare --arch {arch}` (Debian's {arch} redis-server, run with qemu-user), "
        f"then run this again; or run it on an {arch} machine.",
    )
