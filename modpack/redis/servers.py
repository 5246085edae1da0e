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
import platform
from dataclasses import dataclass

from modpack import versions
from modpack.redis.harness import INSTALL_HINT, STARTUP_TIMEOUT, RedisNotFoundError

# Starting redis-server under qemu-user takes about 1 s here (translated code, no JIT cache);
# 60 s leaves room for a loaded CI machine, as the other timeouts do (10x normal and more).
EMULATED_STARTUP_TIMEOUT = 60.0

_MACHINE_NAMES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def host_architecture() -> str:
    """This machine's architecture in modpack's (ELF) spelling: x86_64 or aarch64."""
    machine = platform.machine().lower()
    return _MACHINE_NAMES.get(machine, machine)


@dataclass(frozen=True)
class ServerSpec:
    """A runnable redis-server: the command that starts it, and what it is."""

    command: tuple[str, ...]  # the argv prefix; redis-server's own arguments follow it
    architecture: str
    version: str  # "8.0.2"; "" when only running it tells
    origin: str  # for people: where it comes from and how it runs
    emulated: bool = False
    release: str = ""  # the Debian release it comes from, for a prepared one

    @property
    def startup_timeout(self) -> float:
        return EMULATED_STARTUP_TIMEOUT if self.emulated else STARTUP_TIMEOUT

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return versions.parse_redis_version(self.version) or ()

    @property
    def summary(self) -> str:
        """`aarch64, Debian trixie, emulated`: what it is, without paths (for files written)."""
        parts = [
            self.architecture,
            f"Debian {self.release}" if self.release else "",
            "emulated" * self.emulated,
        ]
        return ", ".join(p for p in parts if p)

    def describe(self, version: str = "") -> str:
        """`redis-server 8.0.2 (aarch64, ...)`: the Redis that proved a result, for reports."""
        return f"redis-server {version or self.version or '(unknown version)'} ({self.origin})"


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
    from modpack.redis import provision

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
        prefix = tuple(int(part) for part in wanted.split(".") if part.isdigit())
        matching = [s for s in candidates if prefix and s.version_tuple[: len(prefix)] == prefix]
        if not matching:
            raise RedisNotFoundError(
                f"no {arch} redis-server {wanted} is available (found: {_listed(candidates)})",
                f"Run `modpack redis prepare --arch {arch} --version {wanted}`, or name another version.",
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
