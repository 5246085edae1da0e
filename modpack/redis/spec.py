"""What a runnable redis-server is (`ServerSpec`), and this machine's architecture.

Shared by the code that prepares servers (modpack.redis.provision), chooses one
(modpack.redis.servers) and runs one (modpack.redis.harness), so none of them imports another
for these.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from modpack import versions

STARTUP_TIMEOUT = 15.0  # seconds: redis starts in milliseconds, but a busy CI machine can take far longer
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
