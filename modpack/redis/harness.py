"""A disposable redis-server on a private unix socket, and the small RESP2 client that talks to it.

The server runs in a fresh temporary folder (socket, log, working directory), listens on no TCP
port (`--port 0`, so there is no port to race for) and persists nothing. `RedisServer` is a
context manager that always stops the process (SIGTERM, then SIGKILL) and removes the folder, also
when the block raises, the user presses Ctrl-C or the process gets SIGTERM. Every socket operation
has a timeout, so a module that crashes or hangs the server while loading becomes an error, never
a hang.

The server runs in its own process group and outlives a Python that dies of a signal, so while it
runs (in the main thread) SIGTERM raises `Terminated`, as Ctrl-C raises KeyboardInterrupt, and
the block unwinds through `stop()`; spawning and stopping hold both signals until they are done.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Protocol, TypeAlias, Union

from modpack.errors import ModpackError, Terminated
from modpack.redis import loadlog
from modpack.redis.spec import STARTUP_TIMEOUT, ServerSpec
from modpack.signals import signals_held

COMMAND_TIMEOUT = 60.0
STOP_TIMEOUT = 3.0
MAX_BULK = 64 * 1024 * 1024
MAX_SOCKET_PATH = 100  # sockaddr_un.sun_path holds 108 bytes on Linux, with the NUL
LOG_TAIL_LINES = 12
INSTALL_HINT = "Install redis-server (Debian: apt-get install redis-server) or pass --redis-server PATH."
ENVIRONMENT_HINT = "Fix or unset MODPACK_REDIS_SERVER, or pass --redis-server PATH."
# The same, for commands that have no --redis-server (init --discover, ramp-pack): the hints above
# named an option they refuse (No such option: --redis-server). RedisNotFoundError carries both.
INSTALL_HINT_WITHOUT_OPTION = (
    "Install redis-server (Debian: apt-get install redis-server) or set MODPACK_REDIS_SERVER to its path."
)
ENVIRONMENT_HINT_WITHOUT_OPTION = "Fix or unset MODPACK_REDIS_SERVER."

# "12345:M 26 Nov 2026 19:34:44.143 # " : pid, role, date, time and the level marker.
_LOG_PREFIX = re.compile(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ (?:[.\-*#] )?")
_VERSION = re.compile(r"\bv=(\d+)\.(\d+)\.(\d+)")


class HarnessError(ModpackError):
    """The disposable redis-server could not be found, started or talked to."""


class RedisNotFoundError(HarnessError):
    """No redis-server on PATH, or the one named does not exist. `without_option`: the hint for a
    command that has no --redis-server (the hint itself when it names none)."""

    def __init__(self, message: str, hint: str = "", *, without_option: str | None = None) -> None:
        super().__init__(message, hint)
        self.without_option = hint if without_option is None else without_option


class RedisStartError(HarnessError):
    """redis-server did not start, or did not accept connections in time."""


class ServerGoneError(HarnessError):
    """The server closed the connection or died while answering (a crash, usually)."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        log: Sequence[str] = (),
        assertion: loadlog.Assertion | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.log = tuple(log)
        self.assertion = assertion  # the assertion that ended the server, as its bug report says


class ReplyTimeoutError(HarnessError):
    """The server did not answer within the timeout."""


class ReplyError(HarnessError):
    """The server answered with an error reply (`-ERR ...`)."""


@dataclass(frozen=True)
class ErrorReply:
    """An error reply nested in an array; a top-level one raises `ReplyError` instead."""

    message: str


Reply = Union[str, int, None, ErrorReply, list["Reply"]]  # noqa: UP007 - a recursive alias needs a string
_SignalHandler: TypeAlias = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


# --- finding the binary -----------------------------------------------------------------------


def not_installed() -> RedisNotFoundError:
    """No redis-server on PATH, and none named."""
    return RedisNotFoundError(
        "redis-server is not installed (not found on PATH)",
        INSTALL_HINT,
        without_option=INSTALL_HINT_WITHOUT_OPTION,
    )


def find_redis_server(explicit: str | None = None) -> str:
    """The redis-server to run: `explicit` (a path or a name on PATH), else $MODPACK_REDIS_SERVER,
    else `redis-server` on PATH."""
    from_environment = os.environ.get("MODPACK_REDIS_SERVER") or None
    explicit = explicit or from_environment
    if explicit:
        # a bad value in the environment read as if the user had typed it (click passes the
        # variable as --redis-server too): say where it came from
        origin = " (MODPACK_REDIS_SERVER)" if explicit == from_environment else ""
        hint, without = (
            (ENVIRONMENT_HINT, ENVIRONMENT_HINT_WITHOUT_OPTION)
            if origin
            else (INSTALL_HINT, INSTALL_HINT_WITHOUT_OPTION)
        )
        if os.sep in explicit:
            if os.path.isfile(explicit) and os.access(explicit, os.X_OK):  # noqa: PTH113
                # Never resolve symlinks: Debian's redis-server is a link to redis-check-rdb, and the
                # binary picks its personality from argv[0].
                return os.path.abspath(explicit)  # noqa: PTH100
            raise RedisNotFoundError(
                f"{explicit}{origin} is not an executable file", hint, without_option=without
            )
        found = shutil.which(explicit)
        if found is None:
            raise RedisNotFoundError(f"{explicit!r}{origin} is not on PATH", hint, without_option=without)
        return found
    found = shutil.which("redis-server")
    if found is None:
        raise not_installed()
    return found


def binary_version(binary: str | Sequence[str], timeout: float = 10.0) -> tuple[int, int, int]:
    """The version `redis-server --version` prints (`Redis server v=7.0.15 ...`).

    `binary` is a path, or the whole command that runs redis-server (a loader or an emulator
    first)."""
    command = [binary] if isinstance(binary, str) else list(binary)
    try:
        done = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RedisStartError(f"cannot run {command[-1]} --version: {exc}") from None
    match = _VERSION.search(done.stdout)
    if done.returncode != 0 or match is None:
        shown = (done.stdout + done.stderr).strip()[:200]
        raise RedisStartError(f"{command[-1]} --version did not print a Redis version: {shown!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def server_arguments(
    binary: str | Sequence[str], folder: Path, version: tuple[int, int, int], options: Sequence[str] = ()
) -> list[str]:
    """The command line: unix socket only, no persistence, log in the private folder. `options`
    (--name value words, a ramp.yml's redis_args) come first, so that where they name one of
    these, the harness's own value is the one kept: redis-server applies its command line in order."""
    args = [
        *([binary] if isinstance(binary, str) else binary),
        *options,
        "--port", "0",
        "--unixsocket", str(folder / "redis.sock"),
        "--unixsocketperm", "700",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(folder),
        "--logfile", str(folder / "redis.log"),
        "--daemonize", "no",
    ]  # fmt: skip
    if version >= (7, 0, 0):
        # DEBUG from the private socket only: discovery uses DEBUG MARK-INTERNAL-CLIENT on 8.0+.
        args += ["--enable-debug-command", "local"]
        args += ["--enable-module-command", "yes"]  # 7.0+ refuses MODULE LOAD without it
    return args


def cluster_arguments(folder: Path) -> list[str]:
    """Cluster mode, with no slot assigned: a command with keys is refused (CLUSTERDOWN) once its
    keys are extracted (src/cluster.c getNodeByQuery()). The bus listens on loopback, on a port
    that was free a moment ago: with --port 0 it would take 10000 (port + 10000), shared by every
    such server at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return [
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(folder / "nodes.conf"),
        "--cluster-port", str(port),
        "--bind", "127.0.0.1",
    ]  # fmt: skip


def private_folder() -> Path:
    """A fresh 0700 folder whose socket path fits in sockaddr_un (a long TMPDIR falls back to /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="modpack-redis-"))
    if len(os.fsencode(folder / "redis.sock")) <= MAX_SOCKET_PATH:
        return folder
    folder.rmdir()
    return Path(tempfile.mkdtemp(prefix="modpack-redis-", dir="/tmp"))


# --- the RESP2 client -------------------------------------------------------------------------


def encode_command(args: Sequence[str | bytes]) -> bytes:
    """One command as a RESP2 array of bulk strings (binary-safe: a path may hold spaces)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else arg.encode("utf-8", "surrogateescape")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class ConnectionClosedError(ConnectionError):
    """The server closed the connection before the reply was complete."""


class RespClient:
    """A blocking RESP2 connection over a unix socket; every read and write has a timeout."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.timeout = timeout
        self._buffer = bytearray()
        self._sock = sock

    @classmethod
    def connect(cls, path: Path, timeout: float) -> RespClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(os.fsencode(path))
        except BaseException:
            sock.close()
            raise
        return cls(sock, timeout)

    def close(self) -> None:
        self._sock.close()

    def call(self, *args: str | bytes, timeout: float | None = None) -> Reply:
        """Send one command and read its reply; an error reply raises `ReplyError`."""
        self._sock.settimeout(timeout if timeout is not None else self.timeout)
        self._sock.sendall(encode_command(args))
        reply = self._read_reply()
        if isinstance(reply, ErrorReply):
            raise ReplyError(reply.message)
        return reply

    def _read_reply(self, depth: int = 0) -> Reply:
        if depth > 32:
            raise HarnessError("the server's reply is nested more than 32 levels deep")
        line = self._read_line()
        kind, rest = line[:1], line[1:].decode("utf-8", "surrogateescape")
        if kind == b"+":
            return rest
        if kind == b"-":
            return ErrorReply(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return self._read_bulk(int(rest))
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read_reply(depth + 1) for _ in range(count)]
        raise HarnessError(f"unexpected RESP2 reply type {line[:20]!r}")

    def _read_bulk(self, length: int) -> str | None:
        if length < 0:
            return None
        if length > MAX_BULK:
            raise HarnessError(f"the server sent a {length}-byte string; the limit is {MAX_BULK}")
        data = self._read_exact(length + 2)
        return data[:-2].decode("utf-8", "surrogateescape")

    def _read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            self._fill()

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionClosedError("the server closed the connection")
        self._buffer += chunk


# --- signals ----------------------------------------------------------------------------------


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _raise_on_terminate() -> _SignalHandler:
    """Make SIGTERM raise `Terminated` where it would end the process at once (its default
    action), in the main thread only; the handler it replaced, for `_restore_terminate`, or None
    when nothing was changed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None  # ignored, or handled already: left as it is
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore_terminate(before: _SignalHandler) -> None:
    if before is not None:
        signal.signal(signal.SIGTERM, before)


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` in the block, so its cleanup runs (a `subprocess.run` kills its
    child); for work that runs other children than a server."""
    before = _raise_on_terminate()
    try:
        yield
    finally:
        _restore_terminate(before)


# --- the server -------------------------------------------------------------------------------


class ModuleLoadError(HarnessError):
    """MODULE LOAD failed; `failure` says why, from the server log."""

    def __init__(self, failure: loadlog.LoadFailure) -> None:
        super().__init__(failure.message, failure.hint)
        self.failure = failure


@dataclass
class RedisServer:
    """A disposable redis-server. Use as a context manager; `stop()` is safe to call twice.

    `version` is what the running server reports (INFO server), `version_tuple` its numbers.
    `spec` (modpack.redis.servers) names a server to run instead of `binary`: one of another
    version or architecture, with the start-up time it needs.
    """

    binary: str | None = None
    startup_timeout: float = STARTUP_TIMEOUT
    timeout: float = COMMAND_TIMEOUT
    stop_timeout: float = STOP_TIMEOUT
    spec: ServerSpec | None = None
    cluster: bool = False  # cluster mode with no slot assigned (cluster_arguments)
    options: tuple[str, ...] = ()  # redis-server options of the caller's (server_arguments)
    folder: Path | None = field(default=None, init=False)
    version: str = field(default="", init=False)
    version_tuple: tuple[int, ...] = field(default=(), init=False)
    executable: str = field(default="", init=False)  # the redis-server binary run (qemu's too)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _client: RespClient | None = field(default=None, init=False, repr=False)
    _crashed: bool = field(default=False, init=False, repr=False)
    _sigterm_before: _SignalHandler = field(default=None, init=False, repr=False)

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        if self.folder is None:
            raise HarnessError("the server has not been started")
        return self.folder / "redis.log"

    # --- start and stop ---

    def start(self) -> None:
        if self._process is not None:
            raise HarnessError("the server is already running")
        if self.spec is not None:
            command: list[str] = list(self.spec.command)
            self.startup_timeout = max(self.startup_timeout, self.spec.startup_timeout)
        else:
            command = [find_redis_server(self.binary)]
        self.executable = command[-1]  # a prepared server's command ends with its binary too
        if self._sigterm_before is None:
            self._sigterm_before = _raise_on_terminate()  # until stop(): SIGTERM unwinds through it
        numbers = binary_version(command, timeout=max(10.0, self.startup_timeout))
        self._crashed = False
        with signals_held():
            self.folder = private_folder()
            args = server_arguments(command, self.folder, numbers, self.options)
            self._process = self._spawn(args + (cluster_arguments(self.folder) if self.cluster else []))
        self._client = self._wait_until_ready()
        self.version = self._info_version()
        self.version_tuple = _version_numbers(self.version) or numbers

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        assert self.folder is not None
        # Its own process group: a Ctrl-C in the terminal reaches only us, and we stop the server.
        try:
            with (self.folder / "redis.out").open("wb") as out:
                return subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=self.folder, close_fds=True, process_group=0,
                )  # fmt: skip
        except OSError as exc:
            raise RedisStartError(f"cannot start {args[0]}: {exc}") from None

    def describe(self) -> str:
        """The Redis that answered, for reports: `redis-server 8.0.2 (aarch64, emulated ...)`."""
        if self.spec is not None:
            return self.spec.describe(self.version)
        return f"redis-server {self.version}"

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove the folder, whatever happens; a
        signal that comes meanwhile takes effect after."""
        try:
            with signals_held():
                self._stop_now()
        finally:
            _restore_terminate(self._sigterm_before)
            self._sigterm_before = None

    def _stop_now(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._end_process()
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.folder = None

    def _end_process(self) -> None:
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None and not self._crashed:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(self.stop_timeout)
        finally:
            if process.poll() is None:
                process.kill()  # a crashed or hung server ignores SIGTERM
                process.wait()
            self._process = None

    def _wait_until_ready(self) -> RespClient:
        assert self.folder is not None and self._process is not None
        socket_path = self.folder / "redis.sock"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            status = self._process.poll()
            if status is not None:
                # the caller's options first: a ramp.yml's redis_args may hold one redis-server refuses
                given = f" with {shlex.join(self.options)}" if self.options else ""
                fix = (
                    "Correct or remove an option it names among those given (a ramp.yml's redis_args"
                    " are given as --name value); else run this redis-server by hand to see it stop."
                    if self.options
                    else "Run this redis-server by hand to see why it stops: it may not run on this machine."
                )
                raise RedisStartError(
                    f"redis-server ({self.executable}) exited with status {status} while starting{given}"
                    + self._startup_output(),
                    fix,
                )
            client = _try_connect(socket_path, self.timeout)
            if client is not None:
                return client
            if time.monotonic() > deadline:
                given = f" (started with {shlex.join(self.options)})" if self.options else ""
                raise RedisStartError(
                    f"redis-server ({self.executable}) did not accept connections within"
                    f" {self.startup_timeout:g} s{given}" + self._startup_output(),
                    "A busy machine starts it slowly: run again; else run this redis-server by hand"
                    " to see where it stops.",
                )
            time.sleep(0.02)

    def _startup_output(self) -> str:
        """ "; it said: ..." with the last lines the server printed, on one line (a message is one
        line; the report would show newlines as \\n escapes), or "" when it printed nothing."""
        assert self.folder is not None
        lines = _read_lines(self.folder / "redis.out") + self.log_lines()
        said = " | ".join(line.strip() for line in lines[-LOG_TAIL_LINES:])
        return f"; it said: {said}" if said else ""

    def _info_version(self) -> str:
        info = self.call("INFO", "server")
        for line in str(info).splitlines():
            if line.startswith("redis_version:"):
                return line.partition(":")[2].strip()
        raise HarnessError("INFO server does not report redis_version")

    # --- talking to it ---

    def call(self, *args: str | bytes, timeout: float | None = None) -> Reply:
        """One command; a closed connection or a dead server raises `ServerGoneError`."""
        if self._client is None:
            raise HarnessError("the server is not running")
        try:
            return self._client.call(*args, timeout=timeout)
        except TimeoutError:
            self._abandon_connection()
            shown = " ".join(str(a) for a in args[:2])
            raise ReplyTimeoutError(
                f"redis-server did not answer {shown} within {timeout or self.timeout:g} s"
            ) from None
        except (ConnectionError, BrokenPipeError):
            raise self._gone() from None

    def _abandon_connection(self) -> None:
        # A late reply would desynchronise the connection; the server is stopped next anyway.
        if self._client is not None:
            self._client.close()
            self._client = None
        self._crashed = True

    def _gone(self) -> ServerGoneError:
        self._abandon_connection()
        status = _wait_for_exit(self._process, 1.0)
        lines = self.log_lines()
        crash = [line for line in lines if "crashed by signal" in line]
        how = _describe_exit(status)
        message = f"redis-server closed the connection ({how})"
        if crash:
            message += f": {crash[-1]}"
        return ServerGoneError(
            message, log=lines[-LOG_TAIL_LINES:], assertion=loadlog.failed_assertion(lines)
        )

    # --- the log ---

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_lines(self, since: int = 0) -> list[str]:
        """Log lines written after byte offset `since`, without the `pid:role date level` prefix."""
        if self.folder is None:
            return []
        return [_LOG_PREFIX.sub("", line) for line in _read_lines(self.log_path, since)]

    # --- modules ---

    def load_module(self, path: Path, args: Sequence[str] = ()) -> None:
        """MODULE LOAD; a failure raises `ModuleLoadError` explaining why, from the server log."""
        offset = self.log_size()
        try:
            self.call("MODULE", "LOAD", os.fsencode(path), *args)
        except ReplyError as exc:
            failure = loadlog.explain(path, self.log_lines(offset), exc.message)
            if failure.reason == "onload-failed":
                # said by the caller, who knows what the module declares (loadlog.with_taken_names)
                failure = replace(failure, taken=tuple(_taken_names_of(self, path)))
            raise ModuleLoadError(self._with_missing_api(failure, path)) from None
        except ServerGoneError as exc:
            failure = loadlog.crashed(path, exc.message, exc.log, exc.assertion)
            raise ModuleLoadError(self._with_missing_api(failure, path)) from None
        except ReplyTimeoutError:
            raise ModuleLoadError(loadlog.timed_out(path, self.timeout)) from None

    def _with_missing_api(self, failure: loadlog.LoadFailure, path: Path) -> loadlog.LoadFailure:
        """A failed OnLoad or a crash, with the module API functions the module looks up that
        this server does not have, which the caller says (loadlog.with_missing_api)."""
        if failure.reason not in ("onload-failed", "crashed"):
            return failure
        from modpack import elf

        offered = elf.api_names(self.executable) if self.executable else frozenset()
        if not offered:  # not a redis-server binary that could be read: nothing to compare with
            return failure
        return replace(failure, missing_api=tuple(sorted(elf.api_names(path) - offered)))


class _Caller(Protocol):
    def call(self, *args: str) -> Reply: ...


def command_names(server: _Caller, modern: bool) -> set[str]:
    """Every command name; COMMAND LIST (7.0+) includes subcommands, COMMAND (6.x) has none."""
    reply = server.call("COMMAND", "LIST") if modern else server.call("COMMAND")
    if not isinstance(reply, list):
        raise HarnessError(f"unexpected reply to COMMAND: {reply!r:.200}")
    names = [
        entry if modern else (entry[0] if isinstance(entry, list) and entry else None) for entry in reply
    ]
    if not all(isinstance(name, str) for name in names):
        raise HarnessError(f"unexpected reply to COMMAND: {reply!r:.200}")
    return {name for name in names if isinstance(name, str)}


def _taken_names_of(server: RedisServer, path: Path) -> list[str]:
    """The string literals of the module that name a command the server has (top-level names),
    less the flag words a flags string may be alone ("readonly" and "pubsub" are commands too).
    A literal the linker merged into the tail of a longer one ("get" in "mine.get") has no NUL
    before it and is not seen: only whole literals are named, never a guess."""
    from modpack import elf, policy

    try:
        names = {n for n in command_names(server, server.version_tuple >= (7, 0, 0)) if "|" not in n}
    except (HarnessError, ModpackError):
        return []
    return elf.name_literals(path, names - policy.flags_string_words())


def _try_connect(path: Path, timeout: float) -> RespClient | None:
    if not path.exists():
        return None
    try:
        client = RespClient.connect(path, timeout)
    except OSError:
        return None
    try:
        client.call("PING")
    except (OSError, HarnessError):
        client.close()
        return None
    return client


def _wait_for_exit(process: subprocess.Popen[bytes] | None, seconds: float) -> int | None:
    if process is None:
        return None
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired:
        return None


def _describe_exit(status: int | None) -> str:
    if status is None:
        return "still running, writing its crash report"
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    if status > 128:
        try:
            return f"exit status {status}, {signal.Signals(status - 128).name}"
        except ValueError:
            pass
    return f"exit status {status}"


def _read_lines(path: Path, since: int = 0) -> list[str]:
    try:
        with path.open("rb") as stream:
            stream.seek(since)
            data = stream.read(4 * 1024 * 1024)
    except OSError:
        return []
    return [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _version_numbers(text: str) -> tuple[int, ...] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(g) for g in match.groups()) if match else None
