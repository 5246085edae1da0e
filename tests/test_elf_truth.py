"""The truth test of issue 4: the static verdict agrees with a real MODULE LOAD on this machine.

What is compared, honestly: `check_binary` predicts whether the dynamic loader will accept the
file (dlopen with RTLD_NOW, then dlsym of RedisModule_OnLoad); it says nothing about what OnLoad
then does. So each x86_64 fixture is loaded into a fresh redis-server, and the outcome of the
loader is read from the reply and the server log: "loaded", OnLoad refusing ("initialization
failed") and OnLoad never returning all mean the loader accepted the file; "failed to load: ..."
(dlopen), "does not export RedisModule_OnLoad" (dlsym) and a crashed server mean it did not.

The platform policy describes Redis Enterprise OSes, not this machine (Debian 12, glibc 2.36,
which no policy entry has). So the prediction uses a synthetic platform built from this machine's
own libraries: its glibc version (confstr), the newest GLIBCXX/CXXABI node its libstdc++.so.6
defines and the newest GCC node of its libgcc_s.so.1. The prediction is "loads" when
`check_binary(..., platforms=[this machine])` has no error-level finding and every library a
needed-library warning (ELF019/ELF020) names is installed here: those warnings mean "loads only
where this library is installed", which `ldconfig -p` answers for this machine.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from modpack import elf, policy
from modpack.checks.elf import check_binary
from modpack.findings import Severity, Sink
from modpack.loadability import Platform
from tests.support.libraries import newest_defined
from tests.support.paths import SO
from tests.support.tools import require_redis

pytestmark = pytest.mark.redis

FIXTURES = sorted((SO / "x86_64").glob("*.so"))
# Seconds; a fixture whose OnLoad never returns (hang_onload.so) hits it. Far above a normal load
# (well under a second), so a busy machine never turns a slow answer into "OnLoad did not return".
LOAD_TIMEOUT = 30.0


def installed_libraries() -> dict[str, str]:
    """soname -> path of the x86-64 libraries the dynamic loader of this machine finds."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for line in listing.splitlines()[1:]:
        name, _, rest = line.strip().partition(" (")
        if "x86-64" in rest and "=>" in rest:
            found.setdefault(name, rest.split("=>", 1)[1].strip())
    return found


def this_machine() -> Platform:
    libs = installed_libraries()
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    assert libc.startswith("glibc "), f"not a glibc system: {libc!r}"
    return Platform(
        os_id="this-machine",
        name=platform.platform(),
        status="host",
        glibc=elf.parse_version(libc.split()[1]),
        glibcxx=newest_defined(libs.get("libstdc++.so.6"), "GLIBCXX"),
        cxxabi=newest_defined(libs.get("libstdc++.so.6"), "CXXABI"),
        gcc=(("x86_64", newest_defined(libs.get("libgcc_s.so.1"), "GCC")),),
        architectures=("x86_64",),
    )


def predicted_to_load(path: Path, host: Platform) -> tuple[bool, list[str]]:
    sink = Sink(str(path))
    info = check_binary(path, sink, {"architecture": "x86_64"}, platforms=[host])
    reasons = [f"{f.code} {f.message}" for f in sink.findings if f.severity is Severity.ERROR]
    if info is not None and any(f.code in ("ELF019", "ELF020") for f in sink.findings):
        present = set(policy.load("platforms")["libraries"]["present"])
        installed = installed_libraries()
        reasons += [
            f"{name} is not installed here"
            for name in info.needed
            if name not in present and name not in installed
        ]
    return not reasons, reasons


def observed_load(path: Path, workdir: Path) -> tuple[bool, str]:
    """Whether the loader of a fresh redis-server accepted the file, and what it said."""
    server_binary, cli = require_redis(), require_cli()
    socket, log = workdir / "redis.sock", workdir / "redis.log"
    server = subprocess.Popen(
        [
            server_binary,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--enable-module-command",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(socket, server)
        try:
            reply = subprocess.run(
                [cli, "-s", str(socket), "MODULE", "LOAD", str(path.resolve())],
                capture_output=True,
                text=True,
                timeout=LOAD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return True, "OnLoad did not return (the loader had accepted the file)"
        if reply.stdout.strip() == "OK":
            return True, "loaded"
        if not reply.stdout.startswith("ERR"):  # the connection dropped: let a crash finish
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=30.0)
        return _loader_verdict(log.read_text(errors="replace"), server.poll() is not None)
    finally:
        server.send_signal(signal.SIGKILL)  # SIGTERM cannot stop a server stuck in OnLoad
        server.wait(timeout=10)


def require_cli() -> str:
    """redis-cli, under the same rule as redis-server: missing fails unless MODPACK_ALLOW_NO_REDIS=1."""
    found = shutil.which("redis-cli")
    if found:
        return found
    if os.environ.get("MODPACK_ALLOW_NO_REDIS") == "1":
        pytest.skip("redis-cli is not installed (allowed by MODPACK_ALLOW_NO_REDIS=1)")
    pytest.fail("redis-cli is not installed; CI must install it (set MODPACK_ALLOW_NO_REDIS=1 to skip)")


def _wait_for(socket: Path, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # a hang guard, not a speed check
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail("redis-server did not start")
        time.sleep(0.02)


def _loader_verdict(log: str, crashed: bool) -> tuple[bool, str]:
    lines = [line for line in log.splitlines() if "Module" in line or "crashed" in line]
    said = lines[-1] if lines else ""
    if crashed:
        return False, "the server crashed during MODULE LOAD"
    if "does not export RedisModule_OnLoad" in log or "failed to load" in log:
        return False, said
    if "initialization failed" in log:
        return True, said
    pytest.fail(f"unexpected MODULE LOAD outcome; log: {said!r}")


@pytest.fixture(scope="module")
def host() -> Platform:
    if platform.machine() != "x86_64":
        pytest.skip("the x86_64 fixtures can only be loaded on an x86_64 machine")
    return this_machine()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_static_verdict_agrees_with_module_load(path: Path, host: Platform, tmp_path: Path) -> None:
    predicted, reasons = predicted_to_load(path, host)
    loaded, said = observed_load(path, tmp_path)
    assert predicted == loaded, f"modpack predicted {'load' if predicted else reasons}; redis-server: {said}"


def test_the_fixtures_cover_both_verdicts(host: Platform) -> None:
    verdicts = {predicted_to_load(path, host)[0] for path in FIXTURES}
    assert verdicts == {True, False}
