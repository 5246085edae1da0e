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

from modpack import versions
from modpack.redis import provision
from modpack.redis.harness import INSTALL_HINT, RedisNotFoundError
from modpack.redis.spec import ServerSpec, host_architecture
from modpack.types import Module


def target_version(module: Module | None) -> str | None:
    """The Redis version the module is for: compatible_redis_version, else min_redis_version."""
    if module is None:
        return None
    for key in ("compatible_redis_version", "min_redis_version"):
        value = module.get(key)
        if isinstance(value, str) and value:
            return value
    return None


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
) -> ServerSpec:
    """The server to load a module of `architecture` into (None: this machine's).

    `wanted` (--redis-version) must match; else the server whose version is closest to `target`
    (compatible_redis_version) wins, this machine's own on a tie; without a target, this
    machine's own, else the newest. `explicit` (--redis-server) is used as given for modules of
    this machine's architecture. `subject` names the module in messages.
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
) -> str:
    """A fix that can be followed, for a check that wants Redis `version` (of its major only, with
    `major`) of `architecture`: --redis-version naming a server of it already here (`used`: the
    version the check ran on, never suggested again); else `modpack redis prepare` where Debian
    ships one; else what is left. LOAD026 told a ramp-pack bundle (min_redis_version 4.0) to run
    `modpack redis prepare --version 4.0`, which offers 7.0 and 8.0 only. `here`: the servers
    already listed (each listing runs this machine's redis-server for its version)."""
    prefix = _prefix(version)[: 1 if major else None]
    shown = f"{prefix[0]}.x" if major and prefix else version
    servers = available(architecture) if here is None else here
    fitting = [
        s for s in servers if prefix and s.version_tuple[: len(prefix)] == prefix and s.version != used
    ]
    if fitting:
        return f"Run again with --redis-version {fitting[0].version}, a redis-server {shown} that is here."
    offered = list(provision.RELEASES.values())
    series = prefix[:2]  # prepare installs Debian's 8.0.x for 8.0: a patch version is one of them
    ready = [v for v in offered if series and _prefix(v)[: len(series)] == series]
    if ready:
        return (
            f"Run `modpack redis prepare --arch {architecture} --version {ready[0]}` (Debian's {ready[0]}.x),"
            " then run again."
        )
    return (
        f"No redis-server {shown} is here, and `modpack redis prepare` offers {' and '.join(offered)}"
        " only: name one you have with --redis-server (a server of this machine's architecture), or"
        " target a Redis the check can run on."
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
        return RedisNotFoundError("redis-server is not installed (not found on PATH)", INSTALL_HINT)
    return RedisNotFoundError(
        f"{subject} is built for {arch} and this machine runs {host}: only an {arch} redis-server can "
        f"load it, and none is prepared here",
        f"Run `modpack redis prepare --arch {arch}` (Debian's {arch} redis-server, run with qemu-user), "
        f"then run this again; or run it on an {arch} machine.",
    )
