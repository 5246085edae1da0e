"""SIGTERM (a cancelled CI job, `kill`) or Ctrl+C to a command that runs a redis-server: the
command ends with its exit status and one line, no traceback, and the server it started is gone
with its folder, also when the server ignores SIGTERM (stuck in a module's OnLoad). The same for
`modpack redis prepare` and the apt-get it runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import CHECKOUT, start_modpack
from tests.support.redis import SO, redis_processes_in
from tests.support.tools import require, require_redis

HANG = SO / "hang_onload.so"  # its OnLoad never returns: the server ignores SIGTERM from then on
COMMANDS = {"discover": ("discover",), "validate --load": ("validate", "--load")}
SIGNALS = {"SIGTERM": (signal.SIGTERM, 143, "terminated"), "SIGINT": (signal.SIGINT, 130, "interrupted")}
WAIT = 60.0  # seconds for the server to start and take the module, on a busy machine


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    found = _stat(pid)
    return found is not None and found[0] != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _server_folder(pid: int) -> Path | None:
    """The private folder of a disposable server (not `redis-server --version`), from its command
    line: `--unixsocket F/redis.sock`, or the title redis-server gives itself once started,
    `redis-server unixsocket:F/redis.sock`."""
    words = _cmdline(pid).replace(b"\0", b" ").split()
    if not any(b"redis-server" in word for word in words):
        return None
    for word in words:
        if word.endswith(b"/redis.sock"):
            return Path(os.fsdecode(word.removeprefix(b"unixsocket:"))).parent
    return None


def _children(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (_stat(int(entry.name)) or ("", 0))[1] == pid
    ]


def _has_mapped(pid: int, library: Path) -> bool:
    try:
        return os.fsencode(library) in Path(f"/proc/{pid}/maps").read_bytes()
    except OSError:
        return False


def _server_loading(cli: subprocess.Popen[str], library: Path) -> tuple[int, Path]:
    """(pid, folder) of the CLI's redis-server once it has mapped `library` (MODULE LOAD runs)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert cli.poll() is None, f"the command ended first ({cli.returncode}): {cli.communicate()}"
        for child in _children(cli.pid):
            folder = _server_folder(child)
            if folder is not None and _has_mapped(child, library):
                return child, folder
        time.sleep(0.05)
    pytest.fail(f"no redis-server child loading {library.name} within {WAIT:g} s")


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def _environment(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [CHECKOUT, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _stop(cli: subprocess.Popen[str]) -> None:
    """Kill a command that is still running, and its children, which it would leave behind."""
    if cli.poll() is None:
        for child in _children(cli.pid):
            os.kill(child, signal.SIGKILL)
        cli.kill()
        cli.communicate()


@pytest.mark.redis
@pytest.mark.parametrize("signame", SIGNALS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_stops_the_command_and_its_server(tmp_path: Path, command: str, signame: str) -> None:
    require_redis()
    number, status, word = SIGNALS[signame]
    cli = start_modpack(*COMMANDS[command], HANG, cwd=tmp_path, env=_environment())
    server: int | None = None
    folder: Path | None = None
    try:
        server, folder = _server_loading(cli, HANG)
        cli.send_signal(number)
        _, err = cli.communicate(timeout=30)
        assert cli.returncode == status, err
        assert err.strip() == f"modpack: {word}", err
        assert "Traceback" not in err
        assert _gone_within(server, 5), f"redis-server {server} is still running"
        assert not folder.exists(), f"{folder} was not removed"
        assert redis_processes_in(folder) == []
    finally:
        _stop(cli)
        if server is not None and _alive(server):
            os.kill(server, signal.SIGKILL)  # an orphan of a failed run: not left for the next tests
        if folder is not None and folder.name.startswith("modpack-redis-"):
            shutil.rmtree(folder, ignore_errors=True)


def test_sigterm_stops_redis_prepare_and_the_apt_get_it_runs(tmp_path: Path) -> None:
    """An apt-get that never ends (a stalled mirror), then SIGTERM: apt-get is killed, not left
    downloading, and the partial folder is removed (nothing is downloaded: the apt-get is fake)."""
    from modpack.redis.provision import KEYRING

    tools = [shutil.which(tool) for tool in ("apt-cache", "dpkg-deb")]
    require(all(tools) and Path(KEYRING).is_file(), f"apt-cache, dpkg-deb or {KEYRING} is missing")
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    env = _environment(PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}", XDG_CACHE_HOME=str(tmp_path))
    cli = start_modpack("redis", "prepare", cwd=tmp_path, env=env)
    apt: int | None = None
    try:
        deadline = time.monotonic() + WAIT
        while apt is None and time.monotonic() < deadline:
            assert cli.poll() is None, f"the command ended first ({cli.returncode}): {cli.communicate()}"
            apt = next((c for c in _children(cli.pid) if b"sleep" in _cmdline(c)), None)
            time.sleep(0.05)
        assert apt is not None, f"no apt-get within {WAIT:g} s"
        cli.send_signal(signal.SIGTERM)
        _, err = cli.communicate(timeout=30)
        assert cli.returncode == 143, err
        assert err.strip() == "modpack: terminated", err
        assert _gone_within(apt, 5), f"apt-get {apt} is still running"
        assert list((tmp_path / "modpack" / "redis").iterdir()) == []  # no <release>-<arch>.partial
    finally:
        _stop(cli)
        if apt is not None and _alive(apt):
            os.kill(apt, signal.SIGKILL)
