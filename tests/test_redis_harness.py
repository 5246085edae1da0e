"""The disposable redis-server: start-up, the RESP2 client, failed loads, and cleanup in every case."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modpack.redis import harness, loadlog
from modpack.redis.harness import (
    ErrorReply,
    ModuleLoadError,
    RedisNotFoundError,
    RedisServer,
    RedisStartError,
    ReplyError,
    RespClient,
)
from tests.support.paths import ROOT
from tests.support.redis import EXPECTED, SO, assert_cleaned_up, redis_processes_in
from tests.support.tools import require_redis

# --- the RESP2 client, against a socket pair ---------------------------------------------------


def client_fed(data: bytes) -> tuple[RespClient, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.sendall(data)
    return RespClient(ours, timeout=2.0), theirs


def test_encode_command_is_binary_safe() -> None:
    assert harness.encode_command(["MODULE", "LOAD", b"/a b/x.so"]) == (
        b"*3\r\n$6\r\nMODULE\r\n$4\r\nLOAD\r\n$9\r\n/a b/x.so\r\n"
    )


def test_client_parses_nested_replies() -> None:
    client, peer = client_fed(b"*4\r\n+OK\r\n:-3\r\n$-1\r\n*2\r\n$3\r\nab\n\r\n-ERR nested\r\n")
    with peer:
        assert client.call("X") == ["OK", -3, None, ["ab\n", ErrorReply("ERR nested")]]
    client.close()


def test_client_raises_top_level_errors() -> None:
    client, peer = client_fed(b"-ERR Error loading the extension.\r\n")
    with peer, pytest.raises(ReplyError, match="Error loading"):
        client.call("MODULE", "LOAD", "x")
    client.close()


def test_client_reports_a_closed_connection() -> None:
    client, peer = client_fed(b"*2\r\n+OK\r\n")
    peer.close()
    with pytest.raises(ConnectionError):
        client.call("X")
    client.close()


def test_client_times_out() -> None:
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    client = RespClient(ours, timeout=0.1)
    with peer, pytest.raises(TimeoutError):
        client.call("PING")
    client.close()


# --- finding and starting the binary, without a real Redis ---------------------------------------


def test_missing_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MODPACK_REDIS_SERVER", raising=False)
    with pytest.raises(RedisNotFoundError, match="not installed") as caught:
        harness.find_redis_server()
    assert "apt-get install redis-server" in caught.value.hint
    with pytest.raises(RedisNotFoundError, match="not an executable"):
        harness.find_redis_server(str(tmp_path / "redis-server"))


def test_a_bad_redis_server_from_the_environment_is_told_to_be_fixed_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MODPACK_REDIS_SERVER naming nothing: the message named the variable, and the fix said to
    install redis-server, which would not help while the variable points elsewhere."""
    monkeypatch.setenv("MODPACK_REDIS_SERVER", str(tmp_path / "nothing"))
    with pytest.raises(RedisNotFoundError, match=r"\(MODPACK_REDIS_SERVER\) is not an executable") as caught:
        harness.find_redis_server()
    assert caught.value.hint == "Fix or unset MODPACK_REDIS_SERVER, or pass --redis-server PATH."


def test_enable_module_command_only_from_7(tmp_path: Path) -> None:
    old = harness.server_arguments("redis-server", tmp_path, (6, 2, 14))
    new = harness.server_arguments("redis-server", tmp_path, (7, 0, 0))
    assert "--enable-module-command" not in old
    assert new[-2:] == ["--enable-module-command", "yes"]
    assert old[old.index("--port") + 1] == "0"
    assert old[old.index("--save") + 1] == ""
    assert old[old.index("--unixsocket") + 1] == str(tmp_path / "redis.sock")


def fake_server(tmp_path: Path, body: str) -> str:
    """A redis-server stand-in: prints a version for --version, otherwise runs `body`."""
    script = tmp_path / "redis-server"
    script.write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            if [ "$1" = "--version" ]; then echo "Redis server v=7.0.15 sha=0"; exit 0; fi
            {body}
            """)
    )
    script.chmod(0o755)
    return str(script)


def test_startup_timeout_names_the_output_and_cleans_up(tmp_path: Path) -> None:
    server = RedisServer(
        fake_server(tmp_path, "echo still starting; exec /bin/sleep 300"), startup_timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(RedisStartError, match=r"did not accept connections within 0.5 s") as caught:
        with server:
            pass
    # Far below the fake server's 300 s: it was given up at the timeout (generous for a busy machine).
    assert time.monotonic() - started < 60
    # what the server printed, in the message itself and on one line: a report escapes newlines
    assert caught.value.message.endswith("; it said: still starting"), caught.value.message
    assert "by hand" in caught.value.hint
    assert server.folder is None and server.pid is None


def test_a_server_that_exits_at_start_up(tmp_path: Path) -> None:
    script = fake_server(tmp_path, "echo '*** FATAL CONFIG FILE ERROR'; echo; echo \"  >>> 'x 1'\"; exit 1")
    with pytest.raises(RedisStartError, match="exited with status 1") as caught, RedisServer(script):
        pass
    assert caught.value.message.endswith("; it said: *** FATAL CONFIG FILE ERROR | >>> 'x 1'"), (
        caught.value.message
    )
    assert "\n" not in caught.value.message + caught.value.hint
    assert "by hand" in caught.value.hint


def test_unparsable_version(tmp_path: Path) -> None:
    script = tmp_path / "redis-server"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)
    with pytest.raises(RedisStartError, match="did not print a Redis version"):
        harness.binary_version(str(script))


# --- log lines explained, from the recorded fixture runs ----------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("no_onload.so", "no-onload"),
        ("hidden_onload.so", "no-onload"),
        ("glibc_future.so", "symbol-version"),
        ("needs_lib.so", "missing-library"),
        ("elf32.so", "wrong-binary"),
        ("text.so", "wrong-binary"),
        ("aarch64/hello.so", "wrong-binary"),
    ],
)
def test_recorded_log_lines_are_explained(fixture: str, reason: str) -> None:
    path = Path("/m") / fixture
    lines = [line.replace("{path}", str(path))[2:] for line in EXPECTED["fixtures"][fixture]["log"]]
    failure = loadlog.explain(path, lines, "ERR Error loading the extension.")
    assert failure.reason == reason
    assert path.name in failure.message
    assert failure.hint


def test_other_log_lines_are_explained() -> None:
    path = Path("/m/x.so")
    cases = {
        f"Module {path} failed to load: It does not have execute permissions.": "not-executable",
        f"Module {path} failed to load: {path}: undefined symbol: foo_bar": "undefined-symbol",
        f"Module {path} initialization failed. Module not loaded": "onload-failed",
        f"Module {path} failed to load: something new": "unknown",
        "nothing useful": "unknown",
    }
    for line, reason in cases.items():
        assert loadlog.explain(path, [line], "ERR").reason == reason, line
    assert "'ERR x'" in loadlog.explain(path, [], "ERR x").message


# --- a real redis-server ------------------------------------------------------------------------


@pytest.mark.redis
def test_reports_the_version_the_server_reads() -> None:
    binary = require_redis()
    with RedisServer(binary) as server:
        assert server.version == ".".join(map(str, harness.binary_version(binary)))
        assert server.version_tuple >= (6, 0, 0)
        assert server.call("PING") == "PONG"
        assert (server.folder / "redis.sock").is_socket()  # type: ignore[operator]
        assert oct((server.folder / "redis.sock").stat().st_mode & 0o777) == "0o700"  # type: ignore[operator]


@pytest.mark.redis
def test_cleanup_after_a_passing_run() -> None:
    server = RedisServer(require_redis())
    with server:
        pid, folder = server.pid, server.folder
        server.load_module(SO / "hello.so")
        assert redis_processes_in(folder) == [pid]  # type: ignore[arg-type]
    assert_cleaned_up(pid, folder)


@pytest.mark.redis
def test_cleanup_after_a_failing_load() -> None:
    server = RedisServer(require_redis())
    with pytest.raises(ModuleLoadError) as caught, server:
        pid, folder = server.pid, server.folder
        server.load_module(SO / "no_onload.so")
    assert caught.value.failure.reason == "no-onload"
    assert any("RedisModule_OnLoad" in line for line in caught.value.failure.log)
    assert_cleaned_up(pid, folder)


@pytest.mark.redis
def test_cleanup_after_an_error_in_the_block() -> None:
    server = RedisServer(require_redis())
    with pytest.raises(RuntimeError, match="boom"), server:
        pid, folder = server.pid, server.folder
        raise RuntimeError("boom")
    assert_cleaned_up(pid, folder)


@pytest.mark.redis
def test_a_crash_while_loading_is_reported_not_a_hang() -> None:
    server = RedisServer(require_redis(), timeout=300)
    started = time.monotonic()
    with pytest.raises(ModuleLoadError) as caught, server:
        pid, folder = server.pid, server.folder
        server.load_module(SO / "truncated.so")
    assert caught.value.failure.reason == "crashed"
    assert "crashed by signal: 7" in caught.value.failure.message
    assert time.monotonic() - started < 120  # seen as a crash, not waited out as a 300 s hang
    assert_cleaned_up(pid, folder)


@pytest.mark.redis
def test_a_load_that_never_returns_times_out_and_is_killed() -> None:
    server = RedisServer(require_redis(), timeout=1.0, stop_timeout=300)
    started = time.monotonic()
    with pytest.raises(ModuleLoadError) as caught, server:
        pid, folder = server.pid, server.folder
        server.load_module(SO / "hang_onload.so")
    assert caught.value.failure.reason == "timeout"
    assert time.monotonic() - started < 120  # SIGKILL at once, not after the 300 s stop_timeout
    assert_cleaned_up(pid, folder)


@pytest.mark.redis
def test_arguments_and_paths_with_spaces(tmp_path: Path) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    so = folder / "norm alise.so"
    shutil.copy2(SO / "normalise.so", so)
    with RedisServer(require_redis()) as server:
        server.load_module(so)
    with pytest.raises(ModuleLoadError) as caught, RedisServer(require_redis()) as server:
        server.load_module(so, ["unexpected", "two words"])
    assert caught.value.failure.reason == "onload-failed"


@pytest.mark.redis
def test_no_execute_permission(tmp_path: Path) -> None:
    so = tmp_path / "hello.so"
    shutil.copy2(SO / "hello.so", so)
    so.chmod(0o644)
    with pytest.raises(ModuleLoadError) as caught, RedisServer(require_redis()) as server:
        server.load_module(so)
    assert caught.value.failure.reason == "not-executable"


CTRL_C_SCRIPT = """
import signal, sys, time
from pathlib import Path
from modpack.redis.harness import RedisServer

# As in a terminal: Python installs its Ctrl-C handler only when SIGINT is not ignored at start-up,
# and a job started in the background by a non-interactive shell (a CI runner, say) inherits SIGINT
# ignored. Without this line the test would time out there, not because of the harness.
signal.signal(signal.SIGINT, signal.default_int_handler)

with RedisServer() as server:
    server.load_module(Path(sys.argv[1]))
    print(server.pid, server.folder, flush=True)
    time.sleep(60)
"""


@pytest.mark.redis
def test_cleanup_after_ctrl_c(tmp_path: Path) -> None:
    require_redis()
    script = tmp_path / "hold.py"
    script.write_text(CTRL_C_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, str(script), str(SO / "hello.so")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        try:
            assert child.stdout is not None
            pid_text, folder_text = child.stdout.readline().split()
            pid, folder = int(pid_text), Path(folder_text)
            assert redis_processes_in(folder) == [pid]
            child.send_signal(signal.SIGINT)
            _, errors = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    assert "KeyboardInterrupt" in errors
    assert child.returncode != 0  # KeyboardInterrupt
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the orphan is reaped by init, not by us
    assert_cleaned_up(pid, folder)


def test_a_bug_reports_assertion_is_read_in_the_7_0_and_the_8_0_format() -> None:
    """redis-server 7.0 writes one backtrace, "file(function+0x..)[0x..]"; 8.0 writes one per thread,
    the crashing one's header ending in " *", and a space before "[0x". The 8.0 report was read as
    having no frame: LOAD012 named neither the module API call nor the module's own assertion."""
    from modpack.redis.loadlog import failed_assertion

    seven = [
        "=== ASSERTION FAILED ===",
        "==> server.c:2791 'firstkey != 0' is not true",
        "------ STACK TRACE ------",
        "Backtrace:",
        "/usr/bin/redis-server *:6379(populateCommandLegacyRangeSpec+0x1f1)[0x560d77525421]",
        "/usr/bin/redis-server *:6379(RM_SetCommandInfo+0x6f2)[0x560d775c33d2]",
        "/tmp/m/ksx.so(RedisModule_OnLoad+0x22a)[0x7fb105ca833a]",
        "/usr/bin/redis-server *:6379(moduleLoad+0xa9)[0x560d775d1249]",
    ]
    server = "/opt/redis/usr/bin/redis-server unixsocket:/tmp/r/redis.sock"
    eight = [
        "=== ASSERTION FAILED ===",
        "==> viacall.c:6 'argc == 42' is not true",
        "------ STACK TRACE ------",
        "27081 bio_lazy_free",
        "/opt/redis/lib/x86_64-linux-gnu/libc.so.6(+0x9a72e) [0x7f7c418a672e]",
        f"{server}(bioProcessBackgroundJobs+0x1ea) [0x7f7c4295714a]",
        "27078 ld-linux-x86-64 *",
        "/tmp/m/ksx.so(counted+0x12) [0x7f7c4210c33a]",
        f"{server}(RM_Call+0x866) [0x7f7c42981046]",
        "/tmp/m/ksx.so(RedisModule_OnLoad+0x22a) [0x7f7c4210c33a]",
        f"{server}(moduleLoad+0x90) [0x7f7c42999e20]",
    ]
    api = failed_assertion(seven)
    assert api is not None and (api.check, api.where, api.call) == (
        "firstkey != 0",
        "server.c:2791",
        "RM_SetCommandInfo",
    )
    own = failed_assertion(eight)
    # the module asserted in a command RM_Call ran for it: its own check, not RM_Call's
    assert own is not None and (own.call, own.innermost) == (None, "/tmp/m/ksx.so")
    in_api_8 = [
        *eight[:6],
        "27078 ld-linux-x86-64 *",
        f"{server}(RM_SetCommandInfo+0x866) [0x7f7c42981046]",
        eight[9],
    ]
    found = failed_assertion(in_api_8)
    assert found is not None and found.call == "RM_SetCommandInfo"
    assert failed_assertion(["no assertion here"]) is None
